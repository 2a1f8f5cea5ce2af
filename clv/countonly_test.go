package clv

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// lineItems is a count-only log of line items: several rows on most purchase
// days, one of them arriving after a later day, and days in the holdout.
// Its purchase days per customer, calibration through 2020-03-31 and a
// 10-day holdout: A 01-01, 01-15, 03-01 | 04-10; B 02-01; C 01-05, 03-05 |
// 04-02 (3 rows), 04-03; E first seen in the holdout.
var lineItems = [][2]string{
	{"A", "2020-01-01"}, {"A", "2020-01-01"}, {"A", "2020-01-01"}, {"A", "2020-01-15"},
	{"A", "2020-03-01"}, {"A", "2020-03-01"}, {"A", "2020-01-01"}, // a line item after a later day
	{"A", "2020-04-10"}, {"A", "2020-04-10"},
	{"B", "2020-02-01"}, {"B", "2020-02-01"},
	{"C", "2020-01-05"}, {"C", "2020-03-05"}, {"C", "2020-03-05"}, {"C", "2020-03-05"},
	{"C", "2020-04-02"}, {"C", "2020-04-02"}, {"C", "2020-04-02"}, {"C", "2020-04-03"},
	{"E", "2020-04-05"},
}

// renderItems writes the line items under header (none when empty), each row
// followed by extra, joined with delim.
func renderItems(header, delim string, extra func(i int) []string) string {
	var b strings.Builder
	if header != "" {
		b.WriteString(header + "\n")
	}
	for i, r := range lineItems {
		fields := []string{r[0], r[1]}
		if extra != nil {
			fields = append(fields, extra(i)...)
		}
		b.WriteString(strings.Join(fields, delim) + "\n")
	}
	return b.String()
}

// countOnlyWant is what every count-only reading of lineItems gives: holdout
// purchase days, calibration purchase days and repeat days per customer.
var countOnlyWant = map[string]struct{ holdout, days, x int }{
	"A": {1, 3, 2}, "B": {0, 1, 0}, "C": {2, 2, 1},
}

// checkCountOnly fails unless ds is lineItems read count-only: every purchase
// day worth 1, the labels holdout purchase days.
func checkCountOnly(t *testing.T, ds *Dataset) {
	t.Helper()
	r := ds.Report
	if r.Columns.Amount != AmountNone || r.Transactions != int64(len(lineItems)) || r.PurchaseDays != 10 ||
		r.TotalAmount != 10 || r.Customers != 3 || r.ExcludedCustomers != 1 || r.NegativeRows != 0 || r.ReturnOnlyDays != 0 {
		t.Errorf("report %+v: want amount none, %d transactions, 10 purchase days worth 10, 3 customers and 1 excluded",
			r, len(lineItems))
	}
	if len(ds.Customers) != len(countOnlyWant) {
		t.Fatalf("%d customers, want %d", len(ds.Customers), len(countOnlyWant))
	}
	for id, w := range countOnlyWant {
		c := customer(t, ds, id)
		if c.HoldoutPurchases != w.holdout || c.HoldoutSpend != float64(w.holdout) || c.X != float64(w.x) {
			t.Errorf("%s: holdout %d days, spend %v, x %v; want %d days worth %d, x %d", id, c.HoldoutPurchases, c.HoldoutSpend, c.X, w.holdout, w.holdout, w.x)
		}
		repeatMean := 0.0
		if w.x > 0 {
			repeatMean = 1
		}
		if c.RepeatMeanSpend != repeatMean {
			t.Errorf("%s: repeat mean spend %v, want %v", id, c.RepeatMeanSpend, repeatMean)
		}
		for name, v := range map[string]float64{
			"spend_total": float64(w.days), "purchase_days": float64(w.days), "spend_mean": 1,
			"spend_max": 1, "spend_first": 1, "spend_last": 1, "spend_repeat_mean": repeatMean,
		} {
			if got := feature(t, ds, c, name); got != v {
				t.Errorf("%s %s = %v, want %v", id, name, got, v)
			}
		}
		// The recent-period spend counts the same days as days_lag.
		for k := 1; k <= 8; k++ {
			lag := "lag" + itoa(k)
			if s, d := feature(t, ds, c, "spend_"+lag), feature(t, ds, c, "days_"+lag); s != d {
				t.Errorf("%s spend_%s = %v, days_%s = %v: want equal", id, lag, s, lag, d)
			}
		}
	}
}

