package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/backup"
	"github.com/meridian-geo/meridian/internal/census"
	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/erasure"
	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/relay"
)

func residencyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "residency",
		Short: "Where personal data lives: audit",
	}
	cmd.AddCommand(residencyAuditCommand())
	return cmd
}

func residencyAuditCommand() *cobra.Command {
	var f estateFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Count every personal table's rows on every node by their jurisdiction's region; exit 1 on any outside it",
		Long: "Reads every node and reports each personal row found outside the region its jurisdiction names\n" +
			"(table, the region it belongs in, node, count). Exits non-zero when it finds one, or when a node\n" +
			"could not be audited.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.open()
			if err != nil {
				return err
			}
			if !e.Topology.HasPersonalData() {
				return errors.New("the topology declares no personal table (tables: ... personal: true): nothing to audit")
			}
			report := census.Audit(cmd.Context(), e.Topology, e.Endpoints, time.Now)
			if asJSON {
				if err := printJSON(report); err != nil {
					return err
				}
			} else {
				fmt.Fprint(os.Stdout, report.String())
			}
			switch {
			case len(report.Violations) > 0:
				return fmt.Errorf("residency audit: %d finding(s) of personal data outside its region", len(report.Violations))
			case len(report.Incomplete) > 0:
				return fmt.Errorf("residency audit: incomplete, %d node(s) not audited", len(report.Incomplete))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// datadirFlags name the data directories of nodes on this host, for the
// commands that read files (a sandbox knows its own).
type datadirFlags struct{ pairs []string }

func (d *datadirFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&d.pairs, "datadir", nil, "NODE=PATH: the data directory of a node on this host (repeatable; a sandbox's are known)")
}

func (d *datadirFlags) merge(into map[string]string) (map[string]string, error) {
	out := maps.Clone(into)
	if out == nil {
		out = map[string]string{}
	}
	for _, p := range d.pairs {
		name, path, ok := strings.Cut(p, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--datadir %q: want NODE=PATH", p)
		}
		out[name] = path
	}
	return out, nil
}

func eraseCommand() *cobra.Command {
	var f estateFlags
	var dirs datadirFlags
	var email string
	var userID int64
	var purge, asJSON bool
	cmd := &cobra.Command{
		Use:   "erase --email ADDR | --user ID",
		Short: "Erase a user's personal data everywhere and prove it (right to erasure)",
		Long: "Finds the user's data region in the users directory, deletes the user's rows from every personal\n" +
			"table there and the directory entry everywhere (one transaction on the region's primary), puts the\n" +
			"user on the suppression list restores re-apply, and reports: rows left per node (all 0), which\n" +
			"binary logs, relay logs, Galera caches and InnoDB files still hold the user's row images, and which\n" +
			"backups predate the erasure. --purge-logs rotates and purges those logs once every replica is past\n" +
			"them and overwrites what InnoDB and Galera keep. Exits non-zero unless the erasure is proven.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.open()
			if err != nil {
				return err
			}
			datadirs, err := dirs.merge(e.Datadirs)
			if err != nil {
				return err
			}
			primaries, err := controller.LoadPrimaries(f.stateFile(), e.Topology)
			if err != nil {
				return err
			}
			report, err := erasure.Erase(cmd.Context(), erasure.Options{
				Topology: e.Topology, Endpoints: e.Endpoints, Primaries: primaries,
				EndpointsIn: func(region string) (provision.Endpoints, error) {
					in, err := e.In(region)
					if err != nil {
						return nil, err
					}
					return in.Endpoints, nil
				},
				Email: email, UserID: userID, PurgeLogs: purge, Datadirs: datadirs,
			})
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(report); err != nil {
					return err
				}
			} else {
				fmt.Print(report.String())
			}
			if !report.Clean(purge) {
				return errors.New("erasure not proven everywhere: see the report")
			}
			return nil
		},
	}
	f.register(cmd)
	dirs.register(cmd)
	cmd.Flags().StringVar(&email, "email", "", "the user's email address")
	cmd.Flags().Int64Var(&userID, "user", 0, "the user's id")
	cmd.Flags().BoolVar(&purge, "purge-logs", false, "rotate and purge the logs holding the user's row images, overwrite InnoDB's and Galera's copies")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.MarkFlagsOneRequired("email", "user")
	cmd.MarkFlagsMutuallyExclusive("email", "user")
	return cmd
}

