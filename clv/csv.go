package clv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// readBufSize is the size of one read chunk. It is twice MaxLineBytes so
// that the unfinished line carried into the next chunk always leaves room
// for at least MaxLineBytes of fresh data.
const readBufSize = 2 * MaxLineBytes

// parseConfig is what every parser goroutine shares, read-only.
type parseConfig struct {
	delim      byte
	cols       colMap
	layout     string
	layoutNote string   // where layout came from, for date errors (layoutNote)
	dec        byte     // decimal separator, '.' or ','
	header     []string // header names, for messages; nil without a header
	negative   NegativePolicy
	hasCutoff  bool
	cutoff     int32 // rows dated after this day are ignored
	headerLine int64 // line number of the header in the first chunk; 0 without one
	seed       maphash.Seed
	// fields is how many fields a row may have: the header's, or the
	// first row's without a header. More (not counting trailing empty
	// ones) make a long row.
	fields int
	stats  *csvStats // what the parsers count for the warnings (csvwarn.go)
}

// csvSource is an opened, sniffed CSV stream: the first buffer has been read
// and the columns resolved.
type csvSource struct {
	cfg     parseConfig
	r       io.Reader
	buf     []byte
	fill    int
	eof     bool
	gzipped bool
}

// openCSV reads the first chunk of r, undoes gzip, and detects the
// delimiter, the header and the column mapping.
func openCSV(r io.Reader, o *Options, headerMode string) (*csvSource, []string, error) {
	dec, err := parseDecimal(o.Decimal)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	src := &csvSource{r: br}
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, gzipError(err)
		}
		src.r, src.gzipped = gzipReader{zr}, true
	}
	if !src.gzipped {
		if err := notCSV(br, o.Format); err != nil {
			return nil, nil, err
		}
	}
	// Small files are common (tests, samples): read 64 KiB first and grow
	// to a full chunk only when there is more.
	src.buf = make([]byte, 64<<10)
	n, err := readFull(src.r, src.buf)
	if err == nil {
		src.buf = append(src.buf, make([]byte, readBufSize-len(src.buf))...)
		var m int
		m, err = readFull(src.r, src.buf[n:])
		n += m
	}
	switch {
	case err == io.EOF:
		src.eof = true
	case err != nil:
		return nil, nil, err
	}
	src.fill = n
	if bytes.HasPrefix(src.buf[:n], []byte("\xef\xbb\xbf")) { // UTF-8 byte order mark
		src.fill = copy(src.buf, src.buf[3:n])
	}
	data := src.buf[:src.fill]
	if len(bytes.TrimSpace(data)) == 0 && src.eof {
		return nil, nil, errors.New("the file is empty")
	}
	if err := notUTF8Lines(data); err != nil {
		return nil, nil, err
	}
	lines, first := sampleLines(data, src.eof)
	if len(lines) == 0 {
		if bytes.IndexByte(data, '\n') < 0 {
			return nil, nil, fmt.Errorf("line 1 is longer than %d bytes; is this a text file?", MaxLineBytes)
		}
		return nil, nil, errors.New("no text lines at the start of the file (binary data?); is this a CSV file?")
	}
	if binaryLines(lines) {
		return nil, nil, fmt.Errorf("the start of the file is not text (binary data?): %s; is this a CSV file?", quoteField(lines[0]))
	}
	delim, given, err := parseDelimiter(o.Delimiter)
	if err != nil {
		return nil, nil, err
	}
	if !given {
		if delim, err = detectDelimiter(lines, dec); err != nil {
			return nil, nil, err
		}
	} else if err := checkDelimiter(lines, delim, dec, o); err != nil {
		return nil, nil, err
	}
	hasHeader := headerMode == "yes"
	if headerMode == "auto" {
		hasHeader = detectHeader(lines, delim, o.DateFormat, dec) || namesColumns(o) && !firstLineIsData(lines[0], delim, o, dec)
	}
	var header []string
	dataLine := lines[0]
	if hasHeader {
		header = headerNames(lines[0], delim)
		src.cfg.headerLine = first
		if len(lines) > 1 {
			dataLine = lines[1]
		}
	}
	sp := splitter{delim: delim, need: 1 << 20}
	nf, _ := sp.split(dataLine)
	// Trailing empty fields are padding (Excel's ",,"), not the last
	// column, whose default is the amount without a header.
	for nf > 1 && len(sp.fields[nf-1]) == 0 {
		nf--
	}
	cols, err := resolveColumns(o, header, nf)
	if err != nil {
		if !given {
			err = delimiterNote(err, lines, delim, header, o)
		}
		return nil, nil, err
	}
	src.cfg.delim, src.cfg.cols, src.cfg.layout, src.cfg.negative = delim, cols, o.DateFormat, o.Negative
	src.cfg.layoutNote = layoutNote(o)
	src.cfg.dec, src.cfg.header = dec, header
	src.cfg.fields = len(header)
	if header == nil {
		src.cfg.fields = max(nf, cols.maxIdx+1)
	}
	src.cfg.stats = &csvStats{}
	return src, header, nil
}

