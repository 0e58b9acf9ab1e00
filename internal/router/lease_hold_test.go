package router

import (
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/lease"
)

func TestAwaitLeaseHoldsUntilTheLeaseNamesTheViewsPrimary(t *testing.T) {
	holder := &lease.Holder{}
	view := NewLiveView(View{Primary: "eu-1", Lease: holder})
	s := &session{svc: &Service{view: view, writeHold: 2 * time.Second}}

	// A switchover: the lease comes back naming us-1, then the view follows.
	go func() {
		time.Sleep(100 * time.Millisecond)
		holder.Renewed(time.Now(), lease.Grant{Primary: "us-1", ValidFor: time.Second})
		time.Sleep(100 * time.Millisecond)
		view.Set(View{Primary: "us-1", Lease: holder})
	}()
	start := time.Now()
	v, ok := s.awaitLease()
	if !ok || v.Primary != "us-1" {
		t.Fatalf("awaitLease = %q, %v; want us-1 held", v.Primary, ok)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond || waited > time.Second {
		t.Errorf("held for %v, want about 200 ms", waited)
	}
}

func TestAwaitLeaseGivesUpAfterTheHold(t *testing.T) {
	holder := &lease.Holder{}
	s := &session{svc: &Service{view: NewLiveView(View{Primary: "eu-1", Lease: holder}), writeHold: 150 * time.Millisecond}}
	start := time.Now()
	if _, ok := s.awaitLease(); ok {
		t.Fatal("awaitLease succeeded without a lease")
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the 150 ms hold", waited)
	}
	s.svc.writeHold = 0
	if _, ok := s.awaitLease(); ok {
		t.Fatal("a zero hold waited for a lease")
	}
}
