package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/status"
)

func statusCommand() *cobra.Command {
	var f estateFlags
	var asJSON bool
	var watch time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node: region, role, writable or read-only, GTID position, replication threads and lag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.open()
			if err != nil {
				return err
			}
			color := isatty.IsTerminal(os.Stdout.Fd())
			for {
				observed, err := provision.Observe(cmd.Context(), e.Topology, e.Endpoints, e.Credentials)
				if err != nil {
					return err
				}
				report := status.Build(e.Topology, time.Now(), observed)
				if asJSON {
					enc := json.NewEncoder(os.Stdout)
					enc.SetIndent("", "  ")
					if err := enc.Encode(report); err != nil {
						return err
					}
				} else {
					if watch > 0 && color {
						fmt.Print("\x1b[H\x1b[2J")
					}
					fmt.Print(report.Table(color))
				}
				if watch <= 0 {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(watch):
				}
			}
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	cmd.Flags().DurationVar(&watch, "watch", 0, "refresh every interval (e.g. 2s) until Ctrl-C")
	return cmd
}
