package relay

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/meridian-geo/meridian/internal/topology"
)

// TLSFromFiles builds a relay's TLS from the replication.tls files: it
// presents the node's certificate to the replicas, whose TLS it terminates
// (it must read the stream), and speaks TLS to the node, checking its
// certificate against the authority when verify_server_cert asks. Without
// replication.tls both are nil: plain connections.
func TLSFromFiles(files *topology.TLS) (server, upstream *tls.Config, err error) {
	if files == nil {
		return nil, nil, nil
	}
	if files.Cert == "" || files.Key == "" {
		return nil, nil, errors.New("relay: replication.tls needs cert and key: the relay terminates the replicas' TLS to filter the stream")
	}
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: load %s and %s: %w", files.Cert, files.Key, err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	upstream = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if files.CA != "" {
		pem, err := os.ReadFile(files.CA)
		if err != nil {
			return nil, nil, fmt.Errorf("relay: read %s: %w", files.CA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("relay: %s holds no PEM certificate", files.CA)
		}
		upstream.RootCAs = pool
	}
	if !files.VerifyServerCert {
		// As MariaDB's own replicas do without MASTER_SSL_VERIFY_SERVER_CERT:
		// encrypted, the peer not authenticated.
		upstream.InsecureSkipVerify = true
	}
	return server, upstream, nil
}
