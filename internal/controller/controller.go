// Package controller is the long-running Meridian process of `meridian run`:
// it is placed in one region, runs the monitor against the whole estate and
// serves what it sees over HTTP (JSON API, Prometheus metrics, web page).
// Later work adds failover and the routers' view of the topology here.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/monitor"
)

// Config configures a controller.
type Config struct {
	Monitor monitor.Config
	// Listen is the HTTP address (default 127.0.0.1:0, a free port).
	Listen string
	Logger *slog.Logger
}

// Controller is a running controller.
type Controller struct {
	monitor *monitor.Monitor
	server  *http.Server
	url     string
	cancel  context.CancelFunc
	done    sync.WaitGroup
	log     *slog.Logger
}

// Start begins monitoring and serving; it returns once the HTTP listener is
// bound, so URL is usable at once (the API answers 503 until the first
// probe round completes).
func Start(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Monitor.Logger == nil {
		cfg.Monitor.Logger = cfg.Logger
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	mon, err := monitor.New(cfg.Monitor)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("controller listen on %s: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Controller{
		monitor: mon,
		server:  &http.Server{Handler: api.New(mon), ReadHeaderTimeout: 5 * time.Second},
		url:     "http://" + ln.Addr().String(),
		cancel:  cancel,
		log:     cfg.Logger,
	}
	c.done.Add(2)
	go func() {
		defer c.done.Done()
		if err := mon.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("monitor stopped", "err", err)
		}
	}()
	go func() {
		defer c.done.Done()
		if err := c.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("controller HTTP server stopped", "err", err)
		}
	}()
	c.log.Info("controller running", "url", c.url, "region", cfg.Monitor.Region)
	return c, nil
}

// URL is the controller's base URL.
func (c *Controller) URL() string { return c.url }

// Snapshot is the monitor's latest snapshot.
func (c *Controller) Snapshot() monitor.Snapshot { return c.monitor.Snapshot() }

// Monitor is the controller's monitor.
func (c *Controller) Monitor() *monitor.Monitor { return c.monitor }

// Close stops serving and monitoring and waits for both.
func (c *Controller) Close() error {
	c.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.server.Shutdown(ctx)
	c.done.Wait()
	return err
}
