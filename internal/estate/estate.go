// Package estate answers "which estate does this command act on, and how do
// we reach it": a topology file describing real servers, or a running
// sandbox (whose sandbox.json gives addresses, WAN routes and credentials).
package estate

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/meridian-geo/meridian/examples"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Estate is a topology and the way to reach its nodes.
type Estate struct {
	Topology    *topology.Topology
	Endpoints   provision.Endpoints
	Credentials provision.Credentials
	Warnings    []topology.Warning
}

// LoadTopology reads a topology file; an empty path means the embedded
// default example, and "examples/NAME.yaml" falls back to the embedded copy
// when the file is not on disk (so the README's commands work from anywhere).
func LoadTopology(file string) (*topology.Topology, []topology.Warning, error) {
	if file == "" {
		file = path.Join("examples", examples.Default)
	}
	if _, err := os.Stat(file); err != nil && path.Dir(file) == "examples" {
		if data, ferr := fs.ReadFile(examples.Files, path.Base(file)); ferr == nil {
			t, warnings, err := topology.Parse(file, data)
			if t != nil {
				t.Source = file
			}
			return t, warnings, err
		}
	}
	// An absolute Source lets other processes (status, plan --sandbox) find
	// the file again from any directory.
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	return topology.Load(file)
}

// Open returns the estate a command acts on: the running sandbox in
// sandboxDir when given (its topology unless file overrides it), otherwise
// the real servers that file describes.
func Open(file, sandboxDir string) (*Estate, error) {
	if sandboxDir != "" {
		return openSandbox(file, sandboxDir)
	}
	if file == "" {
		return nil, fmt.Errorf("no topology: give -f FILE (or --sandbox DIR for a running sandbox)")
	}
	t, warnings, err := topology.Load(file)
	if err != nil {
		return nil, err
	}
	creds, err := provision.LoadCredentials(t)
	if err != nil {
		return nil, err
	}
	ep, err := provision.NewStaticEndpoints(t, creds)
	if err != nil {
		return nil, err
	}
	return &Estate{Topology: t, Endpoints: ep, Credentials: creds, Warnings: warnings}, nil
}

func openSandbox(file, dir string) (*Estate, error) {
	info, err := sandbox.ReadInfo(dir)
	if err != nil {
		return nil, err
	}
	if file == "" {
		file = info.Topology
	}
	t, warnings, err := LoadTopology(file)
	if err != nil {
		return nil, err
	}
	creds, err := provision.ReadCredentialsFile(info.AdminCredentials)
	if err != nil {
		return nil, err
	}
	return &Estate{Topology: t, Endpoints: sandbox.Endpoints(info, t, creds), Credentials: creds, Warnings: warnings}, nil
}
