package clv

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// loadString runs LoadReader on content named log.csv.
func loadString(content string, o Options) (*Dataset, error) {
	return LoadReader(context.Background(), "log.csv", strings.NewReader(content), o)
}

// TestMalformedLogs ensures each kind of bad input stops the load with an
// error that names the file, the line, the column and what was expected.
func TestMalformedLogs(t *testing.T) {
	const hdr = "customer_id,date,amount\n"
	const prefix = "clv: read transactions: "
	long := strings.Repeat("9", MaxLineBytes+10)
	var many strings.Builder
	many.WriteString(hdr)
	for i := range 150_000 { // several read chunks, parsed in parallel
		fmt.Fprintf(&many, "C%d,2020-01-%02d,%d.25\n", i%5000, i%28+1, i%97)
	}
	many.WriteString("X,2020-02-30,1\n")
	tests := []struct {
		name    string
		content string
		opts    Options
		want    string
		reason  Reason
	}{
		{"amount not a number", "customer_id;date;amount\nA;2020-01-01;10\nB;2020-01-02;12,x\n", Options{},
			`log.csv:3: column "amount": "12,x" is not a number`, ReasonNotANumber},
		{"amount NaN", hdr + "A,2020-01-01,NaN\n", Options{},
			`log.csv:2: column "amount": "NaN" is not a number`, ReasonNotANumber},
		{"amount out of range", hdr + "A,2020-01-01,1e300\n", Options{},
			`log.csv:2: column "amount": "1e300" is out of range (want a finite number within ±1e+12)`, ReasonNotANumber},
		{"empty amount", hdr + "A,2020-01-01,\n", Options{},
			`log.csv:2: column "amount": "" is not a number`, ReasonNotANumber},
		{"quantity not a number", "customer_id,date,amount,qty\nA,2020-01-01,5,two\n", Options{},
			`log.csv:2: column "qty": "two" is not a number`, ReasonNotANumber},
		{"extra not a number", hdr[:len(hdr)-1] + ",visits\nA,2020-01-01,5,3\nB,2020-01-01,5,x3\n", Options{Extra: []string{"visits"}},
			`log.csv:3: column "visits": "x3" is not a number`, ReasonNotANumber},
		{"bad month", hdr + "A,2020-01-01,5\nA,2020-13-01,5\n", Options{},
			`log.csv:3: column "date": "2020-13-01" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)`, ReasonBadDate},
		{"bad day of month", hdr + "A,20210229,5\n", Options{},
			`log.csv:2: column "date": "20210229" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)`, ReasonBadDate},
		{"date not in layout", hdr + "A,01/02/2020,5\nA,2020-01-03,5\n", Options{DateFormat: "01/02/2006"},
			`log.csv:3: column "date": "2020-01-03" is not a date in layout "01/02/2006"`, ReasonBadDate},
		{"empty date", hdr + "A,2020-01-01,5\nB,,5\n", Options{},
			`log.csv:3: column "date": empty date`, ReasonBadDate},
		{"spreadsheet total line", hdr + "A,2020-01-01,5\nB,2020-01-02,5\nGrand Total,,10\n", Options{},
			`log.csv:4: column "date": empty date: customer "Grand Total" looks like a spreadsheet's total line; remove it, or skip it with --skip-bad-rows`, ReasonBadDate},
		{"total line with a label", hdr + "A,2020-01-01,5\nTotal:,Jan-Dec,5\n", Options{},
			`log.csv:3: column "date": "Jan-Dec" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format): customer "Total:" looks like a spreadsheet's total line; remove it, or skip it with --skip-bad-rows`, ReasonBadDate},
		{"short row", hdr + "A,2020-01-01,5\nB,2020-01-01\n", Options{},
			`log.csv:3: short row: 2 fields, but column "amount" is field 3`, ReasonShortRow},
		{"short row without header", "A 20200101 5\nB 20200101\n", Options{},
			`log.csv:2: short row: 2 fields, but column 3 (amount) is field 3`, ReasonShortRow},
		{"empty customer id", hdr + ",2020-01-01,5\n", Options{},
			`log.csv:2: column "customer_id": empty customer id`, ReasonEmptyID},
		{"NUL byte", hdr + "A,2020-01-01,5\nB\x00\x00,2020-01-01,5\n", Options{},
			`log.csv:3: binary data (NUL byte) in the line; is this a text file?`, ReasonBinary},
		{"invalid UTF-8 id", hdr + "\xff\xfe,2020-01-01,5\n", Options{},
			`log.csv:2: column "customer_id": "\xff\xfe" is not valid UTF-8`, ReasonBinary},
		{"over-long line", hdr + "A,2020-01-01,5\nA,2020-01-01," + long + "\nA,2020-01-02,5\n", Options{},
			`log.csv:3: line is longer than 1048576 bytes`, ReasonLongLine},
		{"line longer than a read chunk", hdr + "A,2020-01-01,5\nA,2020-01-01," + long + long + long + "\nA,2020-01-02,5\n", Options{},
			`log.csv:3: line is longer than 1048576 bytes`, ReasonLongLine},
		{"unterminated quote", hdr + "A,\"2020-01-01,5\n", Options{},
			`log.csv:2: column "date": a quoted field is not closed: no closing quote before the end of the file`, ReasonQuote},
		{"unterminated quote after a closed one", "customer_id,date,amount,a,b\nA,2024-01-01,10,\"x, \"\"y\"\"\", \"z\n", Options{},
			`log.csv:2: column "b": a quoted field is not closed: no closing quote before the end of the file`, ReasonQuote},
		{"unterminated quote without a header", "A,20240101,10,x\nB,20240101,5,\"y\nz\n", Options{Amount: "3"},
			`log.csv:2: column 4: a quoted field is not closed: no closing quote before the end of the file`, ReasonQuote},
		{"stray quote closed by a later line", "customer_id,date,amount,note\nA,2024-01-01,10,\"5 inch\nB,2024-01-02,5,\"gift\"\n", Options{},
			`log.csv:2: column "note": a quoted field is not closed on its line, and closing it on line 3 makes a malformed row; a stray double quote?`, ReasonQuote},
		{"misplaced quote", hdr + "A,\"2020-01-01\"x,5\n", Options{},
			`log.csv:2: misplaced double quote: a quoted field must end at the delimiter`, ReasonQuote},
		{"end of a quoted field from the line before", hdr + "A,2020-01-01,5\nline two\"\n", Options{},
			`log.csv:3: short row: 1 fields, but column "date" is field 2 (an odd number of quotes: the end of a quoted field that began on an earlier line?)`, ReasonShortRow},
		{"repeated header", hdr + "A,2020-01-01,5\n" + hdr + "B,2020-01-02,5\n", Options{},
			`log.csv:3: looks like a repeated header line (files joined together?); remove it, or skip it with --skip-bad-rows`, ReasonHeader},
		{"repeated header with a byte order mark", "\xef\xbb\xbf\"Customer\",\"Date\",\"Sales\"\nA,2020-01-01,5\n\xef\xbb\xbf\"Customer\",\"Date\",\"Sales\"\n", Options{},
			`log.csv:3: looks like a repeated header line (files joined together?); remove it, or skip it with --skip-bad-rows`, ReasonHeader},
		{"date before 1900", hdr + "A,2020-01-01,5\nA,1899-12-31,5\n", Options{},
			`log.csv:3: column "date": "1899-12-31" is outside the supported years 1900-2200 (a placeholder for a missing date?)`, ReasonBadDate},
		{"placeholder date 9999-12-31", hdr + "A,99991231,5\n", Options{},
			`log.csv:2: column "date": "99991231" is outside the supported years 1900-2200 (a placeholder for a missing date?)`, ReasonBadDate},
		{"date in a layout before 1900", hdr + "A,01.01.0001,5\n", Options{DateFormat: "02.01.2006"},
			`log.csv:2: column "date": "01.01.0001" is outside the supported years 1900-2200 (a placeholder for a missing date?)`, ReasonBadDate},
		{"decimal comma", "customer_id;date;amount\nA;2020-01-01;14,92\n", Options{},
			`log.csv:2: column "amount": "14,92" is not a number (a decimal comma? use --decimal ,)`, ReasonNotANumber},
		{"European grouping", "customer_id;date;amount\nA;2020-01-01;2.754,00\n", Options{},
			`log.csv:2: column "amount": "2.754,00" is not a number (a decimal comma? use --decimal ,)`, ReasonNotANumber},
		{"decimal comma, leading zero", "customer_id;date;amount\nA;2020-01-01;0,125\n", Options{},
			`log.csv:2: column "amount": "0,125" is not a number (a decimal comma? use --decimal ,)`, ReasonNotANumber},
		{"groups of two", hdr + "A,2020-01-01,\"12,34,567\"\n", Options{},
			`log.csv:2: column "amount": "12,34,567" is not a number (thousands separators must group three digits, as in 1,234.50; for decimal commas use --decimal ,)`, ReasonNotANumber},
		{"decimal point with --decimal ,", "customer_id;date;amount\nA;2020-01-01;14,5\nA;2020-01-02;14.92\n", Options{Decimal: ","},
			`log.csv:3: column "amount": "14.92" is not a number (a decimal point? with --decimal , a "." separates thousands; leave --decimal out to read 1234.50)`, ReasonNotANumber},
		{"bad groups with --decimal ,", "customer_id;date;amount\nA;2020-01-01;1.23.456,5\n", Options{Decimal: ","},
			`log.csv:2: column "amount": "1.23.456,5" is not a number (with --decimal , thousands are grouped by "." in groups of three digits, as in 1.234,50)`, ReasonNotANumber},
		{"grouped amount out of range", hdr + "A,2020-01-01,\"9,999,999,999,999.00\"\n", Options{},
			`log.csv:2: column "amount": "9,999,999,999,999.00" is out of range (want a finite number within ±1e+12)`, ReasonNotANumber},
		{"quantity with --decimal ,", "customer_id;date;amount;qty\nA;2020-01-01;5,5;1.5\n", Options{Decimal: ","},
			`log.csv:2: column "qty": "1.5" is not a number (a decimal point? with --decimal , a "." separates thousands; leave --decimal out to read 1234.50)`, ReasonNotANumber},
		{"negative under ErrorNegative", hdr + "A,2020-01-01,5\nA,2020-01-02,-5\n", Options{Negative: ErrorNegative},
			`log.csv:3: column "amount": "-5" is negative (negative amounts are errors under this policy; use net or drop)`, ReasonNegative},
		{"CRLF whitespace log", " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  1   1x.00\r\n", Options{},
			`log.csv:3: column "dollar_value": "1x.00" is not a number`, ReasonNotANumber},
		{"bad row deep in a big file", many.String(), Options{},
			`log.csv:150002: column "date": "2020-02-30" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)`, ReasonBadDate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(tc.content, tc.opts)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if got := err.Error(); got != prefix+tc.want {
				t.Errorf("error\n got %q\nwant %q", got, prefix+tc.want)
			}
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RowError", err)
			}
			if re.Reason != tc.reason {
				t.Errorf("reason %q, want %q", re.Reason, tc.reason)
			}
		})
	}
}

