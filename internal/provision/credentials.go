package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-geo/meridian/internal/topology"
)

// Account is one MariaDB login.
type Account struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// Credentials are the three accounts Meridian needs: Admin is how Meridian
// itself logs in to administer a node, Replication is what replicas log in to
// their sources with, App is the application's account (subject to read_only).
type Credentials struct {
	Admin, Replication, App Account
}

// credentialsFile is the YAML layout of a secrets file.
type credentialsFile struct {
	Admin       Account `yaml:"admin"`
	Replication Account `yaml:"replication"`
	App         Account `yaml:"app"`
}

// CredentialsFileEnv names a secrets file; it wins over the topology's
// credentials.file.
const CredentialsFileEnv = "MERIDIAN_CREDENTIALS_FILE"

// credentialField is one value of Credentials with the environment variable
// that overrides it and its name in the secrets file.
type credentialField struct {
	env, key string
	value    func(*Credentials) *string
}

var credentialFields = []credentialField{
	{"MERIDIAN_ADMIN_USER", "admin.user", func(c *Credentials) *string { return &c.Admin.User }},
	{"MERIDIAN_ADMIN_PASSWORD", "admin.password", func(c *Credentials) *string { return &c.Admin.Password }},
	{"MERIDIAN_REPL_USER", "replication.user", func(c *Credentials) *string { return &c.Replication.User }},
	{"MERIDIAN_REPL_PASSWORD", "replication.password", func(c *Credentials) *string { return &c.Replication.Password }},
	{"MERIDIAN_APP_USER", "app.user", func(c *Credentials) *string { return &c.App.User }},
	{"MERIDIAN_APP_PASSWORD", "app.password", func(c *Credentials) *string { return &c.App.Password }},
}

// LoadCredentials gathers the accounts of t. Secrets never live in the
// topology: it may only name a secrets file (credentials.file, relative to
// the topology file's directory), MERIDIAN_CREDENTIALS_FILE names one
// instead, and each MERIDIAN_{ADMIN,REPL,APP}_{USER,PASSWORD} variable
// overrides the file. A missing value is an error that names the value and
// every place it was looked for; so is one user serving two roles.
func LoadCredentials(t *topology.Topology) (Credentials, error) {
	path, origin := credentialsPath(t)
	var creds Credentials
	if path != "" {
		var err error
		if creds, err = ReadCredentialsFile(path); err != nil {
			return Credentials{}, fmt.Errorf("credentials file named by %s: %w", origin, err)
		}
	}
	var missing []string
	for _, f := range credentialFields {
		if v, ok := os.LookupEnv(f.env); ok && v != "" {
			*f.value(&creds) = v
		}
		if *f.value(&creds) == "" {
			missing = append(missing, f.key)
		}
	}
	if len(missing) > 0 {
		return Credentials{}, missingCredentials(missing, path)
	}
	if err := checkAccounts(creds); err != nil {
		return Credentials{}, err
	}
	return creds, nil
}

// credentialsPath is the secrets file to read and what named it, or "" when
// neither the environment nor the topology names one.
func credentialsPath(t *topology.Topology) (path, origin string) {
	if p := os.Getenv(CredentialsFileEnv); p != "" {
		return p, CredentialsFileEnv
	}
	if t == nil || t.Credentials.File == "" {
		return "", ""
	}
	p := t.Credentials.File
	origin = "credentials.file"
	if t.Source != "" {
		origin = t.Source + ": credentials.file"
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(t.Source), p)
		}
	}
	return p, origin
}

func missingCredentials(missing []string, path string) error {
	var envs []string
	for _, f := range credentialFields {
		for _, m := range missing {
			if f.key == m {
				envs = append(envs, f.env)
			}
		}
	}
	where := "no credentials file (set credentials.file in the topology or " + CredentialsFileEnv + ")"
	if path != "" {
		where = "file " + path
	}
	return fmt.Errorf("credentials incomplete: %s missing; looked in %s and environment %s",
		strings.Join(missing, ", "), where, strings.Join(envs, ", "))
}

// ReadCredentialsFile reads a secrets file (admin, replication and app, each
// with user and password). Values may be missing here and supplied by the
// environment; LoadCredentials checks completeness. A file readable by group
// or others is read, with a warning.
func ReadCredentialsFile(path string) (Credentials, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o044 != 0 {
		slog.Warn("credentials file is readable by group or others; restrict it with chmod 600",
			"file", path, "mode", fmt.Sprintf("%04o", perm))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials: %w", err)
	}
	var doc credentialsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return Credentials{Admin: doc.Admin, Replication: doc.Replication, App: doc.App}, nil
}
