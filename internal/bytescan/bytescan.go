// Package bytescan searches files for byte strings, the way an auditor
// proves data is gone: every regular file under a directory, read in
// chunks that overlap by the longest needle, so a match across two chunks
// is never missed and a file of gigabytes never sits in memory.
package bytescan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Hit is a file holding one of the needles.
type Hit struct {
	Path   string // relative to the directory scanned
	Needle int    // index in the needles given
}

const chunk = 1 << 20

// Dir returns every (file, needle) pair under dir where the file holds the
// needle, in path order. Files that vanish during the walk (a log rotated)
// are skipped; other read errors fail the scan, since a file that cannot
// be read proves nothing.
func Dir(dir string, needles [][]byte) ([]Hit, error) {
	var hits []Hit
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		found, err := File(path, needles)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, i := range found {
			hits = append(hits, Hit{Path: rel, Needle: i})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].Path < hits[b].Path })
	return hits, nil
}

// File returns the indexes of the needles the file holds.
func File(path string, needles [][]byte) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n))
	}
	if longest == 0 {
		return nil, nil
	}
	found := make([]bool, len(needles))
	buf := make([]byte, 0, chunk+longest)
	for {
		keep := len(buf)
		n, err := io.ReadFull(f, buf[keep : keep+chunk][:chunk])
		buf = buf[:keep+n]
		for i, needle := range needles {
			if !found[i] && len(needle) > 0 && bytes.Contains(buf, needle) {
				found[i] = true
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, err
		}
		tail := min(longest-1, len(buf))
		copy(buf, buf[len(buf)-tail:])
		buf = buf[:tail]
	}
	var out []int
	for i, ok := range found {
		if ok {
			out = append(out, i)
		}
	}
	return out, nil
}
