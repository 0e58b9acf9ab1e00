package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// doc joins lines into a YAML file, so each case shows its line numbers.
func doc(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

// issues parses data as "t.yaml" and returns every problem and warning as
// the strings users see.
func issues(t *testing.T, data []byte) (problems, warnings []string) {
	t.Helper()
	topo, ws, err := Parse("t.yaml", data)
	for _, w := range ws {
		warnings = append(warnings, w.String())
	}
	if err == nil {
		if topo == nil {
			t.Fatal("Parse returned neither a topology nor an error")
		}
		return nil, warnings
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	if topo != nil {
		t.Error("Parse returned a topology along with an error")
	}
	for _, p := range verr.Problems {
		problems = append(problems, p.String())
	}
	return problems, warnings
}

func checkIssues(t *testing.T, data []byte, wantProblems, wantWarnings []string) {
	t.Helper()
	problems, warnings := issues(t, data)
	if !slices.Equal(problems, wantProblems) {
		t.Errorf("problems:\n  got  %s\n  want %s", strings.Join(problems, "\n       "), strings.Join(wantProblems, "\n       "))
	}
	if !slices.Equal(warnings, wantWarnings) {
		t.Errorf("warnings:\n  got  %s\n  want %s", strings.Join(warnings, "\n       "), strings.Join(wantWarnings, "\n       "))
	}
}

const invalidName = "use letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters"

func TestValidation(t *testing.T) {
	cases := []struct {
		name     string
		yaml     []byte
		problems []string
		warnings []string
	}{{
		name: "name required",
		yaml: doc(
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]"),
		problems: []string{"t.yaml:1: name: required"},
	}, {
		name: "invalid names",
		yaml: doc(
			"name: my topology",
			"architecture: active-active",
			`regions: [{name: "eu west", gtid_domain_id: 1}]`,
			`clusters: [{name: "c/1", kind: single, region: "eu west", nodes: [{name: "n.1"}]}]`),
		problems: []string{
			`t.yaml:1: name: invalid topology name "my topology": ` + invalidName,
			`t.yaml:3: regions[0].name: invalid region name "eu west": ` + invalidName,
			`t.yaml:4: clusters[0].name: invalid cluster name "c/1": ` + invalidName,
			`t.yaml:4: clusters[0].nodes[0].name: invalid node name "n.1": ` + invalidName,
		},
	}, {
		name: "architecture required",
		yaml: doc(
			"name: t",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]"),
		problems: []string{"t.yaml:1: architecture: required: one of active-passive, active-active, hub-and-spoke, follow-the-sun"},
	}, {
		name: "architecture unknown",
		yaml: doc(
			"name: t",
			"architecture: multi-master",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"roles: {hub: eu}"),
		problems: []string{`t.yaml:2: architecture: unknown architecture "multi-master": want active-passive, active-active, hub-and-spoke or follow-the-sun`},
	}, {
		name: "regions and clusters required",
		yaml: doc(
			"name: t",
			"architecture: active-active"),
		problems: []string{
			"t.yaml:1: regions: required: at least one region",
			"t.yaml:1: clusters: required: at least one cluster",
		},
	}, {
		name: "regions",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions:",
			"  - {name: eu, gtid_domain_id: 1}",
			"  - {name: eu, gtid_domain_id: 2}",
			"  - {gtid_domain_id: 3}",
			"  - {name: us}",
			"  - {name: apac, gtid_domain_id: 1}",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]"),
		problems: []string{
			`t.yaml:5: regions[1].name: duplicate region name "eu" (first at line 4)`,
			`t.yaml:6: regions[2].name: required`,
			`t.yaml:7: regions[3]: region "us" has no home cluster: add a cluster with region: us`,
			`t.yaml:7: regions[3].gtid_domain_id: must be set and not 0: 0 is MariaDB's default domain, so each region takes its own and the origin of every transaction stays explicit`,
			`t.yaml:8: regions[4]: region "apac" has no home cluster: add a cluster with region: apac`,
			`t.yaml:8: regions[4].gtid_domain_id: domain 1 already used by region "eu" (line 4)`,
		},
	}, {
		name: "clusters",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n2}]}",
			"  - {kind: single, region: nowhere, nodes: [{name: n3}]}",
			"  - {name: c, region: eu, nodes: [{name: n4}]}",
			"  - {name: d, kind: ring, nodes: [{name: n5}]}",
			"  - {name: e, kind: primary-replica, region: eu, allow_wan: true, nodes: [{name: n6}, {name: n7}]}"),
		problems: []string{
			`t.yaml:6: clusters[1].name: duplicate cluster name "a" (first at line 5)`,
			`t.yaml:6: clusters[1].region: region "eu" already has home cluster "a" (line 5): a region has exactly one home cluster`,
			`t.yaml:7: clusters[2].name: required`,
			`t.yaml:7: clusters[2].region: unknown region "nowhere"`,
			`t.yaml:8: clusters[3].kind: required: galera, primary-replica or single`,
			`t.yaml:8: clusters[3].region: region "eu" already has home cluster "a" (line 5): a region has exactly one home cluster`,
			`t.yaml:9: clusters[4].kind: unknown kind "ring": want galera, primary-replica or single`,
			`t.yaml:9: clusters[4].region: required: the region this cluster belongs to`,
			`t.yaml:10: clusters[5].region: region "eu" already has home cluster "a" (line 5): a region has exactly one home cluster`,
			`t.yaml:10: clusters[5].allow_wan: only galera clusters can span regions`,
		},
	}, {
		name: "node counts per kind",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}, {name: ap, gtid_domain_id: 3}, {name: sa, gtid_domain_id: 4}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}, {name: n2}]}",
			"  - {name: b, kind: primary-replica, region: us, nodes: [{name: n3}]}",
			"  - {name: c, kind: galera, region: ap, nodes: []}",
			"  - {name: d, kind: galera, region: sa, nodes: [{name: n4}, {name: n5}]}",
			"links:",
			"  - {between: [eu, us], rtt: 1ms}",
			"  - {between: [eu, sa], rtt: 1ms}",
			"  - {between: [us, sa], rtt: 1ms}"),
		problems: []string{
			`t.yaml:5: clusters[0].nodes: a single cluster has exactly 1 node, found 2`,
			`t.yaml:6: clusters[1].nodes: a primary-replica cluster needs at least 2 nodes (a primary and a replica), found 1; use kind: single for one server`,
			`t.yaml:7: clusters[2].nodes: a galera cluster needs at least 1 node`,
		},
		warnings: []string{`t.yaml:8: clusters[3].nodes: a galera cluster of 2 node(s) cannot keep quorum when a node fails; use 3 or more`},
	}, {
		name: "nodes",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - name: a",
			"    kind: primary-replica",
			"    region: eu",
			"    nodes:",
			"      - {name: n1}",
			"      - {name: n2, region: us}",
			"      - {name: n3, region: mars}",
			"  - name: b",
			"    kind: single",
			"    region: us",
			"    nodes: [{name: n1}]",
			"links: [{between: [eu, us], rtt: 5ms}]"),
		problems: []string{
			`t.yaml:10: clusters[0].nodes[1].region: only galera nodes may sit outside their cluster's region "eu"`,
			`t.yaml:11: clusters[0].nodes[2].region: unknown region "mars"`,
			`t.yaml:15: clusters[1].nodes[0].name: duplicate node name "n1" (first at line 9)`,
		},
	}, {
		name: "addresses",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters:",
			"  - name: a",
			"    kind: galera",
			"    region: eu",
			"    nodes:",
			`      - {name: n1, address: "db1:3306"}`,
			`      - {name: n2, address: "db1:3306"}`,
			`      - {name: n3, address: "db3"}`,
			`      - {name: n4, address: "db4:99999"}`,
			`      - {name: n5, address: ":3306"}`,
			`      - {name: n6}`),
		problems: []string{
			`t.yaml:10: clusters[0].nodes[1].address: address "db1:3306" already used by node "n1" (line 9)`,
			`t.yaml:11: clusters[0].nodes[2].address: invalid address "db3": want host:port, e.g. db1.example.com:3306`,
			`t.yaml:12: clusters[0].nodes[3].address: invalid address "db4:99999": want host:port, e.g. db1.example.com:3306`,
			`t.yaml:13: clusters[0].nodes[4].address: invalid address ":3306": want host:port, e.g. db1.example.com:3306`,
			`t.yaml:14: clusters[0].nodes[5].address: missing: node "n1" (line 9) has an address, so every node needs one; leave all addresses out for a sandbox topology`,
		},
	}, {
		name: "all nodes addressed",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			`clusters: [{name: a, kind: primary-replica, region: eu, nodes: [{name: n1, address: "db1.example.com:3306"}, {name: n2, address: "[::1]:3307"}]}]`),
	}, {
		name: "explicit server ids",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 50000000}]",
			"clusters:",
			"  - name: a",
			"    kind: primary-replica",
			"    region: eu",
			"    nodes:",
			"      - {name: n1}",
			"      - {name: n2, server_id: 101}",
			"      - {name: n3, server_id: 7}",
			"  - name: b",
			"    kind: primary-replica",
			"    region: us",
			"    nodes: [{name: n4, server_id: 7}, {name: n5}]",
			"links: [{between: [eu, us], rtt: 80ms}]"),
		problems: []string{
			`t.yaml:10: clusters[0].nodes[1].server_id: server_id 101 already used by node "n1" (line 9)`,
			`t.yaml:15: clusters[1].nodes[0].server_id: server_id 7 already used by node "n3" (line 11)`,
			`t.yaml:15: clusters[1].nodes[1].server_id: generated server_id 5000000002 (region domain 50000000 * 100 + position 2) exceeds 4294967295; set server_id explicitly`,
		},
	}, {
		name: "generated server id collides",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1, server_id: 201}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"links: [{between: [eu, us], rtt: 80ms}]"),
		problems: []string{
			`t.yaml:6: clusters[1].nodes[0].server_id: generated server_id 201 (region domain 2 * 100 + position 1) already used by node "n1" (line 5); set server_id explicitly`,
		},
	}, {
		name: "galera node domains",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 1002}, {name: ap, gtid_domain_id: 5000000}]",
			"clusters:",
			"  - name: g",
			"    kind: galera",
			"    region: eu",
			"    nodes:",
			"      - {name: n1, gtid_domain_id: 7}",
			"      - {name: n2}",
			"      - {name: n3, gtid_domain_id: 7}",
			"  - {name: s, kind: single, region: us, nodes: [{name: n4, gtid_domain_id: 9}]}",
			"  - {name: h, kind: galera, region: ap, nodes: [{name: n5}]}",
			"links: [{between: [eu, us], rtt: 80ms}, {between: [eu, ap], rtt: 80ms}, {between: [us, ap], rtt: 80ms}]"),
		problems: []string{
			`t.yaml:10: clusters[0].nodes[1].gtid_domain_id: generated domain 1002 (region domain 1 * 1000 + position 2) already used by region "us" (line 3); set gtid_domain_id explicitly`,
			`t.yaml:11: clusters[0].nodes[2].gtid_domain_id: domain 7 already used by node "n1" (line 9)`,
			`t.yaml:13: clusters[2].nodes[0].gtid_domain_id: generated domain 5000000001 (region domain 5000000 * 1000 + position 1) exceeds 4294967295; set gtid_domain_id explicitly`,
		},
		warnings: []string{
			`t.yaml:12: clusters[1].nodes[0].gtid_domain_id: ignored outside galera: node "n4" writes with its region's domain 1002`,
			`t.yaml:13: clusters[2].nodes: a galera cluster of 1 node(s) cannot keep quorum when a node fails; use 3 or more`,
		},
	}, {
		name: "explicit galera domain collides with a region",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: g, kind: galera, region: eu, nodes: [{name: n1, gtid_domain_id: 1}, {name: n2}, {name: n3}]}]"),
		problems: []string{`t.yaml:4: clusters[0].nodes[0].gtid_domain_id: domain 1 already used by region "eu" (line 3)`},
	}, {
		name: "links",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"links:",
			"  - {between: [eu, us], rtt: 80ms}",
			"  - {between: [us, eu], rtt: 80ms}",
			"  - {between: [eu, eu], rtt: 1ms}",
			"  - {between: [eu, mars], rtt: -5ms}",
			`  - {between: [us, ""]}`,
			"  - {rtt: 3ms}"),
		problems: []string{
			`t.yaml:9: links[1].between: duplicate link between "us" and "eu" (first at line 8)`,
			`t.yaml:10: links[2].between: region "eu" linked to itself`,
			`t.yaml:11: links[3].rtt: negative rtt -5ms`,
			`t.yaml:11: links[3].between[1]: unknown region "mars"`,
			`t.yaml:12: links[4].rtt: required: the round-trip time between the two regions, e.g. 80ms`,
			`t.yaml:12: links[4].between[1]: required: a region name`,
			`t.yaml:13: links[5].between: required: two region names, e.g. [eu, us]`,
		},
	}, {
		name: "missing rtt between regions with nodes",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}, {name: ap, gtid_domain_id: 3}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"  - {name: c, kind: single, region: ap, nodes: [{name: n3}]}",
			"links: [{between: [us, eu], rtt: 80ms}]"),
		warnings: []string{
			`t.yaml:8: links: no rtt declared between "eu" and "ap": assuming 0 (no latency)`,
			`t.yaml:8: links: no rtt declared between "us" and "ap": assuming 0 (no latency)`,
		},
	}, {
		name: "active-passive roles required",
		yaml: doc(
			"name: t",
			"architecture: active-passive",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]"),
		problems: []string{
			"t.yaml:1: roles.primary: required: the region that takes writes in active-passive",
			"t.yaml:1: roles.dr: required: the disaster-recovery region of active-passive",
		},
	}, {
		name: "active-passive dr equals primary, unused hub",
		yaml: doc(
			"name: t",
			"architecture: active-passive",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"links: [{between: [eu, us], rtt: 80ms}]",
			"roles: {primary: eu, dr: eu, hub: us}"),
		problems: []string{`t.yaml:8: roles.dr: same region as roles.primary ("eu"): the DR region must be another region`},
		warnings: []string{`t.yaml:8: roles.hub: not used by active-passive; ignored`},
	}, {
		name: "active-passive unknown region, region without home cluster",
		yaml: doc(
			"name: t",
			"architecture: active-passive",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}, {name: ap, gtid_domain_id: 3}]",
			"clusters:",
			"  - {name: a, kind: galera, region: eu, nodes: [{name: n1}, {name: n2}, {name: n3, region: us}]}",
			"  - {name: b, kind: single, region: ap, nodes: [{name: n4}]}",
			"links: [{between: [eu, us], rtt: 5ms}, {between: [eu, ap], rtt: 80ms}, {between: [us, ap], rtt: 80ms}]",
			"roles: {primary: mars, dr: us}"),
		problems: []string{
			`t.yaml:8: roles.primary: unknown region "mars"`,
			`t.yaml:8: roles.dr: region "us" has no home cluster of its own`,
		},
	}, {
		name: "active-passive region without a role",
		yaml: doc(
			"name: t",
			"architecture: active-passive",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}, {name: ap, gtid_domain_id: 3}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"  - {name: c, kind: single, region: ap, nodes: [{name: n3}]}",
			"links: [{between: [eu, us], rtt: 80ms}, {between: [eu, ap], rtt: 80ms}, {between: [us, ap], rtt: 80ms}]",
			"roles: {primary: eu, dr: us}"),
		problems: []string{`t.yaml:3: regions[2]: region "ap" has no role in active-passive (primary "eu", dr "us"): only two regions take part`},
	}, {
		name: "hub-and-spoke needs a hub",
		yaml: doc(
			"name: t",
			"architecture: hub-and-spoke",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"roles: {primary: eu, dr: eu}"),
		problems: []string{"t.yaml:5: roles.hub: required: the hub region of hub-and-spoke"},
		warnings: []string{
			"t.yaml:5: roles.primary: not used by hub-and-spoke; ignored",
			"t.yaml:5: roles.dr: not used by hub-and-spoke; ignored",
		},
	}, {
		name: "active-active hub must be known",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"roles: {hub: mars}"),
		problems: []string{`t.yaml:5: roles.hub: unknown region "mars"`},
	}, {
		name: "follow-the-sun needs a schedule",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"roles: {hub: eu}"),
		problems: []string{"t.yaml:1: schedule: required by follow-the-sun: windows (UTC) that cover the 24 hours of the day"},
		warnings: []string{"t.yaml:5: roles.hub: not used by follow-the-sun; ignored"},
	}, {
		name: "schedule on another architecture",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			`schedule: [{region: eu, from: "00:00", to: "24:00"}]`),
		problems: []string{"t.yaml:5: schedule: only follow-the-sun uses a schedule, not active-active"},
	}, {
		name: "schedule windows",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"schedule:",
			`  - {region: eu, from: "24:00", to: "08:00"}`,
			`  - {region: mars, from: "08:00"}`,
			`  - {from: "09:00", to: "09:00"}`),
		problems: []string{
			"t.yaml:6: schedule[0].from: 24:00 is only valid as the end of a window",
			`t.yaml:7: schedule[1].region: unknown region "mars"`,
			`t.yaml:7: schedule[1].to: required: a time "HH:MM" (UTC)`,
			"t.yaml:8: schedule[2].region: required: the region that is primary in this window",
			`t.yaml:8: schedule[2]: empty window: from equals to (09:00); use from "00:00" to "24:00" for a whole day`,
		},
	}, {
		name: "schedule gap and overlap",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"schedule:",
			`  - {region: eu, from: "00:00", to: "08:00"}`,
			`  - {region: eu, from: "07:00", to: "16:00"}`,
			`  - {region: eu, from: "17:00", to: "23:00"}`),
		problems: []string{
			"t.yaml:5: schedule: gap from 16:00 to 17:00: no region is primary then",
			"t.yaml:5: schedule: gap from 23:00 to 24:00: no region is primary then",
			"t.yaml:7: schedule[1]: overlaps schedule[0] (line 6) from 07:00 to 08:00",
		},
	}, {
		name: "schedule gap through midnight",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			`schedule: [{region: eu, from: "01:00", to: "23:00"}]`),
		problems: []string{"t.yaml:5: schedule: gap from 23:00 to 01:00: no region is primary then"},
	}, {
		name: "schedule overlaps of a window through midnight",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"schedule:",
			`  - {region: eu, from: "20:00", to: "04:00"}`,
			`  - {region: eu, from: "03:00", to: "21:00"}`),
		problems: []string{
			"t.yaml:7: schedule[1]: overlaps schedule[0] (line 6) from 03:00 to 04:00",
			"t.yaml:7: schedule[1]: overlaps schedule[0] (line 6) from 20:00 to 21:00",
		},
	}, {
		name: "schedule through midnight covering the day",
		yaml: doc(
			"name: t",
			"architecture: follow-the-sun",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - {name: a, kind: single, region: eu, nodes: [{name: n1}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n2}]}",
			"links: [{between: [eu, us], rtt: 80ms}]",
			`schedule: [{region: us, from: "14:00", to: "00:00"}, {region: eu, from: "00:00", to: "06:00"}, {region: eu, from: "06:00", to: "14:00"}]`),
	}, {
		name: "replication settings",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"replication:",
			"  connect_retry: 500ms",
			"  net_timeout: 1500ms",
			"  heartbeat_period: -1s",
			"  parallel_mode: fast",
			"  tls: {cert: c.pem, verify_server_cert: true}"),
		problems: []string{
			"t.yaml:6: replication.connect_retry: must be at least 1s",
			"t.yaml:7: replication.net_timeout: must be a whole number of seconds, got 1.5s",
			"t.yaml:8: replication.heartbeat_period: must not be negative",
			`t.yaml:9: replication.parallel_mode: unknown parallel_mode "fast": want none, minimal, conservative, optimistic, aggressive`,
			"t.yaml:10: replication.tls: cert and key go together: set both or neither",
			"t.yaml:10: replication.tls.verify_server_cert: needs ca: the certificate authority to verify the source against",
		},
	}, {
		name: "heartbeat longer than net timeout",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"replication: {heartbeat_period: 200s}"),
		problems: []string{"t.yaml:5: replication.heartbeat_period: must not exceed net_timeout (2m0s): the replica would time out between heartbeats"},
	}, {
		name: "explicit zero is not replaced by a default",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"replication: {connect_retry: 0s}"),
		problems: []string{"t.yaml:5: replication.connect_retry: must be at least 1s"},
	}, {
		name: "services",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"services:",
			"  - {name: rw, region: eu, kind: readwritesplit, listen: 127.0.0.1:4006, options: {max_lag: 2s}}",
			"  - {name: rw, region: mars, kind: readwrite}",
			"  - {region: eu, listen: 127.0.0.1:4006}",
			"  - {name: ro, kind: readconnroute, listen: 4007}",
			"  - {name: free, region: eu, kind: diff, listen: 127.0.0.1:0}",
			"  - {name: free2, region: eu, listen: 127.0.0.1:0}"),
		problems: []string{
			`t.yaml:7: services[1].name: duplicate service name "rw" (first at line 6)`,
			`t.yaml:7: services[1].region: unknown region "mars"`,
			`t.yaml:7: services[1].kind: unknown kind "readwrite": want readwritesplit, readconnroute, diff`,
			`t.yaml:8: services[2].name: required`,
			`t.yaml:8: services[2].listen: listen address "127.0.0.1:4006" already used by service "rw" (line 6)`,
			`t.yaml:9: services[3].region: required: the region the service runs in`,
			`t.yaml:9: services[3].listen: invalid listen address "4007": want host:port, e.g. 0.0.0.0:3306 (leave it out for a free loopback port in a sandbox)`,
		},
	}, {
		name: "jurisdictions: one entry per country, in a region with data",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"jurisdictions:",
			"  - {country: FR, name: France, region: eu, law: GDPR, local_storage: true}",
			"  - {country: fr, region: eu}",
			"  - {country: FRA, region: mars}",
			"  - {country: US}",
			"  - {country: CA, region: us}"),
		problems: []string{
			`t.yaml:3: regions[1]: region "us" has no home cluster: add a cluster with region: us`,
			`t.yaml:7: jurisdictions[1].country: duplicate country "FR" (first at line 6)`,
			`t.yaml:8: jurisdictions[2].country: invalid country code "FRA": want two letters (ISO 3166-1 alpha-2), e.g. FR`,
			`t.yaml:8: jurisdictions[2].region: unknown region "mars"`,
			`t.yaml:9: jurisdictions[3].region: required: the region that stores this country's personal data`,
			`t.yaml:10: jurisdictions[4].region: region "us" has no home cluster of its own to keep the data`,
		},
	}, {
		name: "tables: patterns, one rule each, known regions and columns",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}, {name: b, kind: single, region: us, nodes: [{name: n2}]}]",
			"links: [{between: [eu, us], rtt: 80ms}]",
			"tables:",
			"  - {match: shop.users, home: {column: country, lookup: country}, personal: true}",
			"  - {match: shop.docs, lww: {tie_brake: [eu]}}",
			"  - {match: shop.inv, counter: [stock], owner: us}",
			"  - {match: shop.x, lww: false}",
			"  - {match: shop, personal: true}",
			"  - {match: shop.o, home: {column: 'r-1', values: {EU: eu, XX: mars}}}",
			"  - {match: SHOP.Users, owner: mars}",
			"  - {match: 'shop.[a', set: true}",
			"  - {match: shop.c, counter: [a, A, 'b c']}",
			"  - {match: shop.t, lww: {tie_break: [us, us]}}",
			"  - {match: shop.h, home: {column: c, lookup: planet}}",
			"  - {match: shop.g, home: {column: c}, counter: []}"),
		problems: []string{
			`t.yaml:7: tables[0].home.lookup: lookup: country maps country codes through jurisdictions, and the file declares none`,
			`t.yaml:8: tables[1].lww.tie_brake: unknown field "tie_brake" (did you mean "tie_break"?)`,
			`t.yaml:9: tables[2]: sets owner and counter: a table has one conflict rule at most`,
			`t.yaml:10: tables[3].lww: want true or a mapping of lww settings, got "false" (leave lww out to turn it off)`,
			`t.yaml:11: tables[4].match: invalid table pattern "shop": want "schema.table", e.g. shop.users or shop.*`,
			`t.yaml:11: tables[4].personal: personal data needs home (which region each row belongs to) or owner (the one region that keeps it)`,
			`t.yaml:12: tables[5].home.column: invalid column name "r-1": letters, digits, _ and $, at most 64 characters`,
			`t.yaml:12: tables[5].home.values.XX: unknown region "mars"`,
			`t.yaml:13: tables[6].match: duplicate table pattern "SHOP.Users" (first at line 7): only the first would ever apply`,
			`t.yaml:13: tables[6].owner: unknown region "mars"`,
			`t.yaml:14: tables[7].match: invalid table pattern "shop.[a": syntax error in pattern`,
			`t.yaml:15: tables[8].counter[1]: column "A" listed twice`,
			`t.yaml:15: tables[8].counter[2]: invalid column name "b c": letters, digits, _ and $, at most 64 characters`,
			`t.yaml:16: tables[9].lww.tie_break[1]: region "us" listed twice`,
			`t.yaml:16: tables[9].lww.tie_break: region "eu" is missing: list every region, so every tie is broken the same way`,
			`t.yaml:17: tables[10].home.lookup: unknown lookup "planet": want country (the column holds a country code) or user (it holds a user id of the users directory)`,
			`t.yaml:18: tables[11].counter: empty: name the counter columns, e.g. [stock]`,
			`t.yaml:18: tables[11].home: required: values (column value → region) or lookup (country or user)`,
		},
	}, {
		name: "tables: rules are ignored where one region writes",
		yaml: doc(
			"name: t",
			"architecture: hub-and-spoke",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"roles: {hub: eu}",
			"tables:",
			"  - {match: shop.inv, counter: [stock]}",
			"  - {match: '*.audit_log'}"),
		warnings: []string{
			`t.yaml:7: tables[0]: counter is ignored by hub-and-spoke: only one region takes writes at a time`,
		},
	}, {
		name: "residency: the users table, a user column in every personal table, backups apart",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1, backups: /b/eu}, {name: us, gtid_domain_id: 2, backups: /b/eu/}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}, {name: b, kind: single, region: us, nodes: [{name: n2}]}]",
			"links: [{between: [eu, us], rtt: 80ms}]",
			"jurisdictions: [{country: FR, region: eu}]",
			"tables:",
			"  - {match: shop.users, home: {column: country, lookup: country}, personal: true}",
			"  - {match: shop.orders, home: {column: customer_id, lookup: user}, personal: true}",
			"  - {match: shop.addresses, home: {column: country, lookup: country}, personal: true}",
			"  - {match: shop.notes, owner: eu, personal: true, user: 'a b'}",
			"  - {match: shop.products}",
			"users: {table: shop.products, id: id, email: 'e-mail'}"),
		problems: []string{
			`t.yaml:3: regions[1].backups: backup directory "/b/eu/" is already region eu's (line 3): a region's backups hold its personal data and live apart`,
			`t.yaml:8: tables[0].personal: erasure cannot find a user's rows in shop.users: set user to the column holding the user id (or home: {column: ..., lookup: user})`,
			`t.yaml:10: tables[2].personal: erasure cannot find a user's rows in shop.addresses: set user to the column holding the user id (or home: {column: ..., lookup: user})`,
			`t.yaml:11: tables[3].user: invalid column name "a b": letters, digits, _ and $, at most 64 characters`,
			`t.yaml:13: users.table: shop.products holds personal data (emails, countries): add a tables entry matching it with personal: true`,
			`t.yaml:13: users.email: invalid column name "e-mail": letters, digits, _ and $, at most 64 characters`,
			`t.yaml:13: users.country: required: the column holding the user's country code, e.g. country`,
		},
	}, {
		name: "residency: users need jurisdictions and a plain table name",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"tables: [{match: 'shop.*', owner: eu, personal: true}]",
			"users: {table: 'shop.*', id: id, email: email, country: country}"),
		problems: []string{
			`t.yaml:6: users.table: invalid table "shop.*": want "schema.table" without wildcards, e.g. shop.users`,
			`t.yaml:6: users: the users directory maps each user's country to a region through jurisdictions, and the file declares none`,
		},
	}, {
		name: "residency: real servers with personal data need a relay per node",
		yaml: doc(
			"name: t",
			"architecture: active-passive",
			"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
			"clusters:",
			"  - {name: a, kind: primary-replica, region: eu, nodes: [{name: n1, address: 'db1:3306', relay: 'db1:3307'}, {name: n2, address: 'db2:3306'}]}",
			"  - {name: b, kind: single, region: us, nodes: [{name: n3, address: 'db3:3306', relay: 'db1:3307'}]}",
			"links: [{between: [eu, us], rtt: 80ms}]",
			"roles: {primary: eu, dr: us}",
			"tables: [{match: 'crm.*', owner: eu, personal: true}]"),
		problems: []string{
			`t.yaml:5: clusters[0].nodes[1].relay: required: this estate declares personal tables, so replicas in other regions must read node n2's binary log through a Meridian relay in its region (meridian relay --node n2) that drops personal rows; give the relay's host:port`,
			`t.yaml:6: clusters[1].nodes[0].relay: address "db1:3307" is already node n1's relay`,
		},
		warnings: []string{`t.yaml:9: tables[0]: owner is ignored by active-passive: only one region takes writes at a time`},
	}, {
		name: "residency: a sandbox runs its own relays",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1, relay: 'x:1'}]}]"),
		problems: []string{
			`t.yaml:4: clusters[0].nodes[0].relay: a relay address is for real servers (with addresses); a sandbox runs its own relays`,
		},
	}, {
		name: "hooks: argv command, webhook without secrets, positive timeout",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"hooks:",
			"  command: []",
			"  webhook: https://hooks.example.com/x?token=abc",
			"  webhook_file: /etc/meridian/webhook",
			"  timeout: 0s"),
		problems: []string{
			`t.yaml:6: hooks.command: empty: want the program and its arguments, e.g. [/usr/local/bin/notify, --channel, ops]`,
			`t.yaml:7: hooks.webhook: the URL carries credentials or a query, where secret tokens sit: secrets never go in the topology; put the URL in the file named by hooks.webhook_file or in MERIDIAN_WEBHOOK_URL`,
			`t.yaml:8: hooks.webhook_file: set webhook or webhook_file, not both`,
			`t.yaml:9: hooks.timeout: must be positive, e.g. 5s`,
		},
	}, {
		name: "hooks: a webhook that is no URL, a valid command",
		yaml: doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu, gtid_domain_id: 1}]",
			"clusters: [{name: a, kind: single, region: eu, nodes: [{name: n1}]}]",
			"hooks: {command: [/bin/notify, --to, ops], webhook: 'ftp://x', timeout: 2s}"),
		problems: []string{
			`t.yaml:5: hooks.webhook: invalid URL "ftp://x": want http:// or https:// with a host`,
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkIssues(t, c.yaml, c.problems, c.warnings) })
	}
}

