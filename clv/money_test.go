package clv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// TestParseMoney ensures every way shops and spreadsheets write money
// reads as its number and currency, under decimal.go's rules, and that
// what is not written like money, or not in one way only, is refused.
func TestParseMoney(t *testing.T) {
	good := []struct {
		in       string
		dec      byte
		want     float64
		text     string
		key      string
		accounts bool // parentheses
	}{
		{"$12.50", '.', 12.5, "$", "$", false},
		{"$1,234.56", '.', 1234.56, "$", "$", false},
		{"$ 12.50", '.', 12.5, "$", "$", false},
		{"12.50 $", '.', 12.5, "$", "$", false},
		{"12.50$", '.', 12.5, "$", "$", false},
		{"-$5.00", '.', -5, "$", "$", false},
		{"$-5.00", '.', -5, "$", "$", false},
		{"$ -5.00", '.', -5, "$", "$", false},
		{"+$5", '.', 5, "$", "$", false},
		{"-5.00 $", '.', -5, "$", "$", false},
		{"$.50", '.', 0.5, "$", "$", false},
		{"12.50 €", '.', 12.5, "€", "EUR", false},
		{"€12,50", ',', 12.5, "€", "EUR", false},
		{"1.234,50 €", ',', 1234.5, "€", "EUR", false},
		{"12,50\u00a0€", ',', 12.5, "€", "EUR", false},
		{"12,50\u202f€", ',', 12.5, "€", "EUR", false},
		{"£3.00", '.', 3, "£", "GBP", false},
		{"¥1,200", '.', 1200, "¥", "¥", false},
		{"₹1,499", '.', 1499, "₹", "INR", false},
		{"₩15000", '.', 15000, "₩", "KRW", false},
		{"฿99", '.', 99, "฿", "THB", false},
		{"USD 12.50", '.', 12.5, "USD", "USD", false},
		{"12.50 EUR", '.', 12.5, "EUR", "EUR", false},
		{"CHF12.50", '.', 12.5, "CHF", "CHF", false},
		{"EUR -3,00", ',', -3, "EUR", "EUR", false},
		{"(12.50)", '.', -12.5, "", "", true},
		{"(1,234.50)", '.', -1234.5, "", "", true},
		{"($12.50)", '.', -12.5, "$", "$", true},
		{"($ 12.50)", '.', -12.5, "$", "$", true},
		{"$(12.50)", '.', -12.5, "$", "$", true},
		{"$ (12.50)", '.', -12.5, "$", "$", true},
		{"(12,50 €)", ',', -12.5, "€", "EUR", true},
		{"(12,50) €", ',', -12.5, "€", "EUR", true},
		{"(USD 12.50)", '.', -12.5, "USD", "USD", true},
	}
	for _, tc := range good {
		v, m, ok := parseMoney([]byte(tc.in), tc.dec)
		if !ok || v != tc.want || m.cur.text != tc.text || m.cur.key != tc.key {
			t.Errorf("parseMoney(%q, %q) = %v %+v %v; want %v in %q (%q)", tc.in, tc.dec, v, m.cur, ok, tc.want, tc.text, tc.key)
		}
	}
	bad := []struct {
		in  string
		dec byte
	}{
		{"$$12", '.'},         // two symbols
		{"12$50", '.'},        // a symbol inside the number
		{"$", '.'},            // no number
		{"$ ", '.'},           // no number
		{"()", '.'},           // no number
		{"($12.50", '.'},      // unbalanced parenthesis
		{"$12.50)", '.'},      // unbalanced parenthesis
		{"-(12.50)", '.'},     // sign and parentheses
		{"(-12.50)", '.'},     // sign and parentheses
		{"-$-5", '.'},         // two signs
		{"- $5", '.'},         // space between sign and symbol
		{"$12.50 USD", '.'},   // symbol and code
		{"$€12", '.'},         // two symbols
		{"€12,50", '.'},       // a decimal comma without --decimal ,
		{"$14,92", '.'},       // a decimal comma without --decimal ,
		{"$12.50", ','},       // a decimal point with --decimal ,
		{"usd 12.50", '.'},    // codes are upper case
		{"XYZ 12.50", '.'},    // not an ISO code
		{"XAU 12.50", '.'},    // gold is no shop's currency
		{"US$12.50", '.'},     // letter symbols are not read
		{"12.50 kr", '.'},     // letter symbols are not read
		{"50¢", '.'},          // cents are not the unit
		{"12.50", '.'},        // a plain number is not money (parseNumber reads it)
		{"(12.50 )", '.'},     // spaces only between the token and the number
		{"$1e999", '.'},       // out of range
		{"$NaN", '.'},         // not a number
		{"$ 1 234.50", '.'},   // spaces do not group thousands
		{"12.50-", '.'},       // trailing minus
		{"$12.50\u00a0", '.'}, // a no-break space after the number, with the symbol before it
	}
	for _, tc := range bad {
		if v, m, ok := parseMoney([]byte(tc.in), tc.dec); ok {
			t.Errorf("parseMoney(%q, %q) = %v %+v, want refused", tc.in, tc.dec, v, m.cur)
		}
	}
}

