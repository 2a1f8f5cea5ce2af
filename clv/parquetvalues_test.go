package clv

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
)

// writeParquet writes rows (values by top-level column name) under an
// explicit schema, the way pyarrow or Spark lay out the types the struct
// tags of parquet-go cannot ask for, and returns the file's path.
func writeParquet(t *testing.T, group parquet.Group, rows []map[string]parquet.Value, opts ...parquet.WriterOption) string {
	t.Helper()
	schema := parquet.NewSchema("log", group)
	path := filepath.Join(t.TempDir(), "log.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := parquet.NewWriter(f, append([]parquet.WriterOption{schema}, opts...)...)
	cols := schema.Columns()
	for _, r := range rows {
		row := make(parquet.Row, len(cols))
		for i, c := range cols {
			v, ok := r[c[0]]
			if !ok {
				t.Fatalf("row %v lacks column %s", r, c[0])
			}
			row[i] = v.Level(0, 0, i)
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// twosComplement is x as a big-endian two's complement integer of n bytes.
func twosComplement(x *big.Int, n int) []byte {
	z := new(big.Int).Set(x)
	if z.Sign() < 0 {
		z.Add(z, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	return z.FillBytes(make([]byte, n))
}

// TestParquetDecimalBytes ensures DECIMAL stored as FIXED_LEN_BYTE_ARRAY
// (pyarrow's default for decimal128) and as BYTE_ARRAY is read as its
// number, negatives included, as the same log as CSV reads (audit7 item 6:
// it was read as text, `"\x00\x00\x00\x03E" is not a number`), and that a
// DECIMAL(p, 0) customer id is read as its digits.
func TestParquetDecimalBytes(t *testing.T) {
	type amountType struct {
		name string
		typ  parquet.Type
		size int // FIXED_LEN_BYTE_ARRAY length, 0 for BYTE_ARRAY (minimal bytes)
	}
	types := []amountType{
		{"FLBA(5) decimal(10,2)", parquet.FixedLenByteArrayType(5), 5},
		{"FLBA(16) decimal(38,2)", parquet.FixedLenByteArrayType(16), 16},
		{"BYTE_ARRAY decimal(38,2)", parquet.ByteArrayType, 0},
	}
	txns := sampleTxns()
	txns = append(txns, txn{"B", mustDate("2020-02-03"), -1.25}, txn{"C", mustDate("2020-03-05"), -0.5})
	var csv strings.Builder
	csv.WriteString("customer_id,date,amount\n")
	for _, x := range txns {
		csv.WriteString(itoa(10000+int(x.id[0])) + "," + x.day.Format(time.DateOnly) + "," + ftoa(x.amount) + "\n")
	}
	ref, err := loadString(csv.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range types {
		t.Run(tc.name, func(t *testing.T) {
			bytesOf := func(x int64, n int) []byte {
				if n == 0 {
					b := trimSignExtension(twosComplement(big.NewInt(x), 16))
					return b
				}
				return twosComplement(big.NewInt(x), n)
			}
			rows := make([]map[string]parquet.Value, len(txns))
			for i, x := range txns {
				id := bytesOf(int64(10000+int(x.id[0])), tc.size)
				amt := bytesOf(int64(math.Round(x.amount*100)), tc.size)
				mk := parquet.ByteArrayValue
				if tc.size > 0 {
					mk = parquet.FixedLenByteArrayValue
				}
				rows[i] = map[string]parquet.Value{"customer_id": mk(id), "date": parquet.Int32Value(dayOf(x.day)), "amount": mk(amt)}
			}
			path := writeParquet(t, parquet.Group{
				"customer_id": parquet.Decimal(0, 12, tc.typ),
				"date":        parquet.Date(),
				"amount":      parquet.Decimal(2, 10, tc.typ),
			}, rows)
			ds, err := Load(context.Background(), path, windowOpts)
			if err != nil {
				t.Fatal(err)
			}
			sameCustomers(t, ref, ds)
			if ds.Report.NegativeRows != 2 {
				t.Errorf("negative rows %d, want 2", ds.Report.NegativeRows)
			}
		})
	}
	// A DECIMAL(10,2) is not a customer id, nor any DECIMAL a date.
	path := writeParquet(t, parquet.Group{
		"customer_id": parquet.Decimal(2, 10, parquet.FixedLenByteArrayType(5)),
		"date":        parquet.Decimal(0, 10, parquet.ByteArrayType),
		"amount":      parquet.Leaf(parquet.DoubleType),
	}, []map[string]parquet.Value{{"customer_id": parquet.FixedLenByteArrayValue(make([]byte, 5)),
		"date": parquet.ByteArrayValue([]byte{1}), "amount": parquet.DoubleValue(1)}})
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, `customer column "customer_id": type DECIMAL(10,2) cannot hold a customer`},
		{Options{Customer: "amount", Amount: "customer_id"}, `date column "date": type DECIMAL(10,0) cannot hold a date`},
	} {
		_, err := Load(context.Background(), path, tc.o)
		if want := "clv: read transactions: " + path + ": " + tc.want; err == nil || err.Error() != want {
			t.Errorf("error %v\nwant %s", err, want)
		}
	}
}

// TestDecimalInt ensures the two's complement decoding at its edges.
func TestDecimalInt(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{nil, "0"},
		{[]byte{0x00}, "0"},
		{[]byte{0x7F}, "127"},
		{[]byte{0x80}, "-128"},
		{[]byte{0xFF}, "-1"},
		{[]byte{0x00, 0x00, 0x00, 0x03, 0x45}, "837"},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC, 0xBB}, "-837"},
		{[]byte{0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "9223372036854775807"},
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0}, "-9223372036854775808"},
		{[]byte{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}, "9223372036854775808"},
		{[]byte{0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "-9223372036854775809"},
		{twosComplement(new(big.Int).Neg(new(big.Int).Exp(big.NewInt(10), big.NewInt(37), nil)), 16), "-1" + strings.Repeat("0", 37)},
	} {
		if got := string(appendDecimalID(nil, tc.b)); got != tc.want {
			t.Errorf("% x: %s, want %s", tc.b, got, tc.want)
		}
		want, _ := new(big.Float).SetPrec(200).SetString(tc.want)
		wf, _ := want.Float64()
		if got := decimalBytes(tc.b); got != wf {
			t.Errorf("% x: %g, want %g", tc.b, got, wf)
		}
	}
}

// int96Of is the INT96 timestamp of t (UTC): nanoseconds of the day in the
// first 8 bytes, the Julian day in the last 4.
func int96Of(t time.Time) deprecated.Int96 {
	sec := t.Unix()
	day := floorDiv(sec, 86400)
	nanos := uint64((sec-day*86400)*1e9 + int64(t.Nanosecond()))
	return deprecated.Int96{uint32(nanos), uint32(nanos >> 32), uint32(int32(day + julianUnixEpoch))}
}

// TestParquetInt96 ensures INT96 timestamps (Spark's default) are read as
// timestamps on their UTC day, as the same log as CSV (audit7 item 7: they
// were refused), and that an out-of-range one is a bad date row.
func TestParquetInt96(t *testing.T) {
	txns := sampleTxns()
	rows := make([]map[string]parquet.Value, len(txns))
	var csv strings.Builder
	csv.WriteString("customer_id,date,amount\n")
	for i, x := range txns {
		at := x.day.Add(time.Duration(i) * 111 * time.Minute) // 00:00 to 20:21 UTC
		rows[i] = map[string]parquet.Value{"customer_id": parquet.ByteArrayValue([]byte(x.id)),
			"date": parquet.Int96Value(int96Of(at)), "amount": parquet.DoubleValue(x.amount)}
		csv.WriteString(x.id + "," + at.Format(time.RFC3339) + "," + ftoa(x.amount) + "\n")
	}
	group := parquet.Group{"customer_id": parquet.String(), "date": parquet.Leaf(parquet.Int96Type), "amount": parquet.Leaf(parquet.DoubleType)}
	path := writeParquet(t, group, rows)
	ds, err := Load(context.Background(), path, windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := loadString(csv.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomers(t, ref, ds)
	if w := dateWarning(ds); !strings.Contains(w, `date column "date" holds INT96 timestamps`) || !strings.Contains(w, "counted in UTC") {
		t.Errorf("warning %q", w)
	}

	// Before 1970, and the Julian day 0 that a zeroed value holds.
	for _, tc := range []struct {
		v    deprecated.Int96
		want string // the row's error; "" for none
		day  string
	}{
		{int96Of(mustDate("1960-02-29").Add(23 * time.Hour)), "", "1960-02-29"},
		{deprecated.Int96{}, `column "date": INT96 timestamp 1970-01-01 - 2440588 days (year -4713) is outside the supported years 1900-2200 (a placeholder for a missing date?)`, ""},
	} {
		path := writeParquet(t, group, []map[string]parquet.Value{{"customer_id": parquet.ByteArrayValue([]byte("A")),
			"date": parquet.Int96Value(tc.v), "amount": parquet.DoubleValue(1)}})
		ds, err := Load(context.Background(), path, Options{})
		if tc.want != "" {
			var re *RowError
			if want := "clv: read transactions: " + path + ": row 1: " + tc.want; err == nil || err.Error() != want || !errors.As(err, &re) || re.Reason != ReasonBadDate {
				t.Errorf("error %v\nwant %s", err, want)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := ds.Report.FirstDate.Format(time.DateOnly); got != tc.day {
			t.Errorf("day %s, want %s", got, tc.day)
		}
	}
}

// arrowSchema is the ARROW:schema metadata value of a table whose fields
// are timestamps (zone, "" for none) or, zone "-", strings: what pyarrow
// writes, an IPC Schema message in FlatBuffers, base64-encoded.
func arrowSchema(names, zones []string) string {
	w := &fbWriter{}
	root := w.u32(0)
	msgRefs := w.table(fbField{id: 0, val: 4}, fbField{id: 1, val: 1}, fbField{id: 2, ref: true})
	w.point(root, msgRefs.t)
	w.align()
	schemaRefs := w.table(fbField{id: 1, ref: true})
	w.point(msgRefs.slots[2], schemaRefs.t)
	vec := w.u32(uint32(len(names)))
	w.point(schemaRefs.slots[1], vec)
	elems := make([]int, len(names))
	for i := range names {
		elems[i] = w.u32(0)
	}
	for i, name := range names {
		typ := uint32(10) // Timestamp
		if zones[i] == "-" {
			typ = 5 // Utf8
		}
		f := w.table(fbField{id: 0, ref: true}, fbField{id: 1, val: 1}, fbField{id: 2, val: typ}, fbField{id: 3, ref: true})
		w.point(elems[i], f.t)
		w.point(f.slots[0], w.str(name))
		var tt fbTable
		switch {
		case typ == 5:
			tt = w.table()
		case zones[i] == "":
			tt = w.table(fbField{id: 0, val: 2})
		default:
			tt = w.table(fbField{id: 0, val: 2}, fbField{id: 1, ref: true})
			w.point(tt.slots[1], w.str(zones[i]))
		}
		w.point(f.slots[3], tt.t)
	}
	msg := binary.LittleEndian.AppendUint32([]byte{0xFF, 0xFF, 0xFF, 0xFF}, uint32(len(w.b)))
	return base64.StdEncoding.EncodeToString(append(msg, w.b...))
}

// fbWriter lays out a FlatBuffer front to back, every object 4-aligned, a
// table's children after it (uoffsets point forward).
type fbWriter struct{ b []byte }

type fbField struct {
	id  int
	val uint32 // a scalar, little-endian in a 4-byte slot
	ref bool   // an offset, set later with point
}

type fbTable struct {
	t     int
	slots map[int]int
}

func (w *fbWriter) align() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *fbWriter) u32(v uint32) int {
	w.align()
	p := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, v)
	return p
}

// point sets the uoffset at slot to target.
func (w *fbWriter) point(slot, target int) {
	binary.LittleEndian.PutUint32(w.b[slot:], uint32(target-slot))
}

func (w *fbWriter) str(s string) int {
	p := w.u32(uint32(len(s)))
	w.b = append(append(w.b, s...), 0)
	return p
}

// table writes a vtable, then the table with its fields in order.
func (w *fbWriter) table(fields ...fbField) fbTable {
	w.align()
	n := 0
	for _, f := range fields {
		n = max(n, f.id+1)
	}
	vt := len(w.b)
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+2*n))
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+4*len(fields)))
	for id := range n {
		off := 0
		for k, f := range fields {
			if f.id == id {
				off = 4 + 4*k
			}
		}
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(off))
	}
	t := w.u32(0)
	binary.LittleEndian.PutUint32(w.b[t:], uint32(int32(t-vt)))
	tb := fbTable{t: t, slots: map[int]int{}}
	for _, f := range fields {
		tb.slots[f.id] = w.u32(f.val)
	}
	return tb
}

