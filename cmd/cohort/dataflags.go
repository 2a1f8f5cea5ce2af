package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
)

// dataFlags are the flags that say how to read a transaction log and cut it
// into calibration and holdout windows (clv.Options). features, train and
// predict share them so a log is read the same way everywhere.
type dataFlags struct {
	path                    string
	format                  string
	customer, date, amount  string
	quantity                string
	extra                   []string
	header, delimiter       string
	dateFormat              string
	calibrationEnd, horizon string
	skipBadRows             bool
	negative                string
	periods, periodDays     int
}

// dataHelp is appended to the Long help of the commands that read a log.
const dataHelp = `
Reading the log: CSV (comma, tab, semicolon, pipe or whitespace separated,
detected; .gz or not) or Parquet. Columns are found by header name (customer_id,
customer, cust, id...; date, day, order_date...; amount, sales, price,
dollar_value, spend...) or given by name or 1-based index:
  --data CDNOW_master.txt                               header " customer_id  date number_of_cds  dollar_value": all detected
  --data CDNOW_sample.txt --customer 2 --date 3 --amount 5   no header: indexes
  --data orders.csv --customer client --amount total --date-format 01/02/2006`

// bind registers the flags on fs.
func (d *dataFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&d.path, "data", "", "transaction log to read: CSV (optionally gzipped) or Parquet (required)")
	fs.StringVar(&d.format, "format", "", `"csv" or "parquet"; default: by content (Parquet starts with PAR1)`)
	fs.StringVar(&d.customer, "customer", "", "customer id column, by header name or 1-based index, e.g. --customer client_id or --customer 2\n(default: customer_id, customer, cust, id... in the header; column 1 without a header)")
	fs.StringVar(&d.date, "date", "", "date column, by name or index, e.g. --date order_date or --date 3\n(default: date, day, order_date... in the header; column 2 without a header)")
	fs.StringVar(&d.amount, "amount", "", "spend column, by name or index, e.g. --amount dollar_value or --amount 5\n(default: amount, sales, spend, dollar_value, price... in the header; the last column without a header)")
	fs.StringVar(&d.quantity, "quantity", "", `optional item-count column, e.g. --quantity cds; "-" for none
(default: quantity, qty, units, items, number_of_cds or cds when the header has one)`)
	fs.StringSliceVar(&d.extra, "extra", nil, "extra numeric columns, summed per customer into features, e.g. --extra visits,coupons")
	fs.StringVar(&d.header, "header", "auto", "whether the first line names the columns: auto, yes or no")
	fs.StringVar(&d.delimiter, "delimiter", "", `field separator: ",", ";", "|", tab or whitespace (runs of spaces); default: detected`)
	fs.StringVar(&d.dateFormat, "date-format", "", "Go layout of the dates, e.g. 01/02/2006 or \"02.01.2006 15:04\"\n(default: 20060102, 2006-01-02, 2006-01-02 15:04:05 and RFC 3339 are all accepted)")
	fs.StringVar(&d.calibrationEnd, "calibration-end", "", "last day (inclusive) whose purchases make the features, e.g. 1997-09-30\n(default: the last date in the data, minus --horizon)")
	fs.StringVar(&d.horizon, "horizon", "", "holdout after --calibration-end whose spend is the label: 39w, 26w, 180d, 6m, 1y\n(default: none; features only, as for prediction)")
	fs.BoolVar(&d.skipBadRows, "skip-bad-rows", false, "skip malformed rows and count them, instead of stopping at the first with its file:line")
	fs.StringVar(&d.negative, "negative", "net", "negative amounts (returns): net (subtract from that day's spend), drop (ignore the row) or error")
	fs.IntVar(&d.periods, "periods", 0, "number of recent periods with spend and purchase-day features (default 8; -1 for none)")
	fs.IntVar(&d.periodDays, "period-days", 0, "length of each recent period in days (default 28)")
}

// options turns the flags into clv.Options, with errors that name the flag.
func (d *dataFlags) options() (clv.Options, error) {
	if d.path == "" {
		return clv.Options{}, fmt.Errorf("--data is required: the transaction log to read")
	}
	o := clv.Options{
		Format: d.format, Customer: d.customer, Date: d.date, Amount: d.amount, Quantity: d.quantity,
		Extra: d.extra, Header: d.header, Delimiter: d.delimiter, DateFormat: d.dateFormat,
		SkipBadRows: d.skipBadRows, Periods: d.periods, PeriodDays: d.periodDays,
	}
	switch strings.ToLower(d.format) {
	case "", "csv", "parquet":
	default:
		return clv.Options{}, fmt.Errorf("--format %q: want csv or parquet (or leave it out to detect)", d.format)
	}
	if d.calibrationEnd != "" {
		t, err := time.Parse(time.DateOnly, d.calibrationEnd)
		if err != nil {
			return clv.Options{}, fmt.Errorf("--calibration-end %q: want a date like 1997-09-30", d.calibrationEnd)
		}
		o.CalibrationEnd = t
	}
	h, err := clv.ParseHorizon(d.horizon)
	if err != nil {
		return clv.Options{}, fmt.Errorf("--horizon %q: want a whole number and a unit, d, w, m or y: 39w, 180d, 6m, 1y", d.horizon)
	}
	o.Horizon = h
	if o.Negative, err = clv.ParseNegativePolicy(d.negative); err != nil {
		return clv.Options{}, fmt.Errorf("--negative %q: want net, drop or error", d.negative)
	}
	if d.periodDays < 0 {
		return clv.Options{}, fmt.Errorf("--period-days must be positive, got %d", d.periodDays)
	}
	return o, nil
}
