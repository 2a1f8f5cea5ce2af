package clv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// sniffLines is how many non-empty lines detection looks at.
const sniffLines = 64

// sampleLines returns up to sniffLines non-empty complete records from the
// start of data (CR stripped), with the 1-based line number of the first.
// A record is a line, or several joined when a quote opened on one closes
// on a later one (a quoted field with line breaks; the delimiter is not
// known yet, so an odd number of quotes is what says a line goes on); a
// quote that does not close within the sample leaves its line alone.
// Over-long lines and lines with NUL bytes are left for the parser to
// report as bad rows, and lines of delimiters only (",,,") are blank.
// eof says data is the whole file, so a last line without newline counts.
func sampleLines(data []byte, eof bool) (lines [][]byte, first int64) {
	var ln int64
	next := func() ([]byte, bool) {
		i := bytes.IndexByte(data, '\n')
		if i < 0 && !eof || len(data) == 0 {
			return nil, false
		}
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		ln++
		return bytes.TrimSuffix(line, []byte{'\r'}), true
	}
	for len(lines) < sniffLines {
		line, ok := next()
		if !ok {
			break
		}
		start := ln
		if bytes.Count(line, []byte{'"'})%2 == 1 {
			saved, savedLn := data, ln
			rec := append([]byte(nil), line...)
			closed := false
			for k := 0; k < sniffLines && len(rec) <= MaxLineBytes; k++ {
				more, ok := next()
				if !ok {
					break
				}
				rec = append(append(rec, '\n'), more...)
				if bytes.Count(more, []byte{'"'})%2 == 1 {
					closed = true
					break
				}
			}
			if closed {
				line = rec
			} else {
				data, ln = saved, savedLn
			}
		}
		if len(trimSpace(line)) == 0 || onlyDelimiters(bytes.Map(delimToComma, line), ',') ||
			len(line) > MaxLineBytes || bytes.IndexByte(line, 0) >= 0 {
			continue
		}
		if len(lines) == 0 {
			first = start
		}
		lines = append(lines, line)
	}
	return lines, first
}

// delimToComma maps the candidate delimiters to a comma, for telling a line
// of delimiters only before the delimiter is known.
func delimToComma(r rune) rune {
	switch r {
	case ';', '\t', '|':
		return ','
	}
	return r
}

// countDelimiter counts the delimiters d in a record outside quoted fields
// (a quote opens a field only at its start, as the parser reads it).
func countDelimiter(rec []byte, d byte) int {
	n := 0
	for i := 0; ; {
		for i < len(rec) && rec[i] != d && isSpace(rec[i]) {
			i++
		}
		if i < len(rec) && rec[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(rec[i:], '"')
				if j < 0 {
					return n
				}
				i += j + 1
				if i < len(rec) && rec[i] == '"' {
					i++
					continue
				}
				break
			}
		}
		j := bytes.IndexByte(rec[i:], d)
		if j < 0 {
			return n
		}
		n++
		i += j + 1
	}
}

