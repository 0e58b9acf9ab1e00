package checker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/repair"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/topology"
)

// checkTopology is active-active between a Galera cluster (eu) and a
// primary with a plain replica (us), over an 80 ms link: every kind of node
// the checker must compare.
const checkTopology = `
name: check-test
architecture: active-active
regions:
  - name: eu
    gtid_domain_id: 1
  - name: us
    gtid_domain_id: 2
clusters:
  - name: eu-galera
    kind: galera
    region: eu
    nodes: [{name: eu-1}, {name: eu-2}]
  - name: us-main
    kind: primary-replica
    region: us
    nodes: [{name: us-1}, {name: us-2}]
links:
  - between: [eu, us]
    rtt: 80ms
`

// schema is three tables with different keys and column types, 3000 rows
// each, written at eu-1 (and replicated everywhere).
var schema = []string{
	"CREATE DATABASE chk",
	`CREATE TABLE chk.items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, price DECIMAL(10,2), weight FLOAT,
	  updated TIMESTAMP(6) NULL, note TEXT, doubled DECIMAL(11,2) AS (price * 2) VIRTUAL)`,
	`INSERT INTO chk.items (id, name, price, weight, updated, note)
	  SELECT seq, CONCAT('item ', seq), seq * 1.25, seq / 7, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND,
	         IF(seq % 5 = 0, NULL, REPEAT('n', seq % 20)) FROM chk.seq_1_to_3000`,
	`CREATE TABLE chk.pairs (a INT NOT NULL, b VARCHAR(20) NOT NULL, v BIGINT, bin VARBINARY(64), PRIMARY KEY (a, b))`,
	`INSERT INTO chk.pairs SELECT seq % 50, CONCAT('b', seq), seq * 1000, IF(seq % 7 = 0, NULL, UNHEX(MD5(seq))) FROM chk.seq_1_to_3000`,
	`CREATE TABLE chk.events (id BIGINT UNSIGNED PRIMARY KEY, at DATETIME(3) NOT NULL, kind ENUM('a','b','c'), payload JSON, flag BIT(3))`,
	`INSERT INTO chk.events SELECT seq, TIMESTAMP'2026-06-01 12:00:00' + INTERVAL seq MINUTE, ELT(1 + seq % 3, 'a', 'b', 'c'),
	   JSON_OBJECT('n', seq, 's', 'it''s'), seq % 8 FROM chk.seq_1_to_3000`,
}

// injected are the rows changed on one node alone, outside the binary log:
// on the Galera node eu-2 and on the plain replica us-2, an update, a
// delete and an insert each, in the three tables. The write load below
// never touches their keys.
var injected = map[string][]string{
	"eu-2": {
		"UPDATE chk.items SET price = price + 1 WHERE id = 1801",
		"DELETE FROM chk.pairs WHERE a = 40 AND b = 'b40'",
		"INSERT INTO chk.events VALUES (7001, '2026-07-01 00:00:00', 'a', '{}', 1)",
	},
	"us-2": {
		"UPDATE chk.pairs SET bin = NULL WHERE a = 45 AND b = 'b45'",
		"DELETE FROM chk.events WHERE id = 2002",
		"INSERT INTO chk.items (id, name) VALUES (0, 'below every key')",
	},
}

var injectedKeys = []string{
	"chk.events id=2002", "chk.events id=7001", "chk.items id=0", "chk.items id=1801",
	"chk.pairs a=40,b=b40", "chk.pairs a=45,b=b45",
}

func TestChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sandbox")
	}
	topo, _, err := topology.Parse("check-test.yaml", []byte(checkTopology))
	if err != nil {
		t.Fatal(err)
	}
	sb := sandboxtest.Up(t, "active-active.yaml", func(o *sandbox.Options) { o.Topology = topo })
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	options := func() Options {
		return Options{
			Topology: topo, Region: "eu", Logger: sandboxtest.Logger(t),
			Endpoints: sandbox.EndpointsFrom(info, topo, sb.Credentials(), "eu"),
			Tables:    []string{"chk"}, MaxLag: DefaultMaxLag, MaxRunning: DefaultMaxRunning, MaxWait: time.Minute,
		}
	}
	admin := map[string]*node.Client{}
	for _, n := range []string{"eu-1", "eu-2", "us-1", "us-2"} {
		admin[n] = sandboxtest.Admin(t, sb, n)
	}
	ctx := context.Background()
	for _, stmt := range schema {
		if _, err := admin["eu-1"].DB().ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	converge(t, admin)

	t.Run("identical estate", func(t *testing.T) {
		r, err := Run(ctx, options())
		if err != nil {
			t.Fatal(err)
		}
		if r.ExitCode() != ExitClean || len(r.Tables) != 3 {
			t.Fatalf("exit %d:\n%s", r.ExitCode(), r)
		}
		for _, tr := range r.Tables {
			if tr.Rows != 3000 || len(tr.Nodes) != 4 {
				t.Errorf("%s: %d rows on %v, want 3000 on 4 nodes", tr.Table, tr.Rows, tr.Nodes)
			}
		}
	})

	for n, stmts := range injected {
		if err := admin[n].ExecLocal(ctx, stmts...); err != nil {
			t.Fatal(err)
		}
	}
	load := startLoad(t, admin)

	t.Run("rows changed on single nodes are reported with their keys, and nothing else, under writes in every region", func(t *testing.T) {
		r, err := Run(ctx, options())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("while %d writes ran:\n%s", load.writes.Load(), r)
		if r.ExitCode() != ExitDiffers {
			t.Errorf("exit %d, want %d", r.ExitCode(), ExitDiffers)
		}
		if got := reportedKeys(r); !slices.Equal(got, injectedKeys) {
			t.Errorf("reported %v\nwant     %v", got, injectedKeys)
		}
		if len(r.Unsettled) > 0 {
			t.Errorf("unsettled rows under a write load: %+v", r.Unsettled)
		}
		for _, d := range r.Differences {
			if len(d.Versions) != 4 {
				t.Errorf("%s %v: versions of %d nodes, want 4", d.Table, d.Key, len(d.Versions))
			}
		}
		if load.writes.Load() < 100 {
			t.Errorf("only %d writes ran during the check", load.writes.Load())
		}
	})

	t.Run("repair --apply converges the rows and a second run is clean", func(t *testing.T) {
		log, err := audit.Open("", 0)
		if err != nil {
			t.Fatal(err)
		}
		o := options()
		o.Repair, o.Apply, o.Audit = &repair.Options{}, true, log
		r, err := Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("repair:\n%s", r)
		if len(r.Repairs) != len(injectedKeys) {
			t.Fatalf("%d repairs, want %d", len(r.Repairs), len(injectedKeys))
		}
		statements := 0
		for _, rp := range r.Repairs {
			if !rp.Converged() {
				t.Errorf("not converged: %+v", rp)
			}
			for _, s := range rp.Statements {
				statements++
				// eu wins (no policy, active-active: the first region);
				// the other Galera node outvotes eu-2 in eu.
				if s.Node == "eu-1" {
					t.Errorf("eu-1 holds the winning version, yet is repaired: %s", s.SQL)
				}
			}
		}
		if entries := log.Entries(); len(entries) != statements {
			t.Errorf("%d audit entries for %d statements", len(entries), statements)
		}
		if r.ExitCode() != ExitClean {
			t.Errorf("exit %d after repairs", r.ExitCode())
		}
		again, err := Run(ctx, options())
		if err != nil {
			t.Fatal(err)
		}
		if again.ExitCode() != ExitClean {
			t.Errorf("second run: exit %d\n%s", again.ExitCode(), again)
		}
	})

	load.stop(t)
	converge(t, admin)

	t.Run("an interrupted check resumes where it stopped", func(t *testing.T) {
		if err := admin["us-2"].ExecLocal(ctx, "UPDATE chk.pairs SET v = -1 WHERE a = 49 AND b = 'b2999'"); err != nil {
			t.Fatal(err)
		}
		o := options()
		o.Checkpoint, o.ChunkRows = t.TempDir()+"/check.json", 500
		runCtx, cancel := context.WithCancel(ctx)
		chunksBefore := 0
		o.Progress = func(p Progress) {
			if chunksBefore = p.Chunks; p.Chunks == 8 {
				cancel() // in the second table
			}
		}
		_, err := Run(runCtx, o)
		cancel()
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "--resume") {
			t.Fatalf("interrupted run: %v", err)
		}
		o.Resume = true
		chunksAfter := 0
		o.Progress = func(p Progress) {
			if chunksAfter == 0 && p.Chunks > 0 && p.Chunks < 8 {
				t.Errorf("resumed from %d chunks, want from 8", p.Chunks)
			}
			chunksAfter = p.Chunks
		}
		r, err := Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		wantChunks := 0
		for _, tr := range r.Tables {
			var rows int64
			if err := admin["eu-1"].DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+tr.Table).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if tr.Rows != rows {
				t.Errorf("%s: %d rows compared, the table has %d", tr.Table, tr.Rows, rows)
			}
			wantChunks += int(rows)/500 + 1 // the last chunk, open above, follows the last full one
		}
		if r.Resumed != 1 || chunksBefore != 8 || chunksAfter != wantChunks {
			t.Errorf("resumed %d times, %d chunks before, %d in all (want 1, 8, %d)", r.Resumed, chunksBefore, chunksAfter, wantChunks)
		}
		if got := reportedKeys(r); !slices.Equal(got, []string{"chk.pairs a=49,b=b2999"}) {
			t.Errorf("reported %v", got)
		}
		if _, err := Run(ctx, o); !errors.Is(err, ErrNothingToResume) {
			t.Errorf("a finished check resumed again: %v", err)
		}
	})
}

