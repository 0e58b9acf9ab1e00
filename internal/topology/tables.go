package topology

import (
	"path"
	"strings"
)

// Jurisdiction is one row of the seed's data_jurisdiction table: the
// personal data of users from Country must be stored in Region.
type Jurisdiction struct {
	// Country is an ISO 3166-1 alpha-2 code, upper case ("FR").
	Country string `yaml:"country"`
	// Name is the country's name, for people ("France").
	Name   string `yaml:"name"`
	Region string `yaml:"region"`
	// Law is the privacy law that applies ("GDPR", "CCPA", "PDPA").
	Law string `yaml:"law"`
	// LocalStorage says the law requires the data to be stored in the country's
	// region (the seed's requires_local_storage).
	LocalStorage bool `yaml:"local_storage"`
}

// TablePolicy says how the tables Match names may be written when several
// regions take writes, and whether they hold personal data. Policies are
// matched in file order; the first that matches a table applies. At most one
// of Owner, Home, LWW, Counter and Set is set; none means an unprotected
// table (conflicts on it are detected and logged, not resolved).
type TablePolicy struct {
	// Match is "schema.table"; either part may use * and ? wildcards
	// ("shop.*", "*.audit_log").
	Match string `yaml:"match"`

	// Owner is the only region whose primary writes the table (a global
	// catalogue): writes from elsewhere are forwarded there.
	Owner string `yaml:"owner"`
	// Home gives each row a home region, the only one that writes it.
	Home *HomeRule `yaml:"home"`
	// LWW lets every region write; every node keeps the version with the
	// latest commit time and logs the others.
	LWW *LWWRule `yaml:"lww"`
	// Counter names columns whose changes are increments and decrements that
	// all count, wherever they were made (a conflict-free counter).
	Counter []string `yaml:"counter"`
	// Set makes the table an add/remove set with tombstones: concurrent adds
	// and removes of one element resolve the same way everywhere.
	Set *SetRule `yaml:"set"`

	// Personal marks tables holding personal data: a row stays in the region
	// its jurisdiction names (Home says which) and never crosses a link.
	Personal bool `yaml:"personal"`
	// User is the column holding the id of the user a row belongs to:
	// erasure deletes a user's rows by it. Defaults to home.column when
	// home.lookup is user.
	User string `yaml:"user"`
}

// HomeRule says how a row's home region is read from the row: Column holds
// either a value Values maps to a region, or (Lookup) a country code mapped
// through the jurisdictions or a user id mapped through the users directory.
type HomeRule struct {
	Column string `yaml:"column"`
	// Values maps the column's values to region names ({EU: eu, US: us}).
	Values map[string]string `yaml:"values"`
	// Lookup is LookupCountry or LookupUser when Values is not given.
	Lookup string `yaml:"lookup"`
}

// Home lookups.
const (
	// LookupCountry: the column holds a country code; jurisdictions map it.
	LookupCountry = "country"
	// LookupUser: the column holds a user id; the users directory
	// (users_metadata) holds the user's data region.
	LookupUser = "user"
)

// LWWRule tunes last-write-wins. Versions are ordered by commit time, then
// by region in TieBreak order (later in the list wins a tie).
type LWWRule struct {
	// TieBreak orders regions for equal commit times; default: the order of
	// regions in the file.
	TieBreak []string `yaml:"tie_break"`
}

// SetRule describes a set table: each row is one element.
type SetRule struct {
	// Element names the columns that identify an element (default: the
	// primary key).
	Element []string `yaml:"element"`
}

// Policy kinds, as PolicyKind names them.
const (
	PolicyNone    = "none"
	PolicyOwner   = "owner"
	PolicyHome    = "home"
	PolicyLWW     = "lww"
	PolicyCounter = "counter"
	PolicySet     = "set"
)

// Kind names the policy's conflict rule; PolicyNone for an unprotected table.
func (p TablePolicy) Kind() string {
	switch {
	case p.Owner != "":
		return PolicyOwner
	case p.Home != nil:
		return PolicyHome
	case p.LWW != nil:
		return PolicyLWW
	case len(p.Counter) > 0:
		return PolicyCounter
	case p.Set != nil:
		return PolicySet
	}
	return PolicyNone
}

// Matches reports whether the policy applies to schema.table. Names compare
// case-insensitively, as MariaDB's do with lower_case_table_names on.
func (p TablePolicy) Matches(schema, table string) bool {
	pattern := strings.ToLower(p.Match)
	ps, pt, ok := strings.Cut(pattern, ".")
	if !ok {
		return false
	}
	schemaOK, _ := path.Match(ps, strings.ToLower(schema))
	tableOK, _ := path.Match(pt, strings.ToLower(table))
	return schemaOK && tableOK
}

// TablePolicy is the first policy that matches schema.table.
func (t *Topology) TablePolicy(schema, table string) (TablePolicy, bool) {
	for _, p := range t.Tables {
		if p.Matches(schema, table) {
			return p, true
		}
	}
	return TablePolicy{}, false
}

// Jurisdiction finds a country's jurisdiction by its code (any case).
func (t *Topology) Jurisdiction(country string) (Jurisdiction, bool) {
	for _, j := range t.Jurisdictions {
		if strings.EqualFold(j.Country, country) {
			return j, true
		}
	}
	return Jurisdiction{}, false
}

// HomeRegion maps a home column's value to its region for rules that need no
// directory: Values, or a country code through the jurisdictions. It
// reports false for an unknown value and for LookupUser rules, whose region
// only the users directory knows.
func (t *Topology) HomeRegion(h HomeRule, value string) (string, bool) {
	switch {
	case h.Values != nil:
		for v, region := range h.Values {
			if strings.EqualFold(v, value) {
				return region, true
			}
		}
	case h.Lookup == LookupCountry:
		if j, ok := t.Jurisdiction(value); ok {
			return j.Region, true
		}
	}
	return "", false
}

// TieBreakRank is region's place in the LWW tie-break order: a version from
// a region of higher rank wins a tie of commit times. -1 for a region outside
// the order.
func (t *Topology) TieBreakRank(rule LWWRule, region string) int {
	order := rule.TieBreak
	if len(order) == 0 {
		for _, r := range t.Regions {
			order = append(order, r.Name)
		}
	}
	for i, r := range order {
		if r == region {
			return i
		}
	}
	return -1
}
