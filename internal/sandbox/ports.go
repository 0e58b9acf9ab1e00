package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/meridian-geo/meridian/internal/atomicfile"
	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/topology"
)

const portsFile = "ports.json"

// nodePorts are the loopback ports one node listens on; the Galera ports are
// zero outside Galera.
type nodePorts struct {
	SQL   int `json:"sql"`
	GComm int `json:"gcomm,omitempty"`
	IST   int `json:"ist,omitempty"`
	SST   int `json:"sst,omitempty"`
}

// assignPorts gives every node its ports, reusing those of a previous run
// that are still free so that a restarted sandbox keeps its addresses (and
// client configurations pointing at them keep working).
func assignPorts(dir string, t *topology.Topology) (map[string]nodePorts, error) {
	previous := map[string]nodePorts{}
	if data, err := os.ReadFile(filepath.Join(dir, portsFile)); err == nil {
		if err := json.Unmarshal(data, &previous); err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, portsFile), err)
		}
	}
	assigned := map[string]nodePorts{}
	var need int
	for _, n := range t.Nodes() {
		p, ok := previous[n.Name]
		if ok && portsFree(p) && (n.ClusterKind == topology.Galera) == (p.GComm != 0) {
			assigned[n.Name] = p
			continue
		}
		need += portsPerNode(n.ClusterKind)
	}
	fresh, err := mariadbd.FreePorts(need)
	if err != nil {
		return nil, fmt.Errorf("find free loopback ports: %w", err)
	}
	for _, n := range t.Nodes() {
		if _, ok := assigned[n.Name]; ok {
			continue
		}
		p := nodePorts{SQL: fresh[0]}
		fresh = fresh[1:]
		if n.ClusterKind == topology.Galera {
			p.GComm, p.IST, p.SST = fresh[0], fresh[1], fresh[2]
			fresh = fresh[3:]
		}
		assigned[n.Name] = p
	}
	data, err := json.MarshalIndent(assigned, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, portsFile), data, 0o644); err != nil {
		return nil, err
	}
	return assigned, nil
}

func portsPerNode(kind topology.ClusterKind) int {
	if kind == topology.Galera {
		return 4
	}
	return 1
}

func portsFree(p nodePorts) bool {
	for _, port := range []int{p.SQL, p.GComm, p.IST, p.SST} {
		if port == 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
