package wan

import (
	"io"
	"testing"
	"time"
)

// TestWatchSeesEveryByteThatCrosses sends a needle split over two writes
// (so over two chunks), both ways, and one during a partition (dropped, so
// never seen).
func TestWatchSeesEveryByteThatCrosses(t *testing.T) {
	l := newLinks(t, 2*time.Millisecond)
	target := echoServer(t)
	conn := dial(t, mustRoute(t, l, "eu", "us", target))
	w := l.Watch("CANARY-42", "absent")
	defer w.Stop()

	echo := func(parts ...string) {
		t.Helper()
		total := 0
		for _, p := range parts {
			if _, err := conn.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
			total += len(p)
			time.Sleep(20 * time.Millisecond) // separate chunks
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(conn, make([]byte, total)); err != nil {
			t.Fatal(err)
		}
	}
	echo("xx CANA", "RY-42 yy")
	up := Hit{From: "eu", To: "us", Target: target, Needle: "CANARY-42"}
	down := up
	down.Downstream = true
	hits := w.Hits()
	if hits[up] != 1 || hits[down] != 1 || len(hits) != 2 {
		t.Fatalf("hits %v, want the split needle once each way", hits)
	}

	if err := l.Partition("eu", "us"); err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("CANARY-42"))
	time.Sleep(50 * time.Millisecond)
	if got := w.Hits(); got[up] != 1 {
		t.Errorf("a needle dropped by the partition was seen: %v", got)
	}
	w.Stop()
	if err := l.Heal("eu", "us"); err != nil {
		t.Fatal(err)
	}
	conn2 := dial(t, mustRoute(t, l, "eu", "us", target))
	conn2.Write([]byte("CANARY-42"))
	conn2.SetDeadline(time.Now().Add(2 * time.Second))
	io.ReadFull(conn2, make([]byte, 9))
	if got := w.Hits(); got[up] != 1 {
		t.Errorf("a stopped watch kept counting: %v", got)
	}
}