// TestArrowTimeZones ensures the Arrow schema reader finds the zones of
// timestamp fields, and that no prefix or corruption of a schema panics.
func TestArrowTimeZones(t *testing.T) {
	meta := arrowSchema([]string{"customer_id", "date", "naive", "offset"}, []string{"-", "Europe/Berlin", "", "+05:30"})
	got := arrowTimeZones(meta)
	if len(got) != 2 || got["date"] != "Europe/Berlin" || got["offset"] != "+05:30" {
		t.Errorf("zones %v", got)
	}
	raw, _ := base64.StdEncoding.DecodeString(meta)
	// Without the 0xFFFFFFFF continuation (Arrow before 0.15).
	if got := arrowTimeZones(base64.StdEncoding.EncodeToString(raw[4:])); got["date"] != "Europe/Berlin" {
		t.Errorf("legacy framing: zones %v", got)
	}
	for n := range len(raw) {
		arrowTimeZones(base64.StdEncoding.EncodeToString(raw[:n]))
	}
	for i := range raw {
		for _, c := range []byte{0x00, 0x7F, 0x80, 0xFF} {
			b := slices.Clone(raw)
			b[i] = c
			arrowTimeZones(base64.StdEncoding.EncodeToString(b))
		}
	}
	if got := arrowTimeZones("not base64!"); got != nil {
		t.Errorf("garbage: %v", got)
	}
}

