package protocol

// Tally sums up one response, for comparing it with another server's
// answer to the same command without holding either: how many rows, an
// order-insensitive checksum of them (the sum of each row's 64-bit FNV-1a
// hash, so two servers returning the same rows in another order agree and
// a duplicated row still counts), the rows affected and the error code.
type Tally struct {
	Rows         uint64
	Checksum     uint64
	AffectedRows uint64
	ErrorCode    uint16
	// Complete is set once the whole response was read.
	Complete bool

	row uint64 // the hash of the row being read
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Reset empties the tally for the next response.
func (t *Tally) Reset() { *t = Tally{} }

// Same reports whether two responses agree.
func (t *Tally) Same(o *Tally) bool {
	return t.Rows == o.Rows && t.Checksum == o.Checksum && t.AffectedRows == o.AffectedRows && t.ErrorCode == o.ErrorCode
}

func (t *Tally) hashRow(b []byte) {
	h := t.row
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	t.row = h
}
