// Package mariadbd runs local mariadbd processes: it initialises data directories,
// writes their my.cnf, starts them (as the mysql user when running as root), waits
// until they serve, and stops them by pid — never by name.
package mariadbd

import (
	"errors"
	"os"
	"os/exec"
)

// Binaries are the installed programs a node needs.
type Binaries struct {
	Mariadbd, InstallDB, GaleraLib string
	// TemplateCache is where the initialised data directory that every new node
	// copies is kept; empty means os.TempDir()/meridian-template-<uid>-<binary stamp>.
	TemplateCache string
}

const installHint = "apt-get install -y mariadb-server galera-4 rsync"

var (
	mariadbdPaths  = []string{"/usr/sbin/mariadbd"}
	installDBPaths = []string{"/usr/bin/mariadb-install-db"}
	galeraPaths    = []string{
		"/usr/lib/galera/libgalera_smm.so",
		"/usr/lib/libgalera_smm.so",
		"/usr/lib/galera-4/libgalera_smm.so",
		"/usr/lib64/galera-4/libgalera_smm.so",
		"/usr/lib64/galera/libgalera_smm.so",
	}
)

// FindBinaries locates mariadbd, mariadb-install-db and the Galera provider library.
func FindBinaries() (Binaries, error) {
	var b Binaries
	var missing []error
	find := func(dst *string, name string, paths []string, inPath bool) {
		if p, ok := firstExisting(paths); ok {
			*dst = p
		} else if p, err := exec.LookPath(name); inPath && err == nil {
			*dst = p
		} else {
			missing = append(missing, errors.New(name+" not found: install it with: "+installHint))
		}
	}
	find(&b.Mariadbd, "mariadbd", mariadbdPaths, true)
	find(&b.InstallDB, "mariadb-install-db", installDBPaths, true)
	find(&b.GaleraLib, "libgalera_smm.so", galeraPaths, false) // a library: never on PATH
	return b, errors.Join(missing...)
}

func firstExisting(paths []string) (string, bool) {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}
