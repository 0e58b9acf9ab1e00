package api_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/snapshot"
)

// scrape returns /metrics as its HELP/TYPE lines by metric name and its
// samples by series ("name{labels}" exactly as exposed).
func scrape(t *testing.T, h http.Handler) (types map[string]string, helps map[string]bool, samples map[string]string) {
	t.Helper()
	res, body := get(t, h, "/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d\n%s", res.StatusCode, body)
	}
	types, helps, samples = map[string]string{}, map[string]bool{}, map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch f := strings.Fields(line); {
		case len(f) >= 4 && f[0] == "#" && f[1] == "TYPE":
			types[f[2]] = f[3]
		case len(f) >= 3 && f[0] == "#" && f[1] == "HELP":
			helps[f[2]] = true
		case line != "" && !strings.HasPrefix(line, "#"):
			i := strings.LastIndexByte(line, ' ')
			samples[line[:i]] = line[i+1:]
		}
	}
	return types, helps, samples
}

// requiredMetrics are the names dashboards and alerts may rely on.
var requiredMetrics = []string{
	"meridian_node_up", "meridian_node_read_only", "meridian_node_desired_writable",
	"meridian_replication_lag_seconds", "meridian_replication_gtid_lag_transactions",
	"meridian_replication_io_running", "meridian_replication_sql_running",
	"meridian_replication_seconds_behind_master", "meridian_gtid_errant_transactions",
	"meridian_galera_cluster_size", "meridian_galera_flow_control_paused",
	"meridian_link_rtt_seconds", "meridian_node_probe_duration_seconds",
	"meridian_snapshot_timestamp_seconds",
	"go_goroutines", "process_resident_memory_bytes",
}

func TestMetricsExposeTheSnapshot(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 26, 53, 500_000_000, time.UTC)
	snap := estate(at)
	snap.Nodes[1].Errant = []string{"2-7", "3-12..14"} // eu-2: 1 + 3 errant transactions
	types, helps, samples := scrape(t, api.New(&source{snap: snap}))

	for _, name := range requiredMetrics {
		if !helps[name] || types[name] == "" {
			t.Errorf("%s: HELP %v, TYPE %q", name, helps[name], types[name])
		}
		if strings.HasPrefix(name, "meridian_") && types[name] != "gauge" {
			t.Errorf("%s has TYPE %q, want gauge", name, types[name])
		}
	}

	channel := func(source, target, node, conn string) string {
		return `{connection="` + conn + `",node="` + node + `",source_region="` + source + `",target_region="` + target + `"}`
	}
	for series, want := range map[string]string{
		`meridian_snapshot_timestamp_seconds`:                                                                                          "1.7734804135e+09",
		`meridian_node_up{node="eu-1",region="eu"}`:                                                                                    "1",
		`meridian_node_up{node="eu-3",region="eu"}`:                                                                                    "0",
		`meridian_node_read_only{node="us-2",region="us"}`:                                                                             "0",
		`meridian_node_desired_writable{node="eu-3",region="eu"}`:                                                                      "1",
		`meridian_node_probe_duration_seconds{node="eu-1",region="eu"}`:                                                                "0.0014",
		`meridian_node_probe_duration_seconds{node="eu-3",region="eu"}`:                                                                "2",
		`meridian_gtid_errant_transactions{node="eu-1",region="eu"}`:                                                                   "0",
		`meridian_gtid_errant_transactions{node="eu-2",region="eu"}`:                                                                   "4",
		`meridian_galera_cluster_size{node="eu-1",region="eu"}`:                                                                        "2",
		`meridian_galera_cluster_size{node="us-3",region="us"}`:                                                                        "3",
		`meridian_galera_flow_control_paused{node="us-3",region="us"}`:                                                                 "0.002",
		`meridian_link_rtt_seconds{from_region="eu",to_region="us"}`:                                                                   "0.0812",
		`meridian_link_rtt_seconds{from_region="eu",to_region="apac"}`:                                                                 "0.2456",
		"meridian_replication_io_running" + channel("eu", "us", "us-1", "eu"):                                                          "0",
		"meridian_replication_sql_running" + channel("eu", "us", "us-1", "eu"):                                                         "1",
		"meridian_replication_io_running" + channel("us", "apac", "apac-1", "us"):                                                      "1",
		"meridian_replication_lag_seconds" + channel("us", "apac", "apac-1", "us"):                                                     "2.4",
		"meridian_replication_lag_seconds" + channel("eu", "apac", "apac-1", "eu"):                                                     "0.1305",
		"meridian_replication_seconds_behind_master" + channel("us", "apac", "apac-1", "us"):                                           "2",
		`meridian_replication_gtid_lag_transactions{connection="us",domain="2",node="apac-1",source_region="us",target_region="apac"}`: "243",
		`meridian_replication_gtid_lag_transactions{connection="eu",domain="1",node="us-1",source_region="eu",target_region="us"}`:     "111",
	} {
		if got, ok := samples[series]; !ok {
			t.Errorf("no sample %s", series)
		} else if got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}

	// Unknown is absent, never a made-up 0.
	for _, series := range []string{
		"meridian_replication_lag_seconds" + channel("eu", "us", "us-1", "eu"),
		"meridian_replication_seconds_behind_master" + channel("eu", "us", "us-1", "eu"),
		`meridian_node_read_only{node="eu-3",region="eu"}`,
		`meridian_gtid_errant_transactions{node="eu-3",region="eu"}`,
		`meridian_galera_cluster_size{node="eu-3",region="eu"}`,
		`meridian_link_rtt_seconds{from_region="eu",to_region="eu"}`,
	} {
		if v, ok := samples[series]; ok {
			t.Errorf("%s = %s, want no sample: the value is unknown", series, v)
		}
	}
}

