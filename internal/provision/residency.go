package provision

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// DirectoryState is what a node holds of the residency objects (see
// package residency): the users directory and its companions.
type DirectoryState struct {
	// Tables maps each present directory table to its columns, in order.
	Tables map[string][]string
	// Jurisdictions are data_jurisdiction's rows, by country.
	Jurisdictions map[string]residency.JurisdictionRow
	// Function is get_user_data_region's body; "" when absent.
	Function string
	// UsersTable: the topology's users table exists on the node.
	UsersTable bool
	// Triggers are the bodies of the Meridian triggers on the users table's
	// schema, by name.
	Triggers map[string]string
}

// readDirectory observes the residency objects of a node.
func readDirectory(ctx context.Context, t *topology.Topology, c *node.Client) (*DirectoryState, error) {
	d := &DirectoryState{Tables: map[string][]string{}, Jurisdictions: map[string]residency.JurisdictionRow{}, Triggers: map[string]string{}}
	fail := func(what string, err error) (*DirectoryState, error) {
		return nil, fmt.Errorf("node %s: read %s: %w", c.Name(), what, err)
	}
	rows, err := c.DB().QueryContext(ctx, "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), COLUMN_NAME FROM information_schema.COLUMNS "+
		"WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION", residency.Schema)
	if err != nil {
		return fail("the directory tables", err)
	}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			rows.Close()
			return fail("the directory tables", err)
		}
		d.Tables[table] = append(d.Tables[table], strings.ToLower(column))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("the directory tables", err)
	}
	if _, ok := d.Tables[residency.JurisdictionTable]; ok {
		rows, err := c.DB().QueryContext(ctx, "SELECT country_code, country_name, data_region, COALESCE(privacy_law, ''), requires_local_storage FROM "+residency.JurisdictionTable)
		if err != nil {
			return fail(residency.JurisdictionTable, err)
		}
		for rows.Next() {
			var r residency.JurisdictionRow
			if err := rows.Scan(&r.Country, &r.Name, &r.Region, &r.Law, &r.LocalStorage); err != nil {
				rows.Close()
				return fail(residency.JurisdictionTable, err)
			}
			d.Jurisdictions[r.Country] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(residency.JurisdictionTable, err)
		}
	}
	var body sql.NullString
	err = c.DB().QueryRowContext(ctx, "SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ?",
		residency.Schema, strings.TrimPrefix(residency.RegionFunction, residency.Schema+".")).Scan(&body)
	if err != nil && err != sql.ErrNoRows {
		return fail(residency.RegionFunction, err)
	}
	d.Function = body.String
	if u := t.Users; u != nil {
		var n int
		if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			u.Schema(), u.Name()).Scan(&n); err != nil {
			return fail(u.Table, err)
		}
		d.UsersTable = n > 0
		rows, err := c.DB().QueryContext(ctx, "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME LIKE ?",
			u.Schema(), residency.TriggerPrefix+"%")
		if err != nil {
			return fail("the directory triggers", err)
		}
		for rows.Next() {
			var name, stmt string
			if err := rows.Scan(&name, &stmt); err != nil {
				rows.Close()
				return fail("the directory triggers", err)
			}
			d.Triggers[name] = stmt
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail("the directory triggers", err)
		}
	}
	return d, nil
}

// diffDirectory plans the residency objects of one node. It never drops a
// table: a directory table of another shape is a problem to fix by hand.
// It returns, as waiting, what cannot be done yet (the users table does
// not exist).
func diffDirectory(t *topology.Topology, name string, st NodeState) (changes []Change, waiting []string, err error) {
	if !residency.Needed(t) {
		return nil, nil, nil
	}
	d := st.Directory
	if d == nil {
		return nil, nil, fmt.Errorf("node %s: the residency objects were not observed", name)
	}
	var problems []string
	for _, table := range residency.Tables {
		have, ok := d.Tables[table.Name]
		switch {
		case !ok:
			changes = append(changes, Change{Node: name, Kind: KindDirectory,
				Summary:   fmt.Sprintf("create %s on %s", table.Name, name),
				directory: []string{"CREATE DATABASE IF NOT EXISTS " + residency.Schema, table.Create}})
		case !slices.Equal(have, table.Columns):
			problems = append(problems, fmt.Sprintf("%s has columns (%s), want (%s): plan/apply never drops directory data; fix it by hand",
				table.Name, strings.Join(have, ", "), strings.Join(table.Columns, ", ")))
		}
	}
	if c := diffJurisdictions(t, name, d); c != nil {
		changes = append(changes, *c)
	}
	if strings.TrimSpace(d.Function) != residency.Function.Body {
		changes = append(changes, Change{Node: name, Kind: KindDirectory,
			Summary:   fmt.Sprintf("create function %s(email) on %s", residency.RegionFunction, name),
			directory: []string{"DROP FUNCTION IF EXISTS " + residency.RegionFunction, residency.Function.Create}})
	}
	triggers, wait := diffUserTriggers(t, name, d)
	changes = append(changes, triggers...)
	waiting = append(waiting, wait...)
	if len(problems) > 0 {
		err = fmt.Errorf("node %s: %s", name, strings.Join(problems, "; "))
	}
	return changes, waiting, err
}

