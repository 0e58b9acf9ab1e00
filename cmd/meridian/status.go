package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/monitor"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/status"
)

func statusCommand() *cobra.Command {
	var f estateFlags
	var apiURL string
	var asJSON bool
	var watch time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node: region, role, writable or read-only, GTID position, replication threads and lag",
		Long: "Probes the estate once (-f FILE or --sandbox DIR), or reads a running controller's view (--api URL).\n" +
			"--watch refreshes until Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snapshot, err := snapshotSource(&f, apiURL)
			if err != nil {
				return err
			}
			color := !asJSON && isatty.IsTerminal(os.Stdout.Fd())
			for {
				s, err := snapshot(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if err := printJSON(s); err != nil {
						return err
					}
				} else {
					if watch > 0 && color {
						fmt.Print("\x1b[H\x1b[2J")
					}
					fmt.Print(status.Table(s, color))
					if apiURL != "" {
						printControllerStatus(cmd.Context(), apiURL)
					}
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
	cmd.Flags().StringVar(&apiURL, "api", "", "read the view of a running controller (its base URL)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	cmd.Flags().DurationVar(&watch, "watch", 0, "refresh every interval (e.g. 2s) until Ctrl-C")
	return cmd
}

// snapshotSource returns how status gets each snapshot: from a controller's
// API, or by probing the estate once itself.
func snapshotSource(f *estateFlags, apiURL string) (func(context.Context) (snapshot.Snapshot, error), error) {
	if apiURL != "" {
		url := strings.TrimSuffix(apiURL, "/") + "/api/v1/topology"
		client := &http.Client{Timeout: 5 * time.Second}
		return func(ctx context.Context) (snapshot.Snapshot, error) {
			var s snapshot.Snapshot
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return s, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return s, fmt.Errorf("read %s: %w", url, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return s, fmt.Errorf("read %s: %s", url, resp.Status)
			}
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
				return s, fmt.Errorf("decode %s: %w", url, err)
			}
			return s, nil
		}, nil
	}
	e, err := f.open()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (snapshot.Snapshot, error) {
		return monitor.ProbeOnce(ctx, monitor.Config{Topology: e.Topology, Endpoints: e.Endpoints, Region: e.Region})
	}, nil
}

// printControllerStatus adds what the controller decided to the table: the
// runtime primaries, the write leases, nodes kept out, the schedule's next
// move. Nothing is printed when it cannot be read (an older controller).
func printControllerStatus(ctx context.Context, apiURL string) {
	url := strings.TrimSuffix(apiURL, "/") + "/api/v1/controller"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var st controller.Status
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return
	}
	fmt.Printf("\nPrimary region: %s", st.PrimaryRegion)
	if len(st.Primaries.Nodes) > 0 {
		fmt.Printf("  (runtime primaries: %v)", st.Primaries.Nodes)
	}
	fmt.Printf("  automatic failover: %v\n", st.AutomaticFailover)
	for _, l := range st.Leases {
		state := "granting"
		if !l.Granting {
			state = "REVOKED"
		}
		fmt.Printf("Write lease %-6s -> %-10s %s, last grant ends in %s\n", l.Region, l.Primary, state, l.ExpiresIn.Round(time.Millisecond))
	}
	for node, errant := range st.KeptOut {
		fmt.Printf("Kept out: %s (errant, lost in the failover: %s)\n", node, strings.Join(errant, ", "))
	}
	if sc := st.Schedule; sc != nil {
		fmt.Printf("Follow-the-sun: window %s, primary %s; next move to %s at %s UTC\n",
			sc.Window, sc.Primary, sc.NextRegion, sc.NextMove.UTC().Format("2006-01-02 15:04"))
	}
}

// printJSON prints v indented, for scripts.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
