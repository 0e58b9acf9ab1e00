package broadcast

import "testing"

func TestFireClosesOnlyTheChannelsTakenBefore(t *testing.T) {
	var n Next
	before := n.Chan()
	if n.Chan() != before {
		t.Fatal("two channels for the same next event")
	}
	n.Fire()
	select {
	case <-before:
	default:
		t.Fatal("Fire left a waiter asleep")
	}
	after := n.Chan()
	select {
	case <-after:
		t.Fatal("a channel taken after Fire is already closed")
	default:
	}
	n.Fire() // with nobody waiting: nothing to close, no panic
}
