package clv

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadCSV ensures no input makes Load panic, that every error names the
// file (and a bad row its line within the input), and that whatever loads
// is sorted, finite and consistent with the report.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("customer_id,date,amount\nA,2020-01-01,10\nB,2020-01-02,5\nA,2020-02-01,-3\n"), false, uint8(0))
	f.Add([]byte(" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n"), true, uint8(1))
	f.Add([]byte("a;b;c\n1;20200101;1,5\n\"x\";\"2020-01-01\";\"3\"\n"), true, uint8(2))
	f.Add([]byte("1|2020-01-01T10:00:00Z|3e2|7\n2|2020-01-01|x|\x00\n\xff|2020-01-01|1|1\n"), true, uint8(3))
	f.Add([]byte("id\tdate\tsales\n1\t2020-02-29\t1\n1\t2020-02-30\t2\n"), false, uint8(4))
	f.Add([]byte("kunde;datum;umsatz\nA;2020-01-01;1.234,50\nB;1899-12-31;14,92\nA;2020-02-01;0,5\n"), true, uint8(16))
	f.Add([]byte("customer_id,date,amount,note\nA,2020-01-01,\"1,234.50\",\"x\ny\"\ncustomer_id,date,amount,note\n"), true, uint8(5))
	f.Add([]byte("customer_id,date,amount,note\nA,2020-01-01,1,234.50,x\nB,2020-01-02,5,\"a\nb,\"\"c\"\"\"\n,,,\nC,2020-01-03,2,\"5 inch\n"), true, uint8(6))
	f.Add([]byte("customer_id,date,amount\nA,2020-01-01,1.250\ncustomer_id,date,discount,amount\nB,2020-01-02,0,5\n"), true, uint8(0))
	f.Add([]byte("customer_id,date,amount\nA,2020-01-01,\"$1,234.50\"\nB,2020-01-02,($5.00)\nA,2020-02-01,-$3\nB,2020-02-02,USD 2\nC,2020-02-03,€1\n"), true, uint8(4))
	f.Add([]byte("kunde;datum;umsatz\nA;2020-01-01;12,50 €\nB;2020-01-02;(1.234,50 EUR)\nA;2020-02-01;€-3\n"), false, uint8(16))
	f.Fuzz(func(t *testing.T, data []byte, skip bool, variant uint8) {
		o := Options{SkipBadRows: skip, Negative: NegativePolicy(variant % 3)}
		if variant&4 != 0 {
			o.CalibrationEnd, o.Horizon = mustDate("2020-01-15"), Horizon{Days: 30}
		}
		if variant&8 != 0 {
			o.Customer, o.Date, o.Amount = "1", "2", "3"
		}
		if variant&16 != 0 {
			o.Decimal = ","
		}
		ds, err := LoadReader(context.Background(), "fuzz.csv", bytes.NewReader(data), o)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "clv: read transactions: fuzz.csv") {
				t.Fatalf("error does not name the file: %q", err)
			}
			var re *RowError
			if errors.As(err, &re) {
				lines := int64(bytes.Count(data, []byte{'\n'})) + 1
				if skip || re.Line < 1 || re.Line > lines || re.Reason == "" || re.Msg == "" {
					t.Fatalf("malformed row error %+v (skip %v, %d lines)", re, skip, lines)
				}
			}
			return
		}
		r := ds.Report
		var bad int64
		for _, n := range r.BadRows {
			bad += n
		}
		if r.Transactions+bad+r.DroppedNegative+r.RowsAfterEnd != r.Rows {
			t.Fatalf("rows do not add up: %+v", r)
		}
		if len(ds.Customers) == 0 || r.Customers != len(ds.Customers) {
			t.Fatalf("%d customers, report says %d", len(ds.Customers), r.Customers)
		}
		for i, c := range ds.Customers {
			if c.ID == "" || !utf8.ValidString(c.ID) || i > 0 && ds.Customers[i-1].ID >= c.ID {
				t.Fatalf("customer %d id %q out of order or invalid", i, c.ID)
			}
			if len(c.Features) != len(ds.FeatureNames) {
				t.Fatalf("%d features for %d names", len(c.Features), len(ds.FeatureNames))
			}
			for j, v := range c.Features {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("customer %q %s = %v", c.ID, ds.FeatureNames[j], v)
				}
			}
			if c.X < 0 || c.Tx < 0 || c.Tx > c.T || c.HoldoutSpend < 0 {
				t.Fatalf("customer %+v breaks 0 <= Tx <= T", c)
			}
		}
	})
}
