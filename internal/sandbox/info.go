package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/meridian-geo/meridian/internal/atomicfile"
)

// InfoFile is written into the sandbox directory once every node is up and
// replication is laid out, and never before: its presence means "ready".
const InfoFile = "sandbox.json"

// Info is the machine-readable description of a running sandbox that tests,
// scripts and the other meridian commands read.
type Info struct {
	Topology    string        `json:"topology"`
	Credentials Account       `json:"credentials"`
	Nodes       []NodeInfo    `json:"nodes"`
	Services    []ServiceInfo `json:"services"`
	API         string        `json:"api"`
	// Routes are the WAN link proxies: the address a client placed in
	// FromRegion dials to reach Node.
	Routes []Route `json:"routes"`
	// Owner is the pid of the `meridian sandbox up` process.
	Owner int `json:"owner"`
	// Control is the unix socket the chaos verbs talk to.
	Control string `json:"control"`
	// AdminCredentials names the 0600 file holding every account's password.
	AdminCredentials string `json:"admin_credentials"`
}

// Account is a user name and its password.
type Account struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// NodeInfo is one mariadbd of the sandbox.
type NodeInfo struct {
	Name    string `json:"name"`
	Region  string `json:"region"`
	Cluster string `json:"cluster"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Pid     int    `json:"pid"`
	Datadir string `json:"datadir"`
	Socket  string `json:"socket"`
	Running bool   `json:"running"`
	// Relay is the residency relay in front of the node (the topology
	// declares personal tables): replicas of other regions reach the
	// node's binlog through it.
	Relay string `json:"relay,omitempty"`
}

// ServiceInfo is a router endpoint started by the sandbox.
type ServiceInfo struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Kind   string `json:"kind"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
}

// Route is one WAN link proxy.
type Route struct {
	FromRegion string `json:"from_region"`
	Node       string `json:"node"`
	Addr       string `json:"addr"`
	// Relay: the proxy leads to the node's residency relay, not the node.
	Relay bool `json:"relay,omitempty"`
}

// Node returns the named node's entry.
func (i *Info) Node(name string) (NodeInfo, bool) {
	for _, n := range i.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// Route returns the address a client in region from dials to reach node.
func (i *Info) Route(from, node string) (string, bool) { return i.route(from, node, false) }

// RelayRoute returns the address a replica in region from dials to read
// node's binlog through the node's residency relay.
func (i *Info) RelayRoute(from, node string) (string, bool) { return i.route(from, node, true) }

func (i *Info) route(from, node string, relay bool) (string, bool) {
	for _, r := range i.Routes {
		if r.FromRegion == from && r.Node == node && r.Relay == relay {
			return r.Addr, true
		}
	}
	return "", false
}

// ReadInfo loads DIR/sandbox.json; a missing file means the sandbox is not
// (or not yet) ready.
func ReadInfo(dir string) (*Info, error) {
	path := filepath.Join(dir, InfoFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("no running sandbox in %s (%s not found): start one with `meridian sandbox up --dir %s`", dir, InfoFile, dir)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &info, nil
}

// writeInfo replaces DIR/sandbox.json atomically so readers never see half a file.
func writeInfo(dir string, info *Info) error {
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, InfoFile), append(data, '\n'), 0o600)
}
