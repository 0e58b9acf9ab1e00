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
}

// NewStaticEndpoints checks that every node of t declares an address (the
// topology's validation has checked its host:port form).
func NewStaticEndpoints(t *topology.Topology, creds Credentials) (*StaticEndpoints, error) {
	e := &StaticEndpoints{addrs: map[string]string{}, admin: creds.Admin}
	var problems []error
	for _, n := range t.Nodes() {
		nd, _, _ := t.Node(n.Name)
		if nd.Address == "" {
			problems = append(problems, fmt.Errorf("node %s has no address: this topology is for the sandbox; use --sandbox DIR", n.Name))
			continue
		}
		e.addrs[n.Name] = nd.Address
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

// SourceAddr is the source's declared address, wherever the replica is.
func (e *StaticEndpoints) SourceAddr(_, source string) (string, int, error) {
	addr, ok := e.addrs[source]
	if !ok {
		return "", 0, fmt.Errorf("no node %s in the topology", source)
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
