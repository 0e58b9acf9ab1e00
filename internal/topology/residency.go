package topology

import (
	"path/filepath"
	"strings"
)

// UsersTable names the application's users table and the columns the
// users directory (meridian.users_metadata) is built from: one directory
// row per user, holding the user's id, a hash of the email, the country
// and the region keeping the user's personal data, and nothing personal.
type UsersTable struct {
	// Table is "schema.table", without wildcards; a personal table.
	Table string `yaml:"table"`
	// ID is the user id column (an integer: the directory's user_id).
	ID string `yaml:"id"`
	// Email is the column get_user_data_region(email) finds users by.
	Email string `yaml:"email"`
	// Country holds the user's country code, mapped through jurisdictions.
	Country string `yaml:"country"`
}

// Schema and Name split Table.
func (u UsersTable) Schema() string { s, _, _ := strings.Cut(u.Table, "."); return s }
func (u UsersTable) Name() string   { _, n, _ := strings.Cut(u.Table, "."); return n }

// IsUsersTable reports whether schema.table is the declared users table.
func (t *Topology) IsUsersTable(schema, table string) bool {
	return t.Users != nil && strings.EqualFold(t.Users.Schema(), schema) && strings.EqualFold(t.Users.Name(), table)
}

// HasPersonalData reports whether any table policy marks personal data:
// then personal rows must stay in their region, and every link between
// regions goes through the residency relays.
func (t *Topology) HasPersonalData() bool {
	for _, p := range t.Tables {
		if p.Personal {
			return true
		}
	}
	return false
}

// IsPersonal reports whether schema.table holds personal data: the first
// policy matching it says so.
func (t *Topology) IsPersonal(schema, table string) bool {
	p, ok := t.TablePolicy(schema, table)
	return ok && p.Personal
}

// UserColumn is the column holding the id of the user a row belongs to:
// User, else the home column when home rows are looked up by user; "" when
// the policy does not say.
func (p TablePolicy) UserColumn() string {
	if p.User != "" {
		return p.User
	}
	if p.Home != nil && p.Home.Lookup == LookupUser {
		return p.Home.Column
	}
	return ""
}

// BackupDir is where region's backups live: its backups path, relative to
// the topology file's directory when not absolute. "" when the region
// declares none.
func (t *Topology) BackupDir(region string) string {
	r, ok := t.Region(region)
	if !ok || r.Backups == "" {
		return ""
	}
	if filepath.IsAbs(r.Backups) || t.Source == "" {
		return r.Backups
	}
	return filepath.Join(filepath.Dir(t.Source), r.Backups)
}
