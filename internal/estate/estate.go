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
	"time"

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
	// Region is where the acting process is placed; its connections to other
	// regions cross the WAN (through the sandbox's link proxies).
	Region string
	// Datadirs are the nodes' data directories this process can read (a
	// sandbox's): the commands that copy or search files need them.
	Datadirs map[string]string

	// in reopens the estate for a process placed in another region.
	in func(region string) (*Estate, error)
}

// In is the estate as a process placed in region reaches it: a command
// that handles one region's personal data acts from inside that region, so
// the data never crosses a link on its way to the command.
func (e *Estate) In(region string) (*Estate, error) {
	if region == e.Region || e.in == nil {
		return e, nil
	}
	return e.in(region)
}

// DefaultRegion is where a controller goes when not told: the region that
// takes writes now, or else the first region.
func DefaultRegion(t *topology.Topology, now time.Time) string {
	if r := t.PrimaryRegionAt(now); r != "" {
		return r
	}
	return t.Regions[0].Name
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

// Open returns the estate a command acts on, for a process placed in region
// ("" for DefaultRegion): the running sandbox in sandboxDir when given (its
// topology unless file overrides it), where connections to other regions go
// through the WAN link proxies; otherwise the real servers file describes.
func Open(file, sandboxDir, region string) (*Estate, error) {
	if sandboxDir != "" {
		return openSandbox(file, sandboxDir, region)
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
	if region == "" {
		region = DefaultRegion(t, time.Now())
	}
	if _, ok := t.Region(region); !ok {
		return nil, fmt.Errorf("--region %q is not a region of %s", region, file)
	}
	e := &Estate{Topology: t, Endpoints: ep, Credentials: creds, Warnings: warnings, Region: region, Datadirs: map[string]string{}}
	e.in = func(r string) (*Estate, error) {
		if _, ok := t.Region(r); !ok {
			return nil, fmt.Errorf("no region %q in %s", r, file)
		}
		moved := *e
		moved.Region = r
		return &moved, nil
	}
	return e, nil
}

func openSandbox(file, dir, region string) (*Estate, error) {
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
	if t, err = sandbox.Adapt(t, dir); err != nil {
		return nil, err
	}
	creds, err := provision.ReadCredentialsFile(info.AdminCredentials)
	if err != nil {
		return nil, err
	}
	if region == "" {
		region = DefaultRegion(t, time.Now())
	}
	if _, ok := t.Region(region); !ok {
		return nil, fmt.Errorf("--region %q is not a region of %s", region, file)
	}
	// Like every process of the estate, this one sits in a region and
	// reaches the others across the WAN links.
	e := &Estate{Topology: t, Endpoints: sandbox.EndpointsFrom(info, t, creds, region), Credentials: creds,
		Warnings: warnings, Region: region, Datadirs: map[string]string{}}
	for _, n := range info.Nodes {
		e.Datadirs[n.Name] = n.Datadir
	}
	e.in = func(r string) (*Estate, error) {
		if _, ok := t.Region(r); !ok {
			return nil, fmt.Errorf("no region %q in %s", r, file)
		}
		moved := *e
		moved.Region, moved.Endpoints = r, sandbox.EndpointsFrom(info, t, creds, r)
		return &moved, nil
	}
	return e, nil
}
