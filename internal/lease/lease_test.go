package lease

import (
	"testing"
	"time"
)

func TestHolderEndsBeforeTheLedgerRecord(t *testing.T) {
	l := NewLedger("eu-1", 3*time.Second)
	var h Holder
	t0 := time.Unix(1000, 0)
	sent := t0
	g, ok := l.Renew(t0.Add(40 * time.Millisecond)) // granted after a one-way trip
	if !ok || g.Primary != "eu-1" {
		t.Fatalf("Renew = %+v, %v", g, ok)
	}
	h.Renewed(sent, g)
	if p, ok := h.Valid(t0.Add(2 * time.Second)); !ok || p != "eu-1" {
		t.Fatalf("Valid inside the lease = %q, %v", p, ok)
	}
	until := l.Revoke()
	if !h.Until().Before(until) {
		t.Fatalf("holder's lease ends %v, not before the ledger's %v", h.Until(), until)
	}
	if _, ok := h.Valid(until); ok {
		t.Fatal("lease still valid when the ledger says every lease ended")
	}
	if _, ok := l.Renew(t0.Add(time.Second)); ok {
		t.Fatal("a revoked ledger granted a lease")
	}
	l.Grant("us-1")
	if g, ok := l.Renew(t0.Add(5 * time.Second)); !ok || g.Primary != "us-1" || g.Epoch != 2 {
		t.Fatalf("after Grant: %+v, %v", g, ok)
	}
}

func TestNoLeaseWithoutPrimary(t *testing.T) {
	var h Holder
	if _, ok := h.Valid(time.Now()); ok {
		t.Fatal("an empty holder is valid")
	}
	if _, ok := NewLedger("", 0).Renew(time.Now()); ok {
		t.Fatal("a ledger without primary granted a lease")
	}
}

func TestChangedWakesAtRenewal(t *testing.T) {
	var h Holder
	changed := h.Changed()
	select {
	case <-changed:
		t.Fatal("Changed closed before any renewal")
	default:
	}
	h.Renewed(time.Now(), Grant{Primary: "eu-1", ValidFor: time.Second})
	select {
	case <-changed:
	default:
		t.Fatal("Renewed did not close Changed")
	}
	next := h.Changed()
	h.Lost()
	<-next
}
