package clv

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetMagic starts (and ends) every Parquet file.
const parquetMagic = "PAR1"

// Value conversions a mapped Parquet column needs, decided once from its
// schema type.
type pqKind int

const (
	pqString       pqKind = iota // BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY: parse as text
	pqInt                        // INT32 / INT64 (a YYYYMMDD number for dates)
	pqFloat                      // FLOAT / DOUBLE (whole numbers for customer ids)
	pqDecimal                    // INT32 / INT64 DECIMAL(p, s)
	pqDecimalBytes               // BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY DECIMAL(p, s): big-endian two's complement
	pqDate                       // INT32 DATE: days since 1970-01-01
	pqTimestamp                  // INT64 TIMESTAMP
	pqInt96                      // INT96 timestamp (Spark, Hive, Impala): nanoseconds of the day, Julian day
)

// ReasonBadID is a customer id that a numeric Parquet column cannot spell
// exactly: a FLOAT/DOUBLE id that is not a whole number, or too large for
// the float to hold every integer.
const ReasonBadID Reason = "bad_id"

type pqColumn struct {
	leaf  int
	kind  pqKind
	scale float64       // decimal: divide by this
	unit  time.Duration // timestamp unit
	// loc is the time zone whose calendar day an instant (a TIMESTAMP
	// adjusted to UTC, or INT96) counts on: the column's zone from the
	// file's Arrow schema. nil counts UTC days (and naive timestamps'
	// wall-clock days).
	loc *time.Location
	// utcNote, when not empty, says that the column's instants are cut on
	// UTC days for want of a zone (parquetDateNote).
	utcNote string
	// single says a FLOAT column (float32): whole ids are exact only up
	// to 2^24.
	single bool
}

// parquetSource is an opened Parquet file with its columns resolved.
type parquetSource struct {
	file     *parquet.File
	cols     colMap
	pq       []pqColumn // by mapped position; leaf -1 when unmapped
	layout   string
	note     string // where layout came from, for date errors (layoutNote)
	dec      byte   // decimal separator of numbers stored as text
	negative NegativePolicy
	cutoff   int32
	hasCut   bool
	seed     maphash.Seed
}

// openParquet opens a Parquet file and maps the options' columns onto its
// leaf columns (header names are the dotted column paths).
func openParquet(ra io.ReaderAt, size int64, o *Options) (src *parquetSource, header []string, err error) {
	defer func() {
		if r := recover(); r != nil { // parquet-go panics on some corrupt files
			err = fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	dec, err := parseDecimal(o.Decimal)
	if err != nil {
		return nil, nil, err
	}
	f, err := parquet.OpenFile(ra, size)
	if err != nil {
		return nil, nil, fmt.Errorf("parquet: %w", err)
	}
	paths := f.Schema().Columns()
	header = make([]string, len(paths))
	for i, p := range paths {
		header[i] = strings.Join(p, ".")
	}
	if len(header) == 0 {
		return nil, nil, errors.New("parquet: the schema has no columns")
	}
	cols, err := resolveColumns(o, header, len(header))
	if err != nil {
		return nil, nil, err
	}
	src = &parquetSource{file: f, cols: cols, pq: make([]pqColumn, len(cols.idx)), layout: o.DateFormat, note: layoutNote(o), dec: dec, negative: o.Negative}
	for pos, idx := range cols.idx {
		src.pq[pos].leaf = idx
		if idx < 0 {
			continue
		}
		leaf, _ := f.Schema().Lookup(paths[idx]...)
		if leaf.MaxRepetitionLevel > 0 {
			return nil, nil, fmt.Errorf("%s column %s is repeated; want a flat column", roleName(pos), cols.display[pos])
		}
		c, err := pqColumnOf(leaf.Node.Type(), pos)
		if err != nil {
			return nil, nil, fmt.Errorf("%s column %s: %w", roleName(pos), cols.display[pos], err)
		}
		if pos == colDate {
			c.loc, c.utcNote = dateZone(f, paths[idx], leaf.Node.Type(), cols.display[pos])
		}
		c.leaf = idx
		src.pq[pos] = c
	}
	return src, header, nil
}

// pqColumnOf decides how to convert a column of type t in role pos.
func pqColumnOf(t parquet.Type, pos int) (pqColumn, error) {
	var lt any
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	bad := fmt.Errorf("type %v cannot hold a %s", t, roleName(pos))
	switch t.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		// pyarrow writes decimal128 as FIXED_LEN_BYTE_ARRAY by default:
		// the bytes are a number, not text.
		if d, ok := lt.(*format.DecimalType); ok {
			return pqDecimalColumn(d, pqDecimalBytes, pos, bad)
		}
		return pqColumn{kind: pqString}, nil
	case parquet.Float, parquet.Double:
		if pos == colDate {
			return pqColumn{}, bad
		}
		return pqColumn{kind: pqFloat, single: t.Kind() == parquet.Float}, nil
	case parquet.Int32, parquet.Int64:
		switch v := lt.(type) {
		case *format.DateType:
			if pos != colDate {
				return pqColumn{}, bad
			}
			return pqColumn{kind: pqDate}, nil
		case *format.TimestampType:
			if pos != colDate || v.Unit.Value == nil {
				return pqColumn{}, bad
			}
			return pqColumn{kind: pqTimestamp, unit: v.Unit.Value.Duration()}, nil
		case *format.DecimalType:
			return pqDecimalColumn(v, pqDecimal, pos, bad)
		}
		return pqColumn{kind: pqInt}, nil
	case parquet.Int96:
		if pos != colDate {
			return pqColumn{}, bad
		}
		return pqColumn{kind: pqInt96}, nil
	}
	return pqColumn{}, bad
}

// pqDecimalColumn is a DECIMAL column of kind pqDecimal or pqDecimalBytes:
// an amount, quantity or extra, or a customer id when its scale is 0
// (NUMERIC(12) ids from a database).
func pqDecimalColumn(d *format.DecimalType, kind pqKind, pos int, bad error) (pqColumn, error) {
	if pos == colDate || (pos == colCustomer && d.Scale != 0) {
		return pqColumn{}, bad
	}
	return pqColumn{kind: kind, scale: math.Pow(10, float64(d.Scale))}, nil
}

// parquetBatchRows is how many rows one batch carries.
const parquetBatchRows = 64 << 10

// produce reads the file row by row on one goroutine (parquet-go decodes
// pages itself) while the consumer aggregates on another.
func (s *parquetSource) produce(ctx context.Context, free chan *batch, out chan<- *batch) {
	r := parquet.NewReader(s.file)
	defer r.Close()
	rows := make([]parquet.Row, 1024)
	vals := make([]parquet.Value, len(s.pq))
	set := make([]bool, len(s.pq))
	seq := 0
	var b *batch
	send := func(last bool, err error) bool {
		b.last, b.err = last, err
		select {
		case out <- b:
			seq++
			b = nil
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		if b == nil {
			select {
			case b = <-free:
				b.reset(seq)
			case <-ctx.Done():
				return
			}
		}
		n, err := readRows(r, rows)
		for _, row := range rows[:n] {
			b.lines++
			b.rows++
			clear(vals)
			clear(set)
			for _, v := range row {
				for pos, c := range s.pq {
					if c.leaf == v.Column() && !set[pos] {
						vals[pos], set[pos] = v, true
					}
				}
			}
			s.record(vals, b.lines, b)
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			send(true, err)
			return
		}
		if b.lines >= parquetBatchRows && !send(false, nil) {
			return
		}
	}
}

// readRows is Reader.ReadRows with parquet-go's panics on corrupt pages
// turned into errors.
func readRows(r *parquet.Reader, rows []parquet.Row) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("corrupt Parquet file: %v", p)
		}
	}()
	return r.ReadRows(rows)
}

