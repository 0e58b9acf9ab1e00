// Package provision makes an estate of MariaDB servers match its topology,
// the way terraform does infrastructure: Observe reads every node (settings,
// accounts, read_only, replication connections, GTID positions), Diff
// decides purely from that snapshot what must change to match the
// architecture's layout at a given time, and Apply carries the plan out
// through internal/node. Running the three again after Apply gives an empty
// plan.
//
// It also says what every node needs from the outside: ServerSettings and
// ConfigFragment (the seed chapter's [mysqld] configuration, per node, with
// the reason for each setting), and LoadCredentials (secrets come from a file
// named by path or from the environment, never from the topology).
package provision
