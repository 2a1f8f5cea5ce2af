package clv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLongRows ensures a row with more fields than the header (or the
// first row) is a bad row of its own reason, whose message names the
// likely cause, while trailing empty fields (Excel's padding) still load.
func TestLongRows(t *testing.T) {
	const hdr = "customer_id,date,amount\n"
	tests := []struct {
		name, content string
		opts          Options
		want          string // "" loads
	}{
		{"unquoted thousands separator", hdr + "A,2026-01-05,\"1,234.56\"\nB,2026-01-06,1,234.56\nC,2026-01-07,99.00\n", Options{},
			`log.csv:3: long row: 4 fields, but the header has 3: an unquoted thousands separator in "1,234.56"? quote the field or drop the separator`},
		{"two thousands separators", hdr + "A,2026-01-05,1,234,567.00\n", Options{},
			`log.csv:2: long row: 5 fields, but the header has 3: an unquoted thousands separator in "1,234,567.00"? quote the field or drop the separator`},
		{"thousands separator before the last column", "customer_id,date,amount,note\nA,2026-01-05,1,250,gift\n", Options{},
			`log.csv:2: long row: 5 fields, but the header has 4: an unquoted thousands separator in "1,250"? quote the field or drop the separator`},
		{"unquoted decimal comma", hdr + "A,2026-01-05,12,50\n", Options{},
			`log.csv:2: long row: 4 fields, but the header has 3: an unquoted decimal comma in "12,50"? quote the field, or write the file with another delimiter and read it with --decimal ,`},
		{"other unquoted comma", hdr + "A,2026-01-05,10,gift, wrap\n", Options{},
			`log.csv:2: long row: 5 fields, but the header has 3: an unquoted comma inside a value? quote such values`},
		{"quoted extra field", hdr + "A,2026-01-05,10,\"x, y\"\n", Options{},
			`log.csv:2: long row: 4 fields, but the header has 3: an unquoted comma inside a value? quote such values`},
		{"semicolon file", "customer_id;date;amount\nA;2026-01-05;10;x\n", Options{},
			`log.csv:2: long row: 4 fields, but the header has 3: an unquoted semicolon inside a value? quote such values`},
		{"unmapped columns past the mapped ones", "customer_id,date,amount,note,tag\nA,2026-01-05,10,a,b\nB,2026-01-05,1,234.00,a,b\n", Options{},
			`log.csv:3: long row: 6 fields, but the header has 5: an unquoted thousands separator in "1,234.00"? quote the field or drop the separator`},
		{"without a header", "A,20260105,5\nB,20260106,1,234.50\n", Options{},
			`log.csv:2: long row: 4 fields, but the first row has 3: an unquoted thousands separator in "1,234.50"? quote the field or drop the separator`},
		{"whitespace without a header", "A 20260105 5\nB 20260106 5 x\n", Options{},
			`log.csv:2: long row: 4 fields, but the first row has 3: an unquoted whitespace inside a value? quote such values`},
		{"Excel padding", hdr + "A,2026-01-05,10,,\nB,2026-01-06,5, , \nC,2026-01-07,7,\"\"\n", Options{}, ""},
		{"padded header", "customer_id,date,amount,,\nA,2026-01-05,10,,\nB,2026-01-06,5\n", Options{}, ""},
		{"padded first row without a header", "A,20260105,5,,\nB,20260106,5,,\nC,20260107,5\n", Options{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(tc.content, tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RowError
			if err == nil || !errors.As(err, &re) {
				t.Fatalf("error %v, want a RowError %q", err, tc.want)
			}
			if got := err.Error(); got != "clv: read transactions: "+tc.want {
				t.Errorf("error\n got %q\nwant %q", got, tc.want)
			}
			if re.Reason != ReasonLongRow {
				t.Errorf("reason %q, want %q", re.Reason, ReasonLongRow)
			}
		})
	}
}

// TestLongRowsSkipped ensures --skip-bad-rows skips long rows, counted by
// their own reason, and keeps the quoted amount.
func TestLongRowsSkipped(t *testing.T) {
	ds, err := loadString("customer_id,date,amount\nA,2026-01-05,\"1,234.56\"\nB,2026-01-06,1,234.56\nC,2026-01-07,99.00\n", Options{SkipBadRows: true})
	if err != nil {
		t.Fatal(err)
	}
	r := ds.Report
	if r.BadRows[ReasonLongRow] != 1 || len(r.BadRows) != 1 || r.Rows != 3 || r.Transactions != 2 {
		t.Errorf("bad rows %v, rows %d, transactions %d; want long_row 1, 3 and 2", r.BadRows, r.Rows, r.Transactions)
	}
	if r.TotalAmount != 1234.56+99 {
		t.Errorf("total %v, want %v", r.TotalAmount, 1234.56+99)
	}
	if len(r.BadExamples) != 1 || r.BadExamples[0].Line != 3 {
		t.Errorf("examples %+v, want line 3", r.BadExamples)
	}
}

// TestHeaderChanged ensures a header line mid-file with other columns
// stops the load at its line, also when bad rows are skipped, and says how
// the columns changed; the same header again stays a skippable bad row.
func TestHeaderChanged(t *testing.T) {
	const hdr = "customer_id,date,amount\n"
	var big strings.Builder
	big.WriteString(hdr)
	for i := range 150_000 { // several chunks, parsed in parallel
		fmt.Fprintf(&big, "C%d,2020-01-%02d,%d.25\n", i%5000, i%28+1, i%97)
	}
	big.WriteString("customer_id,date,discount,amount\nA,2020-02-05,0.00,500.00\n")
	tests := []struct {
		name, content string
		line          int64
		want          string
	}{
		{"a column added", hdr + "A,2026-01-05,10.00\ncustomer_id,date,discount,amount\nA,2026-02-05,0.00,500.00\nB,2026-02-06,0.00,700.00\n", 3,
			`a header line with other columns (exports joined together?): customer_id, date, discount, amount; the header on line 1 has customer_id, date, amount ` +
				`(added discount; amount moved from field 3 to 4): split the file, or give its parts the same columns`},
		{"columns reordered", hdr + "A,2026-01-05,10\namount,customer_id,date\n5,B,2026-01-06\n", 3,
			`a header line with other columns (exports joined together?): amount, customer_id, date; the header on line 1 has customer_id, date, amount ` +
				`(customer_id moved from field 1 to 2; date moved from field 2 to 3; amount moved from field 3 to 1): split the file, or give its parts the same columns`},
		{"a column removed", "customer_id,date,amount,discount\nA,2026-01-05,10,0\ncustomer_id,date,amount\nB,2026-01-06,5\n", 3,
			`a header line with other columns (exports joined together?): customer_id, date, amount; the header on line 1 has customer_id, date, amount, discount ` +
				`(removed discount): split the file, or give its parts the same columns`},
		{"deep in a big file", big.String(), 150_002,
			`a header line with other columns (exports joined together?): customer_id, date, discount, amount; the header on line 1 has customer_id, date, amount ` +
				`(added discount; amount moved from field 3 to 4): split the file, or give its parts the same columns`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(tc.content, Options{})
			var re *RowError
			if err == nil || !errors.As(err, &re) {
				t.Fatalf("error %v, want a RowError", err)
			}
			if want := fmt.Sprintf("clv: read transactions: log.csv:%d: %s", tc.line, tc.want); err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
			if re.Reason != ReasonHeaderChanged {
				t.Errorf("reason %q, want %q", re.Reason, ReasonHeaderChanged)
			}
			_, err = loadString(tc.content, Options{SkipBadRows: true})
			want := fmt.Sprintf("clv: read transactions: log.csv: line %d: %s (--skip-bad-rows cannot skip this line: the rows after it would be read with the wrong columns)", tc.line, tc.want)
			if err == nil || err.Error() != want {
				t.Errorf("with --skip-bad-rows: error\n got %v\nwant %s", err, want)
			}
		})
	}
	// The same header again, in another case and with padding: skipped.
	ds, err := loadString(hdr+"A,2026-01-05,10\nCustomer_ID,Date,Amount,\nB,2026-01-06,5\n", Options{SkipBadRows: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.BadRows[ReasonHeader] != 1 || ds.Report.Transactions != 2 {
		t.Errorf("bad rows %v, transactions %d; want repeated_header 1 and 2", ds.Report.BadRows, ds.Report.Transactions)
	}
}

// shopify is a Shopify-style export: commas inside quoted notes and line
// items outnumber the delimiters on some lines.
const shopify = "Name,Email,Paid at,Total,Notes,Lineitem name\n" +
	"#1001,a@x.com,2026-01-05 10:00:00 +0100,12.50,\"Gift, wrap\",\"Mug, large\"\n" +
	"#1002,b@x.com,2026-01-06 11:00:00 +0100,20.00,,\"Mug, small\"\n" +
	"#1003,c@x.com,2026-01-07 12:00:00 +0100,30.00,\"Leave at door, thanks\",Poster\n" +
	"#1004,a@x.com,2026-01-08 12:00:00 +0100,5.00,,Poster\n" +
	"#1005,d@x.com,2026-01-09 12:00:00 +0100,7.00,\"Hi, there, thanks\",\"Tee, red, XL\"\n"

// TestDelimiterDetection ensures delimiters inside quoted fields do not
// count, and that a column error on a file whose delimiter was detected
// names that delimiter when another one would find the columns.
func TestDelimiterDetection(t *testing.T) {
	shop := Options{Customer: "Email", Date: "Paid at", Amount: "Total", DateFormat: "2006-01-02 15:04:05 -0700"}
	ds, err := loadString(shopify, shop)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.Delimiter != "," || len(ds.Customers) != 4 || ds.Report.TotalAmount != 74.5 {
		t.Errorf("delimiter %q, %d customers, total %v; want \",\", 4 and 74.5", ds.Report.Delimiter, len(ds.Customers), ds.Report.TotalAmount)
	}
	// Unquoted commas in the notes: the comma loses to whitespace.
	unquoted := "Email,Paid at,Total,Note\na@x.com,2026-01-05 10:00:00,12.50,hi\nb@x.com,2026-01-06 10:00:00,20.00,a, b, c\n" +
		"c@x.com,2026-01-07 10:00:00,30.00,x, y\nd@x.com,2026-01-08 10:00:00,5.00,p, q, r, s\n"
	o := Options{Customer: "Email", Date: "Paid at", Amount: "Total", DateFormat: "2006-01-02 15:04:05"}
	tests := []struct {
		name, content string
		opts          Options
		want          string
	}{
		{"another delimiter finds the columns", unquoted, o,
			`customer column "Email" is not in the header; the header has: Email,Paid, at,Total,Note (the delimiter was detected as whitespace; with --delimiter , the columns are found: set it)`},
		{"a header name holds another delimiter", unquoted, Options{Customer: "Email", Date: "Paid at", Amount: "Sum"},
			`customer column "Email" is not in the header; the header has: Email,Paid, at,Total,Note (the delimiter was detected as whitespace, but the header name "Email,Paid" holds another one: set --delimiter)`},
		{"a plain wrong name has no note", shopify, Options{Customer: "mail"},
			`customer column "mail" is not in the header; the header has: Name, Email, Paid at, Total, Notes, Lineitem name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(tc.content, tc.opts)
			if want := "clv: read transactions: log.csv: " + tc.want; err == nil || err.Error() != want {
				t.Errorf("error\n got %v\nwant %s", err, want)
			}
		})
	}
}

// TestCountDelimiter ensures delimiters in quoted fields are not counted.
func TestCountDelimiter(t *testing.T) {
	tests := []struct {
		rec  string
		d    byte
		want int
	}{
		{`a,b,c`, ',', 2},
		{`a,"b, c",d`, ',', 2},
		{`"x, ""y"", z",1`, ',', 1},
		{` "a,b" , c`, ',', 1},
		{`12" pizza,2,3`, ',', 2},         // a quote inside a field opens nothing
		{`a,"open, never closed`, ',', 1}, // what follows an open quote does not count
		{"a;\"b;c\";d", ';', 2},
	}
	for _, tc := range tests {
		if got := countDelimiter([]byte(tc.rec), tc.d); got != tc.want {
			t.Errorf("countDelimiter(%q, %q) = %d, want %d", tc.rec, tc.d, got, tc.want)
		}
	}
}

// TestMultilineFields ensures quoted fields with line breaks are read as
// part of their record, that the lines after them keep their numbers, and
// that a record counts once.
func TestMultilineFields(t *testing.T) {
	const hdr = "customer_id,date,amount,note\n"
	tests := []struct {
		name, content string
		opts          Options
		rows          int64
		total         float64
		want          string // an error, when not ""
	}{
		{"a note over two lines", hdr + "A,2026-01-05,10,\"call\nfirst\"\nB,2026-01-06,5,\n", Options{}, 2, 15, ""},
		{"CRLF", strings.ReplaceAll(hdr+"A,2026-01-05,10,\"call\nfirst\"\nB,2026-01-06,5,\n", "\n", "\r\n"), Options{}, 2, 15, ""},
		{"quotes and delimiters inside", hdr + "A,2026-01-05,10,\"a \"\"b\"\",\nc, d\n\ne\"\nB,2026-01-06,5,x\n", Options{}, 2, 15, ""},
		{"in a mapped column", "customer_id,date,amount\n\"A\nB\",2026-01-05,10\nC,2026-01-06,\"5\"\n", Options{}, 2, 15, ""},
		{"line numbers after it", hdr + "A,2026-01-05,10,\"x\ny\nz\"\nB,2026-01-06,abc,\n", Options{}, 0, 0,
			`log.csv:5: column "amount": "abc" is not a number`},
		{"a bad record is reported at its first line", hdr + "A,2026-01-05,10,\"x\ny\"\nB,2026-01-06,5,\"x\ny\"\nC,2026-13-01,5,\"p\nq\"\n", Options{}, 0, 0,
			`log.csv:6: column "date": "2026-13-01" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)`},
		{"without a header", "A,20260105,10,\"x\ny\"\nB,20260106,5,plain\n", Options{Amount: "3"}, 2, 15, ""},
		{"a stray quote read line by line", hdr + "A,2026-01-05,10,\"5 inch\nB,2026-01-06,5,\"gift\"\nC,2026-01-07,1,\n", Options{SkipBadRows: true}, 3, 6, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := loadString(tc.content, tc.opts)
			if tc.want != "" {
				if err == nil || err.Error() != "clv: read transactions: "+tc.want {
					t.Errorf("error\n got %v\nwant %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := ds.Report; r.Rows != tc.rows || r.TotalAmount != tc.total {
				t.Errorf("rows %d, total %v; want %d and %v (bad %v)", r.Rows, r.TotalAmount, tc.rows, tc.total, r.BadRows)
			}
		})
	}
}

// TestMultilineAcrossChunks ensures records with line breaks load the same
// as the same records on one line when the file spans several read chunks,
// parsed in parallel, and that line numbers stay right to the end.
func TestMultilineAcrossChunks(t *testing.T) {
	var one, multi strings.Builder
	one.WriteString("customer_id,date,amount,note\n")
	multi.WriteString("customer_id,date,amount,note\n")
	lines := int64(1)
	for i := range 120_000 {
		fmt.Fprintf(&one, "C%d,2020-01-%02d,%d.25,\"a, b c\"\n", i%5000, i%28+1, i%97)
		if i%3 == 0 {
			fmt.Fprintf(&multi, "C%d,2020-01-%02d,%d.25,\"a,\nb\r\nc\"\n", i%5000, i%28+1, i%97)
			lines += 3
		} else {
			fmt.Fprintf(&multi, "C%d,2020-01-%02d,%d.25,\"a, b c\"\n", i%5000, i%28+1, i%97)
			lines++
		}
	}
	ref, err := loadString(one.String(), Options{Threads: 4})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := loadString(multi.String(), Options{Threads: 4})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.Rows != ref.Report.Rows || ds.Report.TotalAmount != ref.Report.TotalAmount {
		t.Errorf("rows %d total %v, want %d %v", ds.Report.Rows, ds.Report.TotalAmount, ref.Report.Rows, ref.Report.TotalAmount)
	}
	sameCustomers(t, ref, ds)
	multi.WriteString("X,2020-02-30,1,\"p\nq\"\n")
	_, err = loadString(multi.String(), Options{Threads: 4})
	want := fmt.Sprintf(`clv: read transactions: log.csv:%d: column "date": "2020-02-30" is not a date`, lines+1)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want %s...", err, want)
	}
}

// TestRecordEnd ensures a record ends at the first newline outside quoted
// fields, and that a quote that does not close leaves the line alone.
func TestRecordEnd(t *testing.T) {
	tests := []struct {
		data  string
		final bool
		n     int
		more  bool
	}{
		{"a,b\nc,d\n", false, 4, false},
		{"a,\"b\nc\",d\ne\n", false, 10, false},
		{"a,\"b\nc", false, 0, true},           // may close later
		{"a,\"b\nc", true, 5, false},           // never closes: the line alone
		{"a,12\" x\nb\n", false, 8, false},     // not at a field start: no quoted field
		{"a,\"b\"\"\nc\"\n", false, 10, false}, // an escaped quote does not close
		{"a,b", false, 0, true},
		{"a,b", true, 3, false},
	}
	for _, tc := range tests {
		n, more := recordEnd([]byte(tc.data), ',', tc.final, 0)
		if n != tc.n || more != tc.more {
			t.Errorf("recordEnd(%q, final %v) = %d, %v; want %d, %v", tc.data, tc.final, n, more, tc.n, tc.more)
		}
	}
	// A quoted field open for more than MaxLineBytes: the line alone.
	long := "a,\"x\n" + strings.Repeat("y", MaxLineBytes) + "\"\n"
	if n, more := recordEnd([]byte(long), ',', false, 0); n != 5 || more {
		t.Errorf("over-long quoted field: %d, %v; want 5, false", n, more)
	}
}

// TestEmptySpreadsheetRows ensures rows of delimiters only (",,,", which
// spreadsheets write below the data) are blank lines, not bad rows.
func TestEmptySpreadsheetRows(t *testing.T) {
	tests := []struct{ name, content string }{
		{"comma at the end", "customer_id,date,amount\nA,2026-01-05,10\nA,2026-01-06,5\n,,\n,,\n"},
		{"in the middle, with spaces", "customer_id,date,amount\nA,2026-01-05,10\n , ,\nA,2026-01-06,5\n"},
		{"semicolon CRLF", "customer_id;date;amount\r\nA;2026-01-05;10\r\nA;2026-01-06;5\r\n;;\r\n"},
		{"before the header", ",,\ncustomer_id,date,amount\nA,2026-01-05,10\nA,2026-01-06,5\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := loadString(tc.content, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Report.Rows != 2 || ds.Report.TotalAmount != 15 {
				t.Errorf("rows %d total %v, want 2 and 15", ds.Report.Rows, ds.Report.TotalAmount)
			}
		})
	}
	// An empty customer id is still an error.
	if _, err := loadString("customer_id,date,amount\n,2026-01-05,10\n", Options{}); err == nil {
		t.Error("a row without a customer id loaded")
	}
}

// csvWarnings reads content as Load does and returns the file's warnings.
func csvWarnings(t *testing.T, content string, o Options) []string {
	t.Helper()
	ds, err := LoadReader(context.Background(), "log.csv", strings.NewReader(content), o)
	if err != nil {
		t.Fatal(err)
	}
	return ds.Report.Warnings
}

// TestThousandsWarning ensures a file whose amounts with a '.' all have
// exactly three digits after it gets a warning that names --decimal ,.
func TestThousandsWarning(t *testing.T) {
	rows := func(delim string, n int, extra ...string) string {
		var b strings.Builder
		b.WriteString(strings.Join([]string{"customer_id", "date", "amount"}, delim) + "\n")
		for i := range n {
			fmt.Fprintf(&b, "C%d%s2026-01-%02d%s%d.%03d\n", i, delim, i%28+1, delim, i%9+1, (i*37)%1000)
			fmt.Fprintf(&b, "D%d%s2026-01-%02d%s%d\n", i, delim, i%28+1, delim, 100+i) // whole amounts below 1000
		}
		for _, e := range extra {
			fmt.Fprintf(&b, "E%s2026-02-01%s%s\n", delim, delim, e)
		}
		return b.String()
	}
	tests := []struct {
		name, content string
		opts          Options
		warn          bool
	}{
		{"comma file, 25 amounts", rows(",", 25), Options{}, true},
		{"comma file, 19 amounts", rows(",", 19), Options{}, false},
		{"one amount with cents", rows(",", 25, "12.50"), Options{}, false},
		{"leading zero is no thousands group", rows(",", 25, "0.125"), Options{}, false},
		{"semicolon file, 2 amounts", "Kunde;Datum;Umsatz\n1;05.01.2026;1.250\n2;06.01.2026;980\n3;07.01.2026;2.400\n", Options{DateFormat: "02.01.2006"}, true},
		{"European dates, comma file", "k,d,amount\n1,05.01.2026,1.250\n2,06.01.2026,980\n3,07.01.2026,2.400\n", Options{Customer: "k", Date: "d", DateFormat: "02.01.2006"}, true},
		{"read with --decimal ,", "Kunde;Datum;Umsatz\n1;05.01.2026;1.250\n2;06.01.2026;980\n3;07.01.2026;2.400\n", Options{DateFormat: "02.01.2006", Decimal: ","}, false},
		{"cents", rows(",", 0, "12.50", "1.25", "100.00"), Options{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Customer == "" && strings.HasPrefix(tc.content, "Kunde") {
				tc.opts.Customer, tc.opts.Date, tc.opts.Amount = "Kunde", "Datum", "Umsatz"
			}
			ws := csvWarnings(t, tc.content, tc.opts)
			if got := len(ws) > 0; got != tc.warn {
				t.Fatalf("warnings %q, want a warning: %v", ws, tc.warn)
			}
			if tc.warn && !strings.Contains(ws[0], "read it with --decimal ,") {
				t.Errorf("warning %q does not name --decimal ,", ws[0])
			}
		})
	}
	ws := csvWarnings(t, "Kunde;Datum;Umsatz\n1;05.01.2026;1.250\n2;06.01.2026;980\n3;07.01.2026;2.400\n",
		Options{Customer: "Kunde", Date: "Datum", Amount: "Umsatz", DateFormat: "02.01.2006"})
	want := `every amount written with a "." has exactly three digits after it (2 amounts, such as "1.250", read as 1.25): if "." groups the thousands in this file ("1.250" = 1250), read it with --decimal ,`
	if len(ws) != 1 || ws[0] != want {
		t.Errorf("warnings %q, want %q", ws, want)
	}
}

// TestDateHints ensures a date that fails says which layout would read
// it, for the formats SQL clients, BigQuery and spreadsheets write, and
// what an epoch or Excel serial number is.
func TestDateHints(t *testing.T) {
	const builtin = " is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)"
	tests := []struct {
		value, layout, want string
	}{
		{"2025-01-01 09:00", "", `"2025-01-01 09:00"` + builtin + `: it looks like --date-format "2006-01-02 15:04"`},
		{"2025-01-01 09:00:22.123", "", `"2025-01-01 09:00:22.123"` + builtin + `: it looks like --date-format "2006-01-02 15:04:05"`},
		{"2025-01-01 09:00:22+01", "", `"2025-01-01 09:00:22+01"` + builtin + `: it looks like --date-format "2006-01-02 15:04:05-07"`},
		{"2025-01-01 09:00:22 UTC", "", `"2025-01-01 09:00:22 UTC"` + builtin + `: it looks like --date-format "2006-01-02 15:04:05 MST"`},
		{"1/13/2025 9:00:22", "", `"1/13/2025 9:00:22"` + builtin + `: it looks like --date-format "1/2/2006 15:04:05"`},
		{"13/1/2025", "", `"13/1/2025"` + builtin + `: it looks like --date-format "2/1/2006"`},
		{"1/2/2025", "", `"1/2/2025"` + builtin + `: it looks like --date-format "1/2/2006" (month first), or "2/1/2006" if the day comes first`},
		{"1735718422", "", `"1735718422"` + builtin + `: Unix time in seconds? those are not dates: convert them to dates (e.g. 2006-01-02) first`},
		{"1735718422000", "", `"1735718422000"` + builtin + `: Unix time in milliseconds? those are not dates: convert them to dates (e.g. 2006-01-02) first`},
		{"45658", "", `"45658"` + builtin + `: an Excel serial day number? format the column as a date (e.g. yyyy-mm-dd) before exporting`},
		{"05.01.2026", "", `"05.01.2026"` + builtin + `: it looks like --date-format "02.01.2006"`},
		{"1/1/2025", "01/02/2006", `"1/1/2025" is not a date in layout "01/02/2006": one-digit months or days need 1 and 2 in the layout ("01" and "02" want two digits): --date-format "1/2/2006"`},
		{"2025-01-01 09:00", "2006-01-02", `"2025-01-01 09:00" is not a date in layout "2006-01-02": it looks like --date-format "2006-01-02 15:04"`},
		{"2020-13-01", "", `"2020-13-01"` + builtin},
		{"soon", "", `"soon"` + builtin},
	}
	for _, tc := range tests {
		if got := notDate([]byte(tc.value), tc.layout, ""); got != tc.want {
			t.Errorf("notDate(%q, %q)\n got %s\nwant %s", tc.value, tc.layout, got, tc.want)
		}
	}
}

// TestTextEncodings ensures UTF-16 files and CR-only line ends are named.
func TestTextEncodings(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"UTF-16LE", "\xff\xfec\x00u\x00s\x00\t\x00", `the file is UTF-16 text (Excel's "Unicode Text"?): save it as UTF-8 (CSV UTF-8) and read that`},
		{"CR only", "customer_id,date,amount\rA,2020-01-01,1\rB,2020-01-02,2\r",
			`the lines end in CR alone (classic Mac OS line ends): convert them to LF or CRLF (e.g. tr '\r' '\n')`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(tc.content, Options{})
			if want := "clv: read transactions: log.csv: " + tc.want; err == nil || err.Error() != want {
				t.Errorf("error\n got %v\nwant %s", err, want)
			}
		})
	}
}