// The seed's rule: Galera is fine under 10 ms RTT, a stretch up to 30 ms,
// refused above unless allow_wan says otherwise.
func TestGaleraAcrossRegions(t *testing.T) {
	spanning := func(rtt, allowWAN string) []byte {
		return doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu1, gtid_domain_id: 1}, {name: eu2, gtid_domain_id: 2}]",
			"clusters:",
			"  - name: g",
			"    kind: galera",
			"    region: eu1",
			"    allow_wan: "+allowWAN,
			"    nodes: [{name: n1}, {name: n2}, {name: n3, region: eu2}]",
			fmt.Sprintf("links: [{between: [eu1, eu2], rtt: %s}]", rtt))
	}
	slow := func(rtt string) []string {
		return []string{`t.yaml:5: clusters[0]: galera cluster "g" spans "eu1" and "eu2" (rtt ` + rtt + `): 10-30ms is the limit for synchronous replication; expect slow commits`}
	}
	cases := []struct {
		rtt, allowWAN      string
		problems, warnings []string
	}{
		{rtt: "9ms", allowWAN: "false"},
		{rtt: "10ms", allowWAN: "false", warnings: slow("10ms")},
		{rtt: "30ms", allowWAN: "false", warnings: slow("30ms")},
		{rtt: "31ms", allowWAN: "false", problems: []string{`t.yaml:5: clusters[0]: galera cluster "g" spans "eu1" and "eu2" (rtt 31ms): above 30ms every commit waits for the WAN; keep galera inside a region and replicate asynchronously between regions, or set allow_wan: true`}},
		{rtt: "80ms", allowWAN: "true"},
	}
	for _, c := range cases {
		t.Run(c.rtt+" allow_wan "+c.allowWAN, func(t *testing.T) {
			checkIssues(t, spanning(c.rtt, c.allowWAN), c.problems, c.warnings)
		})
	}

	t.Run("undeclared rtt", func(t *testing.T) {
		data := doc(
			"name: t",
			"architecture: active-active",
			"regions: [{name: eu1, gtid_domain_id: 1}, {name: eu2, gtid_domain_id: 2}]",
			"clusters: [{name: g, kind: galera, region: eu1, nodes: [{name: n1}, {name: n2}, {name: n3, region: eu2}]}]")
		checkIssues(t, data, nil, []string{`t.yaml:1: links: no rtt declared between "eu1" and "eu2": assuming 0 (no latency)`})
	})
}
