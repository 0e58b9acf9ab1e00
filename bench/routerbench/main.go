// Command routerbench is the router benchmark's helper (bench/router.sh).
//
//	routerbench serve -dir DIR -info FILE
//
// starts the active-passive sandbox in DIR and a readwritesplit router in
// region eu in front of it, writes FILE (JSON: addresses, the application
// account, the memory endpoint) once both are ready, and runs until SIGTERM.
//
//	routerbench idle -addr HOST:PORT -user U -password P -n 1000
//
// opens n client connections to the router, checks each with a ping,
// prints "ready" and holds them idle until SIGTERM.
//
//	routerbench tcpproxy LISTEN=UPSTREAM...
//
// is the plainest Go TCP proxy (two io.Copy goroutines per connection): the
// floor for any proxy built on Go's network poller, next to HAProxy's.
//
//	routerbench compress -dir DIR [-rtts 80ms,250ms] [-n 40]
//
// measures bytes and latency across the WAN with and without the
// compressed protocol on the router's backend connections (compress.go).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the memory endpoint's server also serves profiles
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/router/routertest"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/topology"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: routerbench serve|idle [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "idle":
		err = idle(ctx, os.Args[2:])
	case "tcpproxy":
		err = tcpproxy(ctx, os.Args[2:])
	case "compress":
		err = compress(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "routerbench:", err)
		os.Exit(1)
	}
}

// Info is what serve publishes for the script.
type Info struct {
	Pid      int    `json:"pid"`
	Router   string `json:"router"`
	Primary  string `json:"primary"`
	Replica  string `json:"replica"`
	User     string `json:"user"`
	Password string `json:"password"`
	// Memory is a URL answering the router process's memory after a GC.
	Memory string `json:"memory"`
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "", "sandbox directory")
	infoFile := fs.String("info", "", "file to write the JSON description to")
	cert := fs.String("cert", "", "certificate the router serves to TLS clients (with -key)")
	key := fs.String("key", "", "its private key")
	fs.Parse(args)
	sb, topo, info, log, err := upActivePassive(ctx, *dir)
	if err != nil {
		return err
	}
	defer sb.Close()
	view := routertest.SandboxView(info, topo, "eu", time.Now())
	admin := sb.Credentials().Admin
	svc, err := router.NewService(router.ServiceConfig{Name: "bench", Region: "eu", Kind: router.ReadWriteSplit,
		Admin: router.Credentials{User: admin.User, Password: admin.Password}, Logger: log,
		TLS: router.TLSConfig{CertFile: *cert, KeyFile: *key}}, router.NewLiveView(view), nil)
	if err != nil {
		return err
	}
	defer svc.Close()
	mem, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	http.HandleFunc("/memory", memory)
	go http.Serve(mem, nil)
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx) }()
	out := Info{Pid: os.Getpid(), Router: svc.Addr().String(), Primary: view.Nodes[view.Primary].Addr,
		Replica: view.Nodes["eu-2"].Addr, User: info.Credentials.User, Password: info.Credentials.Password,
		Memory: "http://" + mem.Addr().String() + "/memory"}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*infoFile+".tmp", data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(*infoFile+".tmp", *infoFile); err != nil {
		return err
	}
	<-ctx.Done()
	svc.Close()
	return <-served
}

// upActivePassive starts the active-passive sandbox in dir, logging
// warnings only.
func upActivePassive(ctx context.Context, dir string) (*sandbox.Sandbox, *topology.Topology, *sandbox.Info, *slog.Logger, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	topo, _, err := estate.LoadTopology("examples/active-passive.yaml")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	sb, err := sandbox.Up(ctx, sandbox.Options{Topology: topo, Dir: dir, Fresh: true, Logger: log})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	info, err := sb.Info()
	if err != nil {
		sb.Close()
		return nil, nil, nil, nil, err
	}
	return sb, topo, info, log, nil
}

// memory reports the process's memory after a full collection: what the
// live heap and goroutine stacks hold, and the resident set.
func memory(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rss := 0
	if status, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident int
		fmt.Sscan(string(status), &size, &resident)
		rss = resident * os.Getpagesize()
	}
	json.NewEncoder(w).Encode(map[string]any{
		"heap_inuse": m.HeapInuse, "stack_inuse": m.StackInuse, "go_total": m.HeapInuse + m.StackInuse,
		"rss": rss, "goroutines": runtime.NumGoroutine(),
	})
}

func idle(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "", "router address")
	user := fs.String("user", "", "user")
	password := fs.String("password", "", "password")
	n := fs.Int("n", 1000, "connections")
	fs.Parse(args)
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = *user, *password, "tcp", *addr
	cfg.Timeout = 30 * time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxIdleConns(*n)
	conns := make([]*sql.Conn, *n)
	errs := make(chan error, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := db.Conn(ctx)
			if err == nil {
				err = c.PingContext(ctx)
			}
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Println("ready " + strconv.Itoa(*n))
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func tcpproxy(ctx context.Context, args []string) error {
	for _, arg := range args {
		listen, upstream, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("tcpproxy: %q is not LISTEN=UPSTREAM", arg)
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go pipe(c, upstream)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

func pipe(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		io.Copy(u, c)
		u.Close()
	}()
	io.Copy(c, u)
}
