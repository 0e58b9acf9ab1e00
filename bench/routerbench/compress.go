package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/router/routertest"
	"github.com/meridian-geo/meridian/internal/sandbox"
)

// compress measures the router's compressed backend connections across
// the WAN (bench/compression.sh): a router in region us runs read
// transactions against the primary eu-1, which it reaches across the
// sandbox's eu–us link, with and without the compressed protocol on that
// link, at each RTT given; it counts the bytes crossing the link (a
// counting relay in front of the WAN route) and times each transaction.
// It prints one Markdown table row per RTT and mode.
func compress(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compress", flag.ExitOnError)
	dir := fs.String("dir", "", "sandbox directory")
	rtts := fs.String("rtts", "80ms,250ms", "link round-trip times to measure")
	n := fs.Int("n", 40, "transactions per measurement")
	fs.Parse(args)
	sb, topo, info, log, err := upActivePassive(ctx, *dir)
	if err != nil {
		return err
	}
	defer sb.Close()
	admin := sb.Credentials().Admin
	eu1, _ := info.Node("eu-1")
	setup, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s:%d)/", admin.User, admin.Password, eu1.Host, eu1.Port))
	if err != nil {
		return err
	}
	defer setup.Close()
	// 200 rows of about 500 bytes of ordinary, compressible text.
	for _, stmt := range []string{
		"CREATE DATABASE IF NOT EXISTS wan",
		"CREATE TABLE wan.orders (id INT PRIMARY KEY, customer VARCHAR(100), note TEXT)",
		"INSERT INTO wan.orders SELECT seq, CONCAT('customer ', seq % 17), REPEAT(CONCAT('order ', seq, ' shipped to the warehouse; '), 14) FROM wan.seq_1_to_200",
	} {
		if _, err := setup.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	view := routertest.SandboxView(info, topo, "us", time.Now())
	for _, rtt := range strings.Split(*rtts, ",") {
		d, err := time.ParseDuration(rtt)
		if err != nil {
			return err
		}
		if err := sb.Links().SetLatency("eu", "us", d); err != nil {
			return err
		}
		for _, compressed := range []bool{false, true} {
			bytes, median, err := measureWAN(ctx, view, admin, info.Credentials, compressed, *n, log)
			if err != nil {
				return err
			}
			mode := "plain"
			if compressed {
				mode = "compressed (`compress: true`)"
			}
			fmt.Printf("| %s | %s | %.1f KiB | %s |\n", rtt, mode, float64(bytes)/float64(*n)/1024, median.Round(time.Millisecond))
		}
	}
	return nil
}

// measureWAN runs n read transactions through a router in us whose route
// to eu-1 passes a byte counter, and returns the bytes that crossed the
// link and the median transaction time.
func measureWAN(ctx context.Context, view router.View, admin provision.Account, app sandbox.Account, compressed bool, n int, log *slog.Logger) (int64, time.Duration, error) {
	counter, err := newCountingRelay(view.Nodes["eu-1"].Addr)
	if err != nil {
		return 0, 0, err
	}
	defer counter.Close()
	v := view
	v.Nodes = map[string]router.NodeView{}
	for name, nv := range view.Nodes {
		if name == "eu-1" {
			nv.Addr = counter.Addr()
		}
		v.Nodes[name] = nv
	}
	cfg := router.ServiceConfig{Name: "us-wan", Region: "us", Kind: router.ReadWriteSplit, Logger: log,
		Admin: router.Credentials{User: admin.User, Password: admin.Password}}
	if compressed {
		cfg.CompressRegions = []string{"eu"}
	}
	svc, err := router.NewService(cfg, router.NewLiveView(v), nil)
	if err != nil {
		return 0, 0, err
	}
	serveCtx, stop := context.WithCancel(ctx)
	defer func() { stop(); svc.Close() }()
	go svc.Serve(serveCtx)
	dc := mysql.NewConfig()
	dc.User, dc.Passwd, dc.Net, dc.Addr, dc.DBName = app.User, app.Password, "tcp", svc.Addr().String(), "wan"
	connector, err := mysql.NewConnector(dc)
	if err != nil {
		return 0, 0, err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(1)
	run := func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		rows, err := tx.QueryContext(ctx, "SELECT id, customer, note FROM orders WHERE id <= 100")
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return tx.Commit()
	}
	if err := run(); err != nil { // logs in and opens the backend connection
		return 0, 0, err
	}
	counter.reset()
	var times []time.Duration
	for range n {
		began := time.Now()
		if err := run(); err != nil {
			return 0, 0, err
		}
		times = append(times, time.Since(began))
	}
	slices.Sort(times)
	return counter.total(), times[len(times)/2], nil
}

// countingRelay forwards TCP connections to a target and counts the bytes
// in both directions.
type countingRelay struct {
	ln     net.Listener
	target string
	bytes  atomic.Int64
	wg     sync.WaitGroup
}

func newCountingRelay(target string) (*countingRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &countingRelay{ln: ln, target: target}
	go r.accept()
	return r, nil
}

func (r *countingRelay) Addr() string { return r.ln.Addr().String() }
func (r *countingRelay) reset()       { r.bytes.Store(0) }
func (r *countingRelay) total() int64 { return r.bytes.Load() }
func (r *countingRelay) Close()       { r.ln.Close() }

func (r *countingRelay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		copyCounting := func(dst net.Conn, src countingConn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go copyCounting(up, countingConn{c, &r.bytes})
		go copyCounting(c, countingConn{up, &r.bytes})
	}
}

// countingConn counts what is read from it as it is read, so that a
// connection still open when the measurement ends is counted too.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(int64(k))
	return k, err
}