// TestNumberHintDotGroups ensures "1.234.567" without --decimal , says
// that '.' may group thousands.
func TestNumberHintDotGroups(t *testing.T) {
	_, err := loadString("customer_id;date;amount\nA;2020-01-01;1.234.567\n", Options{})
	want := `clv: read transactions: log.csv:2: column "amount": "1.234.567" is not a number (a "." grouping thousands, as in 1.234.567? use --decimal ,)`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

// quotedLog is a log of n rows several read chunks long whose notes have
// quoted line breaks, stray quotes and inch marks, starting with pad blank
// lines (which move where the reader cuts its chunks).
func quotedLog(n, pad int) string {
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString(strings.Repeat("\n", pad))
	b.WriteString("customer_id,date,amount,note\n")
	for range n {
		note := `"a, b"`
		switch r := rng.IntN(200); {
		case r < 20:
			note = "\"line one,\nline \"\"two\"\"\r\nthree\""
		case r < 22:
			note = `"5 inch` // a stray quote: never closed on its line
		case r < 24:
			note = `12" pizza`
		case r < 25:
			note = `"x"y` // misplaced
		}
		fmt.Fprintf(&b, "C%d,2020-01-%02d,%d.25,%s\n", rng.IntN(3000), rng.IntN(28)+1, rng.IntN(97), note)
	}
	return b.String()
}

// TestRecordsIndependentOfChunks ensures that where the reader cuts the
// input changes nothing: the same log moved by some blank lines loads to
// the same rows, bad rows and customers.
func TestRecordsIndependentOfChunks(t *testing.T) {
	var ref *Dataset
	for _, pad := range []int{0, 1, 13, 4099} {
		ds, err := loadString(quotedLog(150_000, pad), Options{SkipBadRows: true, Threads: 3})
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = ds
			if ds.Report.BadRows[ReasonQuote] == 0 || ds.Report.Transactions < 140_000 {
				t.Fatalf("report %+v: want bad quotes and most rows loaded", ds.Report)
			}
			continue
		}
		a, b := ref.Report, ds.Report
		if a.Rows != b.Rows || a.Transactions != b.Transactions || fmt.Sprint(a.BadRows) != fmt.Sprint(b.BadRows) || a.TotalAmount != b.TotalAmount {
			t.Errorf("pad %d: rows %d transactions %d bad %v total %v; want %d %d %v %v", pad,
				b.Rows, b.Transactions, b.BadRows, b.TotalAmount, a.Rows, a.Transactions, a.BadRows, a.TotalAmount)
		}
		sameCustomers(t, ref, ds)
	}
}

