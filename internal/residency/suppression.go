package residency

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Erased is one entry of the suppression list: a user erased on request,
// whom no restore may bring back. It holds no personal data, only the id
// and the email's hash.
type Erased struct {
	UserID    int64     `json:"user_id"`
	EmailHash string    `json:"email_hash"`
	Region    string    `json:"region"`
	At        time.Time `json:"erased_at"`
	// GTID is the erasure's transaction, "" when unknown.
	GTID string `json:"gtid,omitempty"`
}

// SuppressionFile is the name of the suppression list in a region's
// backup directory: one JSON line per erased user.
const SuppressionFile = "suppression.jsonl"

// ParseSuppression reads a suppression list; a later line for the same
// user replaces an earlier one.
func ParseSuppression(data []byte) ([]Erased, error) {
	var out []Erased
	index := map[int64]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Erased
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", SuppressionFile, line, err)
		}
		if i, ok := index[e.UserID]; ok {
			out[i] = e
			continue
		}
		index[e.UserID] = len(out)
		out = append(out, e)
	}
	return out, sc.Err()
}

// Line is the entry as one line of the list.
func (e Erased) Line() ([]byte, error) {
	b, err := json.Marshal(e)
	return append(b, '\n'), err
}
