package clv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// headerAgain reports whether line, a row on its way to being bad, is a
// header line mid-file (exports joined together): its fields hold the
// names of the customer and date columns. An identical header is a bad row
// (ReasonHeader); one with other columns is fatal (ReasonHeaderChanged),
// because the rows after it have other positions: it is recorded as a bad
// row and as the batch's error, and parsing stops.
func (p *csvParser) headerAgain(line []byte, ln int64, b *batch) bool {
	c := p.cfg
	if c.header == nil {
		return false
	}
	nf, ok := p.all.split(line)
	if !ok {
		return false
	}
	names := rowNames(p.all.fields[:nf])
	norm := make([]string, len(names))
	for i, n := range names {
		norm[i] = normalizeName(n)
	}
	for _, pos := range [...]int{colCustomer, colDate} {
		if !slices.Contains(norm, normalizeName(c.header[c.cols.idx[pos]])) {
			return false
		}
	}
	old := headerCols(c.header)
	if slices.EqualFunc(names, old, func(a, b string) bool { return normalizeName(a) == normalizeName(b) }) {
		b.addBad(ln, ReasonHeader, "", "looks like a repeated header line (files joined together?); remove it, or skip it with --skip-bad-rows")
		return true
	}
	msg := headerChangedMsg(old, names, c.headerLine)
	b.addBad(ln, ReasonHeaderChanged, "", msg)
	b.err = &headerChangedError{line: p.base + ln, msg: msg}
	p.stop = true
	return true
}

// rowNames are the fields of a header line mid-file as names: a byte order
// mark before the first (each joined file has its own) and the quotes it
// then keeps removed, trailing empty fields dropped.
func rowNames(f [][]byte) []string {
	names := make([]string, len(f))
	for i, b := range f {
		if i == 0 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		names[i] = strings.TrimSpace(strings.Trim(string(b), `"`))
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	return names
}

// headerCols is the file's header as rowNames reads a line: the names
// headerNames gave empty fields are empty again, trailing ones dropped.
func headerCols(header []string) []string {
	names := make([]string, len(header))
	for i, h := range header {
		if h != strconv.Itoa(i+1) {
			names[i] = h
		}
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	return names
}

// headerChangedMsg says how the columns of a header line mid-file differ
// from the file's header (on line headerLine).
func headerChangedMsg(old, now []string, headerLine int64) string {
	find := func(list []string, name string) int {
		return slices.IndexFunc(list, func(s string) bool { return normalizeName(s) == normalizeName(name) })
	}
	var diff []string
	add := func(s string) {
		if len(diff) < 4 {
			diff = append(diff, s)
		} else if len(diff) == 4 {
			diff = append(diff, "...")
		}
	}
	for _, n := range now {
		if n != "" && find(old, n) < 0 {
			add("added " + n)
		}
	}
	for _, o := range old {
		if o != "" && find(now, o) < 0 {
			add("removed " + o)
		}
	}
	for i, o := range old {
		if j := find(now, o); o != "" && j >= 0 && j != i {
			add(fmt.Sprintf("%s moved from field %d to %d", o, i+1, j+1))
		}
	}
	return fmt.Sprintf("a header line with other columns (exports joined together?): %s; the header on line %d has %s (%s): split the file, or give its parts the same columns",
		headerList(now), headerLine, headerList(old), strings.Join(diff, "; "))
}

// longRowMsg explains a row with more fields than the header (or the
// first row): an unquoted thousands separator or decimal comma where it
// can tell, else an unquoted delimiter in some value.
func (p *csvParser) longRowMsg(line []byte) string {
	nf, _ := p.all.split(line)
	f := p.all.fields[:nf]
	for len(f) > 0 && len(f[len(f)-1]) == 0 {
		f = f[:len(f)-1]
	}
	want := "the header has"
	if p.cfg.header == nil {
		want = "the first row has"
	}
	msg := fmt.Sprintf("long row: %d fields, but %s %d", len(f), want, p.cfg.fields)
	extra := len(f) - p.cfg.fields
	if p.cfg.delim == ',' && extra > 0 {
		// Where a number was split: the numeric columns first.
		var ks []int
		for pos := colAmount; pos < len(p.cfg.cols.idx); pos++ {
			if k := p.cfg.cols.idx[pos]; k >= 0 {
				ks = append(ks, k)
			}
		}
		for k := range f {
			ks = append(ks, k)
		}
		for _, k := range ks {
			if k+extra >= len(f) {
				continue
			}
			joined := bytes.Join(f[k:k+extra+1], []byte{','})
			if groupedOrMoney(joined, '.') {
				return msg + fmt.Sprintf(": an unquoted thousands separator in %s? quote the field or drop the separator", quoteField(joined))
			}
			if groupedOrMoney(joined, ',') && extra == 1 {
				return msg + fmt.Sprintf(": an unquoted decimal comma in %s? quote the field, or write the file with another delimiter and read it with --decimal ,", quoteField(joined))
			}
		}
	}
	return msg + fmt.Sprintf(": an unquoted %s inside a value? quote such values", delimiterWord(p.cfg.delim))
}

// groupedOrMoney reports whether b, fields joined back together, reads as
// a number with the decimal separator dec, bare ("1,234.56") or written
// like money ("$1,234.56", money.go).
func groupedOrMoney(b []byte, dec byte) bool {
	if _, ok := parseGrouped(b, dec); ok {
		return true
	}
	_, _, ok := parseMoney(b, dec)
	return ok
}

// delimiterNote adds to an error about the columns, on a file whose
// delimiter was detected, which delimiter that was, when another one would
// find the columns or the header names hold another delimiter.
func delimiterNote(err error, lines [][]byte, delim byte, header []string, o *Options) error {
	for _, d := range []byte{',', '\t', ';', '|'} {
		if d == delim {
			continue
		}
		var h []string
		data := lines[0]
		if header != nil {
			if h = headerNames(lines[0], d); len(h) < 2 {
				continue
			}
			if len(lines) > 1 {
				data = lines[1]
			}
		}
		sp := splitter{delim: d, need: 1 << 20}
		nf, _ := sp.split(data)
		if nf < 2 {
			continue
		}
		if _, e := resolveColumns(o, h, nf); e == nil {
			return fmt.Errorf("%w (the delimiter was detected as %s; with --delimiter %s the columns are found: set it)",
				err, delimiterName(delim), delimiterName(d))
		}
	}
	for _, h := range header {
		if strings.ContainsAny(h, ",;\t|") {
			return fmt.Errorf("%w (the delimiter was detected as %s, but the header name %s holds another one: set --delimiter)",
				err, delimiterName(delim), quoteField([]byte(h)))
		}
	}
	return err
}

// notUTF8Lines recognises two kinds of text the reader cannot split into
// lines: UTF-16 (Excel's "Unicode Text") and lines ended by CR alone
// (classic Mac OS).
func notUTF8Lines(data []byte) error {
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return errors.New(`the file is UTF-16 text (Excel's "Unicode Text"?): save it as UTF-8 (CSV UTF-8) and read that`)
	}
	if bytes.IndexByte(data, '\n') < 0 && bytes.Count(data, []byte{'\r'}) > 1 {
		return errors.New(`the lines end in CR alone (classic Mac OS line ends): convert them to LF or CRLF (e.g. tr '\r' '\n')`)
	}
	return nil
}
