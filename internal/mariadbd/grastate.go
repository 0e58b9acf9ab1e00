package mariadbd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Restarting a fully stopped Galera cluster: read GrastateSeqno of every node, mark
// the node with the highest seqno safe to bootstrap, Start it with Bootstrap, then
// start the others one at a time as joiners.

func grastatePath(dir string) string { return filepath.Join(dataDir(dir), "grastate.dat") }

// GrastateSeqno is the last committed seqno recorded in the node dir's grastate.dat;
// -1 means unknown (the node did not shut down cleanly: recover it with
// mariadbd --wsrep-recover before comparing).
func GrastateSeqno(dir string) (int64, error) {
	data, err := os.ReadFile(grastatePath(dir))
	if err != nil {
		return 0, fmt.Errorf("galera state: %w", err)
	}
	seqno, err := parseSeqno(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", grastatePath(dir), err)
	}
	return seqno, nil
}

func parseSeqno(grastate []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(grastate))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "seqno" {
			continue
		}
		seqno, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("seqno %q: %w", strings.TrimSpace(value), err)
		}
		return seqno, nil
	}
	return 0, fmt.Errorf("no seqno line")
}

// MarkSafeToBootstrap sets safe_to_bootstrap: 1 in the node dir's grastate.dat so
// the node may start a new cluster from its state. Only for the most advanced node.
func MarkSafeToBootstrap(dir string) error {
	path := grastatePath(dir)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("galera state: %w", err)
	}
	// Rewriting in place keeps the file's owner (the server user).
	if err := os.WriteFile(path, markSafe(data), 0o640); err != nil {
		return fmt.Errorf("galera state: %w", err)
	}
	return nil
}

func markSafe(grastate []byte) []byte {
	var out bytes.Buffer
	found := false
	for line := range strings.Lines(string(grastate)) {
		if key, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(key) == "safe_to_bootstrap" {
			line, found = "safe_to_bootstrap: 1\n", true
		}
		out.WriteString(line)
	}
	if !found {
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteByte('\n')
		}
		out.WriteString("safe_to_bootstrap: 1\n")
	}
	return out.Bytes()
}