// record converts one row's mapped values into a record of b.
func (s *parquetSource) record(vals []parquet.Value, row int64, b *batch) {
	cols := &s.cols
	for pos := colCustomer; pos <= colAmount; pos++ {
		if s.pq[pos].leaf >= 0 && vals[pos].IsNull() {
			b.addBad(row, ReasonNull, cols.display[pos], "null value in a required column")
			return
		}
	}
	start := len(b.ids)
	id := vals[colCustomer]
	switch c := &s.pq[colCustomer]; c.kind {
	case pqInt, pqDecimal:
		b.ids = strconv.AppendInt(b.ids, id.Int64(), 10)
	case pqDecimalBytes:
		b.ids = appendDecimalID(b.ids, id.ByteArray())
	case pqFloat:
		var msg string
		if b.ids, msg = appendFloatID(b.ids, id, c.single); msg != "" {
			b.ids = b.ids[:start]
			b.addBad(row, ReasonBadID, cols.display[colCustomer], msg)
			return
		}
	default:
		raw := id.ByteArray()
		switch {
		case len(trimSpace(raw)) == 0:
			b.addBad(row, ReasonEmptyID, cols.display[colCustomer], "empty customer id")
			return
		case !utf8.Valid(raw):
			b.addBad(row, ReasonBinary, cols.display[colCustomer], quoteField(raw)+" is not valid UTF-8")
			return
		}
		b.ids = append(b.ids, trimSpace(raw)...)
	}
	day, msg := s.day(vals[colDate])
	if msg != "" {
		b.ids = b.ids[:start]
		b.addBad(row, ReasonBadDate, cols.display[colDate], msg)
		return
	}
	var num [colExtra0]float64
	var extra []float64
	for pos := colAmount; pos < len(s.pq); pos++ {
		if s.pq[pos].leaf < 0 {
			continue
		}
		v, ok := s.number(pos, vals[pos])
		if !ok && s.pq[pos].kind == pqString && !vals[pos].IsNull() {
			// Text, as in a CSV file: an amount may be written like
			// money (money.go), in one currency.
			text := trimSpace(vals[pos].ByteArray())
			if pos != colAmount {
				b.ids = b.ids[:start]
				b.addBad(row, ReasonNotANumber, cols.display[pos], notNumber(text, s.dec)+onlyAmountHint(text, s.dec))
				return
			}
			var m money
			if v, m, ok = parseMoney(text, s.dec); !ok {
				b.ids = b.ids[:start]
				b.addBad(row, ReasonNotANumber, cols.display[pos], notAmount(text, s.dec))
				return
			}
			if m.cur.key != "" && !b.sawCurrency(m.cur, text, row) {
				b.ids = b.ids[:start]
				return
			}
		}
		if !ok {
			b.ids = b.ids[:start]
			b.addBad(row, ReasonNotANumber, cols.display[pos], notNumber([]byte(vals[pos].String()), s.dec))
			return
		}
		if pos < colExtra0 {
			num[pos] = v
		} else {
			extra = append(extra, v)
		}
	}
	amount := num[colAmount]
	if s.pq[colAmount].leaf < 0 {
		amount = 1 // count-only: every row is a purchase (featureSpec.countOnly)
	}
	if amount < 0 {
		switch s.negative {
		case DropNegative:
			b.ids = b.ids[:start]
			b.negatives++
			b.dropped++
			return
		case ErrorNegative:
			b.ids = b.ids[:start]
			b.addBad(row, ReasonNegative, cols.display[colAmount], strconv.FormatFloat(amount, 'g', -1, 64)+" is negative (negative amounts are errors under this policy; use net or drop)")
			return
		}
		b.negatives++
	}
	if s.hasCut && day > s.cutoff {
		b.addLate(b.ids[start:], s.seed)
		b.ids = b.ids[:start]
		b.afterHoldout++
		return
	}
	b.idEnd = append(b.idEnd, int32(len(b.ids)))
	b.hash = append(b.hash, hashID(s.seed, b.ids[start:]))
	b.day = append(b.day, day)
	b.amount = append(b.amount, amount)
	if cols.hasQuantity() {
		b.qty = append(b.qty, num[colQuantity])
	}
	b.extra = append(b.extra, extra...)
	b.n++
}

