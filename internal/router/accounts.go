package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// ErrNoAccount means no account lets the user in from that host.
var ErrNoAccount = errors.New("no such account")

// Account is one mysql.user row a client logs in as.
type Account struct {
	User, Host string
	Plugin     string
	// Stage2 is the stored SHA1(SHA1(password)); nil when the account has
	// no password.
	Stage2 []byte
	// Relayed says the router cannot check the login itself: the account
	// uses another plugin than mysql_native_password (ed25519, say), or
	// several (IDENTIFIED VIA ... OR ...), or its password has expired. Its
	// login is relayed to the primary (login.go).
	Relayed bool
}

// AccountSource finds the accounts clients log in with. The router
// authenticates clients itself, against the backends' own accounts.
type AccountSource interface {
	// Account returns the account user logs in as from host (an IP
	// address), or ErrNoAccount; fresh asks to bypass any cache (after a
	// failed login: the password may just have changed).
	Account(ctx context.Context, user, host string, fresh bool) (Account, error)
	// DatabaseExists reports whether a client may name db at login.
	DatabaseExists(ctx context.Context, db string) (bool, error)
}

// AdminAccounts reads mysql.user through an admin connection to the
// primary (or, when none, any node that is up) and caches what it read.
type AdminAccounts struct {
	view  ViewSource
	admin Credentials
	tls   string // go-sql-driver TLS config name, "" for none
	ttl   time.Duration

	mu      sync.Mutex
	clients map[string]*node.Client // by address
	users   map[string]cachedUsers
	dbs     map[string]time.Time // databases seen to exist, and when
}

type cachedUsers struct {
	rows []Account
	at   time.Time
}

// minRefresh bounds how often a failed login may reload an account.
const minRefresh = time.Second

// NewAdminAccounts reads accounts with the admin credentials from the
// nodes of view; tls is a go-sql-driver TLS config name ("" for none).
func NewAdminAccounts(view ViewSource, admin Credentials, tls string) *AdminAccounts {
	return &AdminAccounts{view: view, admin: admin, tls: tls, ttl: 30 * time.Second,
		clients: map[string]*node.Client{}, users: map[string]cachedUsers{}, dbs: map[string]time.Time{}}
}

// Account implements AccountSource.
func (a *AdminAccounts) Account(ctx context.Context, user, host string, fresh bool) (Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.users[user]
	age := time.Since(c.at)
	if !ok || age > a.ttl || (fresh && age > minRefresh) {
		rows, err := a.load(ctx, user)
		if err != nil {
			return Account{}, err
		}
		c = cachedUsers{rows: rows, at: time.Now()}
		a.users[user] = c
	}
	acct, ok := matchAccount(c.rows, host)
	if !ok {
		return Account{}, ErrNoAccount
	}
	return acct, nil
}

// DatabaseExists implements AccountSource.
func (a *AdminAccounts) DatabaseExists(ctx context.Context, db string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if at, ok := a.dbs[db]; ok && time.Since(at) < a.ttl {
		return true, nil
	}
	var n int
	err := a.query(ctx, func(c *node.Client) error {
		return c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("look up database %q: %w", db, err)
	}
	if n > 0 {
		a.dbs[db] = time.Now()
	}
	return n > 0, nil
}

func (a *AdminAccounts) load(ctx context.Context, user string) ([]Account, error) {
	var out []Account
	err := a.query(ctx, func(c *node.Client) error {
		out = out[:0]
		// mysql.global_priv holds every method of an account (auth_or)
		// and its password's expiry (password_last_changed 0).
		rows, err := c.DB().QueryContext(ctx, `SELECT Host,
			COALESCE(JSON_VALUE(Priv, '$.plugin'), ''), COALESCE(JSON_VALUE(Priv, '$.authentication_string'), ''),
			JSON_EXISTS(Priv, '$.auth_or'), COALESCE(JSON_VALUE(Priv, '$.password_last_changed') = 0, 0)
			FROM mysql.global_priv WHERE User = ?`, user)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var host, plugin, authString string
			var several, expired bool
			if err := rows.Scan(&host, &plugin, &authString, &several, &expired); err != nil {
				return err
			}
			acct := Account{User: user, Host: host, Plugin: plugin, Relayed: several || expired}
			if plugin == "" || plugin == protocol.NativePassword {
				acct.Plugin = protocol.NativePassword
				if acct.Stage2, err = protocol.ParseStoredHash(authString); err != nil {
					return fmt.Errorf("account '%s'@'%s': %w", user, host, err)
				}
			} else {
				acct.Relayed = true
			}
			out = append(out, acct)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read account %q: %w", user, err)
	}
	return out, nil
}

// query runs f against the primary, or else the first node that is up.
func (a *AdminAccounts) query(ctx context.Context, f func(*node.Client) error) error {
	v := a.view.View()
	names := []string{v.Primary}
	for name, n := range v.Nodes {
		if name != v.Primary && n.Up && !n.Fenced {
			names = append(names, name)
		}
	}
	sort.Strings(names[1:])
	var errs []error
	for _, name := range names {
		n, ok := v.Nodes[name]
		if !ok || n.Fenced || n.Addr == "" {
			continue
		}
		c, err := a.client(ctx, name, n.Addr)
		if err == nil {
			if err = f(c); err == nil {
				return nil
			}
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errNoPrimary
	}
	return errors.Join(errs...)
}

func (a *AdminAccounts) client(ctx context.Context, name, addr string) (*node.Client, error) {
	if c, ok := a.clients[addr]; ok {
		return c, nil
	}
	c, err := node.Open(ctx, node.Endpoint{Name: name, Addr: addr, User: a.admin.User, Password: a.admin.Password,
		TLS: a.tls, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	a.clients[addr] = c
	return c, nil
}

// Close releases the admin connections.
func (a *AdminAccounts) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for addr, c := range a.clients {
		errs = append(errs, c.Close())
		delete(a.clients, addr)
	}
	return errors.Join(errs...)
}

// matchAccount picks the row MariaDB would use for a client at host (an
// IP address): exact hosts first, then patterns, the most specific first
// (the longer the literal text before the first wildcard), "%" last.
// 'localhost' names unix-socket logins and never matches a TCP client.
func matchAccount(rows []Account, host string) (Account, bool) {
	best, bestRank := Account{}, -1
	for _, r := range rows {
		if !hostMatches(r.Host, host) {
			continue
		}
		if rank := hostRank(r.Host); rank > bestRank {
			best, bestRank = r, rank
		}
	}
	return best, bestRank >= 0
}

func hostRank(pattern string) int {
	i := strings.IndexAny(pattern, "%_")
	if i < 0 && !strings.Contains(pattern, "/") {
		return 1 << 20
	}
	if i < 0 {
		i = len(pattern)
	}
	return i
}

func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "localhost":
		return false
	case pattern == "" || pattern == "%":
		return true
	}
	if addr, mask, ok := strings.Cut(pattern, "/"); ok {
		a, m, h := net.ParseIP(addr).To4(), net.ParseIP(mask).To4(), net.ParseIP(host).To4()
		if a == nil || m == nil || h == nil {
			return false
		}
		for i := range h {
			if h[i]&m[i] != a[i] {
				return false
			}
		}
		return true
	}
	return likeMatch(strings.ToLower(pattern), strings.ToLower(host))
}

// likeMatch is SQL LIKE with % and _ wildcards.
func likeMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && likeMatch(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && likeMatch(pattern[1:], s[1:])
}
