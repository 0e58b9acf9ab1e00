package conflict

import (
	"fmt"
	"strings"
	"time"
)

// Hidden columns Meridian adds (INVISIBLE: SELECT * and column-less INSERT
// do not see them) to every table it protects. A consistency checker compares
// HiddenVersion and HiddenPrevious like any column (they converge with the
// row) and ignores delta columns (IsDelta): they hold the last change each
// node applied, which differs from node to node by design.
const (
	HiddenVersion  = "_meridian_ver"
	HiddenPrevious = "_meridian_prev"
	// HiddenDelta prefixes the delta column of each counter column.
	HiddenDelta = "_meridian_d_"
)

// IsHidden reports whether a column is one of Meridian's hidden columns.
func IsHidden(column string) bool {
	c := strings.ToLower(column)
	return c == HiddenVersion || c == HiddenPrevious || strings.HasPrefix(c, HiddenDelta)
}

// IsDelta reports whether a column is a counter's delta column, which is
// per-node bookkeeping and differs between nodes of a converged estate.
func IsDelta(column string) bool {
	return strings.HasPrefix(strings.ToLower(column), HiddenDelta)
}

// domainBits is how many low bits of a Version hold the region's GTID domain.
const domainBits = 10

// MaxDomain is the largest GTID domain a Version can carry: regions of an
// active-active estate with table policies need domains up to it.
const MaxDomain = 1<<domainBits - 1

// Version identifies one version of a row: its commit time in microseconds
// since the Unix epoch and the GTID domain of the region that wrote it,
// packed as micros<<10 | domain. 0 is the version of rows that existed before
// Meridian protected the table: every later write is newer.
type Version uint64

// MakeVersion is the version written at t by the region of GTID domain d.
func MakeVersion(t time.Time, domain uint32) Version {
	return Version(uint64(t.UnixMicro())<<domainBits | uint64(domain&MaxDomain))
}

// Micros is the version's commit time in microseconds since the epoch.
func (v Version) Micros() int64 { return int64(v >> domainBits) }

// Time is the version's commit time (the zero Time for version 0).
func (v Version) Time() time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v.Micros()).UTC()
}

// Domain is the GTID domain of the region that wrote the version.
func (v Version) Domain() uint32 { return uint32(v & MaxDomain) }

func (v Version) String() string {
	if v == 0 {
		return "v0"
	}
	return fmt.Sprintf("%s@%d", v.Time().Format("2006-01-02T15:04:05.000000Z"), v.Domain())
}