// BenchmarkLastRecordEnd measures how fast the reader finds where to cut a
// chunk of a log whose every field is quoted: it runs on one goroutine
// ahead of the parsers.
func BenchmarkLastRecordEnd(b *testing.B) {
	var q strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(string(benchLog(60_000)), "\n"), "\n") {
		q.WriteString(`"` + strings.ReplaceAll(l, ",", `","`) + "\"\n")
	}
	data := []byte(q.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		lastRecordEnd(data, ',', maxRecordFields(3))
	}
}

// TestDateLayoutFromModel ensures a date error under a layout taken from a
// model's training options (predict, eval) says so and how to leave it,
// and that one the user chose does not.
func TestDateLayoutFromModel(t *testing.T) {
	const log = "customer_id,date,amount\nA,2025-01-01,10\n"
	const note = `(the model's training layout: --date-format sets another, --date-format "" the built-in formats)`
	for _, tc := range []struct {
		name      string
		fromModel []string
		want      bool
	}{
		{"typed", nil, false},
		{"from the model", []string{"customer", "date-format"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadReader(context.Background(), "log.csv", strings.NewReader(log),
				Options{DateFormat: "1/2/2006", ColumnsFromModel: tc.fromModel})
			if err == nil || !strings.Contains(err.Error(), `is not a date in layout "1/2/2006"`) {
				t.Fatalf("error %v, want the date named", err)
			}
			if got := strings.Contains(err.Error(), note); got != tc.want {
				t.Errorf("error %q: note %v, want %v", err, got, tc.want)
			}
		})
	}
}
