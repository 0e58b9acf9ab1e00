package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
)

// TestChaosPartition cuts the primary region (eu) from the rest (us, where
// the controller runs) while writers write through both regions' routers.
// A cut shorter than the confirmation window changes nothing and eu's
// writes go on; a longer one fails over to us, and at no moment do both
// regions' routers acknowledge writes: every eu acknowledgement after the
// cut precedes the first us write that was acknowledged.
func TestChaosPartition(t *testing.T) {
	sb := upWithRouters(t, nil)
	ctrl := sb.Controller()
	// Paced: a writer next to its primary would otherwise commit thousands
	// of rows a second and starve the estate sharing these two cores.
	eu := startPacedWriter(t, sb, "eu-rw", 1, 5*time.Millisecond)
	us := startPacedWriter(t, sb, "us-rw", 1_000_000, 5*time.Millisecond)
	eu.waitAcks(t, time.Time{}, 20, 30*time.Second)
	us.waitAcks(t, time.Time{}, 10, 30*time.Second)

	short := t.Run("ShorterThanConfirmation", func(t *testing.T) {
		if err := sb.Partition("eu", "us"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if err := sb.Heal("eu", "us"); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		eu.waitAcks(t, healed, 10, 10*time.Second)
		us.waitAcks(t, healed, 5, 15*time.Second)
		time.Sleep(2 * time.Second) // a late confirmation would show now
		if done := entries(ctrl, audit.KindFailover, ""); len(done) > 0 {
			t.Fatalf("a partition shorter than the confirmation window failed over: %+v", done)
		}
		if p := ctrl.Primaries(); p.Nodes["eu-main"] != "" && p.Nodes["eu-main"] != "eu-1" {
			t.Fatalf("primaries changed: %+v", p)
		}
	})

	if !short {
		return // the estate is no longer the one the longer partition needs
	}
	t.Run("LongerThanConfirmation", func(t *testing.T) {
		heal := sandboxtest.Partition(t, sb, "eu", "us")
		cut := time.Now()
		waitFor(t, 30*time.Second, "a failover to us", func() bool {
			return len(entries(ctrl, audit.KindFailover, "done")) > 0
		})
		done := entries(ctrl, audit.KindFailover, "done")
		res, ok := done[0].Detail.(recovery.Result)
		if !ok || res.NewPrimary != "us-1" {
			t.Fatalf("failover result %+v, want us-1 promoted", done[0].Detail)
		}
		us.waitAcks(t, cut, 10, 15*time.Second)

		// No overlap: every write eu acknowledged ended before us-1 was made
		// writable (the promote step's start), so before any write through
		// us could be acknowledged by us-1.
		promoted := stepStart(t, ctrl, audit.KindFailover, recovery.ActionWritable, "us-1")
		revoked := entries(ctrl, audit.KindFailover, "lease-revoked")
		var lastEU time.Time
		for _, a := range eu.acked() {
			lastEU = a.at
		}
		// A us write sent before the cut went to eu-1 like any other; the
		// first one sent after it can only be acknowledged by us-1.
		var firstUS ack
		for _, a := range us.acked() {
			if a.began.After(cut) {
				firstUS = a
				break
			}
		}
		since := func(at time.Time) time.Duration { return at.Sub(cut).Round(time.Millisecond) }
		leaseGone := time.Duration(0)
		if len(revoked) > 0 {
			leaseGone = since(revoked[0].Time)
		}
		t.Logf("from the cut: last eu acknowledgement %s; leases lapsed %s; us-1 made writable %s; first us write acknowledged after the cut sent %s, acknowledged %s",
			since(lastEU), leaseGone, since(promoted), since(firstUS.began), since(firstUS.at))
		// A us write may be sent while eu still holds its lease: the us
		// router holds it until us-1 is promoted. What must never happen is
		// an acknowledgement in us before eu's last one.
		if !lastEU.Before(firstUS.at) {
			t.Errorf("both regions acknowledged writes: eu until %s after the cut, us from %s", since(lastEU), since(firstUS.at))
		}
		if !lastEU.Before(promoted) {
			t.Errorf("both regions took writes: eu acknowledged until %s after the cut, us-1 writable from %s", since(lastEU), since(promoted))
		}
		if firstUS.at.Before(promoted) {
			t.Errorf("a us write was acknowledged %s after the cut, before us-1 was made writable at %s", since(firstUS.at), since(promoted))
		}

		// Healed: eu-1 comes back read-only and rejoins, or is kept out
		// with its errant transactions listed. Every acknowledged row is on
		// us-1, or on eu-1 among those errant transactions.
		heal()
		eu.halt()
		us.halt()
		ctx := context.Background()
		eu1 := sandboxtest.Admin(t, sb, "eu-1")
		waitFor(t, 5*time.Second, "eu-1 read-only after the heal", func() bool {
			on, err := eu1.ReadOnly(ctx)
			return err == nil && on
		})
		waitFor(t, 30*time.Second, "eu-1 rejoined or kept out", func() bool {
			return len(entries(ctrl, audit.KindRejoin, "done"))+len(entries(ctrl, audit.KindRefusal, "rejoin")) > 0
		})
		onUS, onEU := present(t, sandboxtest.Admin(t, sb, "us-1")), present(t, eu1)
		errant, keptOut := ctrl.Status().KeptOut["eu-1"]
		var lost, unaccounted []int
		for _, w := range []*writer{eu, us} {
			for _, id := range missing(w.acked(), onUS) {
				lost = append(lost, id)
				if !keptOut || !onEU[id] {
					unaccounted = append(unaccounted, id)
				}
			}
		}
		onlyEU := 0
		for id := range onEU {
			if !onUS[id] {
				onlyEU++
			}
		}
		t.Logf("%d eu + %d us writes acknowledged; %d missing on us-1 (RPO), all on eu-1 among its errant %v (%d transactions); the failover reported %v at risk; eu-1 kept out: %v",
			len(eu.acked()), len(us.acked()), len(lost), errant, rangeCount(t, errant), res.Lost, keptOut)
		if len(unaccounted) > 0 {
			t.Errorf("%d acknowledged rows neither on us-1 nor among eu-1's errant transactions: %v", len(unaccounted), unaccounted)
		}
		if onlyEU > rangeCount(t, errant) {
			t.Errorf("eu-1 holds %d rows us-1 lacks, more than its errant transactions listed: %v", onlyEU, errant)
		}
	})
}

// stepStart is when a recovery step on a node began, from its audit entry
// (recorded when the step ended, with how long it took).
func stepStart(t *testing.T, c *controller.Controller, kind, action, node string) time.Time {
	t.Helper()
	for _, e := range entries(c, kind, action) {
		if st, ok := e.Detail.(recovery.Step); ok && e.Node == node {
			return e.Time.Add(-st.Took)
		}
	}
	t.Fatalf("no %s step %s on %s audited", kind, action, node)
	return time.Time{}
}

// TestChaosBlockPeriod: after an automatic failover, a second one of the
// same cluster inside the block period is refused and audited; an
// operator's ack lets it run.
func TestChaosBlockPeriod(t *testing.T) {
	sb := upWithRouters(t, nil)
	ctrl := sb.Controller()
	ctx := context.Background()
	if err := sb.Kill("eu-1"); err != nil {
		t.Fatal(err)
	}
	// The executor audits "done" just before the controller publishes
	// the new primaries: wait for both.
	waitFor(t, 30*time.Second, "the first failover", func() bool {
		p := ctrl.Primaries().Nodes["eu-main"]
		return len(entries(ctrl, audit.KindFailover, "done")) == 1 && p != "" && p != "eu-1"
	})
	if p := ctrl.Primaries().Nodes["eu-main"]; p != "eu-2" {
		t.Fatalf("eu-main's primary after eu-1 died: %q, want eu-2 (same region first)", p)
	}
	if err := sb.Start(ctx, "eu-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "eu-1 rejoined", func() bool {
		return len(entries(ctrl, audit.KindRejoin, "done")) > 0
	})

	if err := sb.Kill("eu-2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the second failover refused by the block period", func() bool {
		for _, e := range entries(ctrl, audit.KindRefusal, "failover") {
			if e.Cluster == "eu-main" {
				t.Logf("refused: %s", e.Error)
				return true
			}
		}
		return false
	})
	if n := len(entries(ctrl, audit.KindFailover, "done")); n != 1 {
		t.Fatalf("%d failovers done inside the block period, want 1", n)
	}
	// What `meridian ack eu-main` sends.
	body, err := json.Marshal(api.AckRequest{Cluster: "eu-main"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ctrl.URL()+"/api/v1/ack", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/ack: %s", resp.Status)
	}
	waitFor(t, 20*time.Second, "the failover the ack allowed", func() bool {
		return len(entries(ctrl, audit.KindFailover, "done")) == 2 && ctrl.Primaries().Nodes["eu-main"] != "eu-2"
	})
	if len(entries(ctrl, audit.KindAck, "")) != 1 {
		t.Error("the ack was not audited")
	}
	if p := ctrl.Primaries().Nodes["eu-main"]; p != "eu-1" {
		t.Errorf("eu-main's primary after the ack: %q, want eu-1 (rejoined, the last of eu)", p)
	}
}

// TestChaosFollowTheSun runs the follow-the-sun example on a clock 3600
// times faster than real time (each 8-hour window lasts 8 s): the
// controller moves the primary around the three regions twice, by
// switchover at each window's start, under a light write load through
// every region's router, losing no acknowledged write.
//
// A window must outlast one move and the next region's readiness: a
// switchover across the 250 ms apac-eu link takes about 5 s, and the
// repointed channel some 3 s more before the region is fit to take over.
// With shorter windows a move still under way when the next window begins
// is rightly given up for that window's.
func TestChaosFollowTheSun(t *testing.T) {
	const speedup = 3600
	// The clock stands just before the apac window ends (07:58 UTC) until
	// the sandbox is up, then runs: eu is next.
	base := time.Date(2026, 11, 26, 7, 58, 0, 0, time.UTC)
	var started atomic.Pointer[time.Time]
	fast := func() time.Time {
		if s := started.Load(); s != nil {
			return base.Add(time.Since(*s) * speedup)
		}
		return base
	}
	sb := sandboxtest.Up(t, "follow-the-sun.yaml", func(o *sandbox.Options) {
		o.Controller, o.Services, o.Now = true, true, fast
	})
	ctrl := sb.Controller()
	first := ctrl.Status().PrimaryRegion
	createAcksTable(t, sb, first+"-1")
	var writers []*writer
	for i, service := range []string{"apac-rw", "eu-rw", "us-rw"} {
		writers = append(writers, startPacedWriter(t, sb, service, 1+i*1_000_000, 20*time.Millisecond))
	}
	start := time.Now()
	started.Store(&start)

	var moves []string
	last := first
	waitFor(t, 90*time.Second, "six follow-the-sun moves", func() bool {
		if r := ctrl.Status().PrimaryRegion; r != last {
			moves = append(moves, r)
			t.Logf("%s (schedule time %s): primary region %s", time.Since(start).Round(100*time.Millisecond), fast().Format("15:04"), r)
			last = r
		}
		return len(moves) >= 6
	})
	for _, w := range writers {
		w.waitAcks(t, time.Now(), 3, 10*time.Second)
		w.halt()
	}
	want := []string{"eu", "us", "apac", "eu", "us", "apac"}
	if !slices.Equal(moves, want) {
		t.Errorf("moves %v, want %v (from %s)", moves, want, first)
	}
	for _, e := range entries(ctrl, audit.KindSwitchover, "done") {
		if res, ok := e.Detail.(recovery.SwitchoverResult); ok {
			t.Logf("switchover %s → %s: write pause %s, took %s", res.OldPrimary, res.NewPrimary,
				res.WritePause.Round(time.Millisecond), res.Duration.Round(time.Millisecond))
		}
	}
	for _, e := range entries(ctrl, audit.KindRefusal, "schedule") {
		t.Logf("audited: %s", e.Error)
	}
	final := present(t, sandboxtest.Admin(t, sb, last+"-1"))
	for _, w := range writers {
		acks := w.acked()
		if lost := missing(acks, final); len(lost) > 0 {
			t.Errorf("%s: %d of %d acknowledged writes lost: %v", w.service, len(lost), len(acks), lost)
		}
		t.Logf("%s: %d writes acknowledged, none lost; writer errors %v", w.service, len(acks), w.errors)
	}
}

// TestChaosBlipOnSlowLink: over a transatlantic link slowed to 200 and
// 300 ms round trip, cuts shorter than the confirmation window (the
// reported 0.9 s one, and 2.5 s) make no failover, and once the heal has
// settled no write is refused in either region. The probes' deadlines
// follow the measured round trip, and reconnecting across the slow link
// is not taken for the primary's loss.
func TestChaosBlipOnSlowLink(t *testing.T) {
	sb := upWithRouters(t, nil)
	ctrl := sb.Controller()
	eu := startPacedWriter(t, sb, "eu-rw", 1, 20*time.Millisecond)
	us := startPacedWriter(t, sb, "us-rw", 1_000_000, 20*time.Millisecond)
	// The heal closes the streams that lived through the cut; a router's
	// connection to the primary across the link is one of them, and the
	// writes in flight on it fail. After this, none may.
	const settle = 3 * time.Second
	for _, c := range []struct{ rtt, cut time.Duration }{{200 * time.Millisecond, 900 * time.Millisecond}, {300 * time.Millisecond, 2500 * time.Millisecond}} {
		if err := sb.SetLatency("eu", "us", c.rtt); err != nil {
			t.Fatal(err)
		}
		slowed := time.Now()
		eu.waitAcks(t, slowed, 10, 20*time.Second)
		us.waitAcks(t, slowed, 5, 20*time.Second)
		time.Sleep(2 * time.Second) // the probes measure the slower link
		heal := sandboxtest.Partition(t, sb, "eu", "us")
		time.Sleep(c.cut)
		heal()
		settled := time.Now().Add(settle)
		eu.waitAcks(t, settled, 10, 20*time.Second)
		us.waitAcks(t, settled, 5, 20*time.Second)
		time.Sleep(4 * time.Second) // a late confirmation would show now
		if done := entries(ctrl, audit.KindFailover, ""); len(done) > 0 {
			t.Fatalf("a %s cut at %s RTT failed over: %+v", c.cut, c.rtt, done)
		}
		for _, w := range []*writer{eu, us} {
			if n := w.failedSince(settled); n > 0 {
				t.Errorf("%s cut at %s RTT: %d writes through %s refused more than %s after the heal (errors so far %v)", c.cut, c.rtt, n, w.service, settle, w.errors)
			}
		}
		t.Logf("%s cut at %s RTT: no failover; writer errors so far: eu %v, us %v", c.cut, c.rtt, eu.errors, us.errors)
	}
}