// TestMalformedFiles ensures problems with the file as a whole fail even
// when bad rows are skipped, with a message that says what to do.
func TestMalformedFiles(t *testing.T) {
	const prefix = "clv: read transactions: log.csv: "
	tests := []struct {
		name    string
		content string
		opts    Options
		want    string
	}{
		{"empty", "", Options{}, "the file is empty"},
		{"blank lines only", "\n \r\n\n", Options{}, "the file is empty"},
		{"header only", "customer_id,date,amount\n", Options{}, "no data rows"},
		{"all rows bad", "customer_id,date,amount\nA,x,1\nB,y,2\n", Options{}, "no valid rows: all 2 data rows were bad or filtered out; the first: log.csv:2: column \"date\": \"x\" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)"},
		{"every row after the holdout", "customer_id,date,amount\nA,2024-01-01,1\nB,2024-02-01,2\n",
			Options{CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), Horizon: Horizon{Days: 7}},
			"no valid rows: 2 of 2 data rows are dated after 1997-10-07 (the calibration end 1997-09-30 plus the 1w horizon) and are ignored: is --calibration-end right for this log?"},
		{"every row after the calibration end, no horizon (predict)", "customer_id,date,amount\nA,2024-01-01,1\nB,2024-02-01,2\n",
			Options{CalibrationEnd: time.Date(1996, 1, 1, 0, 0, 0, 0, time.UTC)},
			"no valid rows: 2 of 2 data rows are dated after the calibration end 1996-01-01 and are ignored: is --calibration-end right for this log?"},
		{"delimiter that does not split", "customer_id,date,amount\nA,2020-01-01,1\n", Options{Delimiter: ";"},
			`the delimiter ";" (--delimiter) does not split the first line into columns: "customer_id,date,amount"; the file looks comma-separated: leave --delimiter out to detect it`},
		// A delimiter taken from the model was not typed: leaving the flag
		// out is what chose it (audit8-lifecycle 9).
		{"delimiter from the model", "customer_id;date;amount\nA;2020-01-01;1\n",
			Options{Delimiter: ",", ColumnsFromModel: []string{"customer", "delimiter"}},
			`the delimiter "," (the model was trained with --delimiter ,) does not split the first line into columns: "customer_id;date;amount"; ` +
				`the file looks semicolon-separated: --delimiter "" detects it, or --delimiter ";" sets it`},
		{"tab delimiter from the model", "customer_id|date|amount\nA|2020-01-01|1\n",
			Options{Delimiter: "tab", ColumnsFromModel: []string{"delimiter"}},
			`the delimiter "tab" (the model was trained with --delimiter tab) does not split the first line into columns: "customer_id|date|amount"; ` +
				`the file looks pipe-separated: --delimiter "" detects it, or --delimiter "|" sets it`},
		{"delimiter from the model, none detected", "abc\ndef\n", Options{Delimiter: ";", ColumnsFromModel: []string{"delimiter"}},
			`the delimiter ";" (the model was trained with --delimiter ";") does not split the first line into columns: "abc"; ` +
				`set this file's with --delimiter, or --delimiter "" to detect it`},
		{"Parquet read as CSV", "PAR1\x15\x04\x15\x10PAR1", Options{Format: "csv"},
			"this is a Parquet file, not CSV: leave --format csv out to read it as Parquet"},
		{"Excel workbook", "PK\x03\x04\x14\x00\x06\x00[Content_Types].xml\x00\x00xl/workbook.xml", Options{},
			"this is an Excel workbook (.xlsx), not a CSV file: export the sheet as CSV (Save As, CSV UTF-8) and read that"},
		{"ZIP archive", "PK\x03\x04\x14\x00\x00\x00log.csv\x00customer_id,date,amount\n", Options{},
			"this is a ZIP archive, not a CSV file: unzip it and read the file inside (gzip-compressed CSV is read as it is)"},
		{"Excel 97-2003 workbook", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", Options{},
			"this is an Excel 97-2003 workbook (.xls) or another Office file, not a CSV file: export the sheet as CSV and read that"},
		{"binary without NUL bytes", "\x8b\xcf\x15\xbf\x87\xee_\xbe\n\xe3\x8b>In\xb5\xbd\xfe\n\x88>_\xf1\xc9=\xfa\n", Options{},
			`the start of the file is not text (binary data?): "\x8b\xcf\x15\xbf\x87\xee_\xbe"; is this a CSV file?`},
		{"control bytes in the header", "cust\x01omer,date,amount\nA,2020-01-01,1\n", Options{},
			`no customer column found (looked for customer_id, customerid, customer, cust_id, cust, client_id, clientid, client, user_id, userid, user, member_id, id); the header has: "cust\x01omer", date, amount; name it with --customer (read.customer in a job spec)`},
		{"truncated gzip", truncatedGzip("customer_id,date,amount\nA,2020-01-01,1\n"), Options{},
			"the gzip stream is truncated (the file ends before its compressed data does; was a download or copy cut short?): unexpected EOF"},
		{"unknown column", "customer_id,date,amount\nA,2020-01-01,1\n", Options{Amount: "dolar"},
			`amount column "dolar" is not in the header; the header has: customer_id, date, amount`},
		{"no default column", "cust,date\n1,2006-01-01\n", Options{},
			"no amount column found (looked for amount, sales, sale, spend, revenue, dollar_value, dollars, value, price, total, monetary); the header has: cust, date; name it with --amount (read.amount in a job spec); a log without spend: --amount none (read.amount: none) counts purchase days instead"},
		{"index out of range", "A,2020-01-01,1\n", Options{Amount: "9"}, "amount column 9 is out of range: the first row has 3 columns"},
		{"name without header", "A,2020-01-01,1\n", Options{Header: "no", Customer: "cust"},
			`customer column "cust" is a name, but the file has no header; give a 1-based index instead`},
		{"same column twice", "A,2020-01-01,1\n", Options{Customer: "1", Amount: "1"}, "customer and amount are both column 1 (customer)"},
		{"no delimiter", "abc\ndef\n", Options{},
			"cannot tell the delimiter from the first lines (tried comma, tab, semicolon, pipe and whitespace); set it (--delimiter)"},
		{"binary", "\x00\x01\x02\x03\n\x00\x00\n", Options{}, "no text lines at the start of the file (binary data?); is this a CSV file?"},
		{"first line too long", strings.Repeat("x", 3*MaxLineBytes), Options{}, "line 1 is longer than 1048576 bytes; is this a text file?"},
		{"nobody in calibration", "customer_id,date,amount\nA,2020-01-01,1\n", Options{CalibrationEnd: mustDate("2019-12-31"), Horizon: Horizon{Days: 7}},
			"no customer bought on or before the calibration end 2019-12-31 (the data runs 2020-01-01 to 2020-01-01)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.SkipBadRows = true
			_, err := loadString(tc.content, tc.opts)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if got := err.Error(); got != prefix+tc.want {
				t.Errorf("error\n got %q\nwant %q", got, prefix+tc.want)
			}
		})
	}
}

