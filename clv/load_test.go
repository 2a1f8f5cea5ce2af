package clv

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// txn is one row of a generated test log.
type txn struct {
	id     string
	day    time.Time
	amount float64
}

// sampleTxns is a small log with repeat buyers, same-day rows, one-time
// buyers and holdout activity. Amounts are multiples of 1/4 so that sums
// are exact in any order.
func sampleTxns() []txn {
	d := mustDate
	return []txn{
		{"A", d("2020-01-01"), 10}, {"A", d("2020-01-01"), 2.5}, {"A", d("2020-01-15"), 7.25},
		{"A", d("2020-03-01"), 20}, {"A", d("2020-04-10"), 4},
		{"B", d("2020-02-01"), 3.75},
		{"C", d("2020-01-05"), 1}, {"C", d("2020-02-05"), 2}, {"C", d("2020-03-05"), 3}, {"C", d("2020-03-25"), 5.5},
		{"D", d("2020-03-20"), 9},
		{"E", d("2020-04-02"), 8}, // first seen in the holdout
	}
}

// render writes txns as a text log.
func render(txns []txn, delim, eol string, header bool) string {
	var b strings.Builder
	if header {
		b.WriteString(strings.Join([]string{"customer_id", "date", "amount"}, delim) + eol)
	}
	for _, t := range txns {
		b.WriteString(strings.Join([]string{t.id, t.day.Format("20060102"), fmt.Sprint(t.amount)}, delim) + eol)
	}
	return b.String()
}

// windowOpts cut the sample log so that its holdout ends on its last date
// (A's 2020-04-10): a holdout past the data is an error.
var windowOpts = Options{CalibrationEnd: mustDate("2020-03-31"), Horizon: Horizon{Days: 10}}

// sameCustomers fails unless a and b hold the same customers and values.
func sameCustomers(t *testing.T, a, b *Dataset) {
	t.Helper()
	if !slices.Equal(a.FeatureNames, b.FeatureNames) {
		t.Fatalf("feature names differ:\n%v\n%v", a.FeatureNames, b.FeatureNames)
	}
	if !reflect.DeepEqual(a.Customers, b.Customers) {
		t.Fatalf("customers differ:\n%+v\n%+v", a.Customers, b.Customers)
	}
}

// TestDelimitersAndHeaders ensures every supported layout of the same log
// (delimiter, header or not, CRLF, BOM, quotes, padding) loads identically.
func TestDelimitersAndHeaders(t *testing.T) {
	txns := sampleTxns()
	ref, err := loadString(render(txns, ",", "\n", true), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Report.Delimiter != "," || !ref.Report.Header {
		t.Fatalf("reference detected delimiter %q header %v", ref.Report.Delimiter, ref.Report.Header)
	}
	quoted := strings.ReplaceAll(render(txns, ",", "\n", true), "A,", `"A",`)
	tests := []struct {
		name, content, delim string
		header               bool
	}{
		{"tab", render(txns, "\t", "\n", true), "tab", true},
		{"semicolon", render(txns, ";", "\n", true), ";", true},
		{"pipe", render(txns, "|", "\n", true), "|", true},
		{"whitespace runs", render(txns, "   ", "\n", true), "whitespace", true},
		{"padded comma", render(txns, " , ", "\n", true), ",", true},
		{"CRLF", render(txns, ",", "\r\n", true), ",", true},
		{"BOM", "\xef\xbb\xbf" + render(txns, ",", "\n", true), ",", true},
		{"quoted", quoted, ",", true},
		{"no final newline", strings.TrimSuffix(render(txns, ",", "\n", true), "\n"), ",", true},
		{"blank lines", strings.ReplaceAll(render(txns, ",", "\n", true), "\nC", "\n\n  \nC"), ",", true},
		{"headerless comma", render(txns, ",", "\n", false), ",", false},
		{"headerless whitespace CRLF", render(txns, " ", "\r\n", false), "whitespace", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := loadString(tc.content, windowOpts)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Report.Delimiter != tc.delim || ds.Report.Header != tc.header {
				t.Errorf("detected delimiter %q header %v, want %q %v", ds.Report.Delimiter, ds.Report.Header, tc.delim, tc.header)
			}
			sameCustomers(t, ref, ds)
		})
	}
}