// detectDelimiter picks the delimiter that splits the sample lines into the
// same number of fields most consistently: comma, tab, semicolon, pipe, in
// that order on ties; failing all, runs of whitespace. Delimiters inside
// quoted fields ("Gift, wrap") do not count. With decimal commas (dec ',')
// the comma is not a candidate: the numbers have commas in them.
func detectDelimiter(lines [][]byte, dec byte) (byte, error) {
	best, bestScore := byte(0), 0.0
	for _, d := range []byte{',', '\t', ';', '|'} {
		if d == dec {
			continue
		}
		freq := map[int]int{}
		for _, l := range lines {
			freq[countDelimiter(l, d)]++
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
// have at least the amount and the date, header rows usually none. A date
// outside the supported years counts: it is a bad row, not a header.
func valueLike(fields [][]byte, layout string, dec byte) (values, dates int) {
	dp := dateParser{layout: layout}
	for _, f := range fields {
		_, st := dp.parse(f)
		isDate := st != dateInvalid
		if !isDate && layout != "" {
			_, isDate = parseBuiltinDate(f)
		}
		if isDate {
			dates++
		}
		if _, isNum := parseNumber(f, dec); isNum || isDate {
			values++
		} else if _, _, isMoney := parseMoney(f, dec); isMoney { // "$12.50"
			values++
		}
	}
	return values, dates
}

// detectHeader decides whether the first sample line is a header: it has no
// date and fewer value-like fields than the line after it.
func detectHeader(lines [][]byte, delim byte, layout string, dec byte) bool {
	sp := splitter{delim: delim, need: 1 << 20}
	fields := func(l []byte) [][]byte {
		sp.split(l)
		return append([][]byte(nil), sp.fields...)
	}
	v0, d0 := valueLike(fields(lines[0]), layout, dec)
	if d0 > 0 {
		return false
	}
	v1 := 1
	if len(lines) > 1 {
		v1, _ = valueLike(fields(lines[1]), layout, dec)
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

// firstLineIsData reports whether line, the first of a file whose columns
// are named (so a header was expected), is a data row after all: none of
// its fields is a column name o gives, and it has a date, or only numbers
// and dates. The name is then reported as missing from a file without a
// header, not from a "header" of data.
func firstLineIsData(line []byte, delim byte, o *Options, dec byte) bool {
	names := headerNames(line, delim)
	norm := make([]string, len(names))
	for i, h := range names {
		norm[i] = normalizeName(h)
	}
	specs := append([]string{o.Customer, o.Date, o.Amount, o.Quantity}, o.Extra...)
	for _, s := range specs {
		if s = strings.TrimSpace(s); s != "" && s != "-" && !isIndex(s) && findName(norm, []string{normalizeName(s)}) >= 0 {
			return false
		}
	}
	sp := splitter{delim: delim, need: 1 << 20}
	sp.split(line)
	values, dates := valueLike(sp.fields, o.DateFormat, dec)
	return dates > 0 || values == len(sp.fields)
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

// delimiterWord names a delimiter in prose: "comma-separated".
func delimiterWord(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '|':
		return "pipe"
	case '\t':
		return "tab"
	}
	return "whitespace"
}

// checkDelimiter refuses a delimiter that does not split the first line
// into the two columns every log has at least, naming the one the file
// seems to use. The remedy depends on where the delimiter came from: one
// the user gave goes by leaving --delimiter out, but one taken from a
// model's training options (role "delimiter" in Options.ColumnsFromModel)
// is used because the flag was left out, so only --delimiter "" (detect)
// or another delimiter overrides it.
func checkDelimiter(lines [][]byte, delim, dec byte, o *Options) error {
	sp := splitter{delim: delim, need: 2}
	if n, _ := sp.split(lines[0]); n >= 2 {
		return nil
	}
	inherited := slices.Contains(o.ColumnsFromModel, "delimiter")
	source := "--delimiter"
	if inherited {
		source = "the model was trained with --delimiter " + shellWord(o.Delimiter)
	}
	msg := fmt.Sprintf("the delimiter %q (%s) does not split the first line into columns: %s",
		delimiterName(delim), source, quoteField(lines[0]))
	d, err := detectDelimiter(lines, dec)
	switch {
	case err == nil && d != delim && inherited:
		msg += fmt.Sprintf(`; the file looks %s-separated: --delimiter "" detects it, or --delimiter %s sets it`,
			delimiterWord(d), shellWord(delimiterName(d)))
	case err == nil && d != delim:
		msg += fmt.Sprintf("; the file looks %s-separated: leave --delimiter out to detect it", delimiterWord(d))
	case inherited:
		msg += `; set this file's with --delimiter, or --delimiter "" to detect it`
	}
	return errors.New(msg)
}

// notCSV recognises the files people mistake for CSV by their first bytes:
// spreadsheets and ZIP archives, and Parquet where it reaches the CSV
// reader: on a stream, which sniffFormat cannot seek to check, or with
// format (Options.Format) "csv". Gzip was undone before.
func notCSV(br *bufio.Reader, format string) error {
	head, _ := br.Peek(4096)
	switch {
	case bytes.HasPrefix(head, []byte(parquetMagic)) && strings.EqualFold(format, "csv"):
		return errors.New("this is a Parquet file, not CSV: leave --format csv out to read it as Parquet")
	case bytes.HasPrefix(head, []byte(parquetMagic)):
		return errParquetStream
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		if bytes.Contains(head, []byte("xl/")) || bytes.Contains(head, []byte("[Content_Types].xml")) {
			return errors.New("this is an Excel workbook (.xlsx), not a CSV file: export the sheet as CSV (Save As, CSV UTF-8) and read that")
		}
		if bytes.Contains(head, []byte("opendocument.spreadsheet")) {
			return errors.New("this is an OpenDocument spreadsheet (.ods), not a CSV file: export the sheet as CSV and read that")
		}
		return errors.New("this is a ZIP archive, not a CSV file: unzip it and read the file inside (gzip-compressed CSV is read as it is)")
	case bytes.HasPrefix(head, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		return errors.New("this is an Excel 97-2003 workbook (.xls) or another Office file, not a CSV file: export the sheet as CSV and read that")
	}
	return nil
}

// gzipReader is the decompressed stream of a gzip file; its errors say
// that the compressed data, not the CSV, is at fault.
type gzipReader struct{ r io.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError(err)
	}
	return n, err
}

// gzipError explains an error of the gzip layer.
func gzipError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the gzip stream is truncated (the file ends before its compressed data does; was a download or copy cut short?): %w", err)
	}
	return fmt.Errorf("the gzip stream is corrupt: %w", err)
}

// binaryLines reports whether most sample lines look binary: control bytes
// other than tab, or mostly bytes above ASCII (text in a legacy 8-bit
// encoding such as Latin-1 has a few of those, not a majority).
func binaryLines(lines [][]byte) bool {
	bin := 0
	for _, l := range lines {
		high := 0
		for _, c := range l {
			switch {
			case c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f: // a record may span lines
				high = len(l)
			case c >= 0x80:
				high++
			}
		}
		if 10*high > 3*len(l) {
			bin++
		}
	}
	return 2*bin > len(lines)
}
