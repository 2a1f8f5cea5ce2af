package clv

import "bytes"

// splitter cuts a line into fields without allocating: fields point into the
// line, or into scratch for quoted fields whose quotes had to be removed.
type splitter struct {
	delim   byte // whitespaceDelim: runs of spaces and tabs
	need    int  // stop after this many fields; the rest are not looked at
	fields  [][]byte
	scratch []byte
	open    int // after split fails: the field whose quote does not close on the line, or -1 (a misplaced quote)
	// rest is what follows the need fields when the line has more (after
	// the delimiter that ends the last one, so possibly empty); nil when
	// it has no more.
	rest []byte
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// trimSpace trims spaces and tabs (bytes.TrimSpace also looks for Unicode
// spaces, which costs more and no log needs).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// split fills s.fields with the first s.need fields of line and returns how
// many it found (fewer than need on a short row). ok is false when a quoted
// field is unterminated or followed by something other than the delimiter;
// s.open then says which field, if unterminated.
func (s *splitter) split(line []byte) (n int, ok bool) {
	f := s.fields[:0]
	s.rest = nil
	switch {
	case s.delim == whitespaceDelim:
		i := 0
		for len(f) < s.need {
			for i < len(line) && isSpace(line[i]) {
				i++
			}
			if i == len(line) {
				break
			}
			j := i
			for j < len(line) && !isSpace(line[j]) {
				j++
			}
			fld := line[i:j]
			if len(fld) >= 2 && fld[0] == '"' && fld[len(fld)-1] == '"' {
				fld = fld[1 : len(fld)-1]
			}
			f = append(f, fld)
			i = j
		}
		if len(f) == s.need && len(trimSpace(line[i:])) > 0 {
			s.rest = line[i:]
		}
	case bytes.IndexByte(line, '"') >= 0:
		s.fields = f
		return s.splitQuoted(line)
	default:
		for len(f) < s.need {
			i := bytes.IndexByte(line, s.delim)
			if i < 0 {
				f = append(f, trimSpace(line))
				line = nil
				break
			}
			f = append(f, trimSpace(line[:i]))
			line = line[i+1:]
		}
		s.rest = line
	}
	s.fields = f
	return len(f), true
}

// splitQuoted handles RFC 4180 quoting: "a, b" is one field and "" inside
// quotes is a quote. A quote inside an unquoted field is kept as is. A
// quote that does not close on its line fails the line, also in a field
// after the last one needed, so that the error names the line where the
// field began rather than the next one; the parser then reads on to the
// end of the record (csvrecord.go) and splits the record, in which quoted
// fields hold line breaks.
func (s *splitter) splitQuoted(line []byte) (int, bool) {
	f := s.fields[:0]
	s.open = -1
	if cap(s.scratch) < len(line) {
		s.scratch = make([]byte, 0, len(line)+len(line)/2)
	}
	sc := s.scratch[:0] // never grows past len(line): fields may point into it
	i := 0
	ended := false
	for len(f) < s.need {
		for i < len(line) && line[i] != s.delim && isSpace(line[i]) {
			i++
		}
		if i < len(line) && line[i] == '"' {
			start := len(sc)
			i++
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					s.fields, s.open = f, len(f)
					return len(f), false
				}
				sc = append(sc, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' {
					sc = append(sc, '"')
					i++
					continue
				}
				break
			}
			f = append(f, sc[start:len(sc):len(sc)])
			for i < len(line) && line[i] != s.delim && isSpace(line[i]) {
				i++
			}
			if i == len(line) {
				ended = true
				break
			}
			if line[i] != s.delim {
				s.fields = f
				return len(f), false
			}
			i++
			continue
		}
		j := bytes.IndexByte(line[i:], s.delim)
		if j < 0 {
			f = append(f, trimSpace(line[i:]))
			i = len(line)
			ended = true
			break
		}
		f = append(f, trimSpace(line[i:i+j]))
		i += j + 1
	}
	s.fields, s.scratch = f, sc
	if !ended {
		s.rest = line[i:]
	}
	if i < len(line) {
		if k := openField(line[i:], s.delim); k >= 0 {
			s.open = len(f) + k
			return len(f), false
		}
	}
	return len(f), true
}

// openField returns the index of the first field of rest (fields that
// split does not need) whose quote does not close on the line, or -1.
// Other quoting mistakes in those fields are not looked for: their values
// are not read.
func openField(rest []byte, delim byte) int {
	for k, i := 0, 0; i < len(rest); k++ {
		for i < len(rest) && rest[i] != delim && isSpace(rest[i]) {
			i++
		}
		if i < len(rest) && rest[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(rest[i:], '"')
				if j < 0 {
					return k
				}
				i += j + 1
				if i < len(rest) && rest[i] == '"' {
					i++
					continue
				}
				break
			}
		}
		j := bytes.IndexByte(rest[i:], delim)
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return -1
}
