package provision

import (
	"strings"
	"testing"

	"github.com/meridian-geo/meridian/internal/residency"
)

const residencyYAML = `
name: res
architecture: active-active
regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]
clusters:
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1}]}
links: [{between: [eu, us], rtt: 80ms}]
jurisdictions:
  - {country: FR, name: France, region: eu, law: GDPR, local_storage: true}
  - {country: US, name: United States, region: us, law: CCPA}
tables: [{match: shop.users, home: {column: country, lookup: country}, personal: true}]
users: {table: shop.users, id: id, email: email, country: country}
`

func TestDiffDirectory(t *testing.T) {
	topo := parseTopology(t, residencyYAML)
	ep := fakeEndpoints{topo}
	converged := converged(topo, noon)
	if p, err := Diff(topo, noon, ep, testCreds, converged); err != nil || !p.Empty() {
		t.Fatalf("converged estate: err %v, plan:\n%s", err, p)
	}

	t.Run("a new node gets every object, the triggers once the users table exists", func(t *testing.T) {
		obs := edit(converged, "us-1", func(st *NodeState) { st.Directory = &DirectoryState{} })
		p, err := Diff(topo, noon, ep, testCreds, obs)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, p, []brief{
			{"us-1", KindDirectory, "create meridian.data_jurisdiction on us-1"},
			{"us-1", KindDirectory, "create meridian.users_metadata on us-1"},
			{"us-1", KindDirectory, "create meridian.erasures on us-1"},
			{"us-1", KindDirectory, "update meridian.data_jurisdiction on us-1: add FR, US"},
			{"us-1", KindDirectory, "create function meridian.get_user_data_region(email) on us-1"},
		})
		if len(p.Waiting) != 1 || !strings.Contains(p.Waiting[0], "us-1: users table shop.users does not exist yet") {
			t.Errorf("waiting = %q", p.Waiting)
		}
	})

	t.Run("drift is repaired, unknown columns are refused", func(t *testing.T) {
		obs := edit(converged, "eu-1", func(st *NodeState) {
			d := *st.Directory
			d.Jurisdictions = map[string]residency.JurisdictionRow{
				"FR": {Country: "FR", Name: "France", Region: "us", Law: "GDPR", LocalStorage: true},
				"BR": {Country: "BR", Name: "Brazil", Region: "latam"},
			}
			d.Triggers = map[string]string{"meridian_dir_ai": "BEGIN END", "meridian_dir_old": "BEGIN END"}
			for _, tr := range residency.UserTriggers(topo, "eu", topo.ServerID("eu-1")) {
				if tr.Name != "meridian_dir_ai" {
					d.Triggers[tr.Name] = tr.Body
				}
			}
			d.Tables = map[string][]string{residency.JurisdictionTable: residency.Tables[0].Columns,
				residency.DirectoryTable: {"user_id"}, residency.ErasuresTable: residency.Tables[2].Columns}
			st.Directory = &d
		})
		p, err := Diff(topo, noon, ep, testCreds, obs)
		if err == nil || !strings.Contains(err.Error(), "node eu-1: meridian.users_metadata has columns (user_id), want (user_id, email_hash, country_code, data_region, created_at): plan/apply never drops directory data") {
			t.Errorf("err = %v", err)
		}
		checkPlan(t, p, []brief{
			{"eu-1", KindDirectory, "update meridian.data_jurisdiction on eu-1: add US; change FR; remove BR"},
			{"eu-1", KindDirectoryTrigger, "replace trigger shop.meridian_dir_ai (AFTER INSERT on shop.users: the users directory, region eu only) on eu-1"},
			{"eu-1", KindDirectoryTrigger, "drop trigger shop.meridian_dir_old on eu-1"},
		})
		for _, c := range p.Changes {
			if c.Kind == KindDirectory && !strings.Contains(strings.Join(c.directory, ";"), "DELETE FROM meridian.data_jurisdiction WHERE country_code = 'BR'") {
				t.Errorf("jurisdiction statements %q do not remove BR", c.directory)
			}
		}
	})
}
