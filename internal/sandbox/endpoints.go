package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-geo/meridian/internal/atomicfile"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/topology"
)

// infoEndpoints reach a sandbox's nodes from its sandbox.json: Meridian
// itself connects directly, a replica connects to its source through the WAN
// route of its own region.
type infoEndpoints struct {
	info  *Info
	topo  *topology.Topology
	admin provision.Account
	// from is the region Meridian itself is placed in ("" for nowhere:
	// direct connections).
	from string
}

// Endpoints returns how to reach the nodes of the sandbox described by info,
// connecting directly.
func Endpoints(info *Info, t *topology.Topology, creds provision.Credentials) provision.Endpoints {
	return infoEndpoints{info: info, topo: t, admin: creds.Admin}
}

// EndpointsFrom is Endpoints for a process placed in region: its
// connections to nodes of other regions cross the WAN links like any
// client's.
func EndpointsFrom(info *Info, t *topology.Topology, creds provision.Credentials, region string) provision.Endpoints {
	return infoEndpoints{info: info, topo: t, admin: creds.Admin, from: region}
}

func (e infoEndpoints) Admin(name string) node.Endpoint {
	n, _ := e.info.Node(name)
	addr := net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
	if e.from != "" && e.from != n.Region {
		if routed, ok := e.info.Route(e.from, name); ok {
			addr = routed
		}
	}
	return node.Endpoint{
		Name:     name,
		Addr:     addr,
		User:     e.admin.User,
		Password: e.admin.Password,
		Timeout:  3 * time.Second,
	}
}

func (e infoEndpoints) SourceAddr(replica, source string) (string, int, error) {
	src, ok := e.info.Node(source)
	if !ok {
		return "", 0, fmt.Errorf("sandbox has no node %q", source)
	}
	from := e.topo.NodeRegion(replica)
	if from == src.Region {
		return src.Host, src.Port, nil
	}
	// Personal rows stay in their region: another region's replica reads
	// the source's binlog through the source's relay.
	route, what := e.info.Route, "WAN route"
	if e.topo.HasPersonalData() {
		route, what = e.info.RelayRoute, "WAN route to the relay"
	}
	addr, ok := route(from, source)
	if !ok {
		return "", 0, fmt.Errorf("sandbox has no %s from region %s to node %s", what, from, source)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	return host, p, err
}

// sandboxOverrides trade fsync durability for speed: the sandbox's failures
// are process kills, which the OS page cache survives, not power cuts.
var sandboxOverrides = map[string]string{
	"sync_binlog":                    "0",
	"innodb_flush_log_at_trx_commit": "2",
}

// SettingOverrides tells provisioning which settings the sandbox runs
// differently on purpose, so plan does not report them as drift.
func (e infoEndpoints) SettingOverrides(string) map[string]string { return sandboxOverrides }

// credentialsDoc is the on-disk form of the sandbox's generated accounts; it
// is the same file format `credentials.file` names for real estates.
type credentialsDoc struct {
	Admin       provision.Account `yaml:"admin"`
	Replication provision.Account `yaml:"replication"`
	App         provision.Account `yaml:"app"`
}

// loadOrCreateCredentials keeps the accounts of a previous run (their users
// already exist in the data directories) or generates new random passwords.
func loadOrCreateCredentials(path string) (provision.Credentials, error) {
	if _, err := os.Stat(path); err == nil {
		return provision.ReadCredentialsFile(path)
	}
	doc := credentialsDoc{
		Admin:       provision.Account{User: "meridian", Password: randomPassword()},
		Replication: provision.Account{User: "repl", Password: randomPassword()},
		App:         provision.Account{User: "app", Password: randomPassword()},
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return provision.Credentials{}, err
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return provision.Credentials{}, err
	}
	return provision.Credentials{Admin: doc.Admin, Replication: doc.Replication, App: doc.App}, nil
}

// WaitReplicating waits until every replication connection of every node
// runs both threads, and otherwise names the ones that do not and why.
func WaitReplicating(ctx context.Context, t *topology.Topology, ep provision.Endpoints, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		problems := replicationProblems(ctx, t, ep)
		if len(problems) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication did not start within %s: %s", timeout, strings.Join(problems, "; "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func replicationProblems(ctx context.Context, t *topology.Topology, ep provision.Endpoints) []string {
	var problems []string
	for _, n := range t.Nodes() {
		c, err := node.Open(ctx, ep.Admin(n.Name))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		replicas, err := c.Replicas(ctx)
		c.Close()
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, r := range replicas {
			if r.IORunning != "Yes" || !r.SQLRunning {
				problems = append(problems, fmt.Sprintf("%s connection '%s': io=%s sql=%v %s", n.Name, r.Connection, r.IORunning, r.SQLRunning,
					strings.TrimSpace(r.LastIOError+" "+r.LastSQLError)))
			}
		}
	}
	return problems
}

var errNoTarget = errors.New("no such node or region")
