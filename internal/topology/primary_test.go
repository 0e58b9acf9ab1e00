package topology

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestLayoutFor(t *testing.T) {
	passive := loadExample(t, "active-passive.yaml")
	hub := loadExample(t, "hub-and-spoke.yaml")
	sun := loadExample(t, "follow-the-sun.yaml")
	ecommerce := loadExample(t, "ecommerce.yaml")
	mesh := func(link map[string]string) []Channel {
		regions := []struct {
			name   string
			domain uint32
		}{{"eu", 1}, {"us", 2}, {"apac", 3}}
		var channels []Channel
		for _, replica := range regions {
			for _, source := range regions {
				if source != replica {
					channels = append(channels, Channel{Replica: link[replica.name], Source: link[source.name], Connection: source.name, DoDomainIDs: []uint32{source.domain}})
				}
			}
		}
		return channels
	}
	cases := []struct {
		name     string
		topo     *Topology
		now      time.Time
		p        Primaries
		primary  string
		channels []Channel
		writable []string
	}{{
		name:    "active-passive after failover to the DR region",
		topo:    passive,
		p:       Primaries{Region: "us"},
		primary: "us",
		channels: []Channel{
			{Replica: "eu-2", Source: "eu-1", Connection: "eu"},
			{Replica: "eu-1", Source: "us-1", Connection: "us"},
		},
		writable: []string{"us-1"},
	}, {
		name:    "active-passive with a promoted replica",
		topo:    passive,
		p:       Primaries{Nodes: map[string]string{"eu-main": "eu-2"}},
		primary: "eu",
		channels: []Channel{
			{Replica: "eu-1", Source: "eu-2", Connection: "eu"},
			{Replica: "us-1", Source: "eu-2", Connection: "eu"},
		},
		writable: []string{"eu-2"},
	}, {
		name:    "active-passive failed over to the DR region after a promotion in eu",
		topo:    passive,
		p:       Primaries{Region: "us", Nodes: map[string]string{"eu-main": "eu-2"}},
		primary: "us",
		channels: []Channel{
			{Replica: "eu-1", Source: "eu-2", Connection: "eu"},
			{Replica: "eu-2", Source: "us-1", Connection: "us"},
		},
		writable: []string{"us-1"},
	}, {
		name:    "hub-and-spoke with a new hub",
		topo:    hub,
		p:       Primaries{Region: "eu"},
		primary: "eu",
		channels: []Channel{
			{Replica: "us-1", Source: "eu-1", Connection: "eu"},
			{Replica: "apac-1", Source: "eu-1", Connection: "eu"},
		},
		writable: []string{"eu-1"},
	}, {
		name:    "follow-the-sun: a region set at run time overrides the schedule",
		topo:    sun,
		now:     at(12, 0), // eu's window
		p:       Primaries{Region: "us"},
		primary: "us",
		channels: []Channel{
			{Replica: "apac-1", Source: "us-1", Connection: "us"},
			{Replica: "eu-1", Source: "us-1", Connection: "us"},
		},
		writable: []string{"us-1"},
	}, {
		name:     "galera: another member carries the region's links",
		topo:     ecommerce,
		p:        Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}},
		channels: mesh(map[string]string{"eu": "eu-2", "us": "us-1", "apac": "apac-1"}),
		writable: []string{"apac-1", "apac-2", "apac-3", "eu-1", "eu-2", "eu-3", "us-1", "us-2", "us-3"},
	}, {
		name:     "active-active ignores a primary region",
		topo:     ecommerce,
		p:        Primaries{Region: "us"},
		channels: mesh(map[string]string{"eu": "eu-1", "us": "us-1", "apac": "apac-1"}),
		writable: []string{"apac-1", "apac-2", "apac-3", "eu-1", "eu-2", "eu-3", "us-1", "us-2", "us-3"},
	}, {
		name:    "overrides naming no home region, no cluster or no member are ignored",
		topo:    passive,
		p:       Primaries{Region: "mars", Nodes: map[string]string{"eu-main": "us-1", "nowhere": "eu-2"}},
		primary: "eu",
		channels: []Channel{
			{Replica: "eu-2", Source: "eu-1", Connection: "eu"},
			{Replica: "us-1", Source: "eu-1", Connection: "eu"},
		},
		writable: []string{"eu-1"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := c.now
			if now.IsZero() {
				now = at(12, 0)
			}
			if got := c.topo.PrimaryRegionFor(now, c.p); got != c.primary {
				t.Errorf("PrimaryRegionFor = %q, want %q", got, c.primary)
			}
			l := c.topo.LayoutFor(now, c.p)
			if !reflect.DeepEqual(l.Channels, c.channels) {
				t.Errorf("channels:\n got %+v\nwant %+v", l.Channels, c.channels)
			}
			if got := writable(l); !slices.Equal(got, c.writable) {
				t.Errorf("writable = %v, want %v", got, c.writable)
			}
			if len(l.Writable) != len(c.topo.Nodes()) {
				t.Errorf("Writable covers %d nodes, want every node (%d)", len(l.Writable), len(c.topo.Nodes()))
			}
		})
	}
}

func TestLayoutIsLayoutForTheFile(t *testing.T) {
	for _, name := range []string{"active-passive.yaml", "active-active.yaml", "hub-and-spoke.yaml", "follow-the-sun.yaml", "ecommerce.yaml"} {
		topo := loadExample(t, name)
		for hour := 0; hour < 24; hour += 5 {
			if got, want := topo.LayoutFor(at(hour, 0), Primaries{}), topo.Layout(at(hour, 0)); !reflect.DeepEqual(got, want) {
				t.Errorf("%s at %02d:00: LayoutFor(Primaries{}) = %+v, Layout = %+v", name, hour, got, want)
			}
			if got, want := topo.WritableRegionsFor(at(hour, 0), Primaries{}), topo.WritableRegions(at(hour, 0)); !slices.Equal(got, want) {
				t.Errorf("%s at %02d:00: WritableRegionsFor(Primaries{}) = %v, WritableRegions = %v", name, hour, got, want)
			}
		}
	}
}

func TestClusterPrimary(t *testing.T) {
	passive := loadExample(t, "active-passive.yaml")
	cases := []struct {
		cluster string
		p       Primaries
		want    string
	}{
		{"eu-main", Primaries{}, "eu-1"},
		{"eu-main", Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}, "eu-2"},
		{"eu-main", Primaries{Nodes: map[string]string{"eu-main": "us-1"}}, "eu-1"}, // not a member
		{"us-dr", Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}, "us-1"},
		{"nowhere", Primaries{}, ""},
	}
	for _, c := range cases {
		if got := passive.ClusterPrimary(c.cluster, c.p); got != c.want {
			t.Errorf("ClusterPrimary(%s, %+v) = %q, want %q", c.cluster, c.p, got, c.want)
		}
	}
	if got := passive.LinkNodeFor("eu", Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}); got != "eu-2" {
		t.Errorf("LinkNodeFor(eu) = %q, want eu-2", got)
	}
	if got := passive.LinkNodeFor("mars", Primaries{}); got != "" {
		t.Errorf("LinkNodeFor(mars) = %q, want \"\"", got)
	}
}