// TestParseMoneyNoAllocs ensures the currency path, like the plain one,
// allocates nothing per row.
func TestParseMoneyNoAllocs(t *testing.T) {
	fields := [][]byte{[]byte("$1,234.56"), []byte("12,50\u00a0€"), []byte("(USD 12.50)"), []byte("$$12")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range fields {
			parseMoney(f, '.')
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per row, want 0", allocs)
	}
}

// moneyLog writes the sample log with each amount formatted by format,
// under the header and with the delimiter given.
func moneyLog(header, delim string, format func(i int, amount float64) string) string {
	var b strings.Builder
	b.WriteString(header + "\n")
	for i, x := range sampleTxns() {
		fmt.Fprintf(&b, "%s%s%s%s%s\n", x.id, delim, x.day.Format(time.DateOnly), delim, format(i, x.amount))
	}
	return b.String()
}

// TestLoadMoney ensures a log whose amounts are written like money loads
// exactly like the plain log, that the report names the currency and
// warns that it was dropped, and that accounting negatives count as
// negatives.
func TestLoadMoney(t *testing.T) {
	ref, err := loadString(moneyLog("customer_id,date,amount", ",", func(_ int, a float64) string { return ftoa(a) }), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	euro := windowOpts
	euro.Decimal = ","
	dollars := func(_ int, a float64) string { return `"$` + ftoa(a) + `"` }
	tests := []struct {
		name, content string
		opts          Options
		currency      string
		warning       string
	}{
		{"dollar prefix", moneyLog("customer_id,date,amount", ",", dollars), windowOpts, "$",
			`amounts carry a currency symbol ($ on 12 rows, such as "$10" on line 2): read as numbers`},
		{"euro suffix with decimal commas", moneyLog("customer_id;date;amount", ";", func(_ int, a float64) string {
			return strings.ReplaceAll(strconv.FormatFloat(a, 'f', 2, 64), ".", ",") + "\u00a0€"
		}), euro, "€", `amounts carry a currency symbol (€ on 12 rows, such as "10,00\u00a0€" on line 2): read as numbers`},
		{"codes, some rows plain", moneyLog("customer_id,date,amount", ",", func(i int, a float64) string {
			if i%2 == 1 {
				return ftoa(a)
			}
			return "USD " + ftoa(a)
		}), windowOpts, "USD", `amounts carry a currency code (USD on 6 rows, such as "USD 10" on line 2): read as numbers`},
		{"a sign and its code", moneyLog("customer_id,date,amount", ",", func(i int, a float64) string {
			if i%2 == 1 {
				return ftoa(a) + " EUR"
			}
			return "€" + ftoa(a)
		}), windowOpts, "€", `amounts carry a currency symbol (€ on 12 rows, such as "€10" on line 2): read as numbers`},
		{"no header", moneyLog("", ",", dollars)[1:], windowOpts, "$",
			`amounts carry a currency symbol ($ on 12 rows, such as "$10" on line 1): read as numbers`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := loadString(tc.content, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			sameCustomers(t, ref, ds)
			if ds.Report.Currency != tc.currency || len(ds.Report.Warnings) != 1 || ds.Report.Warnings[0] != tc.warning {
				t.Errorf("currency %q, warnings %q; want %q and %q", ds.Report.Currency, ds.Report.Warnings, tc.currency, tc.warning)
			}
		})
	}

	t.Run("accounting negatives", func(t *testing.T) {
		content := "customer_id,date,amount\nA,2020-01-01,$10.00\nA,2020-01-01,($2.50)\nA,2020-01-02,(1.00)\nB,2020-01-03,$-4.00\nB,2020-01-03,$6.00\nC,2020-01-04,-$1.00\n"
		ds, err := loadString(content, Options{CalibrationEnd: mustDate("2020-01-04")})
		if err != nil {
			t.Fatal(err)
		}
		r := ds.Report
		if r.NegativeRows != 4 || r.TotalAmount != 7.5 || r.ReturnOnlyDays != 2 {
			t.Errorf("negative rows %d, total %v, return-only days %d; want 4, 7.5, 2", r.NegativeRows, r.TotalAmount, r.ReturnOnlyDays)
		}
		if want := `amounts carry a currency symbol ($ on 5 rows, such as "$10.00" on line 2): read as numbers`; len(r.Warnings) != 1 || r.Warnings[0] != want {
			t.Errorf("warnings %q, want %q", r.Warnings, want)
		}
	})

	t.Run("parentheses alone carry no currency", func(t *testing.T) {
		ds, err := loadString("customer_id,date,amount\nA,2020-01-01,10\nA,2020-01-02,(2.50)\n", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ds.Report.NegativeRows != 1 || ds.Report.Currency != "" || len(ds.Report.Warnings) != 0 {
			t.Errorf("report %+v, want one negative row and no currency", ds.Report)
		}
	})

	t.Run("a symbol in the customer id is an id", func(t *testing.T) {
		ds, err := loadString("customer_id,date,amount\n$VIP,2020-01-01,10\n€12,2020-01-02,5\n", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Customers) != 2 || ds.Customers[0].ID != "$VIP" || ds.Report.Currency != "" || len(ds.Report.Warnings) != 0 {
			t.Errorf("customers %+v, report %+v; want $VIP and €12, no currency", ds.Customers, ds.Report)
		}
	})

	t.Run("thousands warning sees through the symbol", func(t *testing.T) {
		ws := csvWarnings(t, "Kunde;Datum;Umsatz\n1;05.01.2026;€1.250\n2;06.01.2026;€980\n3;07.01.2026;€2.400\n",
			Options{Customer: "Kunde", Date: "Datum", Amount: "Umsatz", DateFormat: "02.01.2006"})
		if len(ws) != 2 || !strings.Contains(ws[0], `("1.250" = 1250), read it with --decimal ,`) || !strings.HasPrefix(ws[1], "amounts carry a currency symbol (€") {
			t.Errorf("warnings %q, want the thousands warning and the currency one", ws)
		}
	})
}

// TestMoneyErrors ensures an amount that is not written like money in one
// way is a bad row whose message keeps the number's hints, that a
// currency on a quantity or an extra is refused with a word on why, and
// that a log in two currencies stops at the first amount in the second,
// naming both and where each was first seen, even when bad rows are
// skipped.
func TestMoneyErrors(t *testing.T) {
	const hdr = "customer_id,date,amount\n"
	const prefix = "clv: read transactions: "
	// A log long enough for several chunks parsed in parallel, in dollars,
	// with euros from a line deep in it: only the consumer, which sees the
	// batches in order, can tell.
	var many strings.Builder
	many.WriteString(hdr)
	for i := range 150_000 {
		fmt.Fprintf(&many, "C%d,2020-01-%02d,$%d.25\n", i%5000, i%28+1, i%97)
	}
	deep := many.String() + "X,2020-01-05,\"€1,000.00\"\nY,2020-01-05,$5\n"
	tests := []struct {
		name    string
		content string
		opts    Options
		want    string
		reason  Reason
	}{
		{"two symbols", hdr + "A,2020-01-01,$$12\n", Options{}, `log.csv:2: column "amount": "$$12" is not a number`, ReasonNotANumber},
		{"symbol inside", hdr + "A,2020-01-01,12$50\n", Options{}, `log.csv:2: column "amount": "12$50" is not a number`, ReasonNotANumber},
		{"symbol alone", hdr + "A,2020-01-01,$\n", Options{}, `log.csv:2: column "amount": "$" is not a number`, ReasonNotANumber},
		{"unbalanced parenthesis", hdr + "A,2020-01-01,($12.50\n", Options{}, `log.csv:2: column "amount": "($12.50" is not a number`, ReasonNotANumber},
		{"decimal comma after a symbol, quoted", hdr + "A,2020-01-01,\"€14,92\"\n", Options{},
			`log.csv:2: column "amount": "€14,92" is not a number (a decimal comma? use --decimal ,)`, ReasonNotANumber},
		{"symbol out of range", hdr + "A,2020-01-01,$1e300\n", Options{},
			`log.csv:2: column "amount": "$1e300" is out of range (want a finite number within ±1e+12)`, ReasonNotANumber},
		{"currency on a quantity", "customer_id,date,amount,qty\nA,2020-01-01,5,$3\n", Options{},
			`log.csv:2: column "qty": "$3" is not a number (currency symbols and accounting parentheses are read in the amount column only)`, ReasonNotANumber},
		{"currency on an extra", hdr[:len(hdr)-1] + ",discount\nA,2020-01-01,$5,(1.00)\n", Options{Extra: []string{"discount"}},
			`log.csv:2: column "discount": "(1.00)" is not a number (currency symbols and accounting parentheses are read in the amount column only)`, ReasonNotANumber},
		{"unquoted thousands after a symbol", hdr + "A,2020-01-01,$5\nA,2020-01-02,$1,234.56\n", Options{},
			`log.csv:3: long row: 4 fields, but the header has 3: an unquoted thousands separator in "$1,234.56"? quote the field or drop the separator`, ReasonLongRow},
		{"dollars then euros", hdr + "A,2020-01-01,$12.50\nB,2020-01-02,7\nA,2020-01-03,€9.99\nB,2020-01-04,$1\n", Options{},
			`log.csv:4: column "amount": "€9.99" is in €, but "$12.50" on line 2 is in $: amounts in two currencies cannot be summed; convert them to one currency, or split the log by currency`,
			ReasonMixedCurrency},
		{"euros then pounds", hdr + "A,2020-01-01,\"12.50 EUR\"\nA,2020-01-03,£9.99\n", Options{},
			`log.csv:3: column "amount": "£9.99" is in £, but "12.50 EUR" on line 2 is in EUR: amounts in two currencies cannot be summed; convert them to one currency, or split the log by currency`,
			ReasonMixedCurrency},
		{"dollar sign and USD", hdr + "A,2020-01-01,$12.50\nA,2020-01-03,USD 9.99\n", Options{},
			`log.csv:3: column "amount": "USD 9.99" is in USD, but "$12.50" on line 2 is in $: amounts in two currencies cannot be summed; convert them to one currency, or split the log by currency ($ stands for several currencies, so it is not taken for USD)`,
			ReasonMixedCurrency},
		{"yen and yuan", hdr + "A,2020-01-01,CNY 12.50\nA,2020-01-03,¥9.99\n", Options{},
			`log.csv:3: column "amount": "¥9.99" is in ¥, but "CNY 12.50" on line 2 is in CNY: amounts in two currencies cannot be summed; convert them to one currency, or split the log by currency (¥ stands for several currencies, so it is not taken for CNY)`,
			ReasonMixedCurrency},
		{"a bad row before the mix comes first", hdr + "A,2020-01-01,$12.50\nB,2020-01-0x,1\nA,2020-01-03,€9.99\n", Options{},
			`log.csv:3: column "date": "2020-01-0x" is not a date...`, ReasonBadDate},
		{"the mix before a bad row comes first", hdr + "A,2020-01-01,$12.50\nA,2020-01-03,€9.99\nB,2020-01-0x,1\n", Options{},
			`log.csv:3: column "amount": "€9.99" is in €...`, ReasonMixedCurrency},
		{"across chunks", deep, Options{},
			`log.csv:150002: column "amount": "€1,000.00" is in €, but "$0.25" on line 2 is in $: amounts in two currencies cannot be summed; convert them to one currency, or split the log by currency`, ReasonMixedCurrency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(tc.content, tc.opts)
			var re *RowError
			want, prefixOnly := strings.CutSuffix(prefix+tc.want, "...") // "..." ends a want that is the start of the error
			if !errors.As(err, &re) || re.Reason != tc.reason || !prefixOnly && err.Error() != want || prefixOnly && !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v, want %q (%s)", err, prefix+tc.want, tc.reason)
			}
		})
	}

	t.Run("mix not skipped", func(t *testing.T) {
		for _, content := range []string{hdr + "A,2020-01-01,$12.50\nB,2020-01-02,abc\nA,2020-01-03,€9.99\n", deep} {
			line := "4"
			if content == deep {
				line = "150002"
			}
			_, err := loadString(content, Options{SkipBadRows: true})
			want := prefix + "log.csv: line " + line + `: column "amount": "€`
			var re *RowError
			if err == nil || errors.As(err, &re) || !strings.HasPrefix(err.Error(), want) ||
				!strings.HasSuffix(err.Error(), "(--skip-bad-rows cannot skip this row: the rows in either currency would be misread, not this one)") {
				t.Errorf("error %v, want %q... naming --skip-bad-rows, not a RowError", err, want)
			}
		}
	})
}

// TestParquetMoney ensures a Parquet amount column of strings reads money
// as a CSV file does: the same forms, the same report, the same stop at a
// second currency, named by row.
func TestParquetMoney(t *testing.T) {
	type row struct {
		Customer string `parquet:"customer_id"`
		Date     int32  `parquet:"date,date"`
		Amount   string `parquet:"amount"`
	}
	write := func(t *testing.T, amounts ...string) string {
		t.Helper()
		rows := make([]row, len(amounts))
		for i, a := range amounts {
			rows[i] = row{"C" + itoa(i%3), dayOf(mustDate("2020-01-01").AddDate(0, 0, i)), a}
		}
		path := filepath.Join(t.TempDir(), "log.parquet")
		if err := parquet.WriteFile(path, rows); err != nil {
			t.Fatal(err)
		}
		return path
	}
	o := Options{CalibrationEnd: mustDate("2020-01-05")}
	ds, err := Load(context.Background(), write(t, "$10.00", " $1,234.50 ", "($2.50)", "7", "-$1"), o)
	if err != nil {
		t.Fatal(err)
	}
	r := ds.Report
	want := `amounts carry a currency symbol ($ on 4 rows, such as "$10.00" on row 1): read as numbers`
	if r.TotalAmount != 1248 || r.NegativeRows != 2 || r.Currency != "$" || len(r.Warnings) != 1 || r.Warnings[0] != want {
		t.Errorf("total %v, negative rows %d, currency %q, warnings %q; want 1248, 2, $ and %q", r.TotalAmount, r.NegativeRows, r.Currency, r.Warnings, want)
	}

	path := write(t, "$10.00", "7", "€3.00")
	_, err = Load(context.Background(), path, o)
	var re *RowError
	wantErr := `clv: read transactions: ` + path + `: row 3: column "amount": "€3.00" is in €, but "$10.00" on row 1 is in $`
	if !errors.As(err, &re) || re.Reason != ReasonMixedCurrency || !strings.HasPrefix(err.Error(), wantErr) {
		t.Errorf("error %v, want %q...", err, wantErr)
	}

	_, err = Load(context.Background(), write(t, "$10.00", "$$7"), o)
	if !errors.As(err, &re) || re.Reason != ReasonNotANumber || !strings.HasSuffix(err.Error(), `: row 2: column "amount": "$$7" is not a number`) {
		t.Errorf("error %v, want row 2 not a number", err)
	}
}

// BenchmarkParseMoney measures the currency path that fields parseNumber
// refuses take: the price of a log written like money.
func BenchmarkParseMoney(b *testing.B) {
	fields := [][]byte{[]byte("$12.50"), []byte("$199.99"), []byte("$3"), []byte("-$5.25"), []byte("$1,049.00"), []byte("($0.50)")}
	var sum float64
	for b.Loop() {
		for _, f := range fields {
			if _, ok := parseNumber(f, '.'); !ok {
				v, _, _ := parseMoney(f, '.')
				sum += v
			}
		}
	}
	if sum == 0 {
		b.Fatal("no amounts parsed")
	}
}

// FuzzParseMoney ensures no field makes the currency path panic, that
// what it reads is within the bounds of every amount and written with the
// currency it names, and that what it refuses gets a message.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"$12.50", "($1,234.56)", "12,50 €", "USD -3", "-$5", "$$12", "(", "₹", "12.50 EU"} {
		f.Add([]byte(s), s[0] == '1')
	}
	f.Fuzz(func(t *testing.T, b []byte, comma bool) {
		dec := byte('.')
		if comma {
			dec = ','
		}
		v, m, ok := parseMoney(b, dec)
		if !ok {
			if notAmount(b, dec) == "" {
				t.Fatalf("%q: refused without a message", b)
			}
			return
		}
		if v != v || v > maxAbsValue || v < -maxAbsValue {
			t.Fatalf("%q = %v, out of bounds", b, v)
		}
		if !strings.Contains(string(b), m.cur.text) || len(m.num) == 0 {
			t.Fatalf("%q read as %q in %q", b, m.num, m.cur.text)
		}
	})
}
