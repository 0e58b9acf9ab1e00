package protocol

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Stage1 is SHA1(password): what a mysql_native_password client proves it
// knows. The router recovers it from a client's scramble and proves it to
// each backend with that backend's own salt, so it never needs the
// password itself.
type Stage1 [sha1.Size]byte

// Stage1Of hashes a password.
func Stage1Of(password string) Stage1 { return sha1.Sum([]byte(password)) }

// Stage2 is SHA1(SHA1(password)), the form mysql.user stores ("*HEX").
func (s Stage1) Stage2() [sha1.Size]byte { return sha1.Sum(s[:]) }

// ParseStoredHash reads a mysql_native_password hash as mysql.user stores
// it ("*" and 40 hex digits). An empty hash is an account without password.
func ParseStoredHash(stored string) ([]byte, error) {
	if stored == "" {
		return nil, nil
	}
	digits, ok := strings.CutPrefix(stored, "*")
	if !ok || len(digits) != 2*sha1.Size {
		return nil, fmt.Errorf("not a mysql_native_password hash")
	}
	b, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("not a mysql_native_password hash: %w", err)
	}
	return b, nil
}

// Scramble is the mysql_native_password token for salt:
// SHA1(password) XOR SHA1(salt + SHA1(SHA1(password))).
func (s Stage1) Scramble(salt []byte) []byte {
	stage2 := s.Stage2()
	h := sha1.New()
	h.Write(salt)
	h.Write(stage2[:])
	mask := h.Sum(nil)
	for i := range mask {
		mask[i] ^= s[i]
	}
	return mask
}

// VerifyNative checks a client's token against the stored hash (stage2;
// nil for an account without password) and returns the SHA1(password) it
// proves. An empty token proves an empty password.
func VerifyNative(token, salt, stage2 []byte) (Stage1, bool) {
	var s Stage1
	if len(stage2) == 0 || len(token) == 0 {
		return s, len(stage2) == 0 && len(token) == 0
	}
	if len(token) != sha1.Size || len(stage2) != sha1.Size {
		return s, false
	}
	h := sha1.New()
	h.Write(salt)
	h.Write(stage2)
	mask := h.Sum(nil)
	for i := range s {
		s[i] = token[i] ^ mask[i]
	}
	check := s.Stage2()
	return s, subtle.ConstantTimeCompare(check[:], stage2) == 1
}

// NewSalt returns a 20-byte scramble of printable characters: clients
// treat the salt as a NUL-terminated string.
func NewSalt() []byte {
	salt := make([]byte, 20)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	for i, b := range salt {
		salt[i] = '!' + b%('~'-'!'+1)
	}
	return salt
}
