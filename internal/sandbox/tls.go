package sandbox

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/meridian-geo/meridian/internal/tlsgen"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Adapt returns the topology as the sandbox in dir runs it. A topology that
// asks for TLS on its replication links names certificate files of real
// hosts; in the sandbox every node shares this machine, so the links use a
// throwaway authority and one loopback certificate generated into DIR/tls
// (kept across restarts, since the servers' my.cnf points at them). A
// region without a backup directory gets DIR/backups/REGION. Every command
// acting on a sandbox must see the same adapted topology.
func Adapt(t *topology.Topology, dir string) (*topology.Topology, error) {
	t = withBackupDirs(t, dir)
	if t.Replication.TLS == nil {
		return t, nil
	}
	tlsDir := filepath.Join(dir, "tls")
	files := tlsgen.Files{CA: filepath.Join(tlsDir, "ca.pem"), Cert: filepath.Join(tlsDir, "node.pem"), Key: filepath.Join(tlsDir, "node-key.pem")}
	if _, err := os.Stat(files.Key); err != nil {
		var genErr error
		if files, genErr = tlsgen.Generate(tlsDir, "mysql", tlsgen.Loopback...); genErr != nil {
			return nil, genErr
		}
	}
	adapted := *t
	tls := *t.Replication.TLS
	tls.CA, tls.Cert, tls.Key = files.CA, files.Cert, files.Key
	adapted.Replication.TLS = &tls
	return &adapted, nil
}

// withBackupDirs gives every region without a backup directory one inside
// the sandbox, DIR/backups/REGION.
func withBackupDirs(t *topology.Topology, dir string) *topology.Topology {
	adapted := *t
	adapted.Regions = slices.Clone(t.Regions)
	for i, r := range adapted.Regions {
		if r.Backups == "" {
			adapted.Regions[i].Backups = filepath.Join(dir, "backups", r.Name)
		}
	}
	return &adapted
}
