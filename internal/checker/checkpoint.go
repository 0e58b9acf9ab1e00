package checker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/meridian-geo/meridian/internal/atomicfile"
)

// saveCheckpoint writes the report in progress atomically: an interruption
// at any moment leaves the previous checkpoint or this one, never half.
func saveCheckpoint(path string, r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint reads a saved check.
func loadCheckpoint(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no interrupted check in %s", ErrNothingToResume, path)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w (remove it and run the check without --resume)", path, err)
	}
	return &r, nil
}

// removeCheckpoint forgets a check that finished.
func removeCheckpoint(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