func backupCommand() *cobra.Command {
	var f estateFlags
	var dirs datadirFlags
	var nodeName, dir string
	cmd := &cobra.Command{
		Use:   "backup REGION",
		Short: "Back a region up with mariadb-backup into the region's backup directory",
		Long: "Copies a node of the region (a member other than the primary by default) with mariadb-backup,\n" +
			"prepares the copy and writes its manifest (GTID position, the node's residency census) into\n" +
			"regions[].backups. Refused when the node holds another region's personal data.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := f.openFrom(args[0])
			if err != nil {
				return err
			}
			datadirs, err := dirs.merge(e.Datadirs)
			if err != nil {
				return err
			}
			primaries, err := controller.LoadPrimaries(f.stateFile(), e.Topology)
			if err != nil {
				return err
			}
			path, m, err := backup.Take(cmd.Context(), backup.Options{Topology: e.Topology, Endpoints: e.Endpoints, Primaries: primaries,
				Region: args[0], Node: nodeName, Datadirs: datadirs, Dir: dir})
			if err != nil {
				return err
			}
			fmt.Printf("backup of %s taken from %s at GTID %s:\n  %s\n", m.Region, m.Node, m.GTID, path)
			return nil
		},
	}
	f.register(cmd)
	dirs.register(cmd)
	cmd.Flags().StringVar(&nodeName, "node", "", "the node to copy (default: a member of the region other than its primary)")
	cmd.Flags().StringVar(&dir, "dir", "", "where the backup goes (default: the region's backups directory)")
	return cmd
}

func restoreCommand() *cobra.Command {
	var f estateFlags
	var from, nodeDir, region string
	var serverID uint32
	var replicating bool
	cmd := &cobra.Command{
		Use:   "restore --backup DIR --node-dir DIR --region REGION",
		Short: "Restore a backup into a new node of its region, re-applying the erasure suppression list",
		Long: "Copies the backup into NODE-DIR/data (mariadb-backup --copy-back), deletes every user on the\n" +
			"region's suppression list (and on the estate's meridian.erasures when a node answers) with a\n" +
			"temporary server, and sets gtid_slave_pos to the backup's position, so the node can start and\n" +
			"replicate from there. With --replicating, erasures made after the backup are left to replication.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.openFrom(region)
			if err != nil {
				return err
			}
			erased := census.Erasures(cmd.Context(), e.Topology, e.Endpoints)
			res, err := backup.Restore(cmd.Context(), backup.RestoreOptions{Topology: e.Topology, Backup: from, NodeDir: nodeDir,
				Region: region, ServerID: serverID, Suppression: erased, Replicating: replicating})
			if err != nil {
				return err
			}
			fmt.Printf("restored %s (region %s, GTID %s) into %s: %d erased user(s) suppressed, %d left to replication\n",
				from, res.Manifest.Region, res.Manifest.GTID, res.Datadir, len(res.Erased), len(res.Deferred))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "backup", "", "the backup's directory")
	cmd.Flags().StringVar(&nodeDir, "node-dir", "", "the new node's directory (its data directory goes to NODE-DIR/data)")
	cmd.Flags().StringVar(&region, "region", "", "the new node's region (must be the backup's)")
	cmd.Flags().Uint32Var(&serverID, "server-id", 0, "the new node's server_id")
	cmd.Flags().BoolVar(&replicating, "replicating", false, "the node will replicate from the backup's position")
	for _, name := range []string{"backup", "node-dir", "region", "server-id"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func relayCommand() *cobra.Command {
	var file, nodeName, listen string
	cmd := &cobra.Command{
		Use:   "relay -f FILE --node NODE",
		Short: "Serve the residency relay in front of a node: other regions' replicas read its binlog without personal rows",
		Long: "Listens on the node's relay address (nodes[].relay) and forwards replicas' connections to the node,\n" +
			"dropping the row events of personal tables from the binlog stream. Run it in the node's region\n" +
			"(beside the node); plan and apply point the replicas of other regions at it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, warnings, err := estate.LoadTopology(file)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				slog.Warn(w.String())
			}
			n, _, ok := t.Node(nodeName)
			if !ok {
				return fmt.Errorf("no node %q in %s", nodeName, file)
			}
			if listen == "" {
				listen = n.Relay
			}
			if listen == "" || n.Address == "" {
				return fmt.Errorf("node %s has no address or relay in %s: the relay is for real servers (a sandbox runs its own)", nodeName, file)
			}
			serverTLS, upstreamTLS, err := relay.TLSFromFiles(t.Replication.TLS)
			if err != nil {
				return err
			}
			r, err := relay.Start(relay.Config{Name: nodeName, Listen: listen, Upstream: n.Address, Personal: t.IsPersonal,
				ServerTLS: serverTLS, UpstreamTLS: upstreamTLS, Logger: slog.Default()})
			if err != nil {
				return err
			}
			slog.Info("relay running", "node", nodeName, "listen", r.Addr(), "upstream", n.Address)
			<-cmd.Context().Done()
			return r.Close()
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file")
	cmd.Flags().StringVar(&nodeName, "node", "", "the node the relay fronts")
	cmd.Flags().StringVar(&listen, "listen", "", "host:port to listen on (default: the node's relay address)")
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagRequired("node")
	return cmd
}
