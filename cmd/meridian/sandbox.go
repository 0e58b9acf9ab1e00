package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/sandbox"
)

const defaultSandboxDir = ".meridian/sandbox"

func sandboxCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sandbox", Short: "Run a topology locally on real mariadbd processes with simulated WAN links"}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "dir", defaultSandboxDir, "sandbox directory")

	var file string
	var fresh, noController bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the sandbox in the foreground until Ctrl-C (default topology: the e-commerce case study)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, warnings, err := estate.LoadTopology(file)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				slog.Warn(w.String())
			}
			started := time.Now()
			sb, err := sandbox.Up(cmd.Context(), sandbox.Options{Topology: t, Dir: dir, Fresh: fresh, Controller: !noController, Services: !noController})
			if err != nil {
				return err
			}
			defer sb.Close()
			info, err := sb.Info()
			if err != nil {
				return err
			}
			fmt.Fprint(os.Stdout, sandbox.Summary(info, sb.Topology(), time.Since(started)))
			<-cmd.Context().Done()
			fmt.Fprintln(os.Stderr, "stopping the sandbox…")
			return sb.Close()
		},
	}
	up.Flags().StringVarP(&file, "file", "f", "", "topology file (default: the embedded examples/ecommerce.yaml)")
	up.Flags().BoolVar(&fresh, "fresh", false, "discard the data directories of a previous run")
	up.Flags().BoolVar(&noController, "no-controller", false, "do not start a controller nor the router services (run your own with `meridian run --sandbox DIR`)")

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the sandbox in --dir, also when its owner died (kill -9); data directories are kept",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			pids, err := sandbox.Down(dir, 30*time.Second)
			fmt.Printf("stopped %d process(es) %v\n", len(pids), pids)
			return err
		},
	}
	control := func(use, short string, args cobra.PositionalArgs, do func(c *sandbox.Control, cmd *cobra.Command, args []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sandbox.Dial(dir)
			if err != nil {
				return err
			}
			return do(c, cmd, args)
		}}
	}
	cmd.AddCommand(up, down,
		control("kill NODE|REGION", "Crash a node or a whole region (SIGKILL)", cobra.ExactArgs(1),
			func(c *sandbox.Control, cmd *cobra.Command, a []string) error { return c.Kill(cmd.Context(), a[0]) }),
		control("start NODE|REGION", "Restart a stopped node or region", cobra.ExactArgs(1),
			func(c *sandbox.Control, cmd *cobra.Command, a []string) error { return c.Start(cmd.Context(), a[0]) }),
		control("partition A B", "Black-hole all traffic between two regions", cobra.ExactArgs(2),
			func(c *sandbox.Control, cmd *cobra.Command, a []string) error {
				return c.Partition(cmd.Context(), a[0], a[1])
			}),
		control("heal [A B]", "End the partition between two regions (all partitions without arguments)", cobra.RangeArgs(0, 2),
			func(c *sandbox.Control, cmd *cobra.Command, a []string) error {
				if len(a) == 1 {
					return fmt.Errorf("heal takes two regions or none")
				}
				a = append(a, "", "")
				return c.Heal(cmd.Context(), a[0], a[1])
			}),
		control("latency A B DURATION", "Set the round-trip time between two regions (e.g. 120ms)", cobra.ExactArgs(3),
			func(c *sandbox.Control, cmd *cobra.Command, a []string) error {
				rtt, err := time.ParseDuration(a[2])
				if err != nil {
					return fmt.Errorf("latency %q: %w", a[2], err)
				}
				return c.Latency(cmd.Context(), a[0], a[1], rtt)
			}),
	)
	return cmd
}
