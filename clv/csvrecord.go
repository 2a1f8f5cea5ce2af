package clv

import "bytes"

// Records. A record is a line, or several when a quoted field holds line
// breaks (RFC 4180; Shopify notes and addresses, CRM exports): the newline
// that ends a record is one outside quoted fields. A quote opens a quoted
// field only at the start of a field, as splitQuoted reads it, so that a
// stray quote inside a value (12" pizza) does not swallow the lines after
// it. A quoted field that does not close within MaxLineBytes of its
// record's start, or before the end of the file, does not make a record:
// its line is then a record of its own (a bad row), and the lines after it
// are records again.
//
// Where records end depends only on the bytes from the record's start
// (and, within MaxLineBytes, whether the input goes on), never on where
// the reader cut the input into chunks: the reader cuts chunks at record
// ends, and every parser finds the same records in its chunk.

// recordEnd returns the length of the record at the start of data,
// through the newline that ends it (all of data when the input ends
// without one). more is true when data ends before that can be told and
// final is false: the reader must read on. A record of more than
// maxFields fields (0: no limit) is not one: its quote is a stray one
// (each line after it opening the next field, as a quote in every row
// does), and giving up there keeps the scans short.
func recordEnd(data []byte, delim byte, final bool, maxFields int) (n int, more bool) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		if final {
			return len(data), false
		}
		return 0, true
	}
	if delim == whitespaceDelim || bytes.IndexByte(data[:nl], '"') < 0 || openField(data[:nl], delim) < 0 {
		return nl + 1, false
	}
	view := data[:min(len(data), MaxLineBytes)]
	e := quotedRecordEnd(view, delim, maxFields)
	if e > 0 {
		return e, false
	}
	if e == -1 && len(view) == len(data) && !final {
		return 0, true
	}
	return nl + 1, false // the quote does not close: the line alone
}

// quotedRecordEnd returns the index just past the newline that ends the
// record at the start of b, one outside quoted fields, -1 when b ends
// first, or -2 when the record has more than maxFields fields (0: no
// limit).
func quotedRecordEnd(b []byte, delim byte, maxFields int) int {
	i, fields := 0, 1
	for {
		for i < len(b) && b[i] != delim && isSpace(b[i]) {
			i++
		}
		if i < len(b) && b[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(b[i:], '"')
				if j < 0 {
					return -1
				}
				i += j + 1
				if i < len(b) && b[i] == '"' {
					i++
					continue
				}
				break
			}
		}
		// The rest of the field (anything after a closing quote is a
		// misplaced quote, which the parser reports): up to the delimiter
		// or the end of the line.
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return -1
		}
		if d := bytes.IndexByte(b[i:i+nl], delim); d >= 0 {
			i += d + 1
			if fields++; maxFields > 0 && fields > maxFields {
				return -2
			}
			continue
		}
		return i + nl + 1
	}
}

// lastRecordEnd returns where the last complete record of data ends: the
// reader cuts its chunk there. Without quotes every line is a record.
func lastRecordEnd(data []byte, delim byte, maxFields int) int {
	if delim == whitespaceDelim || bytes.IndexByte(data, '"') < 0 {
		return bytes.LastIndexByte(data, '\n') + 1
	}
	pos := 0
	for pos < len(data) {
		n, more := recordEnd(data[pos:], delim, false, maxFields)
		if more {
			break
		}
		pos += n
	}
	return pos
}

// maxRecordFields is the most fields a record of several lines may have
// in a file whose rows have fields fields: twice as many, and some, allow
// for padding.
func maxRecordFields(fields int) int { return 2*fields + 8 }

// countFields counts the fields of rest, the part of a line after the
// fields split needed, up to its last non-empty one: trailing empty fields
// (Excel pads rows with ",,") do not count.
func countFields(rest []byte, delim byte) int {
	if delim == whitespaceDelim {
		n := 0
		for i := 0; i < len(rest); {
			for i < len(rest) && isSpace(rest[i]) {
				i++
			}
			if i == len(rest) {
				break
			}
			n++
			for i < len(rest) && !isSpace(rest[i]) {
				i++
			}
		}
		return n
	}
	end := len(rest)
	for end > 0 && (rest[end-1] == delim || isSpace(rest[end-1])) {
		end--
	}
	rest = rest[:end]
	if len(rest) == 0 {
		return 0
	}
	if bytes.IndexByte(rest, '"') < 0 {
		return bytes.Count(rest, []byte{delim}) + 1
	}
	n, last := 0, 0
	for i := 0; ; {
		n++
		for i < len(rest) && rest[i] != delim && isSpace(rest[i]) {
			i++
		}
		empty := true
		if i < len(rest) && rest[i] == '"' {
			start := i
			i++
			for {
				j := bytes.IndexByte(rest[i:], '"')
				if j < 0 {
					return n // unterminated: split has reported it
				}
				i += j + 1
				if i < len(rest) && rest[i] == '"' {
					i++
					continue
				}
				break
			}
			empty = i-start == 2
		}
		j := bytes.IndexByte(rest[i:], delim)
		if j < 0 {
			j = len(rest) - i
		}
		if !empty || len(trimSpace(rest[i:i+j])) > 0 {
			last = n
		}
		i += j + 1
		if i > len(rest) {
			return last
		}
	}
}

// onlyDelimiters reports whether line holds nothing but delimiters and
// spaces: the empty rows (",,,") spreadsheets write below the data, which
// are blank lines.
func onlyDelimiters(line []byte, delim byte) bool {
	for _, c := range line {
		if c != delim && !isSpace(c) {
			return false
		}
	}
	return true
}
