package residency

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-geo/meridian/internal/topology"
)

// EmailHash is the directory's key for an address, as the seed computes it
// (SHA2(LOWER(email), 256)).
func EmailHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:])
}

// UserRows names where one user's rows are in one personal table.
type UserRows struct {
	Table  string // schema.table
	Column string // holding the user id
}

// Where selects the user's rows.
func (u UserRows) Where(id int64) string {
	schema, table, _ := strings.Cut(u.Table, ".")
	return "FROM " + qualified(schema, table) + " WHERE " + ident(u.Column) + " = " + strconv.FormatInt(id, 10)
}

// UserTables are, among a node's tables ("schema.table"), the personal
// tables holding a user's rows and the column that says whose: the users
// table by its id, the others by their user column. The users table comes
// last, so deleting in this order never leaves a row pointing at a user
// already gone. A personal table without a user column (the topology's
// validation refuses them once a users table is declared) is skipped.
func UserTables(t *topology.Topology, tables []string) []UserRows {
	var out []UserRows
	var users *UserRows
	for _, name := range tables {
		schema, table, ok := strings.Cut(name, ".")
		if !ok || systemSchema(schema) {
			continue
		}
		if t.IsUsersTable(schema, table) {
			users = &UserRows{Table: name, Column: t.Users.ID}
			continue
		}
		p, ok := t.TablePolicy(schema, table)
		if !ok || !p.Personal || p.UserColumn() == "" {
			continue
		}
		out = append(out, UserRows{Table: name, Column: p.UserColumn()})
	}
	slices.SortFunc(out, func(a, b UserRows) int { return strings.Compare(a.Table, b.Table) })
	if users != nil {
		out = append(out, *users)
	}
	return out
}

// minNeedle is the shortest value searched for in files: shorter ones (a
// country code, a small number) match everywhere and prove nothing.
const minNeedle = 6

// Needles are the byte strings that identify a user's row images in files:
// the text values of their rows at least minNeedle long, the email among
// them, without duplicates.
func Needles(values []string) [][]byte {
	var out [][]byte
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) < minNeedle || seen[v] {
			continue
		}
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			continue // numbers are stored in binary, and common
		}
		seen[v] = true
		out = append(out, []byte(v))
	}
	return out
}

// Fingerprint names a needle in a report without showing it: the report
// must not carry the personal data it proves gone.
func Fingerprint(needle []byte) string {
	sum := sha256.Sum256(needle)
	return fmt.Sprintf("value#%s (%d bytes)", hex.EncodeToString(sum[:4]), len(needle))
}