// TestNumberFormats ensures a log with grouped thousands, or with decimal
// commas under Options.Decimal ",", loads exactly like the plain log, with
// or without a header, and that decimal commas in every row do not make
// the comma look like the delimiter.
func TestNumberFormats(t *testing.T) {
	txns := sampleTxns()
	for i := range txns {
		txns[i].amount = txns[i].amount*1000 + 0.25 // 10002.75: four digits before the point
	}
	var plain, us, euro, euroBare strings.Builder
	plain.WriteString("customer_id,date,amount\n")
	us.WriteString("customer_id,date,amount\n")
	euro.WriteString("kunde;datum;umsatz\n")
	for _, x := range txns {
		s := strconv.FormatFloat(x.amount, 'f', 2, 64)
		intPart, frac, _ := strings.Cut(s, ".")
		var grouped string
		for len(intPart) > 3 {
			grouped = "," + intPart[len(intPart)-3:] + grouped
			intPart = intPart[:len(intPart)-3]
		}
		grouped = intPart + grouped
		day := x.day.Format(time.DateOnly)
		fmt.Fprintf(&plain, "%s,%s,%s\n", x.id, day, s)
		fmt.Fprintf(&us, "%s,%s,\"%s.%s\"\n", x.id, day, grouped, frac)
		eu := strings.ReplaceAll(grouped, ",", ".") + "," + frac
		fmt.Fprintf(&euro, "%s;%s;%s\n", x.id, x.day.Format("02.01.2006"), eu)
		fmt.Fprintf(&euroBare, "%s;%s;%s\n", x.id, day, eu)
	}
	ref, err := loadString(plain.String(), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	with := func(dec, layout string) Options {
		o := windowOpts
		o.Decimal, o.DateFormat = dec, layout
		return o
	}
	named := func(o Options) Options {
		o.Customer, o.Date, o.Amount = "kunde", "datum", "umsatz"
		return o
	}
	tests := []struct {
		name, content string
		opts          Options
		delim         string
		header        bool
	}{
		{"grouped thousands", us.String(), windowOpts, ",", true},
		{"decimal comma", euro.String(), named(with(",", "02.01.2006")), ";", true},
		{"decimal comma, no header", euroBare.String(), with(",", ""), ";", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := loadString(tc.content, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Report.Delimiter != tc.delim || ds.Report.Header != tc.header {
				t.Errorf("detected delimiter %q header %v, want %q %v", ds.Report.Delimiter, ds.Report.Header, tc.delim, tc.header)
			}
			sameCustomers(t, ref, ds)
		})
	}
}

// TestGzipFile ensures a gzip-compressed file is read transparently by its
// magic bytes, whatever its name.
func TestGzipFile(t *testing.T) {
	content := render(sampleTxns(), ",", "\n", true)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(content))
	zw.Close()
	path := filepath.Join(t.TempDir(), "log.dat")
	if err := os.WriteFile(path, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(context.Background(), path, windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.Format != "csv+gzip" {
		t.Errorf("format %q, want csv+gzip", ds.Report.Format)
	}
	ref, _ := loadString(content, windowOpts)
	sameCustomers(t, ref, ds)

	// A truncated stream is an error, not a silently shorter log.
	_, err = LoadReader(context.Background(), "cut.gz", bytes.NewReader(zb.Bytes()[:zb.Len()-10]), windowOpts)
	if err == nil || !strings.Contains(err.Error(), "cut.gz: the gzip stream is truncated") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated gzip: error %v, want a truncated stream wrapping unexpected EOF", err)
	}
}

// TestUnsortedRows ensures row order does not matter: a shuffled log gives
// the same customers, features and labels.
func TestUnsortedRows(t *testing.T) {
	txns := sampleTxns()
	ref, err := loadString(render(txns, ",", "\n", true), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5 {
		rng.Shuffle(len(txns), func(a, b int) { txns[a], txns[b] = txns[b], txns[a] })
		ds, err := loadString(render(txns, ",", "\n", true), windowOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprint("shuffle", i), func(t *testing.T) { sameCustomers(t, ref, ds) })
	}
}

// feature returns customer c's value of the named feature.
func feature(t *testing.T, ds *Dataset, c *Customer, name string) float64 {
	t.Helper()
	i := slices.Index(ds.FeatureNames, name)
	if i < 0 {
		t.Fatalf("no feature %q in %v", name, ds.FeatureNames)
	}
	return float64(c.Features[i])
}

func customer(t *testing.T, ds *Dataset, id string) *Customer {
	t.Helper()
	i, ok := slices.BinarySearchFunc(ds.Customers, id, func(c Customer, id string) int { return strings.Compare(c.ID, id) })
	if !ok {
		t.Fatalf("no customer %q", id)
	}
	return &ds.Customers[i]
}

// TestFeaturesByHand ensures the features of the sample log match values
// worked out by hand, including same-day merging and the windows.
func TestFeaturesByHand(t *testing.T) {
	ds, err := loadString(render(sampleTxns(), ",", "\n", true), windowOpts)
	if err != nil {
		t.Fatal(err)
	}
	r := ds.Report
	if r.Customers != 4 || r.ExcludedCustomers != 1 || r.PurchaseDays != 11 || r.Transactions != 12 {
		t.Errorf("report %+v: want 4 customers, 1 excluded, 11 purchase days, 12 transactions", r)
	}
	if !r.HoldoutEnd.Equal(mustDate("2020-04-10")) || r.HoldoutWeeks != 10.0/7 {
		t.Errorf("holdout end %v, %v weeks", r.HoldoutEnd, r.HoldoutWeeks)
	}
	// A: days 01-01 (10+2.5 merged), 01-15, 03-01 in calibration; 04-10 in the holdout.
	a := customer(t, ds, "A")
	calEnd := mustDate("2020-03-31")
	weeks := func(from, to string) float64 { return mustDate(to).Sub(mustDate(from)).Hours() / 24 / 7 }
	want := map[string]float64{
		"frequency": 2, "recency_weeks": weeks("2020-01-01", "2020-03-01"), "age_weeks": calEnd.Sub(mustDate("2020-01-01")).Hours() / 168,
		"purchase_days": 3, "spend_total": 39.75, "spend_mean": 13.25, "spend_repeat_mean": 13.625,
		"spend_max": 20, "spend_first": 12.5, "spend_last": 20,
		"gap_mean_weeks": weeks("2020-01-01", "2020-03-01") / 2, "gap_min_weeks": 2, "gap_max_weeks": weeks("2020-01-15", "2020-03-01"),
		"gap_std_weeks": math.Abs(2-weeks("2020-01-15", "2020-03-01")) / 2,
		// 03-01 is 30 days before 03-31: period 2 (days 28-55 back); 01-15 is 76 days back: period 3.
		"spend_lag1": 0, "spend_lag2": 20, "spend_lag3": 7.25, "days_lag2": 1, "days_lag3": 1, "days_lag1": 0,
	}
	for name, v := range want {
		if got := feature(t, ds, a, name); math.Abs(got-v) > 1e-5 {
			t.Errorf("A %s = %v, want %v", name, got, v)
		}
	}
	if a.X != 2 || a.RepeatMeanSpend != 13.625 || a.HoldoutSpend != 4 || a.HoldoutPurchases != 1 {
		t.Errorf("A = %+v", *a)
	}
	// B bought once: gap features are 0 and the overdue ratio stays finite.
	b := customer(t, ds, "B")
	if b.X != 0 || b.Tx != 0 || feature(t, ds, b, "gap_mean_weeks") != 0 || feature(t, ds, b, "spend_repeat_mean") != 0 {
		t.Errorf("B = %+v", *b)
	}
	if got, want := feature(t, ds, b, "since_last_over_gap"), b.T/1; math.Abs(got-want) > 1e-5 {
		t.Errorf("B since_last_over_gap %v, want %v", got, want)
	}
	for _, c := range ds.Customers {
		if len(c.Features) != len(ds.FeatureNames) {
			t.Fatalf("%s has %d features for %d names", c.ID, len(c.Features), len(ds.FeatureNames))
		}
		for i, v := range c.Features {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("%s %s = %v", c.ID, ds.FeatureNames[i], v)
			}
		}
	}
	if len(ds.Log1p) != len(ds.FeatureNames) || !ds.Log1p[slices.Index(ds.FeatureNames, "spend_total")] ||
		ds.Log1p[slices.Index(ds.FeatureNames, "age_weeks")] {
		t.Errorf("log1p flags %v", ds.Log1p)
	}
}

// TestSameDayMerge ensures rows of one customer and day become one purchase
// day whatever their time of day and however far apart they arrive.
func TestSameDayMerge(t *testing.T) {
	content := "customer_id,date,amount\n" +
		"A,2020-01-01 09:00:00,1\n" +
		"B,2020-01-01T10:00:00Z,5\n" +
		"A,2020-01-01T23:59:59+02:00,2\n" +
		"A,2020-01-02,4\n" +
		"A,2020-01-01 12:30:00,3\n" // arrives after a later day: merged at the end
	ds, err := loadString(content, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := customer(t, ds, "A")
	if a.X != 1 || feature(t, ds, a, "spend_first") != 6 || feature(t, ds, a, "spend_last") != 4 {
		t.Errorf("A: x=%v first=%v last=%v, want 1, 6, 4", a.X, feature(t, ds, a, "spend_first"), feature(t, ds, a, "spend_last"))
	}
	if ds.Report.PurchaseDays != 3 || ds.Report.Transactions != 5 {
		t.Errorf("purchase days %d, transactions %d; want 3 and 5", ds.Report.PurchaseDays, ds.Report.Transactions)
	}
}

// TestNegativePolicies ensures returns are netted into their day, dropped or
// rejected as the policy says.
func TestNegativePolicies(t *testing.T) {
	content := "customer_id,date,amount\n" +
		"A,2020-01-01,10\n" +
		"A,2020-01-01,-4\n" + // same-day return
		"A,2020-01-05,-3\n" + // a day of returns only
		"A,2020-01-09,5\n" +
		"A,2020-01-12,2\n" +
		"A,2020-01-12,-9\n" // returns beyond the day's purchases
	tests := []struct {
		policy                NegativePolicy
		x                     float64
		total, first          float64
		negatives, dropped    int64
		returnOnly, purchases int64
	}{
		{NetNegative, 2, 11, 6, 3, 0, 1, 3},
		{DropNegative, 2, 17, 10, 3, 3, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.policy.String(), func(t *testing.T) {
			ds, err := loadString(content, Options{Negative: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			a, r := customer(t, ds, "A"), ds.Report
			if a.X != tc.x || feature(t, ds, a, "spend_total") != tc.total || feature(t, ds, a, "spend_first") != tc.first {
				t.Errorf("x=%v total=%v first=%v, want %v %v %v", a.X, feature(t, ds, a, "spend_total"), feature(t, ds, a, "spend_first"), tc.x, tc.total, tc.first)
			}
			if r.NegativeRows != tc.negatives || r.DroppedNegative != tc.dropped || r.ReturnOnlyDays != tc.returnOnly || r.PurchaseDays != tc.purchases {
				t.Errorf("report %+v", r)
			}
		})
	}
	_, err := loadString(content, Options{Negative: ErrorNegative})
	var re *RowError
	if !errors.As(err, &re) || re.Line != 3 || re.Reason != ReasonNegative {
		t.Errorf("ErrorNegative: %v, want a negative_amount error on line 3", err)
	}
	p, err := ParseNegativePolicy("drop")
	if err != nil || p != DropNegative {
		t.Errorf("ParseNegativePolicy(drop) = %v, %v", p, err)
	}
	if _, err := ParseNegativePolicy("keep"); err == nil || err.Error() != `clv: negative policy "keep": want net, drop or error` {
		t.Errorf("ParseNegativePolicy(keep) error %v", err)
	}
}

// TestWindows ensures the calibration end and horizon cut the log: late
// customers are left out and rows after the holdout are ignored, both
// counted; without a calibration end the holdout is the data's last stretch.
func TestWindows(t *testing.T) {
	log := render(sampleTxns(), ",", "\n", true)
	ds, err := loadString(log, Options{CalibrationEnd: mustDate("2020-03-15"), Horizon: Horizon{Days: 14}})
	if err != nil {
		t.Fatal(err)
	}
	r := ds.Report
	// D (03-20) starts after 03-15; A's 04-10 and E's only row (04-02) fall
	// after the holdout end 03-29: ignored, but E first bought after the
	// calibration end too, so it is left out with D.
	if r.ExcludedCustomers != 2 || r.Customers != 3 || r.RowsAfterEnd != 2 {
		t.Errorf("excluded %d customers %d rows after end %d; want 2, 3, 2", r.ExcludedCustomers, r.Customers, r.RowsAfterEnd)
	}
	c := customer(t, ds, "C") // 03-25 is in the holdout
	if c.X != 2 || c.HoldoutPurchases != 1 || c.HoldoutSpend != 5.5 {
		t.Errorf("C = %+v", *c)
	}

	// No calibration end, a 4-week horizon: the holdout ends on the last date.
	ds, err = loadString(log, Options{Horizon: Horizon{Days: 28}})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Report.HoldoutEnd.Equal(mustDate("2020-04-10")) || !ds.Report.CalibrationEnd.Equal(mustDate("2020-03-13")) {
		t.Errorf("windows %v..%v", ds.Report.CalibrationEnd, ds.Report.HoldoutEnd)
	}
	// Neither: calibration covers everything, no labels.
	ds, err = loadString(log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := customer(t, ds, "A")
	if ds.Report.Customers != 5 || a.X != 3 || a.HoldoutPurchases != 0 || !ds.Report.HoldoutEnd.IsZero() {
		t.Errorf("prediction mode: %+v %+v", ds.Report, *a)
	}
	// A calendar horizon.
	ds, err = loadString(log, Options{CalibrationEnd: mustDate("2020-01-31"), Horizon: Horizon{Months: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Report.HoldoutEnd.Equal(mustDate("2020-03-02")) { // Jan 31 + 1 month normalises to Mar 2 in 2020
		t.Errorf("1m after 2020-01-31 ends %v", ds.Report.HoldoutEnd)
	}
}

// TestQuantityAndExtras ensures a quantity column and extra columns become
// features summed over the calibration window only.
func TestQuantityAndExtras(t *testing.T) {
	content := "id;day;spend;units;visits;coupons\n" +
		"A;2020-01-01;10;2;3;1\n" +
		"A;2020-01-01;5;1;;0\n" + // empty optional values are 0
		"A;2020-02-01;5;4;1;2\n" +
		"A;2020-03-16;5;9;100;100\n" // holdout, its last day
	ds, err := loadString(content, Options{CalibrationEnd: mustDate("2020-02-15"), Horizon: Horizon{Days: 30}, Extra: []string{"visits", "6"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Report.Columns; got.Customer != "id" || got.Quantity != "units" || !slices.Equal(got.Extra, []string{"visits", "coupons"}) {
		t.Errorf("columns %+v", got)
	}
	a := customer(t, ds, "A")
	for name, want := range map[string]float64{"quantity_total": 7, "quantity_mean": 3.5, "extra_visits": 4, "extra_coupons": 3} {
		if got := feature(t, ds, a, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if ds.Report.TotalQuantity != 16 {
		t.Errorf("total quantity %v, want 16", ds.Report.TotalQuantity)
	}
	// "-" maps no quantity even when the header has one.
	ds, err = loadString(content, Options{Quantity: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ds.FeatureNames, "quantity_total") {
		t.Errorf("quantity mapped despite -: %v", ds.FeatureNames)
	}
}

// TestDateFormats ensures every built-in date format and a user layout parse
// to the same day.
func TestDateFormats(t *testing.T) {
	for _, tc := range []struct{ field, layout string }{
		{"20200315", ""}, {"2020-03-15", ""}, {"2020-03-15 23:10:00", ""}, {"2020-03-15T23:10:00", ""},
		{"2020-03-15T23:10:00.123-07:00", ""}, {"2020-03-15T01:00:00Z", ""},
		{"03/15/2020", "01/02/2006"}, {"15.03.2020", "02.01.2006"},
	} {
		p := dateParser{layout: tc.layout}
		day, st := p.parse([]byte(tc.field))
		if st != dateOK || !dayTime(day).Equal(mustDate("2020-03-15")) {
			t.Errorf("%q (%q) = %v %v", tc.field, tc.layout, dayTime(day), st)
		}
	}
	for _, bad := range []string{"2020-3-15", "20201315", "2020-02-30", "2020-03-15 25:00:00", "2020-03-15X", "", "0000-01-01", "2020-03-15T"} {
		if _, ok := parseBuiltinDate([]byte(bad)); ok {
			t.Errorf("%q parsed as a date", bad)
		}
	}
}

// TestContextCancel ensures a cancelled context stops the load with the
// context's error.
func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := LoadReader(ctx, "log.csv", strings.NewReader(render(sampleTxns(), ",", "\n", true)), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
