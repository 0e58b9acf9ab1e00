package provision

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Endpoints says how Meridian reaches each node and how a replica reaches
// its source (directly, or through a sandbox's WAN proxy).
type Endpoints interface {
	Admin(node string) node.Endpoint
	SourceAddr(replica, source string) (host string, port int, err error)
}

// staticTimeout bounds dialing and each network read of a real server.
const staticTimeout = 5 * time.Second

// StaticEndpoints reach real servers at the addresses the topology declares,
// with the admin account; replicas connect to their sources' declared
// addresses.
type StaticEndpoints struct {
	addrs map[string]string // node name -> host:port
	admin Account
	// relays are the nodes' residency relays when the topology declares
	// personal tables; regions say which links cross a region boundary.
	relays  map[string]string
	regions map[string]string
}

// NewStaticEndpoints checks that every node of t declares an address (the
// topology's validation has checked its host:port form).
func NewStaticEndpoints(t *topology.Topology, creds Credentials) (*StaticEndpoints, error) {
	e := &StaticEndpoints{addrs: map[string]string{}, admin: creds.Admin, regions: map[string]string{}}
	if t.HasPersonalData() {
		e.relays = map[string]string{}
	}
	var problems []error
	for _, n := range t.Nodes() {
		nd, _, _ := t.Node(n.Name)
		if nd.Address == "" {
			problems = append(problems, fmt.Errorf("node %s has no address: this topology is for the sandbox; use --sandbox DIR", n.Name))
			continue
		}
		e.addrs[n.Name] = nd.Address
		e.regions[n.Name] = n.Region
		if e.relays != nil {
			e.relays[n.Name] = nd.Relay
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return e, nil
}

// Admin is the node's declared address with the admin account.
func (e *StaticEndpoints) Admin(name string) node.Endpoint {
	return node.Endpoint{Name: name, Addr: e.addrs[name], User: e.admin.User, Password: e.admin.Password, Timeout: staticTimeout}
}

// SourceAddr is the source's declared address; for a replica in another
// region of an estate with personal tables, the source's relay, which keeps
// personal rows in the source's region.
func (e *StaticEndpoints) SourceAddr(replica, source string) (string, int, error) {
	addr, ok := e.addrs[source]
	if !ok {
		return "", 0, fmt.Errorf("no node %s in the topology", source)
	}
	if e.relays != nil && e.regions[replica] != e.regions[source] {
		if addr = e.relays[source]; addr == "" {
			return "", 0, fmt.Errorf("node %s has no relay: replicas in other regions may not read its binlog directly (personal tables)", source)
		}
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("node %s: address %q: %w", source, addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return "", 0, fmt.Errorf("node %s: address %q: port: %w", source, addr, err)
	}
	return host, port, nil
}
