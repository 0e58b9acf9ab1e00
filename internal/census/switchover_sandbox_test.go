package census_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/topology"
)

// primaryDRYAML: EU (a primary and its replica) takes writes, US is the
// disaster-recovery region. Each keeps its own users' personal data.
const primaryDRYAML = `
name: primary-dr
architecture: active-passive
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - {name: eu-main, kind: primary-replica, region: eu, nodes: [{name: eu-1}, {name: eu-2}]}
  - {name: us-dr, kind: single, region: us, nodes: [{name: us-1}]}
links: [{between: [eu, us], rtt: 80ms}]
roles: {primary: eu, dr: us}
services:
  - {name: eu-rw, region: eu, kind: readwritesplit}
  - {name: us-rw, region: us, kind: readwritesplit}
jurisdictions:
  - {country: FR, name: France, region: eu, law: GDPR, local_storage: true}
  - {country: US, name: United States, region: us, law: CCPA}
tables:
  - {match: shop.users, home: {column: country, lookup: country}, personal: true}
  - {match: shop.orders, home: {column: customer_id, lookup: user}, personal: true}
users: {table: shop.users, id: id, email: email, country: country}
`

// TestResidencyAcrossSwitchover moves the primary between a region with a
// replica and a DR region, by a switchover and then by a failover: the DR
// region that becomes primary gets none of EU's personal data, EU, now its
// replica, none of the US users written there, and the old primary rejoins
// (its own personal transactions, which reached the other region empty,
// are not errant).
func TestResidencyAcrossSwitchover(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node estate with failover")
	}
	ctx := context.Background()
	topo, _, err := topology.Parse("primary-dr.yaml", []byte(primaryDRYAML))
	if err != nil {
		t.Fatal(err)
	}
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) {
		o.Topology, o.Controller, o.Services = topo, true, true
		o.ConfigureController = func(c *controller.Config) {
			c.ResidencyAuditInterval = -1
			// A loaded machine can cost a spurious failover: the one this
			// test causes must not be blocked by it.
			c.Failover.BlockPeriod = time.Millisecond
		}
	})
	e := &fixture{t: t, sb: sb, topo: sb.Topology()}
	e.refreshInfo()
	e.watch = sb.Links().Watch("CANARY-", "GLOBAL-PRODUCT")
	defer e.watch.Stop()
	for _, stmt := range shopSchema {
		e.exec(ctx, e.admin("eu-1"), stmt)
	}
	e.waitTable(ctx, "shop.products")
	e.apply(ctx)
	e.exec(ctx, e.service("eu-rw"), "INSERT INTO shop.products VALUES (1, 'GLOBAL-PRODUCT-1')")

	fr := canaryUser{id: 101, country: "FR", region: "eu", service: "eu-rw"}
	e.create(ctx, fr)
	users := []canaryUser{fr}
	e.waitDirectory(ctx, users...)
	e.checkPlacement(ctx, users)

	if sb.Controller().Primaries().Region != "us" {
		if _, err := sb.Controller().Switchover(ctx, "us"); err != nil {
			t.Fatalf("switchover to us: %v", err)
		}
	}
	us := canaryUser{id: 201, country: "US", region: "us", service: "us-rw"}
	e.create(ctx, us)
	users = append(users, us)
	if _, err := e.service("us-rw").ExecContext(ctx, "INSERT INTO shop.users VALUES (102, 'x@example.fr', 'FR', 'CANARY-FR-WRONG')"); err == nil ||
		!strings.Contains(err.Error(), "keep their personal data in region eu") {
		t.Errorf("an FR user written while us is primary: err = %v, want the residency refusal", err)
	}
	e.waitDirectory(ctx, users...)
	e.checkPlacement(ctx, users)

	// The US primary dies: EU takes over again by failover.
	if err := sb.Kill("us-1"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the controller fails over to eu", func() error {
		if p := sb.Controller().Primaries(); p.Region != "eu" {
			return fmt.Errorf("the primary region is still %q", p.Region)
		}
		return nil
	})
	fr2 := canaryUser{id: 103, country: "FR", region: "eu", service: "eu-rw"}
	e.create(ctx, fr2)
	users = append(users, fr2)
	if err := sb.Start(ctx, "us-1"); err != nil {
		t.Fatal(err)
	}
	// The directory row of a user created after the failover reaches us-1
	// only once it rejoined, as a replica of eu.
	e.waitDirectory(ctx, users...)
	e.checkPlacement(ctx, users)
}
