package topology

import (
	"path/filepath"
	"testing"
)

// Every shipped example must load cleanly: no problem and no warning.
func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d example files, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			topo, warnings, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s", w)
			}
			if topo.Source != f {
				t.Errorf("Source = %q, want %q", topo.Source, f)
			}
		})
	}
}
