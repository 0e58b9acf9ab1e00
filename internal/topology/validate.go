package topology

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Seed latency rules for synchronous (Galera) replication.
const (
	galeraComfortRTT = 10 * time.Millisecond // below this, Galera is comfortable
	galeraMaxRTT     = 30 * time.Millisecond // above this, only with allow_wan
)

// Multipliers that generate ids from a region's domain; see ServerID and NodeDomain.
const (
	serverIDsPerDomain     = 100
	galeraDomainsPerRegion = 1000
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// validator collects every problem and warning of one decoded file.
type validator struct {
	file string
	idx  *index
	// refusedPaths are the fields the decoder could not decode; see fail.
	refusedPaths []string
	problems     []Problem
	warnings     []Warning

	regions map[string]bool // declared region names
	homes   map[string]int  // region -> index of its home cluster
}

// fail records a problem, unless the decoder already refused that field or
// one above it: its zero value would only produce follow-on noise.
func (v *validator) fail(field, format string, args ...any) {
	if v.refused(field) {
		return
	}
	v.problems = append(v.problems, Problem{File: v.file, Line: v.idx.line(field), Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(field, format string, args ...any) {
	v.warnings = append(v.warnings, Warning{File: v.file, Line: v.idx.line(field), Field: field, Message: fmt.Sprintf(format, args...)})
}

// at says where path is written, for messages that point at a first occurrence.
func (v *validator) at(path string) string { return fmt.Sprintf("line %d", v.idx.line(path)) }

func (v *validator) refused(field string) bool {
	for _, r := range v.refusedPaths {
		if field == r || strings.HasPrefix(field, r+".") || strings.HasPrefix(field, r+"[") {
			return true
		}
	}
	return false
}

// has reports whether the file sets field to a value that decoded.
func (v *validator) has(field string) bool { return v.idx.has(field) && !v.refused(field) }

func (v *validator) validate(t *Topology) {
	v.name("name", "topology", t.Name, nil)
	v.architecture(t)
	v.regionList(t)
	v.clusters(t)
	v.addresses(t)
	v.homeClusters(t)
	v.serverIDs(t)
	v.domains(t)
	v.links(t)
	v.missingRTTs(t)
	v.galeraSpans(t)
	v.roles(t)
	v.replication(t)
	v.services(t)
	v.hooks(t)
	v.jurisdictions(t)
	v.tables(t)
	v.residency(t)
}

// name checks a required name's form and, when seen is given, that it is not
// taken; seen maps names to the path that took them.
func (v *validator) name(field, what, name string, seen map[string]string) bool {
	switch {
	case name == "":
		v.fail(field, "required")
		return false
	case !namePattern.MatchString(name):
		v.fail(field, "invalid %s name %q: use letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters", what, name)
		return false
	case seen == nil:
		return true
	}
	if first, taken := seen[name]; taken {
		v.fail(field, "duplicate %s name %q (first at %s)", what, name, v.at(first))
		return false
	}
	seen[name] = field
	return true
}

var architectures = []Architecture{ActivePassive, ActiveActive, HubAndSpoke, FollowTheSun}

func (v *validator) architecture(t *Topology) {
	switch {
	case t.Architecture == "":
		v.fail("architecture", "required: one of active-passive, active-active, hub-and-spoke, follow-the-sun")
	case !t.Architecture.valid():
		v.fail("architecture", "unknown architecture %q: want active-passive, active-active, hub-and-spoke or follow-the-sun", t.Architecture)
	}
}

func (a Architecture) valid() bool { return slices.Contains(architectures, a) }

func (v *validator) regionList(t *Topology) {
	v.regions = map[string]bool{}
	if len(t.Regions) == 0 {
		v.fail("regions", "required: at least one region")
		return
	}
	seen := map[string]string{}
	for i, r := range t.Regions {
		v.name(fmt.Sprintf("regions[%d].name", i), "region", r.Name, seen)
		if r.Name != "" {
			v.regions[r.Name] = true // even if badly named, so references to it stay quiet
		}
	}
}

// region checks a reference to a region.
func (v *validator) region(field, name, required string) bool {
	switch {
	case name == "" && required != "":
		v.fail(field, "required: %s", required)
	case name == "":
	case !v.regions[name]:
		v.fail(field, "unknown region %q", name)
	default:
		return true
	}
	return false
}

func (v *validator) clusters(t *Topology) {
	v.homes = map[string]int{}
	if len(t.Clusters) == 0 {
		v.fail("clusters", "required: at least one cluster")
		return
	}
	clusterNames, nodeNames, addresses := map[string]string{}, map[string]string{}, map[string]string{}
	for i, c := range t.Clusters {
		p := fmt.Sprintf("clusters[%d]", i)
		v.name(p+".name", "cluster", c.Name, clusterNames)
		v.clusterKind(p, c)
		if v.region(p+".region", c.Region, "the region this cluster belongs to") {
			if first, taken := v.homes[c.Region]; taken {
				v.fail(p+".region", "region %q already has home cluster %q (%s): a region has exactly one home cluster",
					c.Region, t.Clusters[first].Name, v.at(fmt.Sprintf("clusters[%d]", first)))
			} else {
				v.homes[c.Region] = i
			}
		}
		if c.AllowWAN && c.Kind != Galera {
			v.fail(p+".allow_wan", "only galera clusters can span regions")
		}
		for j, n := range c.Nodes {
			np := fmt.Sprintf("%s.nodes[%d]", p, j)
			v.name(np+".name", "node", n.Name, nodeNames)
			if v.region(np+".region", n.Region, "") && c.Kind != Galera && n.Region != c.Region {
				v.fail(np+".region", "only galera nodes may sit outside their cluster's region %q", c.Region)
			}
			if n.Address != "" && v.address(np+".address", n.Address) {
				if first, taken := addresses[n.Address]; taken {
					v.fail(np+".address", "address %q already used by %s", n.Address, first)
				} else {
					addresses[n.Address] = fmt.Sprintf("node %q (%s)", n.Name, v.at(np))
				}
			}
		}
	}
}

func (v *validator) clusterKind(p string, c Cluster) {
	n := len(c.Nodes)
	switch c.Kind {
	case "":
		v.fail(p+".kind", "required: galera, primary-replica or single")
	case Single:
		if n != 1 {
			v.fail(p+".nodes", "a single cluster has exactly 1 node, found %d", n)
		}
	case PrimaryReplica:
		if n < 2 {
			v.fail(p+".nodes", "a primary-replica cluster needs at least 2 nodes (a primary and a replica), found %d; use kind: single for one server", n)
		}
	case Galera:
		if n == 0 {
			v.fail(p+".nodes", "a galera cluster needs at least 1 node")
		} else if n < 3 {
			v.warn(p+".nodes", "a galera cluster of %d node(s) cannot keep quorum when a node fails; use 3 or more", n)
		}
	default:
		v.fail(p+".kind", "unknown kind %q: want galera, primary-replica or single", c.Kind)
	}
}

func (v *validator) address(field, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		v.fail(field, "invalid address %q: want host:port, e.g. db1.example.com:3306", addr)
		return false
	}
	return true
}

// addresses refuses a file where only some nodes have an address: either it
// describes real servers (all addressed) or a sandbox (none).
func (v *validator) addresses(t *Topology) {
	var withName, withPath string
	var without []string
	for i, c := range t.Clusters {
		for j, n := range c.Nodes {
			p := fmt.Sprintf("clusters[%d].nodes[%d]", i, j)
			switch {
			case n.Address == "":
				without = append(without, p)
			case withPath == "":
				withName, withPath = n.Name, p
			}
		}
	}
	if withPath == "" {
		return
	}
	for _, p := range without {
		v.fail(p+".address", "missing: node %q (%s) has an address, so every node needs one; leave all addresses out for a sandbox topology", withName, v.at(withPath))
	}
}

// homeClusters requires a home cluster in every region, except one that only
// hosts nodes of a Galera cluster spanning from another region.
func (v *validator) homeClusters(t *Topology) {
	hosts := map[string]bool{}
	for _, ref := range t.Nodes() {
		hosts[ref.Region] = true
	}
	for i, r := range t.Regions {
		if _, ok := v.homes[r.Name]; !ok && r.Name != "" && !hosts[r.Name] {
			v.fail(fmt.Sprintf("regions[%d]", i), "region %q has no home cluster: add a cluster with region: %s", r.Name, r.Name)
		}
	}
}

// generated describes how an id was derived, for collision messages.
func generated(what string, domain uint32, multiplier, position int) string {
	return fmt.Sprintf("generated %s (region domain %d * %d + position %d)", what, domain, multiplier, position)
}

func (v *validator) serverIDs(t *Topology) {
	owners := map[uint64]string{}
	for i, c := range t.Clusters {
		domain := v.generatingDomain(t, i)
		for j, n := range c.Nodes {
			p := fmt.Sprintf("clusters[%d].nodes[%d]", i, j)
			id, what := uint64(n.ServerID), fmt.Sprintf("server_id %d", n.ServerID)
			if n.ServerID == 0 {
				if domain == 0 {
					continue
				}
				id = generatedServerID(domain, j+1)
				what = generated(fmt.Sprintf("server_id %d", id), domain, serverIDsPerDomain, j+1)
				if id > math.MaxUint32 {
					v.fail(p+".server_id", "%s exceeds %d; set server_id explicitly", what, uint64(math.MaxUint32))
					continue
				}
			}
			if first, taken := owners[id]; taken {
				v.fail(p+".server_id", "%s already used by %s%s", what, first, explicitHint(n.ServerID == 0, "server_id"))
				continue
			}
			owners[id] = fmt.Sprintf("node %q (%s)", n.Name, v.at(p))
		}
	}
}

// generatingDomain is the domain cluster i generates its nodes' ids from, or
// 0 when the cluster is already refused (unknown region, region already
// taken, region without a domain): checking ids it would generate only
// repeats that problem.
func (v *validator) generatingDomain(t *Topology, i int) uint32 {
	c := t.Clusters[i]
	if home, ok := v.homes[c.Region]; !ok || home != i {
		return 0
	}
	return t.regionDomain(c.Region)
}

func explicitHint(generated bool, field string) string {
	if generated {
		return "; set " + field + " explicitly"
	}
	return ""
}

// domains checks that GTID domains stay distinct: one per region, plus each
// Galera node's own domain for its local, non-replicated events.
func (v *validator) domains(t *Topology) {
	owners := map[uint64]string{}
	for i, r := range t.Regions {
		p := fmt.Sprintf("regions[%d].gtid_domain_id", i)
		d := uint64(r.GTIDDomainID)
		switch first, taken := owners[d]; {
		case d == 0:
			v.fail(p, "must be set and not 0: 0 is MariaDB's default domain, so each region takes its own and the origin of every transaction stays explicit")
		case taken:
			v.fail(p, "domain %d already used by %s", d, first)
		default:
			owners[d] = fmt.Sprintf("region %q (%s)", r.Name, v.at(p))
		}
	}
	for i, c := range t.Clusters {
		domain := v.generatingDomain(t, i)
		for j, n := range c.Nodes {
			p := fmt.Sprintf("clusters[%d].nodes[%d].gtid_domain_id", i, j)
			if c.Kind != Galera {
				if n.GTIDDomainID != 0 && domain != 0 {
					v.warn(p, "ignored outside galera: node %q writes with its region's domain %d", n.Name, domain)
				}
				continue
			}
			d, what := uint64(n.GTIDDomainID), fmt.Sprintf("domain %d", n.GTIDDomainID)
			if n.GTIDDomainID == 0 {
				if domain == 0 {
					continue
				}
				d = generatedGaleraDomain(domain, j+1)
				what = generated(fmt.Sprintf("domain %d", d), domain, galeraDomainsPerRegion, j+1)
				if d > math.MaxUint32 {
					v.fail(p, "%s exceeds %d; set gtid_domain_id explicitly", what, uint64(math.MaxUint32))
					continue
				}
			}
			if first, taken := owners[d]; taken {
				v.fail(p, "%s already used by %s%s", what, first, explicitHint(n.GTIDDomainID == 0, "gtid_domain_id"))
				continue
			}
			owners[d] = fmt.Sprintf("node %q (%s)", n.Name, v.at(fmt.Sprintf("clusters[%d].nodes[%d]", i, j)))
		}
	}
}

func (v *validator) links(t *Topology) {
	pairs := map[[2]string]string{}
	for i, l := range t.Links {
		p := fmt.Sprintf("links[%d]", i)
		if l.RTT.Duration < 0 {
			v.fail(p+".rtt", "negative rtt %s", l.RTT.Duration)
		} else if !v.has(p + ".rtt") {
			v.fail(p+".rtt", "required: the round-trip time between the two regions, e.g. 80ms")
		}
		if l.Between == [2]string{} {
			v.fail(p+".between", "required: two region names, e.g. [eu, us]")
			continue
		}
		known := true
		for k, r := range l.Between {
			known = v.region(fmt.Sprintf("%s.between[%d]", p, k), r, "a region name") && known
		}
		if !known {
			continue
		}
		a, b := l.Between[0], l.Between[1]
		if a == b {
			v.fail(p+".between", "region %q linked to itself", a)
			continue
		}
		key := pairKey(a, b)
		if first, taken := pairs[key]; taken {
			v.fail(p+".between", "duplicate link between %q and %q (first at %s)", a, b, v.at(first))
			continue
		}
		pairs[key] = p
	}
}

func pairKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// missingRTTs warns about region pairs that hold nodes but have no declared
// RTT: the sandbox would then add no latency between them.
func (v *validator) missingRTTs(t *Topology) {
	declared := map[[2]string]bool{}
	for _, l := range t.Links {
		declared[pairKey(l.Between[0], l.Between[1])] = true
	}
	var withNodes []string
	hosts := map[string]bool{}
	for _, ref := range t.Nodes() {
		hosts[ref.Region] = true
	}
	for _, r := range t.Regions {
		if hosts[r.Name] && !slices.Contains(withNodes, r.Name) {
			withNodes = append(withNodes, r.Name)
		}
	}
	for i, a := range withNodes {
		for _, b := range withNodes[i+1:] {
			if !declared[pairKey(a, b)] {
				v.warn("links", "no rtt declared between %q and %q: assuming 0 (no latency)", a, b)
			}
		}
	}
}

// galeraSpans applies the seed's latency rule: synchronous replication is
// fine under 10 ms RTT, a stretch up to 30 ms, and above that every commit
// waits for the WAN.
func (v *validator) galeraSpans(t *Topology) {
	for i, c := range t.Clusters {
		if c.Kind != Galera {
			continue
		}
		var spanned []string
		for _, n := range c.Nodes {
			r := n.Region
			if r == "" {
				r = c.Region
			}
			if v.regions[r] && !slices.Contains(spanned, r) {
				spanned = append(spanned, r)
			}
		}
		p := fmt.Sprintf("clusters[%d]", i)
		for j, a := range spanned {
			for _, b := range spanned[j+1:] {
				rtt := t.RTT(a, b)
				switch {
				case rtt > galeraMaxRTT && !c.AllowWAN:
					v.fail(p, "galera cluster %q spans %q and %q (rtt %s): above 30ms every commit waits for the WAN; keep galera inside a region and replicate asynchronously between regions, or set allow_wan: true", c.Name, a, b, rtt)
				case rtt >= galeraComfortRTT && rtt <= galeraMaxRTT:
					v.warn(p, "galera cluster %q spans %q and %q (rtt %s): 10-30ms is the limit for synchronous replication; expect slow commits", c.Name, a, b, rtt)
				}
			}
		}
	}
}

// roles checks that the architecture has the roles and schedule it needs,
// and warns about roles it would ignore.
func (v *validator) roles(t *Topology) {
	if !t.Architecture.valid() {
		return
	}
	arch := string(t.Architecture)
	uses := map[string]bool{}
	switch t.Architecture {
	case ActivePassive:
		uses["primary"], uses["dr"] = true, true
		primary := v.roleRegion("roles.primary", t.Roles.Primary, "the region that takes writes in active-passive")
		dr := v.roleRegion("roles.dr", t.Roles.DR, "the disaster-recovery region of active-passive")
		if primary && dr && t.Roles.Primary == t.Roles.DR {
			v.fail("roles.dr", "same region as roles.primary (%q): the DR region must be another region", t.Roles.DR)
		} else if primary && dr {
			for i, r := range t.Regions {
				if _, home := v.homes[r.Name]; home && r.Name != t.Roles.Primary && r.Name != t.Roles.DR {
					v.fail(fmt.Sprintf("regions[%d]", i), "region %q has no role in active-passive (primary %q, dr %q): only two regions take part", r.Name, t.Roles.Primary, t.Roles.DR)
				}
			}
		}
	case HubAndSpoke:
		uses["hub"] = true
		v.roleRegion("roles.hub", t.Roles.Hub, "the hub region of hub-and-spoke")
	case ActiveActive:
		uses["hub"] = true // optional: where global data such as a catalogue is written
		v.roleRegion("roles.hub", t.Roles.Hub, "")
	case FollowTheSun:
		v.schedule(t)
	}
	if t.Roles.Controller != "" {
		if _, ok := t.Region(t.Roles.Controller); !ok {
			v.fail("roles.controller", "unknown region %q (the region the controller runs in)", t.Roles.Controller)
		}
	}
	for _, role := range []struct{ name, region string }{{"primary", t.Roles.Primary}, {"dr", t.Roles.DR}, {"hub", t.Roles.Hub}} {
		if role.region != "" && !uses[role.name] {
			v.warn("roles."+role.name, "not used by %s; ignored", arch)
		}
	}
	if t.Architecture != FollowTheSun && len(t.Schedule) > 0 {
		v.fail("schedule", "only follow-the-sun uses a schedule, not %s", arch)
	}
}

// roleRegion checks a region named by a role or a schedule window: it must
// have a home cluster to take writes or replicate.
func (v *validator) roleRegion(field, name, required string) bool {
	if !v.region(field, name, required) {
		return false
	}
	if _, home := v.homes[name]; !home {
		v.fail(field, "region %q has no home cluster of its own", name)
		return false
	}
	return true
}

func (v *validator) schedule(t *Topology) {
	if len(t.Schedule) == 0 {
		v.fail("schedule", "required by follow-the-sun: windows (UTC) that cover the 24 hours of the day")
		return
	}
	complete := true
	for i, w := range t.Schedule {
		p := fmt.Sprintf("schedule[%d]", i)
		v.roleRegion(p+".region", w.Region, "the region that is primary in this window")
		bounded := true
		for _, bound := range []string{"from", "to"} {
			if !v.has(p + "." + bound) {
				v.fail(p+"."+bound, `required: a time "HH:MM" (UTC)`)
				bounded = false
			}
		}
		switch {
		case !bounded:
		case w.From == minutesPerDay:
			v.fail(p+".from", "24:00 is only valid as the end of a window")
			bounded = false
		case w.From == w.To:
			v.fail(p, `empty window: from equals to (%s); use from "00:00" to "24:00" for a whole day`, w.From)
			bounded = false
		}
		complete = complete && bounded
	}
	if !complete {
		return
	}
	for j := range t.Schedule {
		for i := range j {
			a, b := t.Schedule[i], t.Schedule[j]
			for _, run := range minuteRuns(func(m int) bool { return a.covers(m) && b.covers(m) }) {
				v.fail(fmt.Sprintf("schedule[%d]", j), "overlaps schedule[%d] (%s) from %s to %s", i, v.at(fmt.Sprintf("schedule[%d]", i)), run[0], run[1])
			}
		}
	}
	gaps := minuteRuns(func(m int) bool {
		for _, w := range t.Schedule {
			if w.covers(m) {
				return false
			}
		}
		return true
	})
	for _, run := range gaps {
		v.fail("schedule", "gap from %s to %s: no region is primary then", run[0], run[1])
	}
}

var parallelModes = []string{"none", "minimal", "conservative", "optimistic", "aggressive"}

func (v *validator) replication(t *Topology) {
	r := t.Replication
	v.wholeSeconds("replication.connect_retry", r.ConnectRetry.Duration)
	v.wholeSeconds("replication.net_timeout", r.NetTimeout.Duration)
	switch hb := r.HeartbeatPeriod.Duration; {
	case hb < 0:
		v.fail("replication.heartbeat_period", "must not be negative")
	case hb > r.NetTimeout.Duration && r.NetTimeout.Duration > 0:
		v.fail("replication.heartbeat_period", "must not exceed net_timeout (%s): the replica would time out between heartbeats", r.NetTimeout.Duration)
	}
	if !slices.Contains(parallelModes, r.ParallelMode) {
		v.fail("replication.parallel_mode", "unknown parallel_mode %q: want %s", r.ParallelMode, strings.Join(parallelModes, ", "))
	}
	if tls := r.TLS; tls != nil {
		if (tls.Cert == "") != (tls.Key == "") {
			v.fail("replication.tls", "cert and key go together: set both or neither")
		}
		if tls.VerifyServerCert && tls.CA == "" {
			v.fail("replication.tls.verify_server_cert", "needs ca: the certificate authority to verify the source against")
		}
	}
}

// wholeSeconds checks a setting MariaDB counts in whole seconds.
func (v *validator) wholeSeconds(field string, d time.Duration) {
	switch {
	case d < time.Second:
		v.fail(field, "must be at least 1s")
	case d%time.Second != 0:
		v.fail(field, "must be a whole number of seconds, got %s", d)
	}
}

// services checks the router services: each runs in a region, has a kind
// the router knows and, when it names a listen address, one of its own.
// Options are the router's to check (router.ConfigFromTopology).
func (v *validator) services(t *Topology) {
	names, listens := map[string]string{}, map[string]string{}
	for i, s := range t.Services {
		p := fmt.Sprintf("services[%d]", i)
		v.name(p+".name", "service", s.Name, names)
		v.region(p+".region", s.Region, "the region the service runs in")
		if s.Kind != "" && !slices.Contains(ServiceKinds, s.Kind) {
			v.fail(p+".kind", "unknown kind %q: want %s", s.Kind, strings.Join(ServiceKinds, ", "))
		}
		if s.Listen == "" {
			continue
		}
		_, port, err := net.SplitHostPort(s.Listen)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || n < 0 || n > 65535:
			v.fail(p+".listen", "invalid listen address %q: want host:port, e.g. 0.0.0.0:3306 (leave it out for a free loopback port in a sandbox)", s.Listen)
		case n == 0: // a free port at every start: never taken twice
		default:
			if first, taken := listens[s.Listen]; taken {
				v.fail(p+".listen", "listen address %q already used by %s", s.Listen, first)
			} else {
				listens[s.Listen] = fmt.Sprintf("service %q (%s)", s.Name, v.at(p))
			}
		}
	}
}

// hooks checks the notification hooks. A webhook URL that carries
// credentials or a query (where tokens usually sit) is refused: secrets go
// in webhook_file or MERIDIAN_WEBHOOK_URL.
func (v *validator) hooks(t *Topology) {
	h := t.Hooks
	if v.has("hooks.command") {
		switch {
		case len(h.Command) == 0:
			v.fail("hooks.command", "empty: want the program and its arguments, e.g. [/usr/local/bin/notify, --channel, ops]")
		case h.Command[0] == "":
			v.fail("hooks.command", "the program (first element) is empty")
		}
	}
	if h.Webhook != "" && h.WebhookFile != "" {
		v.fail("hooks.webhook_file", "set webhook or webhook_file, not both")
	}
	if h.Webhook != "" {
		u, err := url.Parse(h.Webhook)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail("hooks.webhook", "invalid URL %q: want http:// or https:// with a host", h.Webhook)
		case u.User != nil || u.RawQuery != "":
			v.fail("hooks.webhook", "the URL carries credentials or a query, where secret tokens sit: secrets never go in the topology; put the URL in the file named by hooks.webhook_file or in MERIDIAN_WEBHOOK_URL")
		}
	}
	if v.has("hooks.timeout") && h.Timeout.Duration <= 0 {
		v.fail("hooks.timeout", "must be positive, e.g. 5s")
	}
}