// TestParquetTimeZone ensures an instant column (TIMESTAMP adjusted to UTC)
// counts the calendar days of the time zone the file's Arrow schema gives
// it, as the same log as CSV with UTC offsets does (audit7 item 4: a 00:30
// purchase in Berlin on the day after the calibration end moved into the
// calibration window), and that without a zone its days are UTC days with
// a warning that says so.
func TestParquetTimeZone(t *testing.T) {
	stamps := []struct {
		id     string
		at     string
		amount float64
	}{
		{"A", "2026-05-01T10:00:00+02:00", 50}, {"A", "2026-05-29T00:30:00+02:00", 80},
		{"B", "2026-05-02T12:00:00+02:00", 20}, {"B", "2026-06-25T12:00:00+02:00", 20},
	}
	o := Options{CalibrationEnd: mustDate("2026-05-28"), Horizon: Horizon{Days: 28}}
	var csv strings.Builder
	csv.WriteString("customer_id,date,amount\n")
	rows := make([]map[string]parquet.Value, len(stamps))
	for i, s := range stamps {
		at, err := time.Parse(time.RFC3339, s.at)
		if err != nil {
			t.Fatal(err)
		}
		csv.WriteString(s.id + "," + s.at + "," + ftoa(s.amount) + "\n")
		rows[i] = map[string]parquet.Value{"customer_id": parquet.ByteArrayValue([]byte(s.id)),
			"date": parquet.Int64Value(at.UnixMicro()), "amount": parquet.DoubleValue(s.amount)}
	}
	local, err := loadString(csv.String(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The CSV counts the 00:30 purchase on 2026-05-29, in the holdout.
	if a := local.Customers[0]; a.ID != "A" || a.X != 0 || a.HoldoutSpend != 80 {
		t.Fatalf("CSV: customer %+v", a)
	}
	group := func(adjusted bool) parquet.Group {
		return parquet.Group{"customer_id": parquet.String(), "date": parquet.TimestampAdjusted(parquet.Microsecond, adjusted),
			"amount": parquet.Leaf(parquet.DoubleType)}
	}
	int96Rows := make([]map[string]parquet.Value, len(rows))
	for i, r := range rows {
		int96Rows[i] = map[string]parquet.Value{"customer_id": r["customer_id"], "amount": r["amount"],
			"date": parquet.Int96Value(int96Of(time.UnixMicro(r["date"].Int64())))}
	}
	int96Group := parquet.Group{"customer_id": parquet.String(), "date": parquet.Leaf(parquet.Int96Type), "amount": parquet.Leaf(parquet.DoubleType)}
	withZone := func(zone string) parquet.WriterOption {
		return parquet.KeyValueMetadata(arrowSchemaKey, arrowSchema([]string{"customer_id", "date", "amount"}, []string{"-", zone, "-"}))
	}
	_, berlinErr := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name    string
		group   parquet.Group
		rows    []map[string]parquet.Value
		opts    []parquet.WriterOption
		local   bool   // counts Berlin's days (else UTC's)
		warning string // a substring of the date warning; "" for none
	}{
		{"Europe/Berlin", group(true), rows, []parquet.WriterOption{withZone("Europe/Berlin")}, true, ""},
		{"+02:00", group(true), rows, []parquet.WriterOption{withZone("+02:00")}, true, ""},
		{"INT96 in Europe/Berlin", int96Group, int96Rows, []parquet.WriterOption{withZone("Europe/Berlin")}, true, ""},
		{"UTC", group(true), rows, []parquet.WriterOption{withZone("UTC")}, false, ""},
		{"no zone", group(true), rows, nil, false,
			`date column "date" holds instants (TIMESTAMP adjusted to UTC) and the file names no time zone: purchase days are counted in UTC`},
		{"no zone in the Arrow schema", group(true), rows, []parquet.WriterOption{withZone("")}, false, "the file names no time zone"},
		{"unknown zone", group(true), rows, []parquet.WriterOption{withZone("Mars/Olympus_Mons")}, false,
			`in time zone "Mars/Olympus_Mons", which this system does not know`},
		{"INT96", int96Group, int96Rows, nil, false, "INT96 timestamps (the legacy Spark/Hive/Impala type), read as instants in UTC, and the file names no time zone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "Berlin") && berlinErr != nil {
				t.Skip("no time zone database:", berlinErr)
			}
			path := writeParquet(t, tc.group, tc.rows, tc.opts...)
			ds, err := Load(context.Background(), path, o)
			if err != nil {
				t.Fatal(err)
			}
			a := ds.Customers[0]
			if tc.local {
				sameCustomers(t, local, ds)
			} else if a.X != 1 || a.HoldoutSpend != 0 {
				t.Errorf("UTC days: customer %+v, want the 22:30 UTC purchase in the calibration window", a)
			}
			w := dateWarning(ds)
			if (w == "") != (tc.warning == "") || !strings.Contains(w, tc.warning) {
				t.Errorf("warning %q, want %q", w, tc.warning)
			}
		})
	}

	// Naive timestamps are wall-clock times: their own day, no warning.
	naive := make([]map[string]parquet.Value, len(rows))
	for i, s := range stamps {
		at, _ := time.Parse(time.RFC3339, s.at)
		wall := time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), 0, 0, time.UTC)
		naive[i] = map[string]parquet.Value{"customer_id": rows[i]["customer_id"], "amount": rows[i]["amount"],
			"date": parquet.Int64Value(wall.UnixMicro())}
	}
	ds, err := Load(context.Background(), writeParquet(t, group(false), naive), o)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomers(t, local, ds)
	if w := dateWarning(ds); w != "" {
		t.Errorf("naive timestamps: warning %q", w)
	}
	// A CSV log has none either.
	if w := dateWarning(local); w != "" {
		t.Errorf("CSV: warning %q", w)
	}
}

