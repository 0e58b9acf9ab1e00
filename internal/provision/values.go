package provision

import (
	"strconv"
	"strings"
)

// valueKind says how a setting's value is spelt, so that the option file's
// spelling ("1G", "ON") compares with what the server reports ("1073741824",
// "1") and can be sent with SET GLOBAL.
type valueKind int

const (
	wordValue   valueKind = iota // compared case-insensitively
	numberValue                  // "7" equals "7.000000"
	boolValue                    // ON/OFF, 1/0, TRUE/FALSE, YES/NO
	sizeValue                    // bytes with an optional K/M/G/T suffix
	pathValue                    // a file name, compared exactly
)

// same reports whether the server's value got is the wanted value.
func (k valueKind) same(want, got string) bool {
	switch k {
	case numberValue:
		w, err1 := strconv.ParseFloat(strings.TrimSpace(want), 64)
		g, err2 := strconv.ParseFloat(strings.TrimSpace(got), 64)
		return err1 == nil && err2 == nil && w == g
	case boolValue:
		w, ok1 := parseBool(want)
		g, ok2 := parseBool(got)
		return ok1 && ok2 && w == g
	case sizeValue:
		w, ok1 := parseSize(want)
		g, ok2 := parseSize(got)
		return ok1 && ok2 && w == g
	case pathValue:
		return want == got
	default:
		return strings.EqualFold(strings.TrimSpace(want), strings.TrimSpace(got))
	}
}

// sqlValue is v as SET GLOBAL accepts it (a size suffix is not).
func (k valueKind) sqlValue(v string) string {
	switch k {
	case sizeValue:
		if n, ok := parseSize(v); ok {
			return strconv.FormatUint(n, 10)
		}
	case boolValue:
		if on, ok := parseBool(v); ok {
			return onOff(on)
		}
	}
	return v
}

func parseBool(v string) (on, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "ON", "1", "TRUE", "YES":
		return true, true
	case "OFF", "0", "FALSE", "NO":
		return false, true
	}
	return false, false
}

func parseSize(v string) (uint64, bool) {
	v = strings.ToUpper(strings.TrimSpace(v))
	mult := uint64(1)
	if n := len(v); n > 0 {
		if shift := strings.IndexByte("KMGT", v[n-1]); shift >= 0 {
			mult = 1 << (10 * (shift + 1))
			v = v[:n-1]
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false
	}
	return n * mult, true
}
