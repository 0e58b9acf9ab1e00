// Package broadcast wakes every waiter at once when something happens,
// however many wait: a channel that the next event closes.
package broadcast

import "sync"

// Next hands out a channel that the next Fire closes. The zero value is
// ready to use. Take the channel before checking the condition it
// announces, so that an event between the check and the wait is not
// missed.
type Next struct {
	mu sync.Mutex
	ch chan struct{}
}

// Chan is closed at the next Fire.
func (n *Next) Chan() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Fire wakes everyone waiting on a channel from Chan.
func (n *Next) Fire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
