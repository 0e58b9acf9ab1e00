package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/monitor"
)

func runCommand() *cobra.Command {
	var f estateFlags
	var region, listen string
	var interval, historyRetention time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the controller: monitor the estate and serve /metrics, /api/v1/topology and the web page",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.openFrom(region)
			if err != nil {
				return err
			}
			c, err := controller.Start(cmd.Context(), controller.Config{
				Listen: listen,
				Monitor: monitor.Config{
					Topology:         e.Topology,
					Endpoints:        e.Endpoints,
					Region:           e.Region,
					Interval:         interval,
					HistoryRetention: historyRetention,
				},
			})
			if err != nil {
				return err
			}
			fmt.Printf("Meridian controller in region %s: %s (metrics at %s/metrics)\n", e.Region, c.URL(), c.URL())
			<-cmd.Context().Done()
			return c.Close()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&region, "region", "", "region the controller runs in (default: the primary region now, or the first region)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "HTTP listen address")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "probe interval")
	cmd.Flags().DurationVar(&historyRetention, "history-retention", 7*24*time.Hour, "how long replication_lag_history rows are kept")
	return cmd
}
