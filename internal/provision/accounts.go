package provision

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/meridian-geo/meridian/internal/topology"
)

// managedAccount is an account Meridian creates on every node.
type managedAccount struct {
	role       string // "replication" or "app", as in the credentials file
	account    func(Credentials) Account
	privileges []string // on *.*
	// replicasLogIn marks the account replicas connect with: it requires TLS
	// exactly when the topology sets replication.tls.
	replicasLogIn bool
}

// require is the account's REQUIRE clause in t, "" when Meridian leaves it
// to the operator. With replication.tls set, REQUIRE SSL makes the source
// refuse a replica that tries to log in unencrypted, so a replica whose TLS
// settings were lost stops with an error instead of replicating in clear
// text; without it, the source must accept replicas that use no TLS.
func (m managedAccount) require(t *topology.Topology) string {
	switch {
	case !m.replicasLogIn:
		return ""
	case t.Replication.TLS != nil:
		return "SSL"
	}
	return "NONE"
}

// sslTypes are the REQUIRE clauses by mysql.global_priv's ssl_type.
var sslTypes = []string{"NONE", "SSL", "X509", "ISSUER/SUBJECT/CIPHER"}

// requireClause names the REQUIRE clause of ssl_type.
func requireClause(sslType int64) string {
	if sslType >= 0 && sslType < int64(len(sslTypes)) {
		return sslTypes[sslType]
	}
	return fmt.Sprintf("ssl_type %d", sslType)
}

var managedAccounts = []managedAccount{
	// Replicas log in with it. In MariaDB 10.11 REPLICATION SLAVE alone lets a
	// replica register and stream the binlog with GTIDs (checked by the
	// integration test); BINLOG MONITOR would only add SHOW MASTER STATUS.
	{"replication", func(c Credentials) Account { return c.Replication }, []string{"REPLICATION SLAVE"}, true},
	// The application's account: data and schema work, nothing
	// administrative. Without SUPER and READ_ONLY ADMIN, read_only really
	// refuses it, which is what fences a demoted primary.
	{"app", func(c Credentials) Account { return c.App }, []string{
		"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER",
		"CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW",
		"CREATE ROUTINE", "ALTER ROUTINE", "TRIGGER", "EVENT",
	}, false},
}

// checkAccounts refuses credentials whose accounts would overwrite each
// other: Meridian revokes what a managed account should not have.
func checkAccounts(c Credentials) error {
	users := map[string]string{c.Admin.User: "admin"}
	for _, m := range managedAccounts {
		u := m.account(c).User
		if other, dup := users[u]; dup {
			return fmt.Errorf("credentials: the %s and %s accounts are both user %q; they must differ", other, m.role, u)
		}
		users[u] = m.role
	}
	return nil
}

// nativePasswordHash is mysql_native_password's stored form of password,
// so a password can be checked without logging in with it.
func nativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// privilegeAliases are names SHOW GRANTS may print for what Meridian grants
// under another name.
var privilegeAliases = map[string]string{"REPLICATION REPLICA": "REPLICATION SLAVE"}

// globalPrivileges reads the privileges on *.* from SHOW GRANTS lines
// (grants on single databases or tables, and role grants, are not Meridian's).
func globalPrivileges(grants []string) []string {
	var privs []string
	for _, line := range grants {
		rest, ok := strings.CutPrefix(line, "GRANT ")
		if !ok {
			continue
		}
		list, tail, ok := strings.Cut(rest, " ON *.* TO ")
		if !ok {
			continue
		}
		for p := range strings.SplitSeq(list, ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if alias, ok := privilegeAliases[p]; ok {
				p = alias
			}
			if p != "USAGE" && p != "" {
				privs = append(privs, p)
			}
		}
		if strings.HasSuffix(tail, " WITH GRANT OPTION") {
			privs = append(privs, "GRANT OPTION")
		}
	}
	slices.Sort(privs)
	return slices.Compact(privs)
}

// privilegeDiff says which wanted privileges are missing and which held
// ones are not wanted.
func privilegeDiff(want, have []string) (missing, extra []string) {
	for _, p := range want {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	for _, p := range have {
		if !slices.Contains(want, p) {
			extra = append(extra, p)
		}
	}
	return missing, extra
}