// TestCountOnlyLineItems ensures a log read with Amount "none" counts every
// purchase day once, however many line items it has and whatever amount
// column the file holds, with or without a header, in CSV and Parquet.
func TestCountOnlyLineItems(t *testing.T) {
	amounts := func(i int) []string { return []string{[]string{"10", "-4", "2.5", "x"}[i%4]} } // ignored, bad and negative ones too
	tests := []struct {
		name    string
		content string
		opts    Options
	}{
		{"header without amount", renderItems("cust,date", ",", nil), Options{Amount: "none"}},
		{"upper case, padded", renderItems("cust,date", ",", nil), Options{Amount: " NONE "}},
		{"no header", renderItems("", ",", nil), Options{Amount: "none"}},
		{"no header, forced", renderItems("", ";", nil), Options{Amount: "none", Header: "no"}},
		{"whitespace, named columns", renderItems("who when", " ", nil), Options{Amount: "none", Customer: "who", Date: "when"}},
		{"amount column ignored", renderItems("customer_id,date,amount", ",", amounts), Options{Amount: "none"}},
		{"indexes", renderItems("", "\t", amounts), Options{Amount: "none", Customer: "1", Date: "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.CalibrationEnd, o.Horizon = mustDate("2020-03-31"), Horizon{Days: 10}
			ds, err := loadString(tc.content, o)
			if err != nil {
				t.Fatal(err)
			}
			checkCountOnly(t, ds)
		})
	}
	t.Run("parquet", func(t *testing.T) {
		type row struct {
			Cust string `parquet:"cust"`
			Date int32  `parquet:"date,date"`
		}
		rows := make([]row, len(lineItems))
		for i, r := range lineItems {
			rows[i] = row{r[0], dayOf(mustDate(r[1]))}
		}
		path := filepath.Join(t.TempDir(), "items.parquet")
		if err := parquet.WriteFile(path, rows); err != nil {
			t.Fatal(err)
		}
		ds, err := Load(context.Background(), path, Options{Amount: "none", CalibrationEnd: mustDate("2020-03-31"), Horizon: Horizon{Days: 10}})
		if err != nil {
			t.Fatal(err)
		}
		checkCountOnly(t, ds)
	})
}

// TestCountOnlyEqualsDailyOnes ensures a count-only read of line items gives
// exactly what the same log, merged to one row a day with amount 1, gives
// when read as a spend log: count-only is "every purchase day is worth 1".
func TestCountOnlyEqualsDailyOnes(t *testing.T) {
	var daily strings.Builder
	daily.WriteString("cust,date,amount\n")
	seen := map[[2]string]bool{}
	for _, r := range lineItems {
		if !seen[r] {
			seen[r] = true
			daily.WriteString(r[0] + "," + r[1] + ",1\n")
		}
	}
	o := Options{CalibrationEnd: mustDate("2020-03-31"), Horizon: Horizon{Days: 10}}
	ref, err := loadString(daily.String(), o)
	if err != nil {
		t.Fatal(err)
	}
	o.Amount = AmountNone
	ds, err := loadString(renderItems("cust,date", ",", nil), o)
	if err != nil {
		t.Fatal(err)
	}
	sameCustomers(t, ref, ds)
}

