// Package failover is the pure half of Meridian's failover: it reads the
// monitor's snapshots, says what is wrong with each cluster, and decides
// what should be done about it. It does no I/O, starts no goroutines and
// never reads the clock: time comes in with the snapshot (Snapshot.At) or
// as an argument, so every rule here is a table-driven test.
//
// Observe → decide → act:
//
//   - Observe (internal/monitor). One probe round reaches every node in
//     parallel and publishes a snapshot.Snapshot. The witnesses' evidence is
//     already in it: each replica's IO thread state, heartbeat lag, and
//     received stream (the source's replication heartbeats and Gtid_IO_Pos)
//     for its channel from the primary. Meridian's heartbeat is written by
//     the controller, so a cut between the controller and the primary
//     alone makes it stale everywhere; a witness whose stream still grows
//     between two snapshots says alive all the same. Nothing here probes
//     again, sleeps, or
//     asks witnesses one after another (replication-manager's serial
//     false-positive checks add seconds to every failover).
//
//   - Analyse (Detector). Detector.Observe classifies every cluster in each
//     snapshot (Finding): healthy; primary unreachable but alive (a witness
//     still receives from it: orchestrator's UnreachableMaster, never a
//     recovery); primary dead; whole region lost; a Galera member lost
//     (moving its async links to another Synced member, never a
//     cross-region action). It counts, per node, the consecutive rounds the
//     controller could not reach it, and confirms a failure after
//     DetectorConfig.Confirmations of them.
//
//   - Decide (Choose, Guard). Choose turns a confirmed finding into a
//     Decision: the candidate, why it was chosen, every other node with the
//     reason it was refused, the relay-log position to wait for, the
//     transactions known to be at risk, and the topology.Primaries to apply.
//     Guard says whether an automatic decision may run now (anti-flapping).
//
//   - Act (recovery, not in this package). The recovery code consumes a
//     Decision: for Promote it waits, bounded, for the candidate to apply
//     Decision.WaitFor (MASTER_GTID_WAIT), stops and resets its replication,
//     then applies topology.LayoutFor(now, Decision.NewPrimaries): read_only
//     off exactly where Layout.Writable says so, and every Layout.Channels
//     entry (CHANGE MASTER ... MASTER_USE_GTID=slave_pos) for the others.
//     For MoveLinks it re-creates the lost Galera member's channels on the
//     candidate from the same layout. It records Decision.Affects in the
//     Guard, audits the Finding and the Decision (both carry their reasons
//     and serialise to JSON), and before deciding passes Choose each
//     survivor's fresh SHOW SLAVE STATUS (Using_Gtid, Gtid_IO_Pos): the
//     snapshot's may be a round old.
//
// # Detection time
//
// A node is lost for what it does, never for the cost of reaching it: the
// monitor counts it lost when it refuses or resets connections, or stays
// silent past a deadline that grows with the link's round trip (the
// larger of the declared one and the slowest measured lately: probe
// timeout + RTT for queries on open connections, probe timeout + 8 RTT to
// open them). A probe that meets a broken connection (a restarted node, a
// healed link whose proxy closed the streams that lived through the cut)
// dials again within the same probe, and a node heard from meanwhile is
// answering, not lost (snapshot.Node.Answering), so a blip and its
// reconnections over a 300 ms link never add up to a confirmation.
//
// With the monitor's defaults (1 s interval, 80% probe timeout) and the
// default 3 confirmations, a killed primary (refused at once, and its
// replicas' IO threads drop) is confirmed dead about 3 s after it died. A
// primary behind a black-holed link is silent: its probe fails at probe
// timeout + RTT, and its replicas' IO threads keep saying "Yes" until
// slave_net_timeout, so there the heartbeats decide: they go stale after 3
// intervals plus the witness's round trip, about 3.1 s over an 80 ms link,
// while the lost rounds are already being counted, so confirmation comes
// after about 4 s. MaxScale's mariadbmon defaults (failcount 5 ×
// monitor_interval 2 s) need 10 s, and the seed's "check, sleep 30 s,
// check again" at least 30 s.
package failover