func TestMetricsFollowTheEstate(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	src := &source{}
	h := api.New(src)

	_, _, samples := scrape(t, h)
	for series := range samples {
		if strings.HasPrefix(series, "meridian_") {
			t.Errorf("before the first snapshot: %s exposed", series)
		}
	}
	if _, ok := samples["go_goroutines"]; !ok {
		t.Error("before the first snapshot: go collector missing")
	}

	src.set(estate(at))
	if _, _, samples = scrape(t, h); samples[`meridian_node_up{node="apac-3",region="apac"}`] != "1" {
		t.Fatal("apac-3 is not exposed")
	}
	// apac-3 leaves the estate and apac-1 loses its "us" channel: their
	// series go with them instead of freezing at their last value.
	smaller := estate(at.Add(time.Second))
	smaller.Nodes = smaller.Nodes[:len(smaller.Nodes)-1]
	for i, n := range smaller.Nodes {
		if n.Name == "apac-1" {
			smaller.Nodes[i].Replication = n.Replication[:1]
		}
	}
	src.set(smaller)
	_, _, samples = scrape(t, h)
	for series := range samples {
		if strings.Contains(series, `"apac-3"`) || strings.Contains(series, `node="apac-1",source_region="us"`) {
			t.Errorf("%s is still exposed", series)
		}
	}
}

func TestMetricsSurviveABadErrantRange(t *testing.T) {
	snap := estate(time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC))
	snap.Nodes[0].Errant = []string{"garbage"}
	_, _, samples := scrape(t, api.New(&source{snap: snap}))
	if _, ok := samples[`meridian_gtid_errant_transactions{node="eu-1",region="eu"}`]; ok {
		t.Error("an unreadable errant range produced a count")
	}
	if samples[`meridian_node_up{node="eu-1",region="eu"}`] != "1" {
		t.Error("one bad value hid the other metrics")
	}
}

// An empty snapshot source must not make the page's JSON consumers or the
// collector trip over nil slices.
func TestMetricsOfAnEmptyEstate(t *testing.T) {
	_, _, samples := scrape(t, api.New(&source{snap: snapshot.Snapshot{At: time.Unix(1, 0)}}))
	if samples["meridian_snapshot_timestamp_seconds"] != "1" {
		t.Errorf("timestamp %q, want 1", samples["meridian_snapshot_timestamp_seconds"])
	}
}
