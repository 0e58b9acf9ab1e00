package topology

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDecoding(t *testing.T) {
	valid := []string{
		"name: t",
		"architecture: active-active",
		"regions: [{name: eu, gtid_domain_id: 1}]",
		"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
	}
	cases := []struct {
		name     string
		yaml     []byte
		problems []string
	}{{
		name:     "empty file",
		yaml:     []byte(""),
		problems: []string{"t.yaml: empty topology file: expected one YAML mapping with name, architecture, regions and clusters"},
	}, {
		name:     "only comments",
		yaml:     doc("# nothing here yet"),
		problems: []string{"t.yaml: empty topology file: expected one YAML mapping with name, architecture, regions and clusters"},
	}, {
		name:     "only a document marker",
		yaml:     doc("---"),
		problems: []string{"t.yaml: empty topology file: expected one YAML mapping with name, architecture, regions and clusters"},
	}, {
		name:     "two documents",
		yaml:     doc(append(valid, "---", "name: u")...),
		problems: []string{"t.yaml:5: a second YAML document starts here: a topology file holds exactly one"},
	}, {
		name: "trailing empty document is harmless",
		yaml: doc(append(valid, "---")...),
	}, {
		name:     "syntax error",
		yaml:     doc("name: t", "regions: [{name: eu"),
		problems: []string{"t.yaml:2: invalid YAML: did not find expected ',' or '}'"},
	}, {
		name:     "syntax error at the end of the file",
		yaml:     doc("[name: t"),
		problems: []string{"t.yaml:2: invalid YAML: did not find expected ',' or ']'"},
	}, {
		name:     "syntax error from the scanner",
		yaml:     doc("name: t", "regions: a: b"),
		problems: []string{"t.yaml:2: invalid YAML: mapping values are not allowed in this context"},
	}, {
		name: "duplicate key in a nested mapping",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters:",
			"  - name: a",
			"    kind: single",
			"    region: eu",
			"    nodes: [{name: n1}]",
			"    kind: galera"),
		problems: []string{`t.yaml:9: clusters[0].kind: duplicate key "kind" (first at line 6)`},
	}, {
		name: "a list element that does not decode stops validation",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [eu, {name: us, gtid_domain_id: 2}]",
			"clusters: [{name: a, kind: single, region: us, nodes: [{name: n1}]}]"),
		problems: []string{`t.yaml:3: regions[0]: want a mapping, got "eu"`},
	}, {
		name:     "not a mapping",
		yaml:     doc("- name: t"),
		problems: []string{"t.yaml:1: the topology must be a YAML mapping with name, architecture, regions and clusters, got a list"},
	}, {
		name: "unknown fields",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters:",
			"  - name: a",
			"    kind: single",
			"    region: eu",
			"    nodes:",
			"      - name: n1",
			"        serverid: 3",
			"        password: hunter2",
			"credentials: {file: c.yaml, password: x}",
			"colour: blue"),
		problems: []string{
			`t.yaml:10: clusters[0].nodes[0].serverid: unknown field "serverid" (did you mean "server_id"?)`,
			`t.yaml:11: clusters[0].nodes[0].password: unknown field "password": secrets never go in the topology; put them in the file named by credentials.file or in MERIDIAN_* environment variables`,
			`t.yaml:12: credentials.password: unknown field "password": secrets never go in the topology; put them in the file named by credentials.file or in MERIDIAN_* environment variables`,
			`t.yaml:13: colour: unknown field "colour" (known: name, architecture, regions, clusters, links, roles, schedule, replication, credentials, hooks, services, jurisdictions, tables, users)`,
		},
	}, {
		name:     "duplicate key",
		yaml:     doc(append(valid, "name: u")...),
		problems: []string{`t.yaml:5: name: duplicate key "name" (first at line 1)`},
	}, {
		name: "wrong types, with no follow-on problems",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: one}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - {name: a, kind: [single], region: eu, nodes: [{name: n1, server_id: -3}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"links: [{between: [eu, us], rtt: 80}]",
			"replication: {compressed: maybe, heartbeat_period: [1s], tls: yes}"),
		problems: []string{
			`t.yaml:3: regions[0].gtid_domain_id: want a whole number, 0 or more, got "one"`,
			`t.yaml:5: clusters[0].kind: want a single value, got a list`,
			`t.yaml:5: clusters[0].nodes[0].server_id: want a whole number, 0 or more, got "-3"`,
			`t.yaml:7: links[0].rtt: invalid duration "80": want a number with a unit, such as "80ms" or "1s"`,
			`t.yaml:8: replication.compressed: want true or false, got "maybe"`,
			`t.yaml:8: replication.heartbeat_period: want a duration such as "80ms" or "1s", got a list`,
			`t.yaml:8: replication.tls: want a mapping, got "yes"`,
		},
	}, {
		name: "clock times",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			`schedule: [{region: eu, from: "8h", to: "24:30"}, {region: eu, from: [1], to: "12:60"}]`),
		problems: []string{
			`t.yaml:5: schedule[0].from: invalid time "8h": want "HH:MM" (UTC) from 00:00 to 24:00`,
			`t.yaml:5: schedule[0].to: invalid time "24:30": want "HH:MM" (UTC) from 00:00 to 24:00`,
			`t.yaml:5: schedule[1].from: want a time "HH:MM" (UTC), got a list`,
			`t.yaml:5: schedule[1].to: invalid time "12:60": want "HH:MM" (UTC) from 00:00 to 24:00`,
		},
	}, {
		name: "a link between three regions",
		yaml: doc(append(valid,
			"links:",
			"  - between: [eu, us, ap]",
			"    rtt: 1ms",
			"roles: {hubb: eu}")...),
		problems: []string{"t.yaml:6: links[0].between: want two region names, e.g. [eu, us], got 3"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkIssues(t, c.yaml, c.problems, nil) })
	}
}