// TestOptionErrors ensures invalid options are rejected before reading, with
// the accepted values in the message.
func TestOptionErrors(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Header: "maybe"}, `clv: read transactions: log.csv: header "maybe": want auto, yes or no`},
		{Options{Format: "xlsx"}, `clv: read transactions: log.csv: format "xlsx": want csv, parquet, or empty to decide by content`},
		{Options{Delimiter: "#"}, `clv: read transactions: log.csv: delimiter "#": want ",", ";", "|", "tab" or "whitespace" (or empty to detect it)`},
		{Options{Negative: 7}, `clv: read transactions: log.csv: negative policy 7: want NetNegative, DropNegative or ErrorNegative`},
		{Options{Horizon: Horizon{Days: -1}}, `clv: read transactions: log.csv: horizon -1d: must not be negative`},
		{Options{Horizon: Horizon{Months: 1212}}, `clv: read transactions: log.csv: horizon 101y: at most 100y`},
		{Options{Decimal: ";"}, `clv: read transactions: log.csv: decimal separator ";": want "." (1234.50) or "," (1234,50)`},
		{Options{DateFormat: "dd/mm/yyyy"}, `clv: read transactions: log.csv: date format "dd/mm/yyyy" is not a Go time layout: write the date 2006-01-02 (January 2, 2006) the way the file writes its dates, here 02/01/2006`},
		{Options{CalibrationEnd: mustDate("1800-01-01")}, `clv: read transactions: log.csv: calibration end 1800-01-01: outside the supported years 1900-2200`},
		{Options{DataEnd: mustDate("2999-12-31")}, `clv: read transactions: log.csv: data end 2999-12-31: outside the supported years 1900-2200`},
	}
	for _, tc := range tests {
		_, err := loadString("A,2020-01-01,1\n", tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// TestSkipBadRows ensures skipped rows are counted by reason and quoted,
// and that the good rows around them still load.
func TestSkipBadRows(t *testing.T) {
	content := "customer_id,date,amount\n" +
		"A,2020-01-01,5\n" +
		"A,2020-01-0x,5\n" + // bad date, line 3
		"B,2020-01-02,abc\n" + // not a number, line 4
		"C,2020-01-02\n" + // short, line 5
		"D\x00,2020-01-02,1\n" + // binary, line 6
		"A,2020-01-08,7\n" +
		"E,2020-01-09,1e999\n" + // not a number, line 8
		",2020-01-09,1\n" + // empty id, line 9
		"F,2020-01-09,-3\n" // negative, line 10
	ds, err := loadString(content, Options{SkipBadRows: true, Negative: ErrorNegative})
	if err != nil {
		t.Fatal(err)
	}
	r := ds.Report
	want := map[Reason]int64{ReasonBadDate: 1, ReasonNotANumber: 2, ReasonShortRow: 1, ReasonBinary: 1, ReasonEmptyID: 1, ReasonNegative: 1}
	if fmt.Sprint(r.BadRows) != fmt.Sprint(want) {
		t.Errorf("bad rows %v, want %v", r.BadRows, want)
	}
	if r.Rows != 9 || r.Transactions != 2 {
		t.Errorf("rows %d, transactions %d; want 9 and 2", r.Rows, r.Transactions)
	}
	if len(r.BadExamples) != maxBadExamples {
		t.Fatalf("%d examples, want %d", len(r.BadExamples), maxBadExamples)
	}
	first := r.BadExamples[0]
	if first.Line != 3 || first.Reason != ReasonBadDate || !strings.HasPrefix(first.Error, `log.csv:3: column "date": "2020-01-0x"`) {
		t.Errorf("first example %+v", first)
	}
	if len(ds.Customers) != 1 || ds.Customers[0].ID != "A" || ds.Customers[0].X != 1 {
		t.Errorf("customers %+v, want only A with one repeat day", ds.Customers)
	}
}

// truncatedGzip compresses content and cuts the stream short, as an
// interrupted download leaves it.
func truncatedGzip(content string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(content))
	zw.Close()
	return b.String()[:b.Len()-10]
}
