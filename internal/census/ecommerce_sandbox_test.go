package census_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/erasure"
	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
)

// The full sizes run from bench/residency.sh.
var (
	ecommerce = flag.Bool("ecommerce", false, "run the canary test on the whole e-commerce estate (nine Galera nodes) with an EU failover, and time erasures")
	erasures  = flag.Int("erasures", 5, "with -ecommerce: erasures timed without --purge-logs")
)

// TestResidencyEcommerce is the canary test on the seed's
// e-commerce estate: three Galera regions of three nodes. Users of FR, DE,
// US, CA, SG and JP are created through their region's router; no canary
// crosses a WAN link or reaches a file of another region; the same after
// a failover of the EU region (its link node killed: the links move to
// another member and its relay). Then it times erasures of one user, next
// to a plain delete of the same rows on the primary in the same run.
func TestResidencyEcommerce(t *testing.T) {
	if !*ecommerce {
		t.Skip("the whole estate runs from bench/residency.sh (-ecommerce)")
	}
	ctx := context.Background()
	topo, _, err := estate.LoadTopology("../../examples/ecommerce.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The WAN scan must see the streams in clear.
	topo.Replication.Compressed = false
	started := time.Now()
	sb := sandboxtest.Up(t, "ecommerce.yaml", func(o *sandbox.Options) {
		o.Topology, o.Controller, o.Services, o.StartTimeout = topo, true, true, 15*time.Minute
	})
	fmt.Printf("SANDBOX: nine nodes up in %s\n", time.Since(started).Round(time.Second))
	e := &fixture{t: t, sb: sb, topo: sb.Topology()}
	e.refreshInfo()
	e.watch = sb.Links().Watch("CANARY-", "GLOBAL-PRODUCT")
	defer e.watch.Stop()
	for _, stmt := range shopSchema {
		e.exec(ctx, e.admin("eu-1"), stmt)
	}
	e.waitTable(ctx, "shop.products")
	e.apply(ctx)
	e.exec(ctx, e.service("us-rw"), "INSERT INTO shop.products VALUES (1, 'GLOBAL-PRODUCT-1')")

	users := []canaryUser{
		{id: 101, country: "FR", region: "eu", service: "eu-rw"},
		{id: 102, country: "DE", region: "eu", service: "eu-rw"},
		{id: 201, country: "US", region: "us", service: "us-rw"},
		{id: 202, country: "CA", region: "us", service: "us-rw"},
		{id: 301, country: "SG", region: "apac", service: "apac-rw"},
		{id: 302, country: "JP", region: "apac", service: "apac-rw"},
	}
	for _, u := range users {
		e.create(ctx, u)
	}
	e.waitDirectory(ctx, users...)
	e.checkPlacement(ctx, users)
	fmt.Println("CANARY: no canary on any WAN link nor in another region's files")

	// The EU link node dies: the controller moves the links to another
	// member, which other regions reach through its own relay.
	killed := time.Now()
	if err := sb.Kill("eu-1"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the EU links move off eu-1", func() error {
		if link := e.topo.LinkNodeFor("eu", sb.Controller().Primaries()); link == "eu-1" {
			return fmt.Errorf("the EU link node is still eu-1")
		}
		return nil
	})
	fmt.Printf("FAILOVER: EU links moved to %s in %s\n", e.topo.LinkNodeFor("eu", sb.Controller().Primaries()), time.Since(killed).Round(time.Millisecond))
	fr := canaryUser{id: 103, country: "FR", region: "eu", service: "eu-rw"}
	e.create(ctx, fr)
	users = append(users, fr)
	if err := sb.Start(ctx, "eu-1"); err != nil {
		t.Fatal(err)
	}
	e.waitDirectory(ctx, users...)
	e.checkPlacement(ctx, users)
	fmt.Println("CANARY: still none after the EU failover")

	e.timeErasures(ctx)
}

// timeErasures erases users of the EU region one at a time: without
// searching files (rows and the directory, awaited on every node), with
// the file search of every node's data directory, and one with
// --purge-logs; the baseline is the same rows deleted by hand on the
// primary in one transaction.
func (e *fixture) timeErasures(ctx context.Context) {
	e.t.Helper()
	datadirs := map[string]string{}
	for _, n := range e.info.Nodes {
		datadirs[n.Name] = n.Datadir
	}
	n := *erasures
	var plain, erase, search []time.Duration
	for i := range 3*n + 1 {
		u := canaryUser{id: int64(1000 + i), country: "FR", region: "eu", service: "eu-rw"}
		e.create(ctx, u)
		e.waitDirectory(ctx, u)
		switch {
		case i < n:
			primary := e.admin(e.topo.LinkNodeFor("eu", e.sb.Controller().Primaries()))
			began := time.Now()
			tx, err := primary.BeginTx(ctx, nil)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, q := range []string{"DELETE FROM shop.orders WHERE customer_id = ?", "DELETE FROM shop.users WHERE id = ?"} {
				if _, err := tx.ExecContext(ctx, q, u.id); err != nil {
					e.t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				e.t.Fatal(err)
			}
			plain = append(plain, time.Since(began))
		default:
			purge, files := i == 3*n, i >= 2*n
			opts := erasure.Options{Topology: e.topo, Endpoints: e.endpoints(), Primaries: e.sb.Controller().Primaries(),
				UserID: u.id, PurgeLogs: purge}
			if files {
				opts.Datadirs = datadirs
			}
			began := time.Now()
			r, err := erasure.Erase(ctx, opts)
			took := time.Since(began)
			if err != nil || !r.Clean(purge) {
				e.t.Fatalf("erase user %d: %v\n%v", u.id, err, r)
			}
			if purge {
				fmt.Printf("ERASE: --purge-logs %s\n", took.Round(time.Millisecond))
				for _, nr := range r.Nodes {
					for _, p := range nr.Purge {
						fmt.Printf("PURGE: %s: %s\n", nr.Node, p)
					}
				}
				continue
			}
			if files {
				search = append(search, took)
			} else {
				erase = append(erase, took)
			}
		}
	}
	fmt.Printf("ERASE: plain delete on the primary, median of %d: %s\n", n, median(plain).Round(time.Millisecond))
	fmt.Printf("ERASE: meridian erase, median of %d: %s\n", n, median(erase).Round(time.Millisecond))
	fmt.Printf("ERASE: meridian erase with the file search, median of %d: %s\n", n, median(search).Round(time.Millisecond))
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