func TestValidationErrorText(t *testing.T) {
	one := &ValidationError{Problems: []Problem{{File: "x.yaml", Line: 12, Field: "clusters[0].name", Message: "required"}}}
	if got, want := one.Error(), "invalid topology: x.yaml:12: clusters[0].name: required"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	two := &ValidationError{Problems: []Problem{
		{File: "x.yaml", Line: 1, Field: "name", Message: "required"},
		{File: "x.yaml", Message: "whole-file problem"},
	}}
	if got, want := two.Error(), "invalid topology (2 problems):\n  x.yaml:1: name: required\n  x.yaml: whole-file problem"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	w := Warning{File: "x.yaml", Line: 3, Field: "links", Message: "no rtt"}
	if got, want := w.String(), "x.yaml:3: links: no rtt"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReplicationDefaults(t *testing.T) {
	minimal := doc(
		"name: t",
		"architecture: active-active",
		"regions: [{name: eu, gtid_domain_id: 1}]",
		"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]")
	topo, _, err := Parse("t.yaml", minimal)
	if err != nil {
		t.Fatal(err)
	}
	on := true
	want := Replication{
		StrictMode:      &on,
		ConnectRetry:    Duration{10 * time.Second},
		RetryCount:      86400,
		HeartbeatPeriod: Duration{time.Second},
		NetTimeout:      Duration{120 * time.Second},
		ParallelThreads: 4,
		ParallelMode:    "optimistic",
	}
	if !reflect.DeepEqual(topo.Replication, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", topo.Replication, want)
	}

	explicit := doc(append(strings.Split(strings.TrimSpace(string(minimal)), "\n"),
		"replication:",
		"  strict_mode: false",
		"  connect_retry: 60s",
		"  retry_count: 0",
		"  heartbeat_period: 0s",
		"  net_timeout: 30s",
		"  parallel_threads: 0",
		"  parallel_mode: conservative",
		"  compressed: true",
		"  tls: {ca: ca.pem, cert: c.pem, key: k.pem, verify_server_cert: true}")...)
	topo, _, err = Parse("t.yaml", explicit)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	want = Replication{
		StrictMode:      &off,
		ConnectRetry:    Duration{time.Minute},
		HeartbeatPeriod: Duration{0},
		NetTimeout:      Duration{30 * time.Second},
		ParallelMode:    "conservative",
		Compressed:      true,
		TLS:             &TLS{CA: "ca.pem", Cert: "c.pem", Key: "k.pem", VerifyServerCert: true},
	}
	if !reflect.DeepEqual(topo.Replication, want) {
		t.Errorf("explicit values:\n got %+v\nwant %+v", topo.Replication, want)
	}
}

func TestScalarsRoundTrip(t *testing.T) {
	in := Link{Between: [2]string{"eu", "us"}, RTT: Duration{80 * time.Millisecond}}
	w := Window{Region: "us", From: 16 * 60, To: minutesPerDay}
	out, err := yaml.Marshal(struct {
		Link   Link
		Window Window
	}{in, w})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rtt: 80ms", `from: "16:00"`, `to: "24:00"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled YAML lacks %q:\n%s", want, out)
		}
	}
	var back struct {
		Link   Link
		Window Window
	}
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Link != in || back.Window != w {
		t.Errorf("round trip: got %+v %+v, want %+v %+v", back.Link, back.Window, in, w)
	}
}

func TestLoad(t *testing.T) {
	topo, _, err := Load("../../examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if topo.Source != "../../examples/active-passive.yaml" || topo.Name != "active-passive" {
		t.Errorf("Source %q, Name %q", topo.Source, topo.Name)
	}
	_, _, err = Load("no/such/topology.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	var verr *ValidationError
	if errors.As(err, &verr) {
		t.Error("a missing file is not a validation error")
	}
}
