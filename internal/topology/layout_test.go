package topology

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func loadExample(t *testing.T, name string) *Topology {
	t.Helper()
	topo, _, err := Load("../../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func parse(t *testing.T, data []byte) *Topology {
	t.Helper()
	topo, _, err := Parse("t.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// at is a UTC time of day on a fixed date.
func at(hour, minute int) time.Time { return time.Date(2025, 3, 14, hour, minute, 0, 0, time.UTC) }

// writable lists the nodes a layout makes writable, sorted.
func writable(l Layout) []string {
	var names []string
	for name, w := range l.Writable {
		if w {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestLayout(t *testing.T) {
	followTheSun := loadExample(t, "follow-the-sun.yaml")
	fromRegion := func(source string) []Channel {
		var channels []Channel
		for _, r := range []string{"apac", "eu", "us"} {
			if r != source {
				channels = append(channels, Channel{Replica: r + "-1", Source: source + "-1", Connection: source})
			}
		}
		return channels
	}
	cases := []struct {
		name      string
		topo      *Topology
		now       time.Time
		primary   string
		writableR []string
		channels  []Channel
		writable  []string
		nodes     int
	}{{
		name:      "active-passive",
		topo:      loadExample(t, "active-passive.yaml"),
		now:       at(12, 0),
		primary:   "eu",
		writableR: []string{"eu"},
		channels: []Channel{
			{Replica: "eu-2", Source: "eu-1", Connection: "eu"},
			{Replica: "us-1", Source: "eu-1", Connection: "eu"},
		},
		writable: []string{"eu-1"},
		nodes:    3,
	}, {
		name:      "active-active",
		topo:      loadExample(t, "active-active.yaml"),
		now:       at(12, 0),
		writableR: []string{"eu", "us"},
		channels: []Channel{
			{Replica: "eu-2", Source: "eu-1", Connection: "eu"},
			{Replica: "eu-1", Source: "us-1", Connection: "us", DoDomainIDs: []uint32{2}},
			{Replica: "us-1", Source: "eu-1", Connection: "eu", DoDomainIDs: []uint32{1}},
		},
		writable: []string{"eu-1", "us-1"},
		nodes:    3,
	}, {
		name:      "hub-and-spoke",
		topo:      loadExample(t, "hub-and-spoke.yaml"),
		now:       at(12, 0),
		primary:   "us",
		writableR: []string{"us"},
		channels: []Channel{
			{Replica: "eu-1", Source: "us-1", Connection: "us"},
			{Replica: "apac-1", Source: "us-1", Connection: "us"},
		},
		writable: []string{"us-1"},
		nodes:    3,
	}, {
		name:      "follow-the-sun at midnight",
		topo:      followTheSun,
		now:       at(0, 0),
		primary:   "apac",
		writableR: []string{"apac"},
		channels:  fromRegion("apac"),
		writable:  []string{"apac-1"},
		nodes:     3,
	}, {
		name:      "follow-the-sun just before 08:00",
		topo:      followTheSun,
		now:       at(7, 59),
		primary:   "apac",
		writableR: []string{"apac"},
		channels:  fromRegion("apac"),
		writable:  []string{"apac-1"},
		nodes:     3,
	}, {
		name:      "follow-the-sun at 08:00",
		topo:      followTheSun,
		now:       at(8, 0),
		primary:   "eu",
		writableR: []string{"eu"},
		channels:  fromRegion("eu"),
		writable:  []string{"eu-1"},
		nodes:     3,
	}, {
		name:      "follow-the-sun at 20:00",
		topo:      followTheSun,
		now:       at(20, 0),
		primary:   "us",
		writableR: []string{"us"},
		channels:  fromRegion("us"),
		writable:  []string{"us-1"},
		nodes:     3,
	}, {
		name:      "follow-the-sun at 23:59",
		topo:      followTheSun,
		now:       at(23, 59),
		primary:   "us",
		writableR: []string{"us"},
		channels:  fromRegion("us"),
		writable:  []string{"us-1"},
		nodes:     3,
	}, {
		name:      "follow-the-sun reads the clock in UTC",
		topo:      followTheSun,
		now:       time.Date(2025, 3, 14, 9, 30, 0, 0, time.FixedZone("JST", 9*3600)), // 00:30 UTC
		primary:   "apac",
		writableR: []string{"apac"},
		channels:  fromRegion("apac"),
		writable:  []string{"apac-1"},
		nodes:     3,
	}, {
		name:      "ecommerce: galera mesh",
		topo:      loadExample(t, "ecommerce.yaml"),
		now:       at(12, 0),
		writableR: []string{"eu", "us", "apac"},
		channels: []Channel{
			{Replica: "eu-1", Source: "us-1", Connection: "us", DoDomainIDs: []uint32{2}},
			{Replica: "eu-1", Source: "apac-1", Connection: "apac", DoDomainIDs: []uint32{3}},
			{Replica: "us-1", Source: "eu-1", Connection: "eu", DoDomainIDs: []uint32{1}},
			{Replica: "us-1", Source: "apac-1", Connection: "apac", DoDomainIDs: []uint32{3}},
			{Replica: "apac-1", Source: "eu-1", Connection: "eu", DoDomainIDs: []uint32{1}},
			{Replica: "apac-1", Source: "us-1", Connection: "us", DoDomainIDs: []uint32{2}},
		},
		writable: []string{"apac-1", "apac-2", "apac-3", "eu-1", "eu-2", "eu-3", "us-1", "us-2", "us-3"},
		nodes:    9,
	}, {
		name: "a spanning galera cluster is writable in every region it reaches",
		topo: parse(t, doc(
			"name: t",
			"architecture: active-passive",
			"regions: [{name: eu1, gtid_domain_id: 1}, {name: eu2, gtid_domain_id: 2}, {name: us, gtid_domain_id: 3}]",
			"clusters:",
			"  - {name: g, kind: galera, region: eu1, nodes: [{name: a1}, {name: a2}, {name: a3, region: eu2}]}",
			"  - {name: dr, kind: primary-replica, region: us, nodes: [{name: u1}, {name: u2}, {name: u3}]}",
			"links: [{between: [eu1, eu2], rtt: 2ms}, {between: [eu1, us], rtt: 80ms}, {between: [eu2, us], rtt: 80ms}]",
			"roles: {primary: eu1, dr: us}")),
		now:       at(12, 0),
		primary:   "eu1",
		writableR: []string{"eu1"},
		channels: []Channel{
			{Replica: "u2", Source: "u1", Connection: "us"},
			{Replica: "u3", Source: "u1", Connection: "us"},
			{Replica: "u1", Source: "a1", Connection: "eu1"},
		},
		writable: []string{"a1", "a2", "a3"},
		nodes:    6,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.topo.PrimaryRegionAt(c.now); got != c.primary {
				t.Errorf("PrimaryRegionAt = %q, want %q", got, c.primary)
			}
			if got := c.topo.WritableRegions(c.now); !slices.Equal(got, c.writableR) {
				t.Errorf("WritableRegions = %v, want %v", got, c.writableR)
			}
			l := c.topo.Layout(c.now)
			if !reflect.DeepEqual(l.Channels, c.channels) {
				t.Errorf("channels:\n got %+v\nwant %+v", l.Channels, c.channels)
			}
			if got := writable(l); !slices.Equal(got, c.writable) {
				t.Errorf("writable = %v, want %v", got, c.writable)
			}
			if len(l.Writable) != c.nodes {
				t.Errorf("Writable covers %d nodes, want every node (%d)", len(l.Writable), c.nodes)
			}
		})
	}
}

func TestWindowAt(t *testing.T) {
	sun := loadExample(t, "follow-the-sun.yaml")
	wrapping := parse(t, doc(
		"name: t",
		"architecture: follow-the-sun",
		"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
		"clusters:",
		"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
		"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
		"links: [{between: [eu, us], rtt: 80ms}]",
		`schedule: [{region: eu, from: "22:00", to: "06:00"}, {region: us, from: "06:00", to: "22:00"}]`))
	wholeDay := parse(t, doc(
		"name: t",
		"architecture: follow-the-sun",
		"regions: [{name: eu, gtid_domain_id: 1}]",
		"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
		`schedule: [{region: eu, from: "00:00", to: "24:00"}]`))
	nextDay := func(hour int) time.Time { return at(hour, 0).Add(24 * time.Hour) }
	cases := []struct {
		name          string
		topo          *Topology
		now           time.Time
		current, next string
		nextStart     time.Time
	}{
		{"night in apac", sun, at(3, 0), "apac", "eu", at(8, 0)},
		{"handover minute", sun, at(8, 0), "eu", "us", at(16, 0)},
		{"last window ends at midnight", sun, at(20, 30), "us", "apac", nextDay(0)},
		{"wrapping window before midnight", wrapping, at(23, 0), "eu", "us", nextDay(6)},
		{"wrapping window after midnight", wrapping, at(1, 0), "eu", "us", at(6, 0)},
		{"day window", wrapping, at(6, 0), "us", "eu", at(22, 0)},
		{"whole day", wholeDay, at(13, 0), "eu", "eu", nextDay(0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			current, next, start := c.topo.WindowAt(c.now)
			if current.Region != c.current || next.Region != c.next || !start.Equal(c.nextStart) {
				t.Errorf("got %s, next %s at %s; want %s, next %s at %s", current.Region, next.Region, start, c.current, c.next, c.nextStart)
			}
		})
	}

	current, next, start := loadExample(t, "active-active.yaml").WindowAt(at(3, 0))
	if current != (Window{}) || next != (Window{}) || !start.IsZero() {
		t.Errorf("without a schedule: got %+v %+v %s, want zero values", current, next, start)
	}
}
