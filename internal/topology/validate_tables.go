package topology

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

var (
	countryPattern = regexp.MustCompile(`^[A-Za-z]{2}$`)
	columnPattern  = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)
	matchPattern   = regexp.MustCompile(`^[^.\s]+\.[^.\s]+$`)
)

// jurisdictions checks the country → region map: one entry per country,
// each in a region that can hold data.
func (v *validator) jurisdictions(t *Topology) {
	seen := map[string]string{}
	for i, j := range t.Jurisdictions {
		p := fmt.Sprintf("jurisdictions[%d]", i)
		switch code := strings.ToUpper(j.Country); {
		case j.Country == "":
			v.fail(p+".country", "required: the ISO 3166-1 two-letter country code, e.g. FR")
		case !countryPattern.MatchString(j.Country):
			v.fail(p+".country", "invalid country code %q: want two letters (ISO 3166-1 alpha-2), e.g. FR", j.Country)
		case seen[code] != "":
			v.fail(p+".country", "duplicate country %q (first at %s)", code, v.at(seen[code]))
		default:
			seen[code] = p
		}
		v.dataRegion(p+".region", j.Region, "the region that stores this country's personal data")
	}
}

// dataRegion checks a region that must hold data: known, with a home cluster.
func (v *validator) dataRegion(field, name, required string) bool {
	if !v.region(field, name, required) {
		return false
	}
	if _, home := v.homes[name]; !home {
		v.fail(field, "region %q has no home cluster of its own to keep the data", name)
		return false
	}
	return true
}

// tables checks the table policies: a valid pattern each, one conflict rule
// at most, and rules that name known regions and plain column names.
func (v *validator) tables(t *Topology) {
	seen := map[string]string{}
	for i, tp := range t.Tables {
		p := fmt.Sprintf("tables[%d]", i)
		v.tableMatch(p+".match", tp.Match, seen)
		rules := v.ruleFields(p, tp)
		if len(rules) > 1 {
			v.fail(p, "sets %s: a table has one conflict rule at most", strings.Join(rules, " and "))
			continue
		}
		switch tp.Kind() {
		case PolicyOwner:
			v.dataRegion(p+".owner", tp.Owner, "")
		case PolicyHome:
			v.homeRule(t, p+".home", *tp.Home)
		case PolicyLWW:
			v.tieBreak(t, p+".lww.tie_break", tp.LWW.TieBreak)
		case PolicyCounter:
			v.columns(p+".counter", tp.Counter)
		case PolicySet:
			v.columns(p+".set.element", tp.Set.Element)
		}
		if len(rules) == 1 && t.Architecture.valid() && t.Architecture != ActiveActive {
			v.warn(p, "%s is ignored by %s: only one region takes writes at a time", rules[0], t.Architecture)
		}
		if tp.Personal && tp.Owner == "" && tp.Home == nil {
			v.fail(p+".personal", "personal data needs home (which region each row belongs to) or owner (the one region that keeps it)")
		}
	}
}

// ruleFields names the conflict rules the file sets on one policy, as written.
func (v *validator) ruleFields(p string, tp TablePolicy) []string {
	if v.has(p+".counter") && len(tp.Counter) == 0 {
		v.fail(p+".counter", "empty: name the counter columns, e.g. [stock]")
	}
	var rules []string
	for _, key := range []string{"owner", "home", "lww", "counter", "set"} {
		if v.has(p+"."+key) && (key != "counter" || len(tp.Counter) > 0) {
			rules = append(rules, key)
		}
	}
	return rules
}

func (v *validator) tableMatch(field, match string, seen map[string]string) {
	if match == "" {
		v.fail(field, `required: the tables this policy applies to, "schema.table" (wildcards * and ? allowed), e.g. shop.users`)
		return
	}
	if !matchPattern.MatchString(match) {
		v.fail(field, `invalid table pattern %q: want "schema.table", e.g. shop.users or shop.*`, match)
		return
	}
	if _, err := path.Match(match, ""); err != nil {
		v.fail(field, "invalid table pattern %q: %v", match, err)
		return
	}
	key := strings.ToLower(match)
	if first, taken := seen[key]; taken {
		v.fail(field, "duplicate table pattern %q (first at %s): only the first would ever apply", match, v.at(first))
		return
	}
	seen[key] = field
}

func (v *validator) homeRule(t *Topology, p string, h HomeRule) {
	v.column(p+".column", h.Column, "the column that says which region a row belongs to")
	switch {
	case h.Values != nil && h.Lookup != "":
		v.fail(p, "set values or lookup, not both")
	case h.Values != nil:
		if len(h.Values) == 0 {
			v.fail(p+".values", "empty: map each value of the column to a region, e.g. {EU: eu, US: us}")
		}
		keys := make([]string, 0, len(h.Values))
		for value := range h.Values {
			keys = append(keys, value)
		}
		slices.Sort(keys)
		for _, value := range keys {
			v.dataRegion(p+".values."+value, h.Values[value], "")
		}
	case h.Lookup == LookupCountry:
		if len(t.Jurisdictions) == 0 {
			v.fail(p+".lookup", "lookup: country maps country codes through jurisdictions, and the file declares none")
		}
	case h.Lookup == LookupUser:
	case h.Lookup != "":
		v.fail(p+".lookup", "unknown lookup %q: want %s (the column holds a country code) or %s (it holds a user id of the users directory)", h.Lookup, LookupCountry, LookupUser)
	default:
		v.fail(p, "required: values (column value → region) or lookup (country or user)")
	}
}

func (v *validator) tieBreak(t *Topology, field string, order []string) {
	if len(order) == 0 {
		return
	}
	seen := map[string]bool{}
	for i, r := range order {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !v.region(f, r, "a region name"):
		case seen[r]:
			v.fail(f, "region %q listed twice", r)
		default:
			seen[r] = true
		}
	}
	for _, r := range t.Regions {
		if _, home := v.homes[r.Name]; home && !seen[r.Name] {
			v.fail(field, "region %q is missing: list every region, so every tie is broken the same way", r.Name)
		}
	}
}

func (v *validator) columns(field string, cols []string) {
	seen := map[string]bool{}
	for i, c := range cols {
		f := fmt.Sprintf("%s[%d]", field, i)
		if v.column(f, c, "a column name") {
			if seen[strings.ToLower(c)] {
				v.fail(f, "column %q listed twice", c)
			}
			seen[strings.ToLower(c)] = true
		}
	}
}

func (v *validator) column(field, name, required string) bool {
	switch {
	case name == "":
		v.fail(field, "required: %s", required)
	case !columnPattern.MatchString(name):
		v.fail(field, "invalid column name %q: letters, digits, _ and $, at most 64 characters", name)
	default:
		return true
	}
	return false
}
