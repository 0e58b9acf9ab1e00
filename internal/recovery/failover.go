package recovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/failover"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/hooks"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Result is what a failover did.
type Result struct {
	Cluster      string             `json:"cluster"`
	Action       failover.Action    `json:"action"`
	OldPrimary   string             `json:"old_primary"`
	NewPrimary   string             `json:"new_primary"`
	NewPrimaries topology.Primaries `json:"new_primaries"`
	Steps        []Step             `json:"steps"`
	// Lost are the transactions known lost or at risk: the decision's
	// AtRisk, plus what the candidate received but could not apply in time.
	// The exact loss is known when the old primary returns (Rejoin).
	Lost []string `json:"lost,omitempty"`
	// Problems are the failed steps that did not stop the failover (a
	// replica that could not be repointed, an old primary that could not be
	// fenced because it is dead).
	Problems []string      `json:"problems,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Failover carries out a Promote or MoveLinks decision.
//
// Promote: the old primary is fenced (read_only=1, bounded: it is usually
// dead) while the candidate applies what its relay log holds (d.WaitFor,
// bounded by ApplyTimeout); the candidate's connections the new layout does
// not want (the dead primary's) are stopped and reset; read_only is turned
// on wherever topology.LayoutFor(now, d.NewPrimaries) wants no writer and
// then off where it wants one; every other reachable node's connections
// are rewritten from the layout with MASTER_USE_GTID=slave_pos. The old
// primary itself is never repointed: it comes back through Rejoin, which
// checks its GTIDs first.
//
// MoveLinks: the same layout is applied, without fencing or waiting: the
// candidate takes over the lost Galera member's async links and the
// replicas elsewhere follow it.
//
// The error is set when the new layout has no writable primary (the
// failover did not happen); other failures are Result.Problems. Hooks run
// at the end, bounded by their own timeout.
func (e *Executor) Failover(ctx context.Context, d failover.Decision) (Result, error) {
	began := time.Now()
	res := Result{Cluster: d.Cluster, Action: d.Action, OldPrimary: d.Failed, NewPrimary: d.Candidate,
		NewPrimaries: d.NewPrimaries, Lost: d.AtRisk}
	r := e.newRun(audit.KindFailover, d.Cluster)
	defer r.close()
	if d.Action != failover.Promote && d.Action != failover.MoveLinks {
		err := fmt.Errorf("failover of %s: the decision is %q, nothing to carry out: %s", d.Cluster, d.Action, strings.Join(d.Reasons, "; "))
		r.audit(audit.Entry{Kind: audit.KindRefusal, Cluster: d.Cluster, Step: "failover", Detail: d, Error: err.Error()})
		return res, err
	}
	r.audit(audit.Entry{Kind: audit.KindFailover, Cluster: d.Cluster, Step: "decision", Node: d.Candidate, Detail: d})
	layout := e.Topology.LayoutFor(e.now(), d.NewPrimaries)
	survivors := without(nodeNames(e.Topology), []string{d.Failed})
	r.connect(ctx, []string{d.Candidate})
	if r.client(d.Candidate) == nil {
		return e.finish(r, res, began, fmt.Errorf("failover of %s: candidate %s is unreachable", d.Cluster, d.Candidate))
	}
	// The other survivors connect while the candidate is prepared, each
	// bounded like a fence: one cut off by a partition must not hold the
	// promotion up. They are needed from switchWriters on.
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		cctx, cancel := context.WithTimeout(ctx, orDefault(e.FenceTimeout, DefaultFenceTimeout))
		defer cancel()
		r.connect(cctx, without(survivors, []string{d.Candidate}))
	}()
	if d.Action == failover.Promote {
		lost, err := r.prepareCandidate(ctx, d, layout, e.FenceTimeout, e.ApplyTimeout)
		res.Lost = append(res.Lost, lost...)
		if err != nil {
			<-connected
			return e.finish(r, res, began, fmt.Errorf("failover of %s: %w", d.Cluster, err))
		}
	}
	<-connected
	if err := r.switchWriters(ctx, layout, survivors, orDefault(e.ApplyTimeout, DefaultApplyTimeout)); err != nil {
		return e.finish(r, res, began, fmt.Errorf("failover of %s: %w", d.Cluster, err))
	}
	_ = each(survivors, func(name string) error { return r.applyChannels(ctx, name, layout) })
	res = e.finishResult(r, res, began)
	e.notify(ctx, hooks.Event{Event: audit.KindFailover, Cluster: d.Cluster, OldPrimary: d.Failed, NewPrimary: d.Candidate,
		Region: d.Region, LostGTIDs: res.Lost, At: e.now(), Reasons: d.Reasons})
	r.audit(audit.Entry{Kind: audit.KindFailover, Cluster: d.Cluster, Step: "done", Node: d.Candidate, Detail: res})
	return res, nil
}

// prepareCandidate fences the old primary while the candidate applies its
// relay log, side by side, then stops and resets the candidate's
// connections the new layout does not want (the one from the dead primary:
// RESET SLAVE ALL). It returns what the candidate could not apply in time.
func (r *run) prepareCandidate(ctx context.Context, d failover.Decision, layout topology.Layout, fenceTimeout, applyTimeout time.Duration) ([]string, error) {
	fenceTimeout = orDefault(fenceTimeout, DefaultFenceTimeout)
	var lost []string
	_ = each([]string{"fence", "wait"}, func(which string) error {
		if which == "fence" {
			r.fence(ctx, d.Failed, fenceTimeout, "the old primary, which may be dead: no writes may reach it any more")
			return nil
		}
		lost = r.waitRelayLog(ctx, d.Candidate, d.WaitFor, orDefault(applyTimeout, DefaultApplyTimeout))
		return nil
	})
	return lost, r.endChannels(ctx, d.Candidate, layout, fmt.Sprintf("replication from %s ends", d.Failed))
}

// fence connects (bounded) to a node that may be dead and sets read_only.
func (r *run) fence(ctx context.Context, name string, timeout time.Duration, why string) {
	fenceCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.open(fenceCtx, name); err != nil {
		_ = r.step(name, ActionFence, why, func() error { return err })
		return
	}
	_ = r.setReadOnly(fenceCtx, name, ActionFence, true, timeout, why)
}

// waitRelayLog waits, bounded, until the candidate applied what it
// received, and returns what it still lacks when time runs out.
func (r *run) waitRelayLog(ctx context.Context, candidate, waitFor string, timeout time.Duration) []string {
	if waitFor == "" {
		return nil
	}
	pos, err := gtid.Parse(waitFor)
	if err != nil {
		_ = r.step(candidate, ActionWaitRelayLog, waitFor, func() error { return err })
		return nil
	}
	c := r.client(candidate)
	var ok bool
	err = r.step(candidate, ActionWaitRelayLog, fmt.Sprintf("MASTER_GTID_WAIT('%s', %s)", pos, timeout), func() error {
		var err error
		if ok, err = c.WaitForGTID(ctx, pos, timeout); err == nil && !ok {
			return fmt.Errorf("relay log not applied within %s", timeout)
		}
		return err
	})
	if err == nil {
		return nil
	}
	state, serr := c.GTIDState(ctx)
	if serr != nil {
		return []string{fmt.Sprintf("%s (unapplied relay log, extent unknown: %v)", pos, serr)}
	}
	return ranges(pos.Subtract(gtid.Furthest(state.Binlog, state.Slave, state.Current)))
}

// switchWriters turns read_only on wherever the layout wants no writer,
// then off where it wants one, so two writers never overlap. A writer that
// cannot be made writable is an error.
func (r *run) switchWriters(ctx context.Context, layout topology.Layout, names []string, timeout time.Duration) error {
	var readers, writable []string
	for _, name := range names {
		if r.client(name) == nil {
			continue
		}
		if layout.Writable[name] {
			writable = append(writable, name)
		} else {
			readers = append(readers, name)
		}
	}
	_ = each(readers, func(name string) error { return r.ensureReadOnly(ctx, name, true, timeout) })
	if len(writable) == 0 {
		return errors.New("no reachable node is writable in the new layout")
	}
	return each(writable, func(name string) error { return r.ensureReadOnly(ctx, name, false, timeout) })
}

// ensureReadOnly sets read_only to want unless it already is; only a
// change (or a failure) is a step.
func (r *run) ensureReadOnly(ctx context.Context, name string, want bool, timeout time.Duration) error {
	c := r.client(name)
	if c == nil {
		return errUnreachable(name)
	}
	if on, err := c.ReadOnly(ctx); err == nil && on == want {
		return nil
	}
	action, why := ActionReadOnly, "not writable in the new layout"
	if !want {
		action, why = ActionWritable, "writable in the new layout"
	}
	return r.setReadOnly(ctx, name, action, want, timeout, why)
}

func (e *Executor) finishResult(r *run, res Result, began time.Time) Result {
	res.Steps, res.Problems, res.Duration = r.stepsSoFar(), r.problems(), time.Since(began)
	return res
}

func (e *Executor) finish(r *run, res Result, began time.Time, err error) (Result, error) {
	res = e.finishResult(r, res, began)
	r.audit(audit.Entry{Kind: r.kind, Cluster: r.cluster, Step: "failed", Detail: res, Error: err.Error()})
	return res, err
}

// notify runs the hooks; their failures are logged and audited by them.
func (e *Executor) notify(ctx context.Context, ev hooks.Event) {
	_ = e.Hooks.Notify(context.WithoutCancel(ctx), ev)
}

func nodeNames(t *topology.Topology) []string {
	var names []string
	for _, n := range t.Nodes() {
		names = append(names, n.Name)
	}
	return names
}
