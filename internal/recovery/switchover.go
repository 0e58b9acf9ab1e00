package recovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/hooks"
	"github.com/meridian-geo/meridian/internal/topology"
)

// SwitchoverOptions bound a planned switchover and connect it to the
// routers.
type SwitchoverOptions struct {
	// MaxLag is how far behind the candidate may be (default
	// DefaultMaxLag): by heartbeat before anything changes, and as the bound
	// of each catch-up wait.
	MaxLag time.Duration
	// Hold makes the routers hold new writes; it returns once none can
	// reach the old primary any more (the controller revokes the write
	// lease and waits for it to lapse or for the routers to confirm).
	Hold func()
	// Resume lets the routers send writes again (to the new primary).
	Resume func()
}

// SwitchoverResult is what a switchover did.
type SwitchoverResult struct {
	From, To   topology.Primaries
	OldPrimary string `json:"old_primary"`
	NewPrimary string `json:"new_primary"`
	Steps      []Step `json:"steps"`
	// WritePause is the time from Hold to Resume: how long writes waited.
	WritePause time.Duration `json:"write_pause_ns"`
	Duration   time.Duration `json:"duration_ns"`
	// Problems are failed steps after the new primary took writes (a
	// replica not repointed): the switchover happened.
	Problems []string `json:"problems,omitempty"`
}

// RefusedError is a switchover that was refused, or rolled back, before the
// new primary took writes: the old primary still is the primary.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "switchover refused: " + e.Reason }

// Switchover moves the primary from the writers of
// topology.LayoutFor(now, from) to those of LayoutFor(now, to) without
// losing an acknowledged write: the candidate must hold no errant
// transactions and catch up with the old primary within MaxLag before
// anything changes; then the routers hold writes (Hold), the old primary
// turns read-only (which waits for running commits), the candidate applies
// everything the old primary logged (MASTER_GTID_WAIT, bounded by MaxLag),
// its own connections end and it turns writable, and the routers resume
// (Resume) — the write pause ends there. Everything else, the old primary
// included, is then repointed per the new layout. A failure before the
// candidate is writable rolls back (the old primary writable again) and is
// a *RefusedError.
func (e *Executor) Switchover(ctx context.Context, from, to topology.Primaries, opts SwitchoverOptions) (SwitchoverResult, error) {
	began := time.Now()
	res := SwitchoverResult{From: from, To: to}
	now := e.now()
	before, after := e.Topology.LayoutFor(now, from), e.Topology.LayoutFor(now, to)
	oldWriters := without(writers(e.Topology, before), writers(e.Topology, after))
	newWriters := without(writers(e.Topology, after), writers(e.Topology, before))
	cluster := ""
	if len(newWriters) > 0 {
		_, cl, _ := e.Topology.Node(newWriters[0])
		cluster = cl.Name
		res.NewPrimary = newWriters[0]
	}
	if len(oldWriters) > 0 {
		res.OldPrimary = oldWriters[0]
	}
	r := e.newRun(audit.KindSwitchover, cluster)
	defer r.close()
	finish := func(err error) (SwitchoverResult, error) {
		res.Steps, res.Problems, res.Duration = r.stepsSoFar(), r.problems(), time.Since(began)
		entry := audit.Entry{Kind: audit.KindSwitchover, Cluster: cluster, Step: "done", Node: res.NewPrimary, Detail: res}
		var refused *RefusedError
		switch {
		case errors.As(err, &refused):
			entry.Kind, entry.Step, entry.Error = audit.KindRefusal, "switchover", err.Error()
		case err != nil:
			entry.Step, entry.Error = "failed", err.Error()
		}
		r.audit(entry)
		return res, err
	}
	refuse := func(format string, args ...any) (SwitchoverResult, error) {
		return finish(&RefusedError{Reason: fmt.Sprintf(format, args...)})
	}
	if len(newWriters) == 0 || len(oldWriters) == 0 {
		return refuse("the writers do not change (now %s, asked %s)", strings.Join(writers(e.Topology, before), ", "), strings.Join(writers(e.Topology, after), ", "))
	}
	r.connect(ctx, nodeNames(e.Topology))
	for _, name := range append(append([]string{}, oldWriters...), newWriters...) {
		if r.client(name) == nil {
			return refuse("%s is unreachable", name)
		}
	}
	maxLag := orDefault(opts.MaxLag, DefaultMaxLag)
	logged, err := r.logged(ctx, oldWriters)
	if err != nil {
		return refuse("read the old primary's position: %v", err)
	}
	if reason := r.candidateRefusal(ctx, newWriters, oldWriters, logged, maxLag); reason != "" {
		return refuse("%s", reason)
	}

	hold, resume := opts.Hold, opts.Resume
	if hold == nil {
		hold = func() {}
	}
	if resume == nil {
		resume = func() {}
	}
	var held time.Time
	var resumeOnce sync.Once
	resumeWrites := func() {
		resumeOnce.Do(func() {
			_ = r.step("", ActionResume, "routers send writes again", func() error { resume(); return nil })
			res.WritePause = time.Since(held)
		})
	}
	_ = r.step("", ActionHold, "routers hold new writes", func() error { held = time.Now(); hold(); return nil })
	rollback := func(cause error) (SwitchoverResult, error) {
		_ = r.step(strings.Join(oldWriters, ","), ActionRollback, "the old primary stays the primary", func() error {
			errs := []error{}
			for _, n := range newWriters {
				errs = append(errs, r.ensureReadOnly(ctx, n, true, maxLag), r.applyChannels(ctx, n, before))
			}
			for _, o := range oldWriters {
				errs = append(errs, r.ensureReadOnly(ctx, o, false, maxLag))
			}
			return errors.Join(errs...)
		})
		resumeWrites()
		return refuse("%v (rolled back)", cause)
	}
	if err := each(oldWriters, func(o string) error {
		return r.setReadOnly(ctx, o, ActionReadOnly, true, maxLag, "stop taking writes; waits for running commits")
	}); err != nil {
		return rollback(err)
	}
	if logged, err = r.logged(ctx, oldWriters); err != nil {
		return rollback(err)
	}
	if err := r.catchUp(ctx, newWriters, logged, maxLag, "everything the old primary logged"); err != nil {
		return rollback(err)
	}
	if err := each(newWriters, func(n string) error { return r.promote(ctx, n, after, maxLag) }); err != nil {
		return rollback(err)
	}
	resumeWrites()

	survivors := without(nodeNames(e.Topology), newWriters)
	_ = r.switchWriters(ctx, after, nodeNames(e.Topology), maxLag)
	_ = each(survivors, func(name string) error { return r.applyChannels(ctx, name, after) })
	e.notify(ctx, hooks.Event{Event: audit.KindSwitchover, Cluster: cluster, OldPrimary: res.OldPrimary, NewPrimary: res.NewPrimary,
		Region: e.Topology.NodeRegion(res.NewPrimary), At: e.now(), Reasons: []string{"planned switchover"}})
	return finish(nil)
}

