package clv

import (
	"strings"
	"testing"
)

// TestColumnRFMSummary ensures a per-customer summary fed as a transaction
// log (lifetimes' RFM frames, cdnow_customers_summary*.csv, BTYD's cal.cbs,
// the donations.csv BG/BB pattern table) is named as one, with what cohort
// needs instead, rather than told to name a column with a flag: no flags
// make a summary readable. A log that merely has a frequency column keeps
// the generic message.
func TestColumnRFMSummary(t *testing.T) {
	const (
		prefix = "clv: read transactions: log.csv: "
		looks  = " column: the file looks like a per-customer RFM summary (its header has "
		needs  = "), not a transaction log; cohort needs one row per purchase (customer, date, amount), " +
			"the log such a summary is computed from, and no column flags can read a summary"
	)
	tests := []struct {
		name, content string
		opts          Options
		want          string
	}{
		{"donations.csv", "frequency,recency,periods,weights\n0,0,6,3464\n1,1,6,1091\n", Options{},
			"no customer" + looks + "frequency, recency, periods, weights" + needs},
		{"cdnow_customers_summary.csv", "ID,frequency,recency,T\n1,2,30.43,38.86\n", Options{},
			"no date" + looks + "frequency, recency, T" + needs},
		{"with transactions", "ID,x,t_x,T,zbar\n1,2,30.43,38.86,22.35\n", Options{},
			"no date" + looks + "x, t_x, T, zbar" + needs},
		{"lifetimes RFM with the customer named", "customer_id,frequency,recency,T,monetary_value\nA,2,30.4,38.9,22.3\n",
			Options{Customer: "customer_id"},
			"no date" + looks + "frequency, recency, T, monetary_value" + needs},
		{"BTYD cal.cbs", "cust x t.x T.cal\n1 2 30.43 38.86\n", Options{},
			"no date" + looks + "x, t.x, T.cal" + needs},
		{"log with one summary-like column", "customer_id,frequency,amount\nA,3,10\n", Options{},
			"no date column found (looked for date, day, order_date, purchase_date, transaction_date, invoice_date, invoicedate, " +
				"datetime, timestamp, time); the header has: customer_id, frequency, amount; name it with --date (read.date in a job spec)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadString(tt.content, tt.opts)
			if err == nil || err.Error() != prefix+tt.want {
				t.Errorf("error\n got %v\nwant %s", err, prefix+tt.want)
			}
		})
	}
}

// TestColumnFromModel ensures a column name that came from a model's
// training options (Options.ColumnsFromModel: predict and eval on another
// log) and is missing says so and names the flag that overrides it, with
// the header's own column as an example when the defaults find one; a name
// the caller gave keeps the plain message.
func TestColumnFromModel(t *testing.T) {
	const (
		prefix = "clv: read transactions: log.csv: "
		master = " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n"
		sample = " 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n"
	)
	model := []string{"customer", "date", "amount", "quantity", "extra"}
	tests := []struct {
		name, content string
		opts          Options
		want          string
	}{
		{"missing, detectable", master, Options{Customer: "masterid", ColumnsFromModel: model},
			`customer column "masterid" is not in the header; the header has: customer_id, date, number_of_cds, dollar_value ` +
				`(the model was trained with --customer masterid; name this file's customer column with --customer, e.g. --customer customer_id)`},
		{"amount, detectable", master, Options{Amount: "sales", ColumnsFromModel: model},
			`amount column "sales" is not in the header; the header has: customer_id, date, number_of_cds, dollar_value ` +
				`(the model was trained with --amount sales; name this file's amount column with --amount, e.g. --amount dollar_value)`},
		{"missing, nothing detectable", "who,when,paid\nA,2020-01-01,1\n", Options{Customer: "client id", ColumnsFromModel: model},
			`customer column "client id" is not in the header; the header has: who, when, paid ` +
				`(the model was trained with --customer "client id"; name this file's customer column with --customer)`},
		{"extra", master, Options{Extra: []string{"visits"}, ColumnsFromModel: model},
			`extra column "visits" is not in the header; the header has: customer_id, date, number_of_cds, dollar_value ` +
				`(the model was trained with --extra visits; name this file's extra column with --extra)`},
		{"no header", sample, Options{Customer: "masterid", ColumnsFromModel: model},
			`customer column "masterid" is a name, but the file has no header; give a 1-based index instead ` +
				`(the model was trained with --customer masterid; name this file's customer column with --customer)`},
		{"index out of range", "A,2020-01-01,1\n", Options{Amount: "5", ColumnsFromModel: model},
			`amount column 5 is out of range: the first row has 3 columns (the model was trained with --amount 5; name this file's amount column with --amount)`},
		{"given by the caller", master, Options{Customer: "masterid", ColumnsFromModel: []string{"date", "amount"}},
			`customer column "masterid" is not in the header; the header has: customer_id, date, number_of_cds, dollar_value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadString(tt.content, tt.opts)
			if err == nil || err.Error() != prefix+tt.want {
				t.Errorf("error\n got %v\nwant %s", err, prefix+tt.want)
			}
		})
	}
}

// TestHeaderAutoNamedColumn ensures that in header mode auto a column named
// by name no longer forces a header: a first line of data (dates or only
// numbers, none of the names) means the file has none, and the error says
// so instead of listing the data row as "the header". A real header, with
// or without the name, is still one.
func TestHeaderAutoNamedColumn(t *testing.T) {
	const noHeader = " is a name, but the file has no header; give a 1-based index instead"
	tests := []struct {
		name, content string
		opts          Options
		wantErr       string // "" loads
		header        bool
	}{
		{"CDNOW_sample, customer named", " 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n",
			Options{Customer: "masterid"}, `customer column "masterid"` + noHeader, false},
		{"comma, amount named", "4,1,19970101,2,29.33\n4,1,19970118,2,29.73\n", Options{Amount: "sales"},
			`amount column "sales"` + noHeader, false},
		{"ISO dates, customer named", "c1,2020-01-01,10\nc2,2020-01-02,12\n", Options{Customer: "cust"},
			`customer column "cust"` + noHeader, false},
		{"custom date layout, numbers only", "4;31.12.1997;29,33\n", Options{Customer: "id", Decimal: ",", DateFormat: "02.01.2006"},
			`customer column "id"` + noHeader, false},
		{"header with the name", "masterid,sampleid,date,cds,sales\n4,1,19970101,2,29.33\n", Options{Customer: "masterid"}, "", true},
		{"header without the name", "customer_id,date,amount\nA,2020-01-01,1\n", Options{Customer: "masterid"},
			`customer column "masterid" is not in the header; the header has: customer_id, date, amount`, true},
		{"header of dates, with the names", "cust,2020-01-01,amount\nA,2020-01-01,1\n", Options{Customer: "cust", Date: "2", Amount: "amount"}, "", true},
		{"no header, indexes", "4,1,19970101,2,29.33\n", Options{Customer: "1", Date: "3"}, "", false},
		{"header yes still forces one", "c1,2020-01-01,10\n", Options{Customer: "cust", Header: "yes"},
			`customer column "cust" is not in the header; the header has: c1, 2020-01-01, 10`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := loadString(tt.content, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), "log.csv: "+tt.wantErr) {
					t.Errorf("error\n got %v\nwant ...%s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Report.Header != tt.header {
				t.Errorf("header %v, want %v", ds.Report.Header, tt.header)
			}
		})
	}
}
