package recovery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/hooks"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Fence makes a node read-only now (an old primary that came back, a
// region's primary whose lease ran out), bounded by FenceTimeout.
func (e *Executor) Fence(ctx context.Context, name string) error {
	_, cl, ok := e.Topology.Node(name)
	if !ok {
		return fmt.Errorf("fence: no node %s in the topology", name)
	}
	r := e.newRun(audit.KindFence, cl.Name)
	defer r.close()
	timeout := orDefault(e.FenceTimeout, DefaultFenceTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.connect(ctx, []string{name})
	if err := r.setReadOnly(ctx, name, ActionFence, true, timeout, "no writes may reach it"); err != nil {
		return fmt.Errorf("fence %s: %w", name, err)
	}
	return nil
}

// RejoinResult says whether a returning node rejoined, and if not why.
type RejoinResult struct {
	Node     string `json:"node"`
	Rejoined bool   `json:"rejoined"`
	// Errant are the node's transactions that its new sources lack: the
	// transactions lost in the failover (the measured RPO). The node is
	// kept out, read-only, while there are any.
	Errant []string `json:"errant,omitempty"`
	Reason string   `json:"reason"`
	Steps  []Step   `json:"steps"`
}

// errBinlogGone is ER_MASTER_FATAL_ERROR_READING_BINLOG: the source's
// binlog does not hold the GTID the replica asked to start after (the
// histories diverged, or the source purged it).
const errBinlogGone = 1236

// Rejoin brings a returning node (an old primary) back as a replica under
// p. It is made read-only at once. If everything it holds is a prefix of
// what its new sources (per topology.LayoutFor(now, p)) have logged, its
// gtid_slave_pos takes its own binlog position where they have it
// (MariaDB's procedure for turning a primary into a GTID replica), its
// connections are rewritten from the layout with slave_pos and started,
// and Rejoin waits (ApplyTimeout) until they run. Otherwise it stays out,
// read-only, and Errant lists exactly the transactions only it has.
func (e *Executor) Rejoin(ctx context.Context, name string, p topology.Primaries) (RejoinResult, error) {
	res := RejoinResult{Node: name}
	_, cl, ok := e.Topology.Node(name)
	if !ok {
		return res, fmt.Errorf("rejoin: no node %s in the topology", name)
	}
	r := e.newRun(audit.KindRejoin, cl.Name)
	defer r.close()
	finish := func(err error) (RejoinResult, error) {
		res.Steps = r.stepsSoFar()
		entry := audit.Entry{Kind: audit.KindRejoin, Cluster: cl.Name, Step: "done", Node: name, Detail: res}
		if err != nil {
			entry.Step, entry.Error = "failed", err.Error()
		} else if !res.Rejoined {
			entry.Kind, entry.Step = audit.KindRefusal, "rejoin"
		}
		r.audit(entry)
		return res, err
	}
	r.connect(ctx, []string{name})
	if err := r.setReadOnly(ctx, name, ActionFence, true, orDefault(e.FenceTimeout, DefaultFenceTimeout),
		"a returning node takes no writes until it has rejoined"); err != nil {
		return finish(fmt.Errorf("rejoin %s: %w", name, err))
	}
	layout := e.Topology.LayoutFor(e.now(), p)
	var sources []string
	for _, ch := range layout.Channels {
		if ch.Replica == name {
			sources = append(sources, ch.Source)
		}
	}
	if layout.Writable[name] || len(sources) == 0 {
		return finish(fmt.Errorf("rejoin %s: it replicates from nobody under %+v: nothing to rejoin", name, p))
	}
	verdict, err := r.compare(ctx, name, sources)
	if err != nil {
		return finish(fmt.Errorf("rejoin %s: %w", name, err))
	}
	if verdict.errant != nil {
		res.Errant, res.Reason = verdict.errant, verdict.reason
		e.notify(ctx, hooks.Event{Event: "rejoin-refused", Cluster: cl.Name, OldPrimary: name, NewPrimary: strings.Join(sources, ","),
			Region: e.Topology.NodeRegion(name), LostGTIDs: res.Errant, At: e.now(), Reasons: []string{res.Reason}})
		return finish(nil)
	}
	if err := r.applyChannels(ctx, name, layout); err != nil {
		return finish(fmt.Errorf("rejoin %s: %w", name, err))
	}
	if reason, err := r.waitReplicating(ctx, name, orDefault(e.ApplyTimeout, DefaultApplyTimeout)); err != nil || reason != "" {
		res.Reason = reason
		return finish(err)
	}
	res.Rejoined = true
	res.Reason = fmt.Sprintf("its transactions are a prefix of %s's: replicating with slave_pos", strings.Join(sources, ", "))
	return finish(nil)
}

type verdict struct {
	errant []string
	reason string
}

// compare reads the node's GTID state and what its sources hold.
func (r *run) compare(ctx context.Context, name string, sources []string) (verdict, error) {
	var v verdict
	err := r.step(name, ActionCompare, "its GTIDs against "+strings.Join(sources, ", "), func() error {
		r.connect(ctx, sources)
		var logged []gtid.Position
		for _, s := range sources {
			c := r.client(s)
			if c == nil {
				return fmt.Errorf("source %s is unreachable", s)
			}
			st, err := c.GTIDState(ctx)
			if err != nil {
				return err
			}
			// What a source holds: its binlog, and what it applied without
			// logging it. A residency relay sends a transaction that only
			// touched personal tables as an empty one, which the replica
			// applies (gtid_slave_pos) but MariaDB does not log; the old
			// primary's own personal transactions are not lost for that.
			logged = append(logged, gtid.Furthest(st.Binlog, st.Slave))
		}
		have, err := r.client(name).GTIDState(ctx)
		if err != nil {
			return err
		}
		theirs := gtid.Furthest(logged...)
		errant, diverged := rejoinVerdict(have, theirs)
		switch {
		case diverged != "":
			v = verdict{errant: errant, reason: diverged + "; kept out, read-only"}
		case errant != nil:
			v = verdict{errant: errant, reason: fmt.Sprintf("it holds %s that its sources (%s) lack (its binlog %s, theirs %s): lost transactions; kept out, read-only",
				strings.Join(errant, ", "), strings.Join(sources, ", "), have.Binlog, theirs)}
		}
		return nil
	})
	return v, err
}

// waitReplicating waits until every connection of the node runs. A source
// that refuses the node's position (error 1236: its GTID is not in the
// source's binlog, the histories diverged) stops the connection and is a
// reason, not an error.
func (r *run) waitReplicating(ctx context.Context, name string, timeout time.Duration) (reason string, err error) {
	c := r.client(name)
	err = r.step(name, ActionStart, "wait until its connections run", func() error {
		deadline := time.Now().Add(timeout)
		for {
			have, err := c.Replicas(ctx)
			if err != nil {
				return err
			}
			running := true
			for _, h := range have {
				if h.LastIOErrno == errBinlogGone {
					reason = fmt.Sprintf("connection '%s': its source refuses its position (%s): the histories diverged; kept out, read-only", h.Connection, h.LastIOError)
					return c.StopReplica(ctx, h.Connection)
				}
				if h.LastSQLErrno != 0 {
					return fmt.Errorf("connection '%s': SQL error %d: %s", h.Connection, h.LastSQLErrno, h.LastSQLError)
				}
				running = running && h.IORunning == "Yes" && h.SQLRunning
			}
			if running {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("its connections do not run after %s: %+v", timeout, have)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return reason, err
}