// diffJurisdictions makes data_jurisdiction hold the declaration's rows.
func diffJurisdictions(t *topology.Topology, name string, d *DirectoryState) *Change {
	want := residency.JurisdictionRows(t)
	var stmts, added, changed, removed []string
	seen := map[string]bool{}
	for _, r := range want {
		seen[r.Country] = true
		have, ok := d.Jurisdictions[r.Country]
		switch {
		case !ok:
			added = append(added, r.Country)
		case have != r:
			changed = append(changed, r.Country)
		default:
			continue
		}
		stmts = append(stmts, r.Replace())
	}
	for country := range d.Jurisdictions {
		if !seen[country] {
			removed = append(removed, country)
		}
	}
	slices.Sort(removed)
	for _, country := range removed {
		stmts = append(stmts, "DELETE FROM "+residency.JurisdictionTable+" WHERE country_code = "+node.QuoteString(country))
	}
	if len(stmts) == 0 {
		return nil
	}
	var what []string
	for _, part := range []struct {
		verb      string
		countries []string
	}{{"add", added}, {"change", changed}, {"remove", removed}} {
		if len(part.countries) > 0 {
			what = append(what, part.verb+" "+strings.Join(part.countries, ", "))
		}
	}
	return &Change{Node: name, Kind: KindDirectory,
		Summary:   fmt.Sprintf("update %s on %s: %s", residency.JurisdictionTable, name, strings.Join(what, "; ")),
		directory: stmts}
}

// diffUserTriggers plans the triggers on the users table.
func diffUserTriggers(t *topology.Topology, name string, d *DirectoryState) ([]Change, []string) {
	u := t.Users
	if u == nil {
		return nil, nil
	}
	if !d.UsersTable {
		return nil, []string{fmt.Sprintf("%s: users table %s does not exist yet: the users directory triggers follow once it does (run apply again)", name, u.Table)}
	}
	var changes []Change
	wanted := map[string]bool{}
	for _, tr := range residency.UserTriggers(t, t.NodeRegion(name), t.ServerID(name)) {
		wanted[tr.Name] = true
		have, ok := d.Triggers[tr.Name]
		if ok && strings.TrimSpace(have) == tr.Body {
			continue
		}
		verb := "create"
		if ok {
			verb = "replace"
		}
		changes = append(changes, Change{Node: name, Kind: KindDirectoryTrigger,
			Summary:   fmt.Sprintf("%s trigger %s.%s (%s %s on %s: the users directory, region %s only) on %s", verb, tr.Schema, tr.Name, tr.Timing, tr.Event, u.Table, t.NodeRegion(name), name),
			directory: []string{tr.Drop(), tr.Create(u.Name())}})
	}
	var extra []string
	for have := range d.Triggers {
		if !wanted[have] {
			extra = append(extra, have)
		}
	}
	slices.Sort(extra)
	for _, trigger := range extra {
		changes = append(changes, Change{Node: name, Kind: KindDirectoryTrigger,
			Summary:   fmt.Sprintf("drop trigger %s.%s on %s: Meridian no longer keeps it", u.Schema(), trigger, name),
			directory: []string{"DROP TRIGGER IF EXISTS `" + strings.ReplaceAll(u.Schema(), "`", "``") + "`.`" + strings.ReplaceAll(trigger, "`", "``") + "`"}})
	}
	return changes, nil
}
