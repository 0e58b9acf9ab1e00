// Package residency holds the rules that keep personal data in its
// jurisdiction's region, as pure functions of the topology: the objects
// every node carries (the seed's data_jurisdiction table, the users
// directory users_metadata, get_user_data_region and the triggers that
// keep the directory and refuse a user in the wrong region), the audit's
// queries and verdicts, and erasure's statements. Effects live with their
// callers (provision, the controller, the erase and backup commands).
package residency

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meridian-geo/meridian/internal/topology"
)

// Schema is where Meridian's residency objects live on every node.
const Schema = "meridian"

// The directory's tables. data_jurisdiction and users_metadata follow the
// seed, with data_region holding the topology's region names; erasures is
// the suppression list (user ids and email hashes only). None holds
// personal data: they replicate everywhere.
const (
	JurisdictionTable = Schema + ".data_jurisdiction"
	DirectoryTable    = Schema + ".users_metadata"
	ErasuresTable     = Schema + ".erasures"
	RegionFunction    = Schema + ".get_user_data_region"
)

// Table is one table every node must have.
type Table struct {
	Name    string   // schema.table
	Columns []string // in order, as information_schema lists them
	Create  string
}

// Tables are the directory's tables, in creation order.
var Tables = []Table{
	{
		Name:    JurisdictionTable,
		Columns: []string{"country_code", "country_name", "data_region", "privacy_law", "requires_local_storage", "notes"},
		Create: "CREATE TABLE IF NOT EXISTS " + JurisdictionTable + " (" +
			"country_code CHAR(2) NOT NULL PRIMARY KEY, " +
			"country_name VARCHAR(100) NOT NULL, " +
			"data_region VARCHAR(64) NOT NULL, " +
			"privacy_law VARCHAR(50), " +
			"requires_local_storage BOOLEAN NOT NULL DEFAULT FALSE, " +
			"notes TEXT) ENGINE=InnoDB",
	},
	{
		Name:    DirectoryTable,
		Columns: []string{"user_id", "email_hash", "country_code", "data_region", "created_at"},
		Create: "CREATE TABLE IF NOT EXISTS " + DirectoryTable + " (" +
			"user_id BIGINT NOT NULL PRIMARY KEY, " +
			"email_hash VARCHAR(64) NOT NULL, " +
			"country_code CHAR(2) NOT NULL, " +
			"data_region VARCHAR(64) NOT NULL, " +
			"created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, " +
			"INDEX idx_hash (email_hash), INDEX idx_region (data_region)) ENGINE=InnoDB",
	},
	{
		Name:    ErasuresTable,
		Columns: []string{"user_id", "email_hash", "data_region", "erased_at", "gtid"},
		Create: "CREATE TABLE IF NOT EXISTS " + ErasuresTable + " (" +
			"user_id BIGINT NOT NULL PRIMARY KEY, " +
			"email_hash VARCHAR(64) NOT NULL, " +
			"data_region VARCHAR(64) NOT NULL, " +
			"erased_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), " +
			"gtid VARCHAR(255) NOT NULL DEFAULT '', " +
			"INDEX idx_hash (email_hash)) ENGINE=InnoDB",
	},
}

// Routine is a stored function or trigger: its body is compared with what
// the server holds, and Create makes it.
type Routine struct {
	Name   string // schema.name
	Body   string // from BEGIN to END, as information_schema shows it
	Create string
}

// regionFunctionBody is the seed's lookup, returning 'UNKNOWN' for an
// unknown address.
const regionFunctionBody = "BEGIN\n" +
	"  DECLARE v_region VARCHAR(64);\n" +
	"  SET v_region = (SELECT data_region FROM " + DirectoryTable + " WHERE email_hash = SHA2(LOWER(p_email), 256) LIMIT 1);\n" +
	"  RETURN COALESCE(v_region, 'UNKNOWN');\n" +
	"END"

// Function is get_user_data_region(email), as in the seed.
var Function = Routine{
	Name: RegionFunction,
	Body: regionFunctionBody,
	Create: "CREATE FUNCTION " + RegionFunction + "(p_email VARCHAR(255)) RETURNS VARCHAR(64) " +
		"DETERMINISTIC READS SQL DATA SQL SECURITY INVOKER\n" + regionFunctionBody,
}

// JurisdictionRow is one data_jurisdiction row.
type JurisdictionRow struct {
	Country, Name, Region, Law string
	LocalStorage               bool
}

// JurisdictionRows are the rows data_jurisdiction must hold, by country.
func JurisdictionRows(t *topology.Topology) []JurisdictionRow {
	rows := make([]JurisdictionRow, 0, len(t.Jurisdictions))
	for _, j := range t.Jurisdictions {
		name := j.Name
		if name == "" {
			name = strings.ToUpper(j.Country)
		}
		rows = append(rows, JurisdictionRow{Country: strings.ToUpper(j.Country), Name: name, Region: j.Region, Law: j.Law, LocalStorage: j.LocalStorage})
	}
	sort.Slice(rows, func(a, b int) bool { return rows[a].Country < rows[b].Country })
	return rows
}

// Replace is the statement that writes the row.
func (r JurisdictionRow) Replace() string {
	law := "NULL"
	if r.Law != "" {
		law = quote(r.Law)
	}
	return fmt.Sprintf("REPLACE INTO %s (country_code, country_name, data_region, privacy_law, requires_local_storage) VALUES (%s, %s, %s, %s, %t)",
		JurisdictionTable, quote(r.Country), quote(r.Name), quote(r.Region), law, r.LocalStorage)
}

// Needed reports whether the topology asks for the directory objects: it
// declares jurisdictions, personal tables or a users table.
func Needed(t *topology.Topology) bool {
	return len(t.Jurisdictions) > 0 || t.HasPersonalData() || t.Users != nil
}

// quote is a SQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`).Replace(s) + "'"
}

// ident quotes an identifier.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// qualified quotes schema.table.
func qualified(schema, table string) string { return ident(schema) + "." + ident(table) }
