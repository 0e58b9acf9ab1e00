// Package tlsgen makes throwaway certificates for tests and the sandbox: a
// certificate authority of its own and certificates it signs for the hosts a
// local estate listens on. Production estates bring certificates from their
// own authority; nothing here is meant for them.
package tlsgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// Loopback are the names a local server is reached by.
var Loopback = []string{"127.0.0.1", "::1", "localhost"}

// validFor is how long certificates stay valid: longer than any sandbox or
// test lives, short enough that a leaked throwaway key soon expires.
const validFor = 2 * 365 * 24 * time.Hour

// backdate makes certificates valid a little before their creation, so a
// clock that is slightly behind does not reject them.
const backdate = time.Hour

// CA is a certificate authority whose key lives only in memory: it signs the
// certificates of one test or sandbox and is never written out.
type CA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

// NewCA creates a self-signed authority named commonName.
func NewCA(commonName string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: create CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: parse CA %q: %w", commonName, err)
	}
	return &CA{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der)}, nil
}

// Certificate is the authority's certificate, what peers verify against.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM is the authority's certificate, PEM encoded.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Pair is a certificate and its private key, PEM encoded.
type Pair struct {
	CertPEM, KeyPEM []byte
}

// Issue signs a certificate for hosts (IP addresses or DNS names, which go
// into its subject alternative names). It is valid for servers and clients
// alike: a database node presents the same certificate when it serves
// replicas and when it replicates from another node.
func (ca *CA) Issue(commonName string, hosts ...string) (Pair, error) {
	key, err := newKey()
	if err != nil {
		return Pair{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return Pair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("tlsgen: issue %q: %w", commonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("tlsgen: encode key of %q: %w", commonName, err)
	}
	return Pair{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// Files are the paths of a written certificate set.
type Files struct {
	CA   string // the authority's certificate
	Cert string
	Key  string
}

// Write writes the authority's certificate as dir/ca.pem and p as
// dir/name.pem and dir/name-key.pem, creating dir if needed. Certificates
// are world-readable (0644), the key is 0600.
//
// The key must be readable by the server that presents it. When this
// process is root and owner is not empty, the files are handed to user
// owner: mariadbd started by root runs as the mysql user (see
// internal/mariadbd), so pass "mysql". Otherwise they stay this process's,
// whose user then runs the server too. dir and its ancestors must be
// searchable by that user (mariadbd.GrantTraversal does it for a test's
// temporary directory).
func Write(dir, owner string, ca *CA, name string, p Pair) (Files, error) {
	f := Files{
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, name+".pem"),
		Key:  filepath.Join(dir, name+"-key.pem"),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("tlsgen: %w", err)
	}
	uid, gid, err := fileOwner(owner)
	if err != nil {
		return Files{}, err
	}
	for _, w := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{{f.CA, ca.certPEM, 0o644}, {f.Cert, p.CertPEM, 0o644}, {f.Key, p.KeyPEM, 0o600}} {
		if err := writeFile(w.path, w.data, w.perm, uid, gid); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// Generate creates an authority and one certificate for hosts, and writes
// them into dir as Write does, the certificate and key as node.pem and
// node-key.pem.
func Generate(dir, owner string, hosts ...string) (Files, error) {
	ca, err := NewCA("Meridian throwaway CA")
	if err != nil {
		return Files{}, err
	}
	p, err := ca.Issue("meridian-node", hosts...)
	if err != nil {
		return Files{}, err
	}
	return Write(dir, owner, ca, "node", p)
}

// fileOwner is the uid and gid files are handed to, -1 to leave them.
func fileOwner(owner string) (uid, gid int, err error) {
	if owner == "" || os.Geteuid() != 0 {
		return -1, -1, nil
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return 0, 0, fmt.Errorf("tlsgen: owner of the key files: %w", err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("tlsgen: user %s: uid %q: %w", owner, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("tlsgen: user %s: gid %q: %w", owner, u.Gid, err)
	}
	return uid, gid, nil
}

// writeFile replaces path with data, never leaving a key readable by others
// even for a moment: the file is created with its final mode and owner
// before anything is written to it.
func writeFile(path string, data []byte, perm os.FileMode, uid, gid int) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tlsgen: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("tlsgen: %w", err)
	}
	err = errors.Join(f.Chmod(perm), f.Chown(uid, gid))
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tlsgen: write %s: %w", path, err)
	}
	return nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: generate key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlsgen: serial number: %w", err)
	}
	return serial, nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
