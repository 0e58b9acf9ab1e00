package tlsgen

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// The certificate chains to the authority, for servers and clients, under
// every name it was issued for and no other.
func TestIssueVerifies(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue("node", Loopback...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		t.Fatalf("key does not match the certificate: %v", err)
	}
	cert := parseCert(t, p.CertPEM)
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, ca.CertPEM()))
	tests := []struct {
		host  string
		usage x509.ExtKeyUsage
		ok    bool
	}{
		{"127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"::1", x509.ExtKeyUsageServerAuth, true},
		{"localhost", x509.ExtKeyUsageServerAuth, true},
		{"", x509.ExtKeyUsageClientAuth, true},
		{"127.0.0.2", x509.ExtKeyUsageServerAuth, false},
		{"db.example.com", x509.ExtKeyUsageServerAuth, false},
	}
	for _, tt := range tests {
		_, err := cert.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
		if (err == nil) != tt.ok {
			t.Errorf("verify for %q (usage %d): err %v, want ok %v", tt.host, tt.usage, err, tt.ok)
		}
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	strangers := x509.NewCertPool()
	strangers.AddCert(other.Certificate())
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: strangers}); err == nil {
		t.Error("certificate verifies against another authority")
	}
	if !ca.Certificate().IsCA || cert.IsCA {
		t.Errorf("IsCA: authority %v, leaf %v", ca.Certificate().IsCA, cert.IsCA)
	}
}

func TestGenerateWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	owner := ""
	if os.Geteuid() == 0 {
		owner = "mysql"
	}
	files, err := Generate(dir, owner, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	want := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "node.pem"), Key: filepath.Join(dir, "node-key.pem")}
	if files != want {
		t.Fatalf("files %+v, want %+v", files, want)
	}
	uid := os.Geteuid()
	if owner != "" {
		u, err := user.Lookup(owner)
		if err != nil {
			t.Fatal(err)
		}
		if uid, err = strconv.Atoi(u.Uid); err != nil {
			t.Fatal(err)
		}
	}
	for path, perm := range map[string]os.FileMode{files.CA: 0o644, files.Cert: 0o644, files.Key: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != perm {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), perm)
		}
		if got := int(st.Sys().(*syscall.Stat_t).Uid); got != uid {
			t.Errorf("%s: owner uid %d, want %d", path, got, uid)
		}
	}
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", files.CA)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Errorf("written certificate does not verify: %v", err)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots}); err == nil {
		t.Error("certificate issued for localhost only verifies for 127.0.0.1")
	}

	// Writing again replaces the files.
	again, err := Generate(dir, owner, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(again.CA); string(data) == string(caPEM) {
		t.Error("a second Generate kept the first authority")
	}
}

func TestWriteUnknownOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("files are handed to another user only when running as root")
	}
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue("node", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(t.TempDir(), "no-such-user-meridian", ca, "node", p); err == nil {
		t.Fatal("Write handed the files to a user that does not exist")
	}
}
