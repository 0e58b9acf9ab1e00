package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/checker"
	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/repair"
)

// exitError ends the process with a status of its own and no message (the
// report said it all).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func checkCommand() *cobra.Command {
	var f estateFlags
	var o checker.Options
	var region, checkpoint, auditFile, prefer string
	var asJSON, doRepair bool
	cmd := &cobra.Command{
		Use:   "check [--tables LIST] [--repair [--apply]]",
		Short: "Compare every table on every node, chunk by chunk, and list the rows that differ",
		Long: "Checksums each table in chunks of its primary key on every node of every region at once, and\n" +
			"narrows a differing chunk to its rows. Writes in flight are not differences: before each re-read\n" +
			"every node catches up with every GTID any node had, and a row counts only once it has differed,\n" +
			"unchanged on every node, through two such catch-ups. Pauses while a node lags (--max-lag) or is\n" +
			"busy (--max-running). Resumable: an interrupted check continues with --resume.\n\n" +
			"--repair prints, node by node, the statements that converge each row to the version its table's\n" +
			"policy makes right (owner: the owner region's; home: the row's home region's; no policy: the\n" +
			"--prefer region's); --apply runs them on each node alone, outside the binary log and Galera\n" +
			"replication, and audits each one.\n\n" +
			"Exit status: 0 identical, 2 rows differ (not all repaired), 3 nothing differs but some rows or\n" +
			"tables could not be compared, 1 the check failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.openFrom(region)
			if err != nil {
				return err
			}
			primaries, err := controller.LoadPrimaries(f.stateFile(), e.Topology)
			if err != nil {
				return err
			}
			o.Topology, o.Endpoints, o.Primaries, o.Region = e.Topology, e.Endpoints, primaries, e.Region
			o.Checkpoint = checkpoint
			if o.Checkpoint == "" {
				o.Checkpoint = defaultBeside(&f, "check.checkpoint.json")
			}
			if doRepair {
				o.Repair = &repair.Options{Prefer: prefer}
				if prefer != "" {
					if _, ok := e.Topology.Region(prefer); !ok {
						return fmt.Errorf("--prefer %q is not a region of the topology", prefer)
					}
				}
			}
			if o.Apply {
				if auditFile == "" {
					auditFile = controller.AuditFile(f.stateFile())
				}
				if auditFile == "" {
					auditFile = "meridian.audit.jsonl"
				}
				log, err := audit.Open(auditFile, 0)
				if err != nil {
					return err
				}
				defer log.Close()
				o.Audit = log
			}
			var bar *checker.Bar
			if isatty.IsTerminal(os.Stderr.Fd()) {
				bar = checker.NewBar(os.Stderr, terminalWidth(os.Stderr.Fd()))
				o.Progress = bar.Update
			}
			report, err := checker.Run(cmd.Context(), o)
			if bar != nil {
				bar.Close()
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return err
				}
			} else {
				fmt.Print(report.String())
			}
			if code := report.ExitCode(); code != checker.ExitClean {
				return exitError{code}
			}
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&region, "region", "", "the region the checker runs in (default: the region taking writes, else the first)")
	fl.StringSliceVar(&o.Tables, "tables", nil, "tables to check: schema.table patterns (* and ?) or schema names, comma-separated (default: all outside mysql, sys, meridian and the schemas of the server)")
	fl.DurationVar(&o.ChunkTime, "chunk-time", 0, "the time one chunk should take on the slowest node (default 0.5s)")
	fl.IntVar(&o.ChunkRows, "chunk-size", 0, "fixed rows per chunk instead of --chunk-time")
	fl.DurationVar(&o.MaxLag, "max-lag", checker.DefaultMaxLag, "pause while a compared node's replication lags more (0: never)")
	fl.IntVar(&o.MaxRunning, "max-running", checker.DefaultMaxRunning, "pause while more threads run on a compared node (0: never)")
	fl.DurationVar(&o.MaxWait, "max-wait", checker.DefaultMaxWait, "how long the nodes may take to catch up with each other before a differing chunk is read again")
	fl.IntVar(&o.MaxRows, "max-rows", checker.DefaultMaxRows, "rows listed (and repaired) per table at most; further differing chunks are only counted")
	fl.StringVar(&checkpoint, "checkpoint", "", "where the check in progress is saved after every chunk (default: check.checkpoint.json in the sandbox directory, else the current directory)")
	fl.BoolVar(&o.Resume, "resume", false, "continue the interrupted check saved in --checkpoint")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.BoolVar(&doRepair, "repair", false, "print the statements that converge each differing row")
	fl.BoolVar(&o.Apply, "apply", false, "with --repair: run them, node by node, and audit each")
	fl.StringVar(&prefer, "prefer", "", "the region whose version wins for tables without a policy (default: the region taking writes now; in active-active the first region of the file)")
	fl.StringVar(&auditFile, "audit", "", "the audit log --apply appends to (default: the controller's, beside its --state file; else meridian.audit.jsonl)")
	return cmd
}

// defaultBeside is a file in the sandbox directory, or in the current one.
func defaultBeside(f *estateFlags, name string) string {
	if f.sandbox != "" {
		return filepath.Join(f.sandbox, name)
	}
	return name
}

// terminalWidth is the terminal's width in columns, 100 when unknown.
func terminalWidth(fd uintptr) int {
	ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 100
	}
	return int(ws.Col)
}