// day converts a date value of any supported type. It returns why the
// value is bad, or "" for a good one. Every type is checked against the
// supported years: a DATE or timestamp can hold any day, and a placeholder
// such as INT32_MIN for "no date" is common.
func (s *parquetSource) day(v parquet.Value) (int32, string) {
	c := &s.pq[colDate]
	var day int64
	switch c.kind {
	case pqDate:
		day = int64(v.Int32())
		if !inRange(day) {
			return 0, outOfRange(describeDay(day))
		}
		return int32(day), ""
	case pqTimestamp:
		x := v.Int64()
		if c.loc != nil {
			perSec := int64(time.Second) / int64(c.unit)
			return zoneDay(floorDiv(x, perSec), c.loc, "timestamp ")
		}
		// The UTC calendar day (or a naive timestamp's wall-clock day):
		// floor division, also before 1970.
		day = floorDiv(x, int64(24*time.Hour)/int64(c.unit))
		if !inRange(day) {
			return 0, outOfRange("timestamp " + describeDay(day))
		}
		return int32(day), ""
	case pqInt96:
		return int96Day(v, c.loc)
	case pqInt:
		var buf [20]byte
		text := strconv.AppendInt(buf[:0], v.Int64(), 10)
		d, ok := parseBuiltinDate(text)
		switch {
		case !ok:
			return 0, notDate(text, s.layout, s.note)
		case !inRange(int64(d)):
			return 0, outOfRange(quoteField(text))
		}
		return d, ""
	}
	text := trimSpace(v.ByteArray())
	dp := dateParser{layout: s.layout}
	d, st := dp.parse(text)
	switch st {
	case dateInvalid:
		return 0, notDate(text, s.layout, s.note)
	case dateOutOfRange:
		return 0, outOfRange(quoteField(text))
	}
	return d, ""
}

// number converts an amount, quantity or extra value; null is 0 for the
// optional columns.
func (s *parquetSource) number(pos int, v parquet.Value) (float64, bool) {
	if v.IsNull() {
		return 0, pos != colAmount
	}
	var f float64
	switch c := s.pq[pos]; c.kind {
	case pqFloat:
		if v.Kind() == parquet.Float {
			f = float64(v.Float())
		} else {
			f = v.Double()
		}
	case pqInt:
		f = float64(v.Int64())
	case pqDecimal:
		f = float64(v.Int64()) / c.scale
	case pqDecimalBytes:
		f = decimalBytes(v.ByteArray()) / c.scale
	default:
		return parseOptional(trimSpace(v.ByteArray()), s.dec)
	}
	return f, !math.IsNaN(f) && math.Abs(f) <= maxAbsValue
}

// Warnings are the findings about the file as a whole: a date column of
// instants cut on UTC days for want of a zone (dateZone), decided when the
// file was opened.
func (s *parquetSource) Warnings() []string {
	if note := s.pq[colDate].utcNote; note != "" {
		return []string{note}
	}
	return nil
}
