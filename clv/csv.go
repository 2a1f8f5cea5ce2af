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
	"strings"
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
	dec        byte     // decimal separator, '.' or ','
	header     []string // header names, for messages; nil without a header
	negative   NegativePolicy
	hasCutoff  bool
	cutoff     int32 // rows dated after this day are ignored
	headerLine int64 // line number of the header in the first chunk; 0 without one
	seed       maphash.Seed
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
		if err := notCSV(br); err != nil {
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
	} else if err := checkDelimiter(lines, delim, dec); err != nil {
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
	cols, err := resolveColumns(o, header, nf)
	if err != nil {
		return nil, nil, err
	}
	src.cfg.delim, src.cfg.cols, src.cfg.layout, src.cfg.negative = delim, cols, o.DateFormat, o.Negative
	src.cfg.dec, src.cfg.header = dec, header
	return src, header, nil
}

// chunk is a run of complete lines handed from the reader to a parser.
type chunk struct {
	buf      []byte // the buffer to recycle
	data     []byte // complete lines (the last chunk may end without '\n')
	seq      int
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
				dp: dateParser{layout: c.cfg.layout}}
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
		ch := chunk{buf: buf, data: buf[:fill], seq: seq}
		var next []byte
		if eof {
			ch.last, ch.err = true, rerr
		} else {
			var ok bool
			if next, ok = getBuf(); !ok {
				return
			}
			cut := bytes.LastIndexByte(ch.data, '\n') + 1
			if cut == 0 || fill-cut > MaxLineBytes {
				ch.overlong = true
				fill, eof, rerr = c.skipLine(next)
			} else {
				fill = copy(next, ch.data[cut:])
			}
			ch.data = ch.data[:cut]
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
	dp   dateParser
	vals []float64
}

const longLineMsg = "line is longer than 1048576 bytes" // MaxLineBytes

func (p *csvParser) parse(ch chunk, b *batch) {
	b.reset(ch.seq)
	b.last, b.err = ch.last, ch.err
	data := ch.data
	hasNUL := bytes.IndexByte(data, 0) >= 0
	var skip, ln int64
	if ch.seq == 0 {
		skip = p.cfg.headerLine
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		ln++
		if ln != skip {
			p.line(line, ln, hasNUL, b)
		}
	}
	if ch.overlong {
		ln++
		b.rows++
		b.addBad(ln, ReasonLongLine, "", longLineMsg)
	}
	b.lines = ln
}

// line parses one line into a record of b, or records why it is bad.
func (p *csvParser) line(line []byte, ln int64, hasNUL bool, b *batch) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 || isSpace(line[0]) && len(trimSpace(line)) == 0 {
		return
	}
	b.rows++
	if len(line) > MaxLineBytes {
		b.addBad(ln, ReasonLongLine, "", longLineMsg)
		return
	}
	if hasNUL && bytes.IndexByte(line, 0) >= 0 {
		b.addBad(ln, ReasonBinary, "", "binary data (NUL byte) in the line; is this a text file?")
		return
	}
	cols := &p.cfg.cols
	nf, ok := p.sp.split(line)
	if !ok {
		if p.sp.open >= 0 {
			b.addBad(ln, ReasonQuote, p.cfg.fieldName(p.sp.open),
				"a quoted field spans lines: its closing quote is not on this line (quoted fields must end on their line)")
		} else {
			b.addBad(ln, ReasonQuote, "", "misplaced double quote: a quoted field must end at the delimiter")
		}
		return
	}
	if nf <= cols.maxIdx {
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
	case st != dateOK && p.cfg.repeatsHeader(f):
		b.addBad(ln, ReasonHeader, "", "looks like a repeated header line (files joined together?); remove it, or skip it with --skip-bad-rows")
		return
	case st != dateOK && looksTotal(id):
		b.addBad(ln, ReasonBadDate, cols.display[colDate], notDate(df, p.cfg.layout)+
			fmt.Sprintf(": customer %s looks like a spreadsheet's total line; remove it, or skip it with --skip-bad-rows", quoteField(id)))
		return
	case st != dateOK:
		b.addBad(ln, ReasonBadDate, cols.display[colDate], notDate(df, p.cfg.layout))
		return
	}
	// A count-only log has no amount column: each row is a purchase, and
	// its day counts once whatever the rows (featureSpec.countOnly).
	amount := 1.0
	var af []byte
	if ai := cols.idx[colAmount]; ai >= 0 {
		af = f[ai]
		if amount, ok = parseNumber(af, p.cfg.dec); !ok {
			b.addBad(ln, ReasonNotANumber, cols.display[colAmount], notNumber(af, p.cfg.dec))
			return
		}
	}
	var qty float64
	if qi := cols.idx[colQuantity]; qi >= 0 {
		if qty, ok = parseOptional(f[qi], p.cfg.dec); !ok {
			b.addBad(ln, ReasonNotANumber, cols.display[colQuantity], notNumber(f[qi], p.cfg.dec))
			return
		}
	}
	p.vals = p.vals[:0]
	for k := colExtra0; k < len(cols.idx); k++ {
		v, ok := parseOptional(f[cols.idx[k]], p.cfg.dec)
		if !ok {
			b.addBad(ln, ReasonNotANumber, cols.display[k], notNumber(f[cols.idx[k]], p.cfg.dec))
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

// repeatsHeader reports whether the fields f of a bad row repeat the
// header's customer and date names: a header line in the middle of the
// file, as two exports joined together have.
func (c *parseConfig) repeatsHeader(f [][]byte) bool {
	if c.header == nil {
		return false
	}
	for _, pos := range [...]int{colCustomer, colDate} {
		idx := c.cols.idx[pos]
		// A BOM before a quoted name keeps the quotes in the field.
		got := bytes.Trim(bytes.TrimPrefix(f[idx], []byte("\xef\xbb\xbf")), `"`)
		if !strings.EqualFold(string(got), c.header[idx]) {
			return false
		}
	}
	return true
}
