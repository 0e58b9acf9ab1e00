package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/monitor"
	"github.com/meridian-geo/meridian/internal/services"
)

func runCommand() *cobra.Command {
	var f estateFlags
	var region, listen, controllerURL string
	var interval, serviceInterval, historyRetention time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the controller (monitor, /metrics, /api/v1/topology, web page) and the router services of its region",
		Long: "Run the controller and the router services the topology declares in its region. " +
			"With --controller URL, run only the router services of --region, following a controller that runs elsewhere.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if region == "" && controllerURL == "" {
				// The controller goes where the topology places it.
				e, err := estate.Open(f.file, f.sandbox, "")
				if err != nil {
					return err
				}
				region = e.Topology.ControllerRegion(time.Now())
			}
			e, err := f.openFrom(region)
			if err != nil {
				return err
			}
			var ctrl *controller.Controller
			if controllerURL == "" {
				c, err := controller.Start(cmd.Context(), controller.Config{
					Listen:      listen,
					Credentials: e.Credentials,
					StateFile:   f.stateFile(),
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
				defer c.Close()
				ctrl = c
				controllerURL = c.URL()
				fmt.Printf("Meridian controller in region %s: %s (metrics at %s/metrics)\n", e.Region, c.URL(), c.URL())
			}
			set, err := services.Start(cmd.Context(), services.Config{
				Topology: e.Topology,
				Regions:  []services.Region{{Name: e.Region, Controller: controllerURL, Endpoints: e.Endpoints}},
				Admin:    e.Credentials.Admin,
				Interval: serviceInterval,
			})
			if err != nil {
				return err
			}
			defer set.Close()
			if ctrl != nil {
				ctrl.Handle("GET /api/v1/services", set.Handler(slog.Default()))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := set.WaitReady(ctx); err != nil {
				slog.Warn("router services: no view from the controller yet; they keep trying", "err", err)
			}
			for _, s := range set.Statuses() {
				fmt.Printf("Router service %s (%s) in region %s: %s\n", s.Name, s.Kind, s.Region, s.Listen)
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&region, "region", "", "region this process runs in (default: the controller's region, topology roles.controller)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "controller HTTP listen address")
	cmd.Flags().StringVar(&controllerURL, "controller", "", "follow the controller at this URL instead of running one (router services of --region only)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "probe interval")
	cmd.Flags().DurationVar(&serviceInterval, "service-interval", services.DefaultInterval, "how often router services poll the controller's view and renew their write leases")
	cmd.Flags().DurationVar(&historyRetention, "history-retention", 7*24*time.Hour, "how long replication_lag_history rows are kept")
	return cmd
}