// chunk is a run of complete lines handed from the reader to a parser.
type chunk struct {
	buf      []byte // the buffer to recycle
	data     []byte // complete lines (the last chunk may end without '\n')
	seq      int
	line     int64 // lines before data
	last     bool
	overlong bool  // one line longer than the buffer follows data; it was skipped
	err      error // read error after data (last chunk only)
}

// produce runs the reader and the parsers until the input ends or ctx is
// cancelled; it returns when all of them have.
func (c *csvSource) produce(ctx context.Context, workers int, free chan *batch, out chan<- *batch) {
	bufs := make(chan []byte, workers+2)
	chunks := make(chan chunk, workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(chunks)
		c.readLoop(ctx, bufs, workers+2, chunks)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &csvParser{cfg: &c.cfg, sp: splitter{delim: c.cfg.delim, need: c.cfg.cols.maxIdx + 1},
				dp: dateParser{layout: c.cfg.layout}, all: splitter{delim: c.cfg.delim, need: 1 << 20}}
			for {
				var b *batch
				select { // take a batch before a chunk, so the oldest chunk never waits for one
				case b = <-free:
				case <-ctx.Done():
					return
				}
				var ch chunk
				var ok bool
				select {
				case ch, ok = <-chunks:
				case <-ctx.Done():
					return
				}
				if !ok {
					free <- b
					return
				}
				p.parse(ch, b)
				bufs <- ch.buf
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
}

// readLoop cuts the stream into chunks of whole lines. Buffers come back
// through bufs once parsed; at most limit exist, which bounds memory.
func (c *csvSource) readLoop(ctx context.Context, bufs chan []byte, limit int, chunks chan<- chunk) {
	allocated := 1
	getBuf := func() ([]byte, bool) {
		select {
		case b := <-bufs:
			return b, true
		default:
		}
		if allocated < limit {
			allocated++
			return make([]byte, readBufSize), true
		}
		select {
		case b := <-bufs:
			return b, true
		case <-ctx.Done():
			return nil, false
		}
	}
	buf, fill, eof := c.buf, c.fill, c.eof
	var rerr error
	var line int64
	for seq := 0; ; seq++ {
		if !eof {
			n, err := readFull(c.r, buf[fill:])
			fill += n
			switch {
			case err == io.EOF:
				eof = true
			case err != nil:
				eof, rerr = true, err
			}
		}
		ch := chunk{buf: buf, data: buf[:fill], seq: seq, line: line}
		var next []byte
		if eof {
			ch.last, ch.err = true, rerr
		} else {
			var ok bool
			if next, ok = getBuf(); !ok {
				return
			}
			// Cut after the last whole record, so that no quoted field
			// with line breaks is split between two parsers.
			cut := lastRecordEnd(ch.data, c.cfg.delim, maxRecordFields(c.cfg.fields))
			if cut == 0 || fill-cut > MaxLineBytes {
				ch.overlong = true
				fill, eof, rerr = c.skipLine(next)
			} else {
				fill = copy(next, ch.data[cut:])
			}
			ch.data = ch.data[:cut]
			line += int64(bytes.Count(ch.data, []byte{'\n'}))
			if ch.overlong {
				line++
			}
		}
		select {
		case chunks <- ch:
		case <-ctx.Done():
			return
		}
		if ch.last {
			return
		}
		buf = next
	}
}

// readFull is io.ReadFull, except that it returns io.EOF whenever the input
// ended cleanly, so that a reader's own io.ErrUnexpectedEOF (a truncated gzip
// stream) stays an error.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// skipLine discards input up to and including the next newline, leaving
// what follows it at the start of into.
func (c *csvSource) skipLine(into []byte) (fill int, eof bool, err error) {
	for {
		n, rerr := c.r.Read(into)
		if i := bytes.IndexByte(into[:n], '\n'); i >= 0 {
			fill = copy(into, into[i+1:n])
			return fill, rerr != nil, ignoreEOF(rerr)
		}
		if rerr != nil {
			return 0, true, ignoreEOF(rerr)
		}
	}
}

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// csvParser turns chunks into batches; one per parser goroutine.
type csvParser struct {
	cfg  *parseConfig
	sp   splitter
	all  splitter // every field, for the messages of bad rows
	dp   dateParser
	vals []float64

	// per chunk
	hasNUL bool
	last   bool  // the chunk ends the input
	base   int64 // lines before the chunk
	stop   bool  // a fatal row: parse no further
	warn   csvCounts
}

const longLineMsg = "line is longer than 1048576 bytes" // MaxLineBytes

func (p *csvParser) parse(ch chunk, b *batch) {
	b.reset(ch.seq)
	b.last, b.err = ch.last, ch.err
	data := ch.data
	p.hasNUL, p.last, p.base, p.stop = bytes.IndexByte(data, 0) >= 0, ch.last, ch.line, false
	var skip, ln int64
	if ch.seq == 0 {
		skip = p.cfg.headerLine
	}
	plainTo := 0 // lines before this offset belong to a record that did not parse: read them one by one
	for off := 0; off < len(data) && !p.stop; {
		rest := data[off:]
		next := len(rest)
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, next = rest[:i], i+1
		}
		ln++
		var end int
		switch {
		case ln == skip:
			end, _ = recordEnd(rest, p.cfg.delim, true, maxRecordFields(p.cfg.fields))
		case off < plainTo:
			p.line(line, nil, ln, b)
		default:
			var whole bool
			if end, whole = p.line(line, rest, ln, b); !whole && end > next {
				plainTo = off + end
				end = 0
			}
		}
		if end > next {
			// A record of several lines: count the line breaks inside it.
			ln += int64(bytes.Count(rest[:end-1], []byte{'\n'}))
			next = end
		}
		off += next
	}
	if ch.overlong {
		ln++
		b.rows++
		b.addBad(ln, ReasonLongLine, "", longLineMsg)
	}
	b.lines = ln
	p.flushCounts(ch.seq)
}

// line parses the line that starts rest, one record, into b, or records why
// it is bad. When a quoted field does not close on the line, it reads on to
// the end of the record and returns that end: whole says it parsed the
// record, and otherwise (a stray quote, most likely) the lines of the
// record are to be read one by one. rest nil reads the line alone.
func (p *csvParser) line(line, rest []byte, ln int64, b *batch) (end int, whole bool) {
	n0 := len(line)
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 || (isSpace(line[0]) || line[0] == p.cfg.delim) && onlyDelimiters(line, p.cfg.delim) {
		return 0, false // blank, or a spreadsheet's empty row (",,,")
	}
	b.rows++
	if len(line) > MaxLineBytes {
		b.addBad(ln, ReasonLongLine, "", longLineMsg)
		return 0, false
	}
	if p.hasNUL && bytes.IndexByte(line, 0) >= 0 {
		b.addBad(ln, ReasonBinary, "", "binary data (NUL byte) in the line; is this a text file?")
		return 0, false
	}
	nf, ok := p.sp.split(line)
	if ok {
		p.fields(line, nf, ln, b)
		return 0, false
	}
	why := ""
	if rest != nil {
		if end, _ = recordEnd(rest, p.cfg.delim, true, maxRecordFields(p.cfg.fields)); end > n0+1 {
			rec := rest[:end]
			if rec[len(rec)-1] == '\n' {
				rec = rec[:len(rec)-1]
			}
			rec = bytes.TrimSuffix(rec, []byte{'\r'})
			// Every field must be well quoted, not only those split
			// needs: a stray quote that a later one seems to close makes
			// a misplaced quote somewhere.
			if p.strictFit(rec) && (!p.hasNUL || bytes.IndexByte(rec, 0) < 0) {
				nf, _ = p.sp.split(rec)
				p.fields(rec, nf, ln, b)
				return end, true
			}
			why = fmt.Sprintf(" on its line, and closing it on line %d makes a malformed row; a stray double quote?", ln+int64(bytes.Count(rec, []byte{'\n'})))
		} else {
			why = ": no closing quote before the end of the file"
			if !p.last || len(rest) > MaxLineBytes {
				why = fmt.Sprintf(": no closing quote within %d bytes", MaxLineBytes)
			}
		}
		p.sp.split(line) // again, for the field that is open
	}
	if p.sp.open >= 0 {
		if why == "" {
			why = " on its line"
		}
		b.addBad(ln, ReasonQuote, p.cfg.fieldName(p.sp.open), "a quoted field is not closed"+why)
	} else {
		b.addBad(ln, ReasonQuote, "", "misplaced double quote: a quoted field must end at the delimiter")
	}
	return end, false
}

// strictFit reports whether every field of rec is well quoted and rec has
// the fields the header (or first row) has, trailing empty ones aside.
func (p *csvParser) strictFit(rec []byte) bool {
	nf, ok := p.all.split(rec)
	if !ok {
		return false
	}
	for nf > 0 && len(p.all.fields[nf-1]) == 0 {
		nf--
	}
	return nf > p.cfg.cols.maxIdx && nf <= p.cfg.fields
}

// isLong reports whether the row just split, whose first nf fields split
// found, has more fields than the header (or the first row), trailing
// empty fields aside.
func (p *csvParser) isLong(nf int) bool {
	return p.sp.rest != nil && nf+countFields(p.sp.rest, p.cfg.delim) > p.cfg.fields
}

// fields parses the record line, split into nf fields by p.sp.
func (p *csvParser) fields(line []byte, nf int, ln int64, b *batch) {
	cols := &p.cfg.cols
	if nf <= cols.maxIdx {
		if p.headerAgain(line, ln, b) {
			return
		}
		for pos, idx := range cols.idx {
			if idx >= nf {
				msg := fmt.Sprintf("short row: %d fields, but column %s is field %d", nf, cols.display[pos], idx+1)
				if bytes.Count(line, []byte{'"'})%2 == 1 {
					msg += " (an odd number of quotes: the end of a quoted field that began on an earlier line?)"
				}
				b.addBad(ln, ReasonShortRow, "", msg)
				return
			}
		}
	}
	if p.isLong(nf) {
		if !p.headerAgain(line, ln, b) {
			b.addBad(ln, ReasonLongRow, "", p.longRowMsg(line))
		}
		return
	}
	f := p.sp.fields
	id := f[cols.idx[colCustomer]]
	if len(id) == 0 {
		b.addBad(ln, ReasonEmptyID, cols.display[colCustomer], "empty customer id")
		return
	}
	if !utf8.Valid(id) {
		b.addBad(ln, ReasonBinary, cols.display[colCustomer], quoteField(id)+" is not valid UTF-8")
		return
	}
	df := f[cols.idx[colDate]]
	day, st := p.dp.parse(df)
	switch {
	case st == dateOutOfRange:
		b.addBad(ln, ReasonBadDate, cols.display[colDate], outOfRange(quoteField(df)))
		return
	case st != dateOK && p.headerAgain(line, ln, b):
		return
	case st != dateOK && looksTotal(id):
		b.addBad(ln, ReasonBadDate, cols.display[colDate], notDate(df, p.cfg.layout, p.cfg.layoutNote)+
			fmt.Sprintf(": customer %s looks like a spreadsheet's total line; remove it, or skip it with --skip-bad-rows", quoteField(id)))
		return
	case st != dateOK:
		b.addBad(ln, ReasonBadDate, cols.display[colDate], notDate(df, p.cfg.layout, p.cfg.layoutNote))
		return
	}
	// headerAgain split the line anew only on the way to a bad row: f is
	// still p.sp's fields here.
	// A count-only log has no amount column: each row is a purchase, and
	// its day counts once whatever the rows (featureSpec.countOnly).
	amount := 1.0
	var af []byte
	var ok bool
	if ai := cols.idx[colAmount]; ai >= 0 {
		af = f[ai]
		// Plain numbers first: only what parseFloat and the grouped
		// parser refuse pays for the currency forms.
		if amount, ok = parseNumber(af, p.cfg.dec); ok {
			if p.cfg.dec == '.' {
				p.warn.amount(af)
			}
		} else if amount, ok = p.money(af, ln, b); !ok {
			return
		}
	}
	var qty float64
	if qi := cols.idx[colQuantity]; qi >= 0 {
		if qty, ok = parseOptional(f[qi], p.cfg.dec); !ok {
			b.addBad(ln, ReasonNotANumber, cols.display[colQuantity], notNumber(f[qi], p.cfg.dec)+onlyAmountHint(f[qi], p.cfg.dec))
			return
		}
	}
	p.vals = p.vals[:0]
	for k := colExtra0; k < len(cols.idx); k++ {
		v, ok := parseOptional(f[cols.idx[k]], p.cfg.dec)
		if !ok {
			b.addBad(ln, ReasonNotANumber, cols.display[k], notNumber(f[cols.idx[k]], p.cfg.dec)+onlyAmountHint(f[cols.idx[k]], p.cfg.dec))
			return
		}
		p.vals = append(p.vals, v)
	}
	if amount < 0 {
		switch p.cfg.negative {
		case DropNegative:
			b.negatives++
			b.dropped++
			return
		case ErrorNegative:
			b.addBad(ln, ReasonNegative, cols.display[colAmount], quoteField(af)+" is negative (negative amounts are errors under this policy; use net or drop)")
			return
		}
		b.negatives++
	}
	if p.cfg.hasCutoff && day > p.cfg.cutoff {
		b.afterHoldout++
		b.addLate(id, p.cfg.seed)
		return
	}
	b.ids = append(b.ids, id...)
	b.idEnd = append(b.idEnd, int32(len(b.ids)))
	b.hash = append(b.hash, hashID(p.cfg.seed, id))
	b.day = append(b.day, day)
	b.amount = append(b.amount, amount)
	if cols.hasQuantity() {
		b.qty = append(b.qty, qty)
	}
	b.extra = append(b.extra, p.vals...)
	b.n++
}

// money reads an amount that is not a plain number, but may be written
// like money (money.go), and counts its currency. It records a bad row and
// returns false for a field that is not an amount; for an amount in the
// chunk's second currency it returns false and stops the chunk: the
// consumer reports it.
func (p *csvParser) money(af []byte, ln int64, b *batch) (float64, bool) {
	v, m, ok := parseMoney(af, p.cfg.dec)
	if !ok {
		b.addBad(ln, ReasonNotANumber, p.cfg.cols.display[colAmount], notAmount(af, p.cfg.dec))
		return 0, false
	}
	if m.cur.key != "" && !b.sawCurrency(m.cur, af, ln) {
		p.stop = true
		return 0, false
	}
	if p.cfg.dec == '.' {
		p.warn.amount(m.num) // "$1.250" is as suspect as "1.250"
	}
	return v, true
}

// fieldName names field idx (0-based) for a message: as its mapped column,
// else by its header name or 1-based index.
func (c *parseConfig) fieldName(idx int) string {
	for pos, i := range c.cols.idx {
		if i == idx {
			return c.cols.display[pos]
		}
	}
	if idx < len(c.header) {
		return quoteField([]byte(c.header[idx]))
	}
	return strconv.Itoa(idx + 1)
}
