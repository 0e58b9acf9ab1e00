package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestLogWritesLinesAndKeepsTheLatest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	for i, step := range []string{"wait", "promote", "repoint", "fence"} {
		e := Entry{Time: at.Add(time.Duration(i) * time.Second), Kind: KindFailover, Cluster: "eu-main", Step: step, Node: "eu-2",
			Detail: map[string]any{"i": i}}
		if step == "fence" {
			e.Error = "node eu-1: connect: refused"
		}
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	// A detail that does not serialise keeps its entry.
	if err := l.Record(Entry{Kind: KindHook, Detail: func() {}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := l.Entries()
	if len(got) != 3 || got[0].Step != "repoint" || got[2].Kind != KindHook || got[2].Time.IsZero() {
		t.Fatalf("Entries = %+v", got)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", info.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, e)
	}
	if len(lines) != 5 || lines[0].Step != "wait" || lines[3].Error == "" || !lines[0].Time.Equal(at) || lines[0].Time.Location() != time.UTC {
		t.Errorf("file holds %+v", lines)
	}

	// Appending: a reopened log adds after what is there.
	l2, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Record(Entry{Kind: KindAck, Cluster: "eu-main"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := countLines(data); n != 6 {
		t.Errorf("%d lines after reopening, want 6", n)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func TestMemoryOnlyAndConcurrent(t *testing.T) {
	l, err := Open("", 50)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if err := l.Record(Entry{Kind: KindFence, Node: string(rune('a' + i))}); err != nil {
					t.Error(err)
				}
				_ = l.Entries()
			}
		})
	}
	wg.Wait()
	if n := len(l.Entries()); n != 50 {
		t.Errorf("%d entries kept, want 50", n)
	}
	var nilLog *Log
	if err := nilLog.Record(Entry{Kind: KindAck}); err != nil || nilLog.Entries() != nil {
		t.Error("a nil log must record nothing and fail nothing")
	}
}
