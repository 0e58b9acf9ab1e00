package residency

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meridian-geo/meridian/internal/topology"
)

// TriggerPrefix starts the names of the triggers Meridian puts on the users
// table; plan/apply owns every trigger so named.
const TriggerPrefix = "meridian_dir_"

// Trigger is one trigger on the users table.
type Trigger struct {
	Schema, Name string
	Timing       string // BEFORE or AFTER
	Event        string // INSERT, UPDATE or DELETE
	Body         string // from BEGIN to END
}

// Create is the statement that makes the trigger.
func (tr Trigger) Create(table string) string {
	return fmt.Sprintf("CREATE TRIGGER %s %s %s ON %s FOR EACH ROW\n%s",
		qualified(tr.Schema, tr.Name), tr.Timing, tr.Event, qualified(tr.Schema, table), tr.Body)
}

// Drop is the statement that removes it.
func (tr Trigger) Drop() string {
	return "DROP TRIGGER IF EXISTS " + qualified(tr.Schema, tr.Name)
}

// UserTriggers are the triggers a node of region keeps on the users table
// (none without a users table). They keep the users directory in step with
// the users table in the same transaction, so a directory row crosses the
// links while the user's own row does not, and they refuse a user whose
// country's personal data belongs to another region: placement holds even
// for writes that bypass the router. They act only on writes made on this
// node (@@server_id is the writer's id in a replication applier, should
// slave_run_triggers_for_rbr ever be on): a replicated row brings its
// directory row with it.
func UserTriggers(t *topology.Topology, region string, serverID uint32) []Trigger {
	u := t.Users
	if u == nil {
		return nil
	}
	id, email, country := "NEW."+ident(u.ID), "NEW."+ident(u.Email), "NEW."+ident(u.Country)
	local := "@@session.server_id = " + strconv.FormatUint(uint64(serverID), 10)
	guard := func(c string) string {
		return "  IF " + local + " THEN\n" +
			"    SET v_region = (SELECT data_region FROM " + JurisdictionTable + " WHERE country_code = UPPER(" + c + "));\n" +
			"    IF v_region IS NULL THEN\n" +
			"      SET v_msg = CONCAT('meridian residency: country ', COALESCE(" + c + ", 'NULL'), ' of " + sqlText(u.Table) + " has no jurisdiction in " + JurisdictionTable + "');\n" +
			"      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;\n" +
			"    ELSEIF v_region <> " + quote(region) + " THEN\n" +
			"      SET v_msg = CONCAT('meridian residency: users of ', UPPER(" + c + "), ' keep their personal data in region ', v_region, '; this node is in region " + sqlText(region) + ": write through a router, or to region ', v_region);\n" +
			"      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;\n" +
			"    END IF;\n" +
			"  END IF;\n"
	}
	declare := "  DECLARE v_region VARCHAR(64);\n  DECLARE v_msg VARCHAR(512);\n"
	upsert := func(idExpr, emailExpr, countryExpr string) string {
		return "INSERT INTO " + DirectoryTable + " (user_id, email_hash, country_code, data_region) VALUES (" +
			idExpr + ", SHA2(LOWER(" + emailExpr + "), 256), UPPER(" + countryExpr + "), " + quote(region) + ") " +
			"ON DUPLICATE KEY UPDATE email_hash = VALUES(email_hash), country_code = VALUES(country_code), data_region = VALUES(data_region);\n"
	}
	schema := u.Schema()
	return []Trigger{
		{Schema: schema, Name: TriggerPrefix + "bi", Timing: "BEFORE", Event: "INSERT",
			Body: "BEGIN\n" + declare + guard(country) + "END"},
		{Schema: schema, Name: TriggerPrefix + "ai", Timing: "AFTER", Event: "INSERT",
			Body: "BEGIN\n  IF " + local + " THEN\n    " + upsert(id, email, country) + "  END IF;\nEND"},
		{Schema: schema, Name: TriggerPrefix + "bu", Timing: "BEFORE", Event: "UPDATE",
			Body: "BEGIN\n" + declare + guard(country) + "END"},
		{Schema: schema, Name: TriggerPrefix + "au", Timing: "AFTER", Event: "UPDATE",
			Body: "BEGIN\n  IF " + local + " THEN\n" +
				"    IF NOT (OLD." + ident(u.ID) + " <=> " + id + ") THEN\n" +
				"      DELETE FROM " + DirectoryTable + " WHERE user_id = OLD." + ident(u.ID) + ";\n" +
				"    END IF;\n" +
				"    " + upsert(id, email, country) +
				"  END IF;\nEND"},
		{Schema: schema, Name: TriggerPrefix + "ad", Timing: "AFTER", Event: "DELETE",
			Body: "BEGIN\n  IF " + local + " THEN\n" +
				"    DELETE FROM " + DirectoryTable + " WHERE user_id = OLD." + ident(u.ID) + ";\n" +
				"  END IF;\nEND"},
	}
}

// sqlText escapes s for use inside a single-quoted SQL string.
func sqlText(s string) string {
	q := quote(s)
	return strings.TrimSuffix(strings.TrimPrefix(q, "'"), "'")
}