func reportedKeys(r *Report) []string {
	var keys []string
	for _, d := range r.Differences {
		keys = append(keys, d.Table+" "+keyText(d.Key))
	}
	sort.Strings(keys)
	return keys
}

// converge waits until every node holds everything any node has written.
func converge(t *testing.T, admin map[string]*node.Client) {
	t.Helper()
	var members []*member
	for n, c := range admin {
		members = append(members, &member{name: n, client: c})
	}
	lagging, err := catchUp(context.Background(), members, []uint32{1, 2}, 2*time.Minute)
	if err != nil || len(lagging) > 0 {
		t.Fatalf("nodes did not converge: %v %v", lagging, err)
	}
}

// writeLoad writes into the three tables from every writable node at once:
// updates, inserts and deletes of rows each writer owns (id or a modulo 3),
// so the regions never write the same row and the estate stays convergent.
type writeLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	writes atomic.Int64
	errs   atomic.Int64
}

func startLoad(t *testing.T, admin map[string]*node.Client) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &writeLoad{cancel: cancel}
	for owner, name := range []string{"eu-1", "eu-2", "us-1"} {
		c := admin[name]
		l.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(owner), 7))
			for ctx.Err() == nil {
				stmt := loadStatement(rng, owner)
				if _, err := c.DB().ExecContext(ctx, stmt); err != nil {
					if ctx.Err() == nil && l.errs.Add(1) < 5 {
						t.Logf("load on %s: %s: %v", name, stmt, err)
					}
				} else {
					l.writes.Add(1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
	t.Cleanup(func() { l.stop(t) })
	return l
}

func (l *writeLoad) stop(t *testing.T) {
	l.cancel()
	l.wg.Wait()
}

// loadStatement is one random write to a row owner owns, among keys 1-1500
// (items, events) or a in 0-29 (pairs): never an injected key.
func loadStatement(rng *rand.Rand, owner int) string {
	id := 3*rng.IntN(500) + owner + 3 // 3..1502, id % 3 == owner
	a := 3*rng.IntN(10) + owner       // 0..29, a % 3 == owner
	b := fmt.Sprintf("b%d", rng.IntN(3000))
	word := fmt.Sprintf("w%d", rng.Int64())
	switch rng.IntN(9) {
	case 0:
		return fmt.Sprintf("INSERT IGNORE INTO chk.items (id, name, price) VALUES (%d, '%s', %d.5)", id, word, rng.IntN(1000))
	case 1:
		return fmt.Sprintf("DELETE FROM chk.items WHERE id = %d", id)
	case 2:
		return fmt.Sprintf("UPDATE chk.items SET name = '%s', weight = %f, updated = NOW(6) WHERE id = %d", word, rng.Float64(), id)
	case 3:
		return fmt.Sprintf("INSERT IGNORE INTO chk.pairs VALUES (%d, '%s', %d, NULL)", a, b, rng.Int64())
	case 4:
		return fmt.Sprintf("DELETE FROM chk.pairs WHERE a = %d AND b = '%s'", a, b)
	case 5:
		return fmt.Sprintf("UPDATE chk.pairs SET v = %d WHERE a = %d ORDER BY b LIMIT 3", rng.Int64(), a)
	case 6:
		return fmt.Sprintf("INSERT IGNORE INTO chk.events VALUES (%d, NOW(3), 'b', JSON_OBJECT('w', '%s'), 2)", id, word)
	case 7:
		return fmt.Sprintf("DELETE FROM chk.events WHERE id = %d", id)
	}
	return fmt.Sprintf("UPDATE chk.events SET payload = JSON_OBJECT('w', '%s'), kind = 'c' WHERE id = %d", word, id)
}
