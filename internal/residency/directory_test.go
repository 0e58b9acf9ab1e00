package residency

import (
	"strings"
	"testing"

	"github.com/meridian-geo/meridian/internal/topology"
)

func TestJurisdictionRows(t *testing.T) {
	topo := &topology.Topology{Jurisdictions: []topology.Jurisdiction{
		{Country: "us", Name: "United States", Region: "us", Law: "CCPA"},
		{Country: "FR", Region: "eu", Law: "GDPR", LocalStorage: true},
		{Country: "IE", Name: "Ireland's", Region: "eu"},
	}}
	rows := JurisdictionRows(topo)
	if len(rows) != 3 || rows[0].Country != "FR" || rows[2].Country != "US" || rows[0].Name != "FR" {
		t.Fatalf("rows %+v: want sorted, upper-case, the code as a missing name", rows)
	}
	if got := rows[1].Replace(); got != "REPLACE INTO meridian.data_jurisdiction (country_code, country_name, data_region, privacy_law, requires_local_storage) VALUES ('IE', 'Ireland''s', 'eu', NULL, false)" {
		t.Errorf("Replace = %s", got)
	}
	if !Needed(topo) || Needed(&topology.Topology{}) {
		t.Error("Needed must follow the declaration")
	}
}

func TestUserTriggers(t *testing.T) {
	topo := &topology.Topology{Users: &topology.UsersTable{Table: "shop.users", ID: "id", Email: "email", Country: "cc"}}
	triggers := UserTriggers(topo, "eu", 101)
	if len(triggers) != 5 {
		t.Fatalf("%d triggers, want 5", len(triggers))
	}
	for _, tr := range triggers {
		if !strings.HasPrefix(tr.Name, TriggerPrefix) || tr.Schema != "shop" {
			t.Errorf("trigger %s.%s: want schema shop and prefix %s", tr.Schema, tr.Name, TriggerPrefix)
		}
		if !strings.Contains(tr.Body, "@@session.server_id = 101") {
			t.Errorf("%s acts on replicated rows too: %s", tr.Name, tr.Body)
		}
		create := tr.Create("users")
		if !strings.HasPrefix(create, "CREATE TRIGGER `shop`.`"+tr.Name+"` "+tr.Timing+" "+tr.Event+" ON `shop`.`users` FOR EACH ROW\nBEGIN") {
			t.Errorf("create = %s", create)
		}
	}
	if bi := triggers[0].Body; !strings.Contains(bi, "v_region <> 'eu'") || !strings.Contains(bi, "UPPER(NEW.`cc`)") {
		t.Errorf("the insert guard does not check region eu by the cc column: %s", bi)
	}
	if ai := triggers[1].Body; !strings.Contains(ai, "SHA2(LOWER(NEW.`email`), 256)") || !strings.Contains(ai, "'eu')") {
		t.Errorf("the directory row is not the seed's: %s", ai)
	}
	if UserTriggers(&topology.Topology{}, "eu", 1) != nil {
		t.Error("triggers without a users table")
	}
}
