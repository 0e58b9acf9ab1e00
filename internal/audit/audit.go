// Package audit is Meridian's append-only record of what recovery did and
// refused: one JSON line per entry in a file that outlives the process, and
// the latest entries in memory for the API (GET /api/v1/audit).
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Kinds of entry. Callers may add their own; these are the ones recovery
// and the controller write.
const (
	KindFailover   = "failover"
	KindSwitchover = "switchover"
	KindRejoin     = "rejoin"
	KindFence      = "fence"
	KindAck        = "ack"
	KindRefusal    = "refusal"
	KindHook       = "hook"
)

// Entry is one audited fact: a step taken (or failed), a refusal, an
// acknowledgement.
type Entry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Cluster string    `json:"cluster,omitempty"`
	Step    string    `json:"step,omitempty"`
	Node    string    `json:"node,omitempty"`
	// Detail is anything that serialises to JSON: a Decision, a Finding, the
	// GTIDs waited for.
	Detail any `json:"detail,omitempty"`
	// Error is the failure's text, "" when the step succeeded.
	Error string `json:"error,omitempty"`
}

// DefaultKeep is how many entries a Log keeps in memory when Open is given 0.
const DefaultKeep = 1000

// Log appends entries to a file and keeps the latest in memory. Safe for
// concurrent use.
type Log struct {
	keep int
	now  func() time.Time

	mu     sync.Mutex
	file   *os.File // nil: memory only
	recent []Entry
}

// Open opens (creating it, mode 0600) the audit file at path for appending;
// path "" keeps entries in memory only. keep is how many entries Entries
// returns at most (0 for DefaultKeep).
func Open(path string, keep int) (*Log, error) {
	if keep <= 0 {
		keep = DefaultKeep
	}
	l := &Log{keep: keep, now: time.Now}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l.file = f
	return l, nil
}

// Record appends e, stamping it with the current time when e.Time is zero.
// The line is on disk (fsynced) when Record returns without error: entries
// are rare and each one matters after a crash. A nil Log records nothing.
func (l *Log) Record(e Entry) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		// A Detail that cannot serialise must not lose the entry itself.
		e.Detail = fmt.Sprintf("unserialisable detail (%v): %+v", err, e.Detail)
		if line, err = json.Marshal(e); err != nil {
			return fmt.Errorf("audit %s %s: %w", e.Kind, e.Step, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent = append(l.recent, e)
	if over := len(l.recent) - l.keep; over > 0 {
		l.recent = slices.Delete(l.recent, 0, over)
	}
	if l.file == nil {
		return nil
	}
	if _, err := l.file.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit log %s: %w", l.file.Name(), err)
	}
	if err := l.file.Sync(); err != nil {
		return fmt.Errorf("audit log %s: %w", l.file.Name(), err)
	}
	return nil
}

// Entries returns the latest entries, oldest first (a copy).
func (l *Log) Entries() []Entry {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recent)
}

// Close closes the file; Entries still works afterwards.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}
