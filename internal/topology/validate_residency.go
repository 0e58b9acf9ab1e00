package topology

import (
	"fmt"
	"path/filepath"
	"strings"
)

// residency checks what keeping personal data in its region needs beyond
// the table policies: the users table, a way to find each user's rows for
// erasure, backup directories of their own and, on real servers, a relay
// in front of every node.
func (v *validator) residency(t *Topology) {
	v.usersTable(t)
	v.userColumns(t)
	v.backupDirs(t)
	v.relays(t)
}

func (v *validator) usersTable(t *Topology) {
	u := t.Users
	if u == nil {
		return
	}
	switch {
	case u.Table == "":
		v.fail("users.table", `required: the application's users table, "schema.table", e.g. shop.users`)
	case !matchPattern.MatchString(u.Table) || strings.ContainsAny(u.Table, "*?["):
		v.fail("users.table", `invalid table %q: want "schema.table" without wildcards, e.g. shop.users`, u.Table)
	case !t.IsPersonal(u.Schema(), u.Name()):
		v.fail("users.table", "%s holds personal data (emails, countries): add a tables entry matching it with personal: true", u.Table)
	}
	v.column("users.id", u.ID, "the user id column (an integer), e.g. id")
	v.column("users.email", u.Email, "the email column, e.g. email")
	v.column("users.country", u.Country, "the column holding the user's country code, e.g. country")
	if len(t.Jurisdictions) == 0 {
		v.fail("users", "the users directory maps each user's country to a region through jurisdictions, and the file declares none")
	}
}

// userColumns requires, once a users table is declared, that erasure can
// find a user's rows in every personal table.
func (v *validator) userColumns(t *Topology) {
	for i, tp := range t.Tables {
		p := fmt.Sprintf("tables[%d]", i)
		if tp.User != "" {
			v.column(p+".user", tp.User, "the column holding the user id")
		}
		if t.Users == nil || !tp.Personal || tp.UserColumn() != "" || strings.EqualFold(tp.Match, t.Users.Table) {
			continue
		}
		v.fail(p+".personal", "erasure cannot find a user's rows in %s: set user to the column holding the user id (or home: {column: ..., lookup: user})", tp.Match)
	}
}

// backupDirs keeps each region's backups apart: a shared directory would
// hold one region's personal data among another's backups.
func (v *validator) backupDirs(t *Topology) {
	seen := map[string]int{}
	for i, r := range t.Regions {
		if r.Backups == "" {
			continue
		}
		p := fmt.Sprintf("regions[%d].backups", i)
		key := filepath.Clean(r.Backups)
		if first, taken := seen[key]; taken {
			v.fail(p, "backup directory %q is already region %s's (%s): a region's backups hold its personal data and live apart",
				r.Backups, t.Regions[first].Name, v.at(fmt.Sprintf("regions[%d].backups", first)))
			continue
		}
		seen[key] = i
	}
}

// relays checks the relay addresses: real servers holding personal data
// need one per node (any node can become its region's source after a
// failover), a sandbox runs its own.
func (v *validator) relays(t *Topology) {
	taken := map[string]string{}
	for _, n := range t.Nodes() {
		nd, _, _ := t.Node(n.Name)
		if nd.Address != "" {
			taken[nd.Address] = "node " + n.Name + "'s address"
		}
	}
	personal := t.HasPersonalData()
	for i, c := range t.Clusters {
		for j, n := range c.Nodes {
			p := fmt.Sprintf("clusters[%d].nodes[%d]", i, j)
			switch {
			case n.Relay == "" && n.Address != "" && personal:
				v.fail(p+".relay", "required: this estate declares personal tables, so replicas in other regions must read node %s's binary log through a Meridian relay in its region (meridian relay --node %s) that drops personal rows; give the relay's host:port", n.Name, n.Name)
			case n.Relay == "":
			case n.Address == "":
				v.fail(p+".relay", "a relay address is for real servers (with addresses); a sandbox runs its own relays")
			case !v.address(p+".relay", n.Relay):
			case taken[n.Relay] != "":
				v.fail(p+".relay", "address %q is already %s", n.Relay, taken[n.Relay])
			default:
				taken[n.Relay] = "node " + n.Name + "'s relay"
			}
		}
	}
}
