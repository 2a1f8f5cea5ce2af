package clv

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// sniffLines is how many non-empty lines detection looks at.
const sniffLines = 64

// sampleLines returns up to sniffLines non-empty complete lines from the
// start of data (CR stripped), with the 1-based line number of the first.
// Over-long lines and lines with NUL bytes are left for the parser to
// report as bad rows.
// eof says data is the whole file, so a last line without newline counts.
func sampleLines(data []byte, eof bool) (lines [][]byte, first int64) {
	var ln int64
	for len(data) > 0 && len(lines) < sniffLines {
		i := bytes.IndexByte(data, '\n')
		if i < 0 && !eof {
			break
		}
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		ln++
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(trimSpace(line)) == 0 || len(line) > MaxLineBytes || bytes.IndexByte(line, 0) >= 0 {
			continue
		}
		if len(lines) == 0 {
			first = ln
		}
		lines = append(lines, line)
	}
	return lines, first
}

// detectDelimiter picks the delimiter that splits the sample lines into the
// same number of fields most consistently: comma, tab, semicolon, pipe, in
// that order on ties; failing all, runs of whitespace.
func detectDelimiter(lines [][]byte) (byte, error) {
	best, bestScore := byte(0), 0.0
	for _, d := range []byte{',', '\t', ';', '|'} {
		freq := map[int]int{}
		for _, l := range lines {
			freq[bytes.Count(l, []byte{d})]++
		}
		mode, modeN := 0, 0
		for c, n := range freq {
			if n > modeN || n == modeN && c > mode {
				mode, modeN = c, n
			}
		}
		if mode == 0 {
			continue
		}
		score := float64(modeN) / float64(len(lines))
		if score > bestScore { // strictly: the earlier candidate wins a tie
			best, bestScore = d, score
		}
	}
	if best != 0 && bestScore >= 0.5 {
		return best, nil
	}
	sp := splitter{delim: whitespaceDelim, need: 1 << 20}
	multi := 0
	for _, l := range lines {
		if n, _ := sp.split(l); n >= 2 {
			multi++
		}
	}
	if float64(multi) >= 0.5*float64(len(lines)) {
		return whitespaceDelim, nil
	}
	return 0, errors.New(`cannot tell the delimiter from the first lines (tried comma, tab, semicolon, pipe and whitespace); set it (--delimiter)`)
}

// valueLike counts the fields that parse as a number or a date: data rows
// have at least the amount and the date, header rows usually none.
func valueLike(fields [][]byte, layout string) (values, dates int) {
	dp := dateParser{layout: layout}
	for _, f := range fields {
		_, isDate := dp.parse(f)
		if !isDate && layout != "" {
			_, isDate = parseBuiltinDate(f)
		}
		if isDate {
			dates++
		}
		if _, isNum := parseFloat(f); isNum || isDate {
			values++
		}
	}
	return values, dates
}

// detectHeader decides whether the first sample line is a header: it has no
// date and fewer value-like fields than the line after it.
func detectHeader(lines [][]byte, delim byte, layout string) bool {
	sp := splitter{delim: delim, need: 1 << 20}
	fields := func(l []byte) [][]byte {
		sp.split(l)
		return append([][]byte(nil), sp.fields...)
	}
	v0, d0 := valueLike(fields(lines[0]), layout)
	if d0 > 0 {
		return false
	}
	v1 := 1
	if len(lines) > 1 {
		v1, _ = valueLike(fields(lines[1]), layout)
		v1 = max(v1, 1)
	}
	return v0 < v1
}

// headerNames splits a header line into names, trimmed of quotes and a BOM.
func headerNames(line []byte, delim byte) []string {
	sp := splitter{delim: delim, need: 1 << 20}
	sp.split(line)
	names := make([]string, len(sp.fields))
	for i, f := range sp.fields {
		names[i] = strings.TrimSpace(string(f))
		if names[i] == "" {
			names[i] = strconv.Itoa(i + 1)
		}
	}
	return names
}

// namesColumns reports whether any column spec is a name rather than an
// index, which makes a header mandatory.
func namesColumns(o *Options) bool {
	specs := []string{o.Customer, o.Date, o.Quantity}
	if !o.CountOnly() { // "none" names no column
		specs = append(specs, o.Amount)
	}
	for _, s := range append(specs, o.Extra...) {
		s = strings.TrimSpace(s)
		if s != "" && s != "-" && !isIndex(s) {
			return true
		}
	}
	return false
}
