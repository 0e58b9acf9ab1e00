package bytescan

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDirFindsNeedlesAcrossChunks(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte{'x'}, chunk-3)
	big = append(big, "CANARY-ONE"...) // straddles the first chunk's end
	big = append(big, bytes.Repeat([]byte{'y'}, chunk)...)
	must(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600))
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "small"), []byte("..CANARY-TWO.."), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "clean"), []byte("nothing"), 0o600))
	must(t, os.Symlink(filepath.Join(dir, "big.bin"), filepath.Join(dir, "link")))

	hits, err := Dir(dir, [][]byte{[]byte("CANARY-ONE"), []byte("CANARY-TWO"), []byte("absent")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Hit{{Path: "big.bin", Needle: 0}, {Path: "sub/small", Needle: 1}}
	if !slices.Equal(hits, want) {
		t.Errorf("hits %v, want %v", hits, want)
	}
	if _, err := Dir(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("scanning a missing directory must fail: it proves nothing")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