// TestCountOnlyOptions ensures what goes with Amount "none": the default
// negative policy only, quantity and extra columns as usual, bad rows still
// reported, and the errors of a log without an amount column pointing to it.
func TestCountOnlyOptions(t *testing.T) {
	const prefix = "clv: read transactions: log.csv: "
	window := Options{CalibrationEnd: mustDate("2020-03-31"), Horizon: Horizon{Days: 10}}
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name    string
			content string
			opts    Options
			want    string
		}{
			{"negative drop", renderItems("cust,date", ",", nil), Options{Amount: "none", Negative: DropNegative},
				"negative policy drop: a count-only log (amount none) has no amounts, so none is negative; leave the policy at its default"},
			{"negative error", renderItems("cust,date", ",", nil), Options{Amount: "none", Negative: ErrorNegative},
				"negative policy error: a count-only log (amount none) has no amounts, so none is negative; leave the policy at its default"},
			{"no amount column", renderItems("cust,date", ",", nil), Options{},
				"no amount column found (looked for amount, sales, sale, spend, revenue, dollar_value, dollars, value, price, total, monetary); the header has: cust, date; name it with --amount (read.amount in a job spec); a log without spend: --amount none (read.amount: none) counts purchase days instead"},
			{"two columns, no header", renderItems("", ",", nil), Options{},
				"date and amount are both column 2 (date); a log without spend: --amount none (read.amount: none) counts purchase days instead"},
			{"bad date", "cust,date\nA,2020-01-01\nA,2020-13-01\n", Options{Amount: "none"},
				`log.csv:3: column "date": "2020-13-01" is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := loadString(tc.content, tc.opts)
				want := prefix + tc.want
				if strings.HasPrefix(tc.want, "log.csv:") {
					want = "clv: read transactions: " + tc.want // a RowError names its own file
				}
				if err == nil || err.Error() != want {
					t.Errorf("error\n got %v\nwant %s", err, want)
				}
			})
		}
	})
	t.Run("validate", func(t *testing.T) {
		for _, tc := range []struct {
			opts Options
			ok   bool
		}{
			{Options{Amount: "none"}, true},
			{Options{Amount: "none", Negative: NetNegative}, true},
			{Options{Amount: "none", Negative: DropNegative}, false},
			{Options{Amount: "sales", Negative: DropNegative}, true},
		} {
			if err := tc.opts.Validate(); (err == nil) != tc.ok {
				t.Errorf("%+v: Validate() = %v, want ok %v", tc.opts, err, tc.ok)
			}
		}
	})
	t.Run("quantity and extras", func(t *testing.T) {
		// qty 1, 2, 3, 1, ... and visits 1 on every row: summed per day.
		content := renderItems("cust,date,qty,visits", ",", func(i int) []string { return []string{itoa(1 + i%3), "1"} })
		o := window
		o.Amount, o.Extra = AmountNone, []string{"visits"}
		ds, err := loadString(content, o)
		if err != nil {
			t.Fatal(err)
		}
		checkCountOnly(t, ds)
		if got := ds.Report.Columns; got.Quantity != "qty" || !slices.Equal(got.Extra, []string{"visits"}) {
			t.Errorf("columns %+v", got)
		}
		// A's calibration rows are the first 7: qty 1+2+3+1+2+3+1, 7 visits over 3 days.
		a := customer(t, ds, "A")
		for name, want := range map[string]float64{"quantity_total": 13, "quantity_mean": 13.0 / 3, "extra_visits": 7} {
			if got := feature(t, ds, a, name); got != float64(float32(want)) {
				t.Errorf("A %s = %v, want %v", name, got, want)
			}
		}
	})
	t.Run("skip bad rows", func(t *testing.T) {
		content := renderItems("cust,date", ",", nil) + "A,someday\n,2020-01-02\n"
		o := window
		o.Amount, o.SkipBadRows = AmountNone, true
		ds, err := loadString(content, o)
		if err != nil {
			t.Fatal(err)
		}
		if r := ds.Report; r.BadRows[ReasonBadDate] != 1 || r.BadRows[ReasonEmptyID] != 1 || r.Rows != int64(len(lineItems))+2 {
			t.Errorf("bad rows %v of %d rows", r.BadRows, r.Rows)
		}
		checkCountOnly(t, ds)
	})
	t.Run("prediction mode", func(t *testing.T) {
		// No horizon: everything is calibration, the labels stay zero.
		ds, err := loadString(renderItems("cust,date", ",", nil), Options{Amount: AmountNone, CalibrationEnd: mustDate("2020-12-31")})
		if err != nil {
			t.Fatal(err)
		}
		c := customer(t, ds, "C")
		if c.HoldoutSpend != 0 || c.HoldoutPurchases != 0 || feature(t, ds, c, "spend_total") != 4 || !ds.Report.HoldoutEnd.IsZero() {
			t.Errorf("C = %+v", *c)
		}
	})
	if o := (Options{Amount: "None"}); !o.CountOnly() || (&Options{Amount: "nonexistent"}).CountOnly() {
		t.Error(`CountOnly: want "None" count-only and "nonexistent" a column name`)
	}
}
