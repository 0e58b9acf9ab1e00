// Package sandbox runs a whole topology on one machine: one real mariadbd per
// node on loopback ports, Galera clusters bootstrapped and joined, WAN links
// that add each declared RTT, and the replication layout applied through the
// same plan/apply code that runs against real servers. It owns every process
// it starts and stops each by pid.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/monitor"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/relay"
	"github.com/meridian-geo/meridian/internal/services"
	"github.com/meridian-geo/meridian/internal/topology"
	"github.com/meridian-geo/meridian/internal/wan"
)

const (
	ownerFile       = "owner.pid"
	credentialsFile = "credentials.yaml"
	controlSocket   = "control.sock"
	stopTimeout     = 20 * time.Second
)

// Options configure Up.
type Options struct {
	Topology *topology.Topology
	Dir      string
	// Fresh discards data directories left by a previous run.
	Fresh bool
	// StartTimeout bounds the whole start-up (default 3 minutes).
	StartTimeout time.Duration
	Logger       *slog.Logger
	// Now is the clock used to choose the follow-the-sun primary (default time.Now).
	Now func() time.Time
	// Controller starts a controller (monitor, API, metrics, web page) placed
	// in topology.ControllerRegion, and publishes its URL as "api".
	Controller bool
	// Services starts the router services the topology declares, in every
	// region, following the controller (so it needs Controller); they are
	// listed in sandbox.json.
	Services bool
	// ServiceInterval is how often the services poll the controller and
	// renew their write leases (default services.DefaultInterval).
	ServiceInterval time.Duration
	// ConfigureController changes the controller's configuration before it
	// starts (tests: failover settings).
	ConfigureController func(*controller.Config)
}

// Sandbox is a running local estate.
type Sandbox struct {
	topo  *topology.Topology
	dir   string
	bins  mariadbd.Binaries
	links *wan.Links
	creds provision.Credentials
	log   *slog.Logger
	now   func() time.Time
	ports map[string]nodePorts
	// saved are the primaries of the controller's state file at start.
	saved topology.Primaries

	mu         sync.Mutex
	instances  map[string]*mariadbd.Instance
	relays     map[string]*relay.Relay
	control    *controlServer
	controller *controller.Controller
	services   *services.Set
	closed     bool
}

