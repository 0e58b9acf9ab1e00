package protocol

// TextResult is a small result set the router answers itself, in the
// text protocol: every column a string.
type TextResult struct {
	Columns []string
	Rows    [][]string
}

// Write sends the result set to c, laid out for l, ending with status.
func (t TextResult) Write(c *Conn, l Layout, status uint16) error {
	var p []byte
	p = appendLenenc(p, uint64(len(t.Columns)))
	if l.CacheMetadata {
		p = append(p, 1) // metadata follows
	}
	if err := c.WritePacket(p); err != nil {
		return err
	}
	for _, name := range t.Columns {
		p = p[:0]
		for _, s := range []string{"def", "", "", "", name, name} {
			p = appendLenencBytes(p, []byte(s))
		}
		if l.ExtendedTypeInfo {
			p = append(p, 0) // no extended type information
		}
		// Fixed fields: utf8mb3_general_ci, 1024 bytes, VAR_STRING, no
		// flags, 39 decimals (not numeric), filler.
		p = append(p, 0x0c, 33, 0, 0, 4, 0, 0, 0xfd, 0, 0, 39, 0, 0)
		if err := c.WritePacket(p); err != nil {
			return err
		}
	}
	if !l.DeprecateEOF {
		if err := c.WritePacket([]byte{headerEOF, 0, 0, byte(status), byte(status >> 8)}); err != nil {
			return err
		}
	}
	for _, row := range t.Rows {
		p = p[:0]
		for _, v := range row {
			p = appendLenencBytes(p, []byte(v))
		}
		if err := c.WritePacket(p); err != nil {
			return err
		}
	}
	if l.DeprecateEOF {
		p = OK{Status: status}.Append(p[:0], headerEOF, false)
	} else {
		p = append(p[:0], headerEOF, 0, 0, byte(status), byte(status>>8))
	}
	if err := c.WritePacket(p); err != nil {
		return err
	}
	return c.Flush()
}