// logged is, per domain, the furthest of the nodes' gtid_binlog_pos.
func (r *run) logged(ctx context.Context, names []string) (gtid.Position, error) {
	var ps []gtid.Position
	for _, n := range names {
		st, err := r.client(n).GTIDState(ctx)
		if err != nil {
			return nil, err
		}
		ps = append(ps, st.Binlog)
	}
	return gtid.Furthest(ps...), nil
}

// candidateRefusal checks each candidate before anything changes: no
// errant transactions, heartbeat lag within maxLag, and able to reach the
// old primary's current position within maxLag.
func (r *run) candidateRefusal(ctx context.Context, candidates, old []string, logged gtid.Position, maxLag time.Duration) string {
	oldName := strings.Join(old, ", ")
	for _, c := range candidates {
		st, err := r.client(c).GTIDState(ctx)
		if err != nil {
			return err.Error()
		}
		// The old primary still writes: what it logged after the first
		// read may already be on the candidate, so read it again after
		// the candidate's state, or its newest writes look errant.
		since, err := r.logged(ctx, old)
		if err != nil {
			return err.Error()
		}
		if reason := switchoverRefusal(c, st, oldName, gtid.Furthest(logged, since)); reason != "" {
			return reason
		}
		if lag, ok := r.heartbeatLag(ctx, c, old[0]); ok && lag > maxLag {
			return fmt.Sprintf("%s lags %s behind %s by heartbeat (at most %s)", c, lag.Round(time.Millisecond), oldName, maxLag)
		}
	}
	if err := r.catchUp(ctx, candidates, logged, maxLag, "the old primary's position before holding writes"); err != nil {
		return fmt.Sprintf("lags more than %s: %v", maxLag, err)
	}
	return ""
}

// heartbeatLag is how much older the old primary's region heartbeat is on
// the candidate than on the old primary itself: replication delay, whether
// or not the heartbeat writer still runs. ok is false when either is
// unknown (no heartbeat table or row: no monitor has written one).
func (r *run) heartbeatLag(ctx context.Context, candidate, old string) (time.Duration, bool) {
	reg, _ := r.e.Topology.Region(r.e.Topology.NodeRegion(old))
	age := func(name string) (time.Duration, bool) {
		var micros sql.NullInt64
		err := r.client(name).DB().QueryRowContext(ctx,
			"SELECT TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM meridian.heartbeat WHERE domain_id = ?", reg.GTIDDomainID).Scan(&micros)
		if err != nil || !micros.Valid {
			return 0, false
		}
		return time.Duration(micros.Int64) * time.Microsecond, true
	}
	theirs, ok1 := age(candidate)
	mine, ok2 := age(old)
	return theirs - mine, ok1 && ok2
}

// catchUp waits, bounded, until every candidate applied pos.
func (r *run) catchUp(ctx context.Context, candidates []string, pos gtid.Position, timeout time.Duration, what string) error {
	return each(candidates, func(c string) error {
		return r.step(c, ActionCatchUp, fmt.Sprintf("MASTER_GTID_WAIT('%s', %s): %s", pos, timeout, what), func() error {
			ok, err := r.client(c).WaitForGTID(ctx, pos, timeout)
			if err == nil && !ok {
				st, serr := r.client(c).GTIDState(ctx)
				missing := "unknown"
				if serr == nil {
					missing = strings.Join(ranges(pos.Subtract(st.Current)), ", ")
				}
				return fmt.Errorf("%s did not apply %s within %s (missing %s)", c, pos, timeout, missing)
			}
			return err
		})
	})
}

// promote ends the candidate's connections the new layout does not want
// and makes it writable.
func (r *run) promote(ctx context.Context, name string, layout topology.Layout, timeout time.Duration) error {
	if err := r.endChannels(ctx, name, layout, "it becomes the primary"); err != nil {
		return err
	}
	return r.setReadOnly(ctx, name, ActionWritable, false, timeout, "the new primary")
}
