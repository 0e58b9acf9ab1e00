package wan

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2/toxics"

	"github.com/meridian-geo/meridian/internal/broadcast"
)

const linkToxicType = "wan_link"

func init() { toxics.Register(linkToxicType, new(linkToxic)) }

// linkState is the live condition of the link between two regions: its
// one-way delays and whether it is partitioned. Toxics read it per chunk.
type linkState struct {
	id          int64
	up, down    atomic.Int64 // one-way delay in nanoseconds
	partitioned atomic.Bool
	// cuts counts partitions; healed is closed at each heal (and replaced):
	// streams that lived through a partition end then, while the proxy
	// keeps listening, so clients reconnect at once.
	cuts   atomic.Int64
	healed broadcast.Next
	// watches are the Links' running Watches.
	watches *atomic.Pointer[[]*Watch]
}

// cut starts a partition.
func (st *linkState) cut() {
	st.cuts.Add(1)
	st.partitioned.Store(true)
}

// heal ends a partition and wakes every stream, for those that lived
// through it to end.
func (st *linkState) heal() {
	st.partitioned.Store(false)
	st.healed.Fire()
}

// nextHeal is closed at the next heal.
func (st *linkState) nextHeal() <-chan struct{} { return st.healed.Chan() }

// toxiproxy builds toxics from JSON, so a toxic finds its link's state
// through this registry by id.
var (
	statesMu sync.Mutex
	states   = map[int64]*linkState{}
	lastID   int64
)

func newLinkState(watches *atomic.Pointer[[]*Watch]) *linkState {
	statesMu.Lock()
	defer statesMu.Unlock()
	lastID++
	st := &linkState{id: lastID, watches: watches}
	states[st.id] = st
	return st
}

func (st *linkState) release() {
	statesMu.Lock()
	defer statesMu.Unlock()
	delete(states, st.id)
}

func lookupState(id int64) *linkState {
	statesMu.Lock()
	defer statesMu.Unlock()
	return states[id]
}

// setRTT splits a round trip between the two directions in whole
// milliseconds, so that they add up to rtt.
func (st *linkState) setRTT(rtt time.Duration) {
	total := rtt.Round(time.Millisecond)
	up := time.Duration(total.Milliseconds()/2) * time.Millisecond
	st.up.Store(int64(up))
	st.down.Store(int64(total - up))
}

func (st *linkState) delay(downstream bool) time.Duration {
	if downstream {
		return time.Duration(st.down.Load())
	}
	return time.Duration(st.up.Load())
}

// linkToxic delays every chunk by its direction's one-way delay, measured
// from when the proxy read it, and drops chunks while the link is
// partitioned (a black hole: the connection stays open, nothing arrives).
// At the heal, a stream that lived through the partition is closed: bytes
// were dropped, so it is corrupt.
type linkToxic struct {
	Link       int64  `json:"link"`
	Downstream bool   `json:"downstream"`
	From       string `json:"from"`
	To         string `json:"to"`
	Target     string `json:"target"`
}

func (t *linkToxic) GetBufferSize() int { return 1024 }

func (t *linkToxic) Pipe(stub *toxics.ToxicStub) {
	st := lookupState(t.Link)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var healed <-chan struct{}
	var cuts int64
	tainted := false
	scan := streamScan{hit: Hit{From: t.From, To: t.To, Target: t.Target, Downstream: t.Downstream}}
	if st != nil {
		healed, cuts, tainted = st.nextHeal(), st.cuts.Load(), st.partitioned.Load()
		scan.watches = st.watches
	}
	for {
		select {
		case <-stub.Interrupt:
			return
		case <-healed:
			if tainted || st.cuts.Load() != cuts {
				stub.Close()
				return
			}
			healed = st.nextHeal()
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if st == nil || st.partitioned.Load() {
				continue
			}
			if wait := st.delay(t.Downstream) - time.Since(c.Timestamp); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-stub.Interrupt:
					scan.scan(c.Data)
					stub.Output <- c
					return
				}
			}
			if st.partitioned.Load() {
				continue
			}
			scan.scan(c.Data)
			stub.Output <- c
		}
	}
}
