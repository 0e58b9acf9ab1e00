package residency

import (
	"path/filepath"
	"strings"
)

// Kinds of files a node keeps row images in.
const (
	FileBinlog     = "binary log"
	FileRelayLog   = "relay log"
	FileGalera     = "Galera cache"
	FileRedo       = "redo log"
	FileSystem     = "system tablespace (undo, doublewrite)"
	FileTablespace = "tablespace"
	FileOther      = "other"
)

// FileKind says what a file of a data directory is, from its name.
func FileKind(path string) string {
	base := filepath.Base(path)
	switch {
	case strings.Contains(base, "relay-bin"):
		return FileRelayLog
	case strings.HasPrefix(base, "mysql-bin.") || strings.HasPrefix(base, "mariadb-bin."):
		return FileBinlog
	case base == "galera.cache" || strings.HasPrefix(base, "gcache.page."):
		return FileGalera
	case strings.HasPrefix(base, "ib_logfile"):
		return FileRedo
	case strings.HasPrefix(base, "ibdata") || strings.HasPrefix(base, "undo"):
		return FileSystem
	case strings.HasSuffix(base, ".ibd"):
		return FileTablespace
	}
	return FileOther
}