// Up starts every node, lays out replication and returns once the estate is
// ready and DIR/sandbox.json is written. On error everything started so far
// is stopped again.
func Up(ctx context.Context, opts Options) (_ *Sandbox, err error) {
	if opts.Topology == nil {
		return nil, errors.New("sandbox: no topology")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	bins, err := mariadbd.FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := claimDir(dir, opts.Fresh); err != nil {
		return nil, err
	}
	topo, err := Adapt(opts.Topology, dir)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{
		topo:      topo,
		dir:       dir,
		bins:      bins,
		links:     wan.New(topo.RTT),
		log:       opts.Logger,
		now:       opts.Now,
		instances: map[string]*mariadbd.Instance{},
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.restorePrimaries(); err != nil {
		return nil, err
	}
	if s.creds, err = loadOrCreateCredentials(filepath.Join(dir, credentialsFile)); err != nil {
		return nil, err
	}
	if s.ports, err = assignPorts(dir, s.topo); err != nil {
		return nil, err
	}
	if err := s.startAll(ctx); err != nil {
		return nil, err
	}
	if err := s.startRelays(); err != nil {
		return nil, err
	}
	info, err := s.buildInfo()
	if err != nil {
		return nil, err
	}
	if err := s.applyLayout(ctx, info); err != nil {
		return nil, err
	}
	if opts.Services && !opts.Controller {
		return nil, errors.New("sandbox: services follow the controller: start it too")
	}
	if opts.Controller {
		if err := s.startController(info, opts.ConfigureController); err != nil {
			return nil, err
		}
	}
	if opts.Services {
		if err := s.startServices(ctx, info, opts.ServiceInterval); err != nil {
			return nil, err
		}
	}
	if s.control, err = startControl(filepath.Join(dir, controlSocket), s); err != nil {
		return nil, err
	}
	return s, writeInfo(dir, info)
}

// claimDir makes dir ours: it refuses a directory another live sandbox owns,
// wipes it when fresh is asked, and records our pid for `sandbox down`.
func claimDir(dir string, fresh bool) error {
	if pid, alive := ownerAlive(dir); alive && pid != os.Getpid() {
		return fmt.Errorf("sandbox %s is already running (pid %d): stop it with Ctrl-C or `meridian sandbox down --dir %s`", dir, pid, dir)
	}
	if _, err := mariadbd.StopRecorded(dir); err != nil {
		return fmt.Errorf("stop leftovers of a previous sandbox in %s: %w", dir, err)
	}
	if fresh {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	nodes := filepath.Join(dir, "nodes")
	if err := os.MkdirAll(nodes, 0o755); err != nil {
		return fmt.Errorf("create sandbox dir: %w", err)
	}
	// mariadbd runs as the mysql user when we are root, and must reach its directory.
	if err := mariadbd.GrantTraversal(nodes); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, InfoFile))
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// startAll starts standalone nodes and Galera clusters concurrently; inside a
// Galera cluster the bootstrap node comes first and joiners follow one by one,
// as state transfer requires.
func (s *Sandbox) startAll(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(s.topo.Clusters))
	for _, c := range s.topo.Clusters {
		wg.Add(1)
		go func(c topology.Cluster) {
			defer wg.Done()
			if err := s.startCluster(ctx, c); err != nil {
				errs <- fmt.Errorf("cluster %s: %w", c.Name, err)
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func (s *Sandbox) startCluster(ctx context.Context, c topology.Cluster) error {
	if c.Kind != topology.Galera {
		var wg sync.WaitGroup
		errs := make(chan error, len(c.Nodes))
		for _, n := range c.Nodes {
			wg.Add(1)
			go func(name string) {
				defer wg.Done()
				errs <- s.startNode(ctx, name, false)
			}(n.Name)
		}
		wg.Wait()
		close(errs)
		return errors.Join(collect(errs)...)
	}
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = n.Name
	}
	return s.startGalera(ctx, c, names)
}

// startGalera starts the given members of a Galera cluster. When no member
// is running the cluster is bootstrapped from the member with the most
// advanced saved state, which is what Galera's own recovery rules ask for.
func (s *Sandbox) startGalera(ctx context.Context, c topology.Cluster, names []string) error {
	running := false
	for _, n := range c.Nodes {
		if s.isRunning(n.Name) {
			running = true
		}
	}
	if !running {
		first := s.mostAdvanced(names)
		if err := s.startNode(ctx, first, true); err != nil {
			return err
		}
		names = without(names, first)
	}
	for _, name := range names {
		if err := s.startNode(ctx, name, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sandbox) mostAdvanced(names []string) string {
	best, bestSeq := names[0], int64(-2)
	for _, name := range names {
		seq, err := mariadbd.GrastateSeqno(s.nodeDir(name))
		if err == nil && seq > bestSeq {
			best, bestSeq = name, seq
		}
	}
	return best
}

func (s *Sandbox) nodeDir(name string) string { return filepath.Join(s.dir, "nodes", name) }

func (s *Sandbox) isRunning(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[name]
	if !ok {
		return false
	}
	select {
	case <-inst.Exited():
		return false
	default:
		return true
	}
}

// startNode starts one mariadbd with the settings provisioning asks for, and
// makes sure Meridian's admin account exists on it.
func (s *Sandbox) startNode(ctx context.Context, name string, bootstrap bool) error {
	_, cluster, _ := s.topo.Node(name)
	ports := s.ports[name]
	settings := provision.ServerSettings(s.topo, s.layout(), name)
	for k, v := range sandboxOverrides {
		settings[k] = v
	}
	cfg := mariadbd.Config{Name: name, Dir: s.nodeDir(name), Port: ports.SQL, Settings: settings}
	if cluster.Kind == topology.Galera {
		var members []string
		for _, m := range cluster.Nodes {
			members = append(members, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.ports[m.Name].GComm)))
		}
		cfg.Galera = &mariadbd.Galera{
			ClusterName: cluster.Name,
			Bootstrap:   bootstrap,
			Members:     members,
			GCommPort:   ports.GComm,
			ISTPort:     ports.IST,
			SSTPort:     ports.SST,
		}
		// A new node has no saved Galera state yet; one that ran before must be
		// marked safe before it may bootstrap the cluster again.
		if bootstrap {
			if err := mariadbd.MarkSafeToBootstrap(cfg.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("node %s: %w", name, err)
			}
		}
	}
	started := time.Now()
	inst, err := mariadbd.Start(ctx, s.bins, cfg)
	if err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	s.mu.Lock()
	s.instances[name] = inst
	s.mu.Unlock()
	if err := s.ensureAdmin(ctx, inst); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	s.log.Info("node started", "node", name, "port", ports.SQL, "pid", inst.Pid(), "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// ensureAdmin creates the account Meridian administers the node with, over
// the root unix socket and outside the binlog (it is local to every node).
func (s *Sandbox) ensureAdmin(ctx context.Context, inst *mariadbd.Instance) error {
	root, err := node.Open(ctx, node.Endpoint{Name: "root@" + inst.Socket(), Socket: inst.Socket(), User: "root"})
	if err != nil {
		return err
	}
	defer root.Close()
	a := s.creds.Admin
	return root.ExecLocal(ctx,
		fmt.Sprintf("CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s", node.QuoteString(a.User), node.QuoteString(a.Password)),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO %s@'127.0.0.1' WITH GRANT OPTION", node.QuoteString(a.User)),
	)
}

// startRelays puts a residency relay in front of every node when the
// topology declares personal tables: the relay lives in the node's region,
// so the row events it drops never reach a WAN link.
func (s *Sandbox) startRelays() error {
	if !s.topo.HasPersonalData() {
		return nil
	}
	s.relays = map[string]*relay.Relay{}
	tlsServer, tlsUpstream, err := relay.TLSFromFiles(s.topo.Replication.TLS)
	if err != nil {
		return err
	}
	for _, n := range s.topo.Nodes() {
		r, err := relay.Start(relay.Config{
			Name: n.Name, Listen: "127.0.0.1:0",
			Upstream: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.ports[n.Name].SQL)),
			Personal: s.topo.IsPersonal, ServerTLS: tlsServer, UpstreamTLS: tlsUpstream,
			Logger: s.log,
		})
		if err != nil {
			return err
		}
		s.relays[n.Name] = r
	}
	return nil
}

// Relays are the residency relays, by node name (none without personal
// tables).
func (s *Sandbox) Relays() map[string]*relay.Relay { return s.relays }

// buildInfo creates the WAN proxy of every cross-region route up front, so
// that routes are stable and can be published to other processes.
func (s *Sandbox) buildInfo() (*Info, error) {
	info := &Info{
		Topology:         s.topo.Source,
		Credentials:      Account(s.creds.App),
		Services:         []ServiceInfo{},
		Owner:            os.Getpid(),
		Control:          filepath.Join(s.dir, controlSocket),
		AdminCredentials: filepath.Join(s.dir, credentialsFile),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.controller != nil {
		info.API = s.controller.URL()
	}
	if s.services != nil {
		info.Services = serviceInfos(s.services.Statuses())
	}
	for _, n := range s.topo.Nodes() {
		inst := s.instances[n.Name]
		ni := NodeInfo{Name: n.Name, Region: n.Region, Cluster: n.Cluster, Host: "127.0.0.1",
			Port: s.ports[n.Name].SQL, Datadir: filepath.Join(s.nodeDir(n.Name), "data")}
		if r := s.relays[n.Name]; r != nil {
			ni.Relay = r.Addr()
		}
		if inst != nil {
			ni.Pid, ni.Socket, ni.Running = inst.Pid(), inst.Socket(), true
			select {
			case <-inst.Exited():
				ni.Running = false
			default:
			}
		}
		info.Nodes = append(info.Nodes, ni)
		for _, r := range s.topo.Regions {
			if r.Name == n.Region {
				continue
			}
			addr, err := s.links.Route(r.Name, n.Region, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.ports[n.Name].SQL)))
			if err != nil {
				return nil, fmt.Errorf("WAN route %s -> %s: %w", r.Name, n.Name, err)
			}
			info.Routes = append(info.Routes, Route{FromRegion: r.Name, Node: n.Name, Addr: addr})
			if ni.Relay == "" {
				continue
			}
			addr, err = s.links.Route(r.Name, n.Region, ni.Relay)
			if err != nil {
				return nil, fmt.Errorf("WAN route %s -> relay of %s: %w", r.Name, n.Name, err)
			}
			info.Routes = append(info.Routes, Route{FromRegion: r.Name, Node: n.Name, Addr: addr, Relay: true})
		}
	}
	return info, nil
}

// applyLayout runs the same observe → diff → apply as `meridian apply`, then
// waits until every replication connection runs.
func (s *Sandbox) applyLayout(ctx context.Context, info *Info) error {
	ep := Endpoints(info, s.topo, s.creds)
	observed, err := provision.Observe(ctx, s.topo, ep, s.creds)
	if err != nil {
		return err
	}
	plan, err := provision.DiffLayout(s.topo, s.layout(), ep, s.creds, observed)
	if err != nil {
		return err
	}
	if _, err := provision.Apply(ctx, s.topo, ep, s.creds, plan); err != nil {
		return err
	}
	return WaitReplicating(ctx, s.topo, ep, 60*time.Second)
}

// restorePrimaries reads who was primary when the sandbox last ran: after
// a failover or switchover that is not the file's choice, and laying the
// file's out again would make the old primary writable beside the new one.
func (s *Sandbox) restorePrimaries() error {
	path := filepath.Join(s.dir, ControllerStateFile)
	p, err := controller.LoadPrimaries(path, s.topo)
	if err != nil {
		return err
	}
	if p.Region != "" || len(p.Nodes) > 0 {
		s.log.Info("restoring the primaries the controller chose", "file", path, "region", p.Region, "nodes", p.Nodes)
	}
	s.saved = p
	return nil
}

// layout is who writes now: the running controller's primaries, else
// those it saved, else the file's.
func (s *Sandbox) layout() topology.Layout {
	if c := s.Controller(); c != nil {
		return s.topo.LayoutFor(s.now(), c.Primaries())
	}
	return s.topo.LayoutFor(s.now(), s.saved)
}

// ControllerStateFile holds, in the sandbox directory, who is primary at
// run time (controller.State); the audit log is beside it.
const ControllerStateFile = "controller-state.json"

// startController places a controller in topology.ControllerRegion,
// connecting to other regions through the WAN links like any process of
// that region.
func (s *Sandbox) startController(info *Info, configure func(*controller.Config)) error {
	region := s.topo.ControllerRegion(s.now())
	cfg := controller.Config{
		Monitor: monitor.Config{
			Topology:  s.topo,
			Endpoints: EndpointsFrom(info, s.topo, s.creds, region),
			Region:    region,
			Now:       s.now,
		},
		Logger: s.log,
		// Failover acts with the sandbox's accounts; the runtime primaries
		// (after a failover or switchover) outlive a controller restart.
		Credentials: s.creds,
		StateFile:   filepath.Join(s.dir, ControllerStateFile),
	}
	if configure != nil {
		configure(&cfg)
	}
	c, err := controller.Start(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("start the controller: %w", err)
	}
	s.mu.Lock()
	s.controller = c
	s.mu.Unlock()
	info.API = c.URL()
	return nil
}

// Info returns the current description of the sandbox.
func (s *Sandbox) Info() (*Info, error) { return s.buildInfo() }

// Controller is the sandbox's controller, nil unless Options.Controller.
func (s *Sandbox) Controller() *controller.Controller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controller
}

// Dir is the sandbox directory.
func (s *Sandbox) Dir() string { return s.dir }

// Topology is the topology the sandbox runs.
func (s *Sandbox) Topology() *topology.Topology { return s.topo }

// Credentials are the accounts of the sandbox.
func (s *Sandbox) Credentials() provision.Credentials { return s.creds }

// Links are the WAN link proxies.
func (s *Sandbox) Links() *wan.Links { return s.links }

// Close stops every process the sandbox started, by pid, and removes
// sandbox.json so nobody mistakes a stopped sandbox for a ready one.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	instances := s.instances
	s.mu.Unlock()

	if s.control != nil {
		s.control.close()
	}
	if s.services != nil {
		s.services.Close()
	}
	if s.controller != nil {
		s.controller.Close()
	}
	for _, r := range s.relays {
		r.Close()
	}
	os.Remove(filepath.Join(s.dir, InfoFile))
	var wg sync.WaitGroup
	errs := make(chan error, len(instances))
	for name, inst := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := inst.Stop(stopTimeout); err != nil {
				errs <- fmt.Errorf("stop %s (pid %d): %w", name, inst.Pid(), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	s.links.Close()
	os.Remove(filepath.Join(s.dir, ownerFile))
	return errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

func randomPassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
