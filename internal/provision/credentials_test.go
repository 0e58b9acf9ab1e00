package provision

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-geo/meridian/internal/topology"
)

const fullCredentials = `
admin: {user: meridian, password: admin-secret}
replication: {user: repl, password: repl-secret}
app: {user: app, password: app-secret}
`

// clearCredentialsEnv empties every MERIDIAN_* credentials variable for
// the test, so the machine's environment cannot leak in.
func clearCredentialsEnv(t *testing.T) {
	t.Setenv(CredentialsFileEnv, "")
	for _, f := range credentialFields {
		t.Setenv(f.env, "")
	}
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	topoPath := filepath.Join(dir, "estate", "topology.yaml")
	writeFile(t, filepath.Join(dir, "estate", "secrets", "creds.yaml"), fullCredentials, 0o600)
	writeFile(t, filepath.Join(dir, "partial.yaml"), "admin: {user: meridian, password: admin-secret}\n", 0o600)
	writeFile(t, filepath.Join(dir, "typo.yaml"), "admin: {user: meridian, pasword: x}\n", 0o600)

	tests := []struct {
		name    string
		file    string // topology credentials.file
		env     map[string]string
		want    Credentials
		wantErr []string
	}{
		{name: "file relative to the topology", file: "secrets/creds.yaml", want: testCreds},
		{name: "absolute file", file: filepath.Join(dir, "estate", "secrets", "creds.yaml"), want: testCreds},
		{name: "environment overrides the file", file: "secrets/creds.yaml",
			env:  map[string]string{"MERIDIAN_REPL_PASSWORD": "from-env", "MERIDIAN_APP_USER": "shop"},
			want: Credentials{Admin: testCreds.Admin, Replication: Account{"repl", "from-env"}, App: Account{"shop", "app-secret"}}},
		{name: "environment names the file", file: "secrets/missing.yaml",
			env: map[string]string{CredentialsFileEnv: filepath.Join(dir, "estate", "secrets", "creds.yaml")}, want: testCreds},
		{name: "environment only", env: map[string]string{
			"MERIDIAN_ADMIN_USER": "meridian", "MERIDIAN_ADMIN_PASSWORD": "admin-secret",
			"MERIDIAN_REPL_USER": "repl", "MERIDIAN_REPL_PASSWORD": "repl-secret",
			"MERIDIAN_APP_USER": "app", "MERIDIAN_APP_PASSWORD": "app-secret",
		}, want: testCreds},
		{name: "missing values", env: map[string]string{CredentialsFileEnv: filepath.Join(dir, "partial.yaml"), "MERIDIAN_APP_USER": "app"},
			wantErr: []string{"credentials incomplete: replication.user, replication.password, app.password missing",
				"looked in file " + filepath.Join(dir, "partial.yaml"),
				"environment MERIDIAN_REPL_USER, MERIDIAN_REPL_PASSWORD, MERIDIAN_APP_PASSWORD"}},
		{name: "nothing anywhere", wantErr: []string{"admin.user, admin.password, replication.user",
			"looked in no credentials file (set credentials.file in the topology or MERIDIAN_CREDENTIALS_FILE)"}},
		{name: "missing file", file: "secrets/missing.yaml",
			wantErr: []string{topoPath + ": credentials.file", filepath.Join(dir, "estate", "secrets", "missing.yaml"), "no such file"}},
		{name: "unknown key", env: map[string]string{CredentialsFileEnv: filepath.Join(dir, "typo.yaml")},
			wantErr: []string{"credentials file named by MERIDIAN_CREDENTIALS_FILE", "typo.yaml", "field pasword not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearCredentialsEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			topo := &topology.Topology{Source: topoPath, Credentials: topology.CredentialRef{File: tt.file}}
			got, err := LoadCredentials(topo)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadCredentialsFileWarnsWhenReadable(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	path := filepath.Join(t.TempDir(), "creds.yaml")
	writeFile(t, path, fullCredentials, 0o600)
	if _, err := ReadCredentialsFile(path); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("warned about a private file: %s", logs.String())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCredentialsFile(path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "credentials file is readable by group or others") || !strings.Contains(logs.String(), "mode=0644") {
		t.Errorf("no warning for a world-readable file: %q", logs.String())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("the warning shows a secret: %q", logs.String())
	}
}
