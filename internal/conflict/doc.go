// Package conflict keeps the rows of an active-active estate identical in
// every region when several regions write them, and logs every write that
// loses.
//
// Each protected table (a table policy lww, counter or set, and in an
// active-active estate every table without a policy, for detection only)
// gets hidden columns and triggers, installed on every node by
// internal/provision:
//
//   - HiddenVersion holds the row's version: its commit time in microseconds
//     and the GTID domain of the region that wrote it (Version). A local write
//     stamps a version later than both the clock and the version it replaces,
//     so a write that follows another is always later, whatever the clocks.
//   - HiddenPrevious holds the version the write replaced at its origin: an
//     incoming version whose previous is not the local row's version was
//     written concurrently, and only then is there a conflict.
//   - HiddenDelta+column holds, for each counter column, the change the
//     last local write made: the applying node adds it to its own value.
//
// The triggers tell a local write from a replicated one by the session's
// GTID (the replication SQL thread runs with the origin's server_id,
// gtid_domain_id and gtid_seq_no) and from a Galera applier by USER(). Only
// a writable node resolves: an intra-region replica and the other Galera
// nodes take the resolved rows as they come. Deletes leave a tombstone (a
// row of the table's tombstone table), so that a delete and a concurrent
// update resolve by version like two updates.
//
// The decisions are pure and shared with the consistency checker's repair:
// Rule.Wins orders two versions of a row and Rule.Converge picks the version
// every node must hold.
package conflict