// TestArrowZone ensures the zone spellings Arrow allows.
func TestArrowZone(t *testing.T) {
	for tz, want := range map[string]int{"UTC": 0, "+00:00": 0, "+01:00": 3600, "-05:30": -19800, "+0545": 20700, "+14": 50400} {
		loc, err := arrowZone(tz)
		if err != nil {
			t.Errorf("%s: %v", tz, err)
			continue
		}
		if _, off := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone(); off != want {
			t.Errorf("%s: offset %d, want %d", tz, off, want)
		}
	}
	for _, tz := range []string{"Local", "+1:00", "+25:00", "-", "Nowhere/Special"} {
		if _, err := arrowZone(tz); err == nil {
			t.Errorf("%s: no error", tz)
		}
	}
}

// TestParquetFloatIDs ensures FLOAT/DOUBLE customer ids that are whole
// numbers (pandas turns an integer id column with a missing value into
// float64) are read as integers, 733.0 as "733", as the same log as CSV
// spells them (audit7 item 15: they were refused), and that an id with a
// fraction or beyond the float's exact integers is a bad row.
func TestParquetFloatIDs(t *testing.T) {
	txns := sampleTxns()
	var csv strings.Builder
	csv.WriteString("customer_id,date,amount\n")
	doubles := make([]map[string]parquet.Value, len(txns))
	floats := make([]map[string]parquet.Value, len(txns))
	for i, x := range txns {
		id := float64(int(x.id[0])*1000 - 66000) // -1000 for A, 0 for B, 1000 for C ...
		doubles[i] = map[string]parquet.Value{"customer_id": parquet.DoubleValue(id), "date": parquet.Int32Value(dayOf(x.day)), "amount": parquet.DoubleValue(x.amount)}
		floats[i] = map[string]parquet.Value{"customer_id": parquet.FloatValue(float32(id)), "date": parquet.Int32Value(dayOf(x.day)), "amount": parquet.DoubleValue(x.amount)}
		csv.WriteString(ftoa(id) + "," + x.day.Format(time.DateOnly) + "," + ftoa(x.amount) + "\n")
	}
	ref, err := loadString(csv.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Customers[0].ID != "-1000" {
		t.Fatalf("CSV ids %q", ref.Customers[0].ID)
	}
	dgroup := parquet.Group{"customer_id": parquet.Leaf(parquet.DoubleType), "date": parquet.Date(), "amount": parquet.Leaf(parquet.DoubleType)}
	fgroup := parquet.Group{"customer_id": parquet.Leaf(parquet.FloatType), "date": parquet.Date(), "amount": parquet.Leaf(parquet.DoubleType)}
	for name, path := range map[string]string{"DOUBLE": writeParquet(t, dgroup, doubles), "FLOAT": writeParquet(t, fgroup, floats)} {
		ds, err := Load(context.Background(), path, windowOpts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameCustomers(t, ref, ds)
	}

	for _, tc := range []struct {
		group parquet.Group
		id    parquet.Value
		want  string
	}{
		{dgroup, parquet.DoubleValue(733.5), `733.5 is not a whole number: a DOUBLE customer column is read only when it holds whole numbers (733.0 is customer "733"); write the ids as integers or text`},
		{dgroup, parquet.DoubleValue(1 << 60), "1152921504606847000 is too large for an exact id in a DOUBLE column (whole numbers are exact only up to 2^53"},
		{fgroup, parquet.FloatValue(0.1), "0.1 is not a whole number: a FLOAT customer column"},
		{fgroup, parquet.FloatValue(1 << 25), "33554432 is too large for an exact id in a FLOAT column (whole numbers are exact only up to 2^24"},
		{dgroup, parquet.DoubleValue(math.NaN()), "NaN is not a customer id"},
	} {
		path := writeParquet(t, tc.group, []map[string]parquet.Value{
			{"customer_id": parquet.DoubleValue(7), "date": parquet.Int32Value(dayOf(mustDate("2020-01-01"))), "amount": parquet.DoubleValue(1)},
			{"customer_id": tc.id, "date": parquet.Int32Value(dayOf(mustDate("2020-01-02"))), "amount": parquet.DoubleValue(1)},
		})
		if tc.group["customer_id"].Type().Kind() == parquet.Float {
			path = writeParquet(t, tc.group, []map[string]parquet.Value{
				{"customer_id": parquet.FloatValue(7), "date": parquet.Int32Value(dayOf(mustDate("2020-01-01"))), "amount": parquet.DoubleValue(1)},
				{"customer_id": tc.id, "date": parquet.Int32Value(dayOf(mustDate("2020-01-02"))), "amount": parquet.DoubleValue(1)},
			})
		}
		_, err := Load(context.Background(), path, Options{})
		var re *RowError
		if want := "clv: read transactions: " + path + `: row 2: column "customer_id": ` + tc.want; err == nil || !strings.HasPrefix(err.Error(), want) ||
			!errors.As(err, &re) || re.Reason != ReasonBadID {
			t.Errorf("error %v\nwant %s", err, want)
			continue
		}
		ds, err := Load(context.Background(), path, Options{SkipBadRows: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Customers) != 1 || ds.Customers[0].ID != "7" || ds.Report.BadRows[ReasonBadID] != 1 {
			t.Errorf("skipping: customers %+v, bad rows %v", ds.Customers, ds.Report.BadRows)
		}
	}
}

// dateWarning is the ingest warnings of ds, joined: where a Parquet date
// column's UTC-day warning is reported.
func dateWarning(ds *Dataset) string { return strings.Join(ds.Report.Warnings, "; ") }
