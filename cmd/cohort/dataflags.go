package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cohort-clv/cohort/clv"
)

// dataFlags are the flags that say how to read a transaction log and cut it
// into calibration and holdout windows (clv.Options). features, train,
// predict and eval share them so a log is read the same way everywhere.
type dataFlags struct {
	path                    string
	format                  string
	customer, date, amount  string
	quantity                string
	extra                   []string
	header, delimiter       string
	dateFormat              string
	decimal                 string
	calibrationEnd, horizon string
	dataEnd                 string
	skipBadRows             bool
	negative                string
	periods, periodDays     int
	use                     dataUse // the command that bound the flags
}

// dataUse is the command that binds the data flags. The flags are shared,
// but what --calibration-end and --horizon mean is not: features and train
// cut a holdout, predict scores as of a day over the model's own horizon,
// eval compares with a holdout, and predict and eval take the recent
// periods from the model.
type dataUse int

const (
	forFeatures dataUse = iota
	forTrain
	forPredict
	forEval
)

// dataHelp is appended to the Long help of the commands that read a log.
const dataHelp = `
Reading the log: CSV (comma, tab, semicolon, pipe or whitespace separated,
detected; .gz or not) or Parquet. Columns are found by header name (customer_id,
customer, cust, id...; date, day, order_date...; amount, sales, price,
dollar_value, spend...) or given by name or 1-based index:
  --data CDNOW_master.txt                               header " customer_id  date number_of_cds  dollar_value": all detected
  --data CDNOW_sample.txt --customer 2 --date 3 --amount 5   no header: indexes
  --data orders.csv --customer client --amount total --date-format 01/02/2006
  --data umsatz.csv --decimal , --date-format 02.01.2006     European: amounts 14,92 or 1.234,50, dates 31.12.2024
  --data groceryElog.csv --amount none                   header "cust,date", no spend: counts purchase days`

// windowHelp is the help of --calibration-end and --horizon for one use.
func windowHelp(use dataUse) (calibrationEnd, horizon string) {
	const units = "39w, 26w, 180d, 6m, 1y"
	switch use {
	case forTrain:
		return "last day (inclusive) whose purchases make the features; the holdout follows it, e.g. 1997-09-30\n(default: the last date in the data minus --horizon)",
			"holdout after --calibration-end whose spend the model learns to predict, and over which it predicts: " + units + " (required)"
	case forPredict:
		return "score as of this day (inclusive): features come from the purchases up to it, e.g. 1997-09-30\n(default: the last date in the data)",
			"not for predict: the model predicts over the horizon it was trained for"
	case forEval:
		return "last day (inclusive) whose purchases make the features; the holdout follows it, e.g. 1997-09-30\n(default: the last date in the data minus --horizon)",
			"holdout after --calibration-end whose actual spend is compared with the predictions: " + units + "\n(default: the horizon the model was trained for, the only one it accepts)"
	}
	return "last day (inclusive) whose purchases make the features, e.g. 1997-09-30\n(default: the last date in the data, minus --horizon when there is one)",
		"holdout after --calibration-end whose spend and purchase days become the label columns: " + units + "\n(default: none; features only)"
}

// bind registers the flags on fs with the help of use.
func (d *dataFlags) bind(fs *pflag.FlagSet, use dataUse) {
	d.use = use
	fs.StringVar(&d.path, "data", "", "transaction log to read: CSV (optionally gzipped) or Parquet (required)")
	fs.StringVar(&d.format, "format", "", `"csv" or "parquet"; default: by content (Parquet starts with PAR1)`)
	fs.StringVar(&d.customer, "customer", "", "customer id column, by header name or 1-based index, e.g. --customer client_id or --customer 2\n(default: customer_id, customer, cust, id... in the header; column 1 without a header)")
	fs.StringVar(&d.date, "date", "", "date column, by name or index, e.g. --date order_date or --date 3\n(default: date, day, order_date... in the header; column 2 without a header)")
	fs.StringVar(&d.amount, "amount", "", "spend column, by name or index, e.g. --amount dollar_value or --amount 5\n"+
		"--amount none: a log without spend (customer, date); each purchase day counts 1, so spend means purchase days\n"+
		"(default: amount, sales, spend, dollar_value, price... in the header; the last column without a header)")
	fs.StringVar(&d.quantity, "quantity", "", `optional item-count column, e.g. --quantity cds; "-" for none
(default: quantity, qty, units, items, number_of_cds or cds when the header has one)`)
	fs.StringSliceVar(&d.extra, "extra", nil, "extra numeric columns, summed per customer into features, e.g. --extra visits,coupons")
	fs.StringVar(&d.header, "header", "auto", "whether the first line names the columns: auto, yes or no")
	fs.StringVar(&d.delimiter, "delimiter", "", `field separator: ",", ";", "|", tab or whitespace (runs of spaces); default: detected`)
	fs.StringVar(&d.dateFormat, "date-format", "", "Go layout of the dates: the date 2006-01-02 written as the file writes its dates,\ne.g. 01/02/2006 (for mm/dd/yyyy) or \"02.01.2006 15:04\"\n(default: 20060102, 2006-01-02, 2006-01-02 15:04:05 and RFC 3339 are all accepted)")
	fs.StringVar(&d.decimal, "decimal", ".", `decimal separator of the numbers: "." (1234.50, or 1,234.50 with thousands grouped) or
"," for European files (1234,50 or 1.234,50); thousands separators must group three digits`)
	calHelp, horizonHelp := windowHelp(use)
	fs.StringVar(&d.calibrationEnd, "calibration-end", "", calHelp)
	fs.StringVar(&d.horizon, "horizon", "", horizonHelp)
	if use != forPredict {
		fs.StringVar(&d.dataEnd, "data-end", "", "the last day the log covers, when later than its last sale (nobody bought on its last days);\nonly the check that the data cover the holdout uses it (default: the last transaction's date)")
	}
	fs.BoolVar(&d.skipBadRows, "skip-bad-rows", false, "skip malformed rows and count them, instead of stopping at the first with its file:line")
	fs.StringVar(&d.negative, "negative", "net", "negative amounts (returns): net (subtract from that customer's spend on the same day; a return on a day\nwithout a purchase has nothing to net against and is ignored, counted as a return-only day),\ndrop (ignore the row) or error")
	fs.IntVar(&d.periods, "periods", 0, "number of recent periods with spend and purchase-day features: 1..520, or -1 for none (default 8)")
	fs.IntVar(&d.periodDays, "period-days", 0, "length of each recent period in days, >= 1 (default 28)")
	if use == forPredict || use == forEval {
		// The model fixes its features: these come from its stored read
		// options (dataFlags.overlay), and a different value can only fail.
		fs.Lookup("periods").Usage = "recent periods: taken from the model; a different value is refused"
		fs.Lookup("period-days").Usage = "length of the recent periods: taken from the model; a different value is refused"
		_ = fs.MarkHidden("periods")
		_ = fs.MarkHidden("period-days")
	}
	if use == forPredict {
		// Registered, hidden, so that --horizon gets predict's own refusal
		// (naming the model's horizon) rather than "unknown flag".
		_ = fs.MarkHidden("horizon")
	}
}

// options turns the flags set on fs into clv.Options, with errors that name
// the flag. A zero --periods or --period-days means clv's default only when
// the flag was not given: given, it is refused, so "0" never silently means
// "8" or "28".
func (d *dataFlags) options(fs *pflag.FlagSet) (clv.Options, error) {
	if d.path == "" {
		return clv.Options{}, fmt.Errorf("--data is required: the transaction log to read")
	}
	o := clv.Options{
		Format: d.format, Customer: d.customer, Date: d.date, Amount: d.amount, Quantity: d.quantity,
		Extra: d.extra, Header: d.header, Delimiter: d.delimiter, DateFormat: d.dateFormat,
		Decimal: d.decimal, SkipBadRows: d.skipBadRows, Periods: d.periods, PeriodDays: d.periodDays,
	}
	switch strings.ToLower(d.format) {
	case "", "csv", "parquet":
	default:
		return clv.Options{}, fmt.Errorf("--format %q: want csv or parquet (or leave it out to detect)", d.format)
	}
	switch d.decimal {
	case "", ".", ",":
	default:
		return clv.Options{}, fmt.Errorf(`--decimal %q: want "." (1234.50, the default) or "," (1234,50)`, d.decimal)
	}
	if d.dateFormat != "" {
		if err := clv.CheckDateFormat(d.dateFormat); err != nil {
			return clv.Options{}, fmt.Errorf("--date-format %w", err)
		}
	}
	if d.calibrationEnd != "" {
		t, err := parseDay("--calibration-end", d.calibrationEnd, "1997-09-30")
		if err != nil {
			return clv.Options{}, err
		}
		o.CalibrationEnd = t
	}
	if d.dataEnd != "" {
		t, err := parseDay("--data-end", d.dataEnd, "1998-06-30")
		if err != nil {
			return clv.Options{}, err
		}
		o.DataEnd = t
	}
	h, err := clv.ParseHorizon(d.horizon)
	if err != nil {
		return clv.Options{}, fmt.Errorf("--horizon %q: want a whole number and a unit, d, w, m or y: 39w, 180d, 6m, 1y", d.horizon)
	}
	o.Horizon = h
	if o.Negative, err = clv.ParseNegativePolicy(d.negative); err != nil {
		return clv.Options{}, fmt.Errorf("--negative %q: want net, drop or error", d.negative)
	}
	if err := checkCountOnly(o); err != nil {
		return clv.Options{}, err
	}
	if fs.Changed("periods") && (d.periods == 0 || d.periods > 520) {
		return clv.Options{}, fmt.Errorf("--periods must be 1..520, or -1 for no recent-period features, got %d", d.periods)
	}
	if fs.Changed("period-days") && d.periodDays < 1 {
		return clv.Options{}, fmt.Errorf("--period-days must be >= 1, got %d", d.periodDays)
	}
	return o, nil
}

// overlay returns base (the options a model was trained with) with the
// fields whose flags were set on fs replaced by the flags' values. The
// calibration end is never inherited: scoring uses the data's own end unless
// --calibration-end says otherwise; neither is the horizon. The recent
// periods shape the model's inputs, so they always come from base, and a
// flag that asks for others is refused here, before the data is read.
func (d *dataFlags) overlay(fs *pflag.FlagSet, base clv.Options) (clv.Options, error) {
	o, err := d.options(fs)
	if err != nil {
		return clv.Options{}, err
	}
	out := base
	out.CalibrationEnd, out.Horizon, out.DataEnd = o.CalibrationEnd, o.Horizon, o.DataEnd
	// eval compares with a holdout of the model's horizon only, so clv's
	// errors must not suggest another.
	out.FixedHorizon = d.use == forEval
	set := func(flag string, apply func()) {
		if fs.Changed(flag) {
			apply()
		}
	}
	// A column (or date layout) the flags leave alone is read as the model
	// was trained: clv's error then says so and names the flag that
	// overrides it.
	out.ColumnsFromModel = nil
	for _, role := range []string{"customer", "date", "amount", "quantity", "extra", "date-format", "delimiter"} {
		if !fs.Changed(role) {
			out.ColumnsFromModel = append(out.ColumnsFromModel, role)
		}
	}
	set("format", func() { out.Format = o.Format })
	set("customer", func() { out.Customer = o.Customer })
	set("date", func() { out.Date = o.Date })
	set("amount", func() { out.Amount = o.Amount })
	set("quantity", func() { out.Quantity = o.Quantity })
	set("extra", func() { out.Extra = o.Extra })
	set("header", func() { out.Header = o.Header })
	set("delimiter", func() { out.Delimiter = o.Delimiter })
	set("date-format", func() { out.DateFormat = o.DateFormat })
	set("decimal", func() { out.Decimal = o.Decimal })
	set("skip-bad-rows", func() { out.SkipBadRows = o.SkipBadRows })
	set("negative", func() { out.Negative = o.Negative })
	if err := checkAmount(base, out); err != nil {
		return clv.Options{}, err
	}
	wantN, wantDays := base.EffectivePeriods()
	if n, _ := o.EffectivePeriods(); fs.Changed("periods") && n != wantN {
		return clv.Options{}, fmt.Errorf("--periods %d: the model was trained with %s; leave --periods out, it is taken from the model",
			d.periods, describePeriods(wantN, wantDays))
	}
	if _, days := o.EffectivePeriods(); fs.Changed("period-days") && wantN > 0 && days != wantDays {
		return clv.Options{}, fmt.Errorf("--period-days %d: the model was trained with %s; leave --period-days out, it is taken from the model",
			d.periodDays, describePeriods(wantN, wantDays))
	}
	return out, nil
}

// parseDay parses the date a flag gives, in the years clv reads.
func parseDay(flag, s, example string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a date like %s", flag, s, example)
	}
	if t.Year() < clv.MinYear || t.Year() > clv.MaxYear {
		return time.Time{}, fmt.Errorf("%s %s: outside the supported years %d-%d", flag, s, clv.MinYear, clv.MaxYear)
	}
	return t, nil
}

// checkCountOnly refuses a negative policy for a count-only read, naming
// the flags: there are no amounts to be negative.
func checkCountOnly(o clv.Options) error {
	if o.CountOnly() && o.Negative != clv.NetNegative {
		return fmt.Errorf("--negative %s: with --amount none the log has no amounts, so none is negative; leave --negative out", o.Negative)
	}
	return nil
}

// checkAmount refuses to read a model's data with or without spend when it
// was trained the other way. The features have the same names either way,
// so the model could not tell purchase days from money: a count-only model
// fed spend would score dollars as purchase days, and the reverse.
func checkAmount(base, out clv.Options) error {
	switch {
	case base.CountOnly() && out.CountOnly() && out.Negative != clv.NetNegative:
		return fmt.Errorf("--negative %s: the model was trained count-only (--amount none), so the log's amounts are not read and none is negative; leave --negative out", out.Negative)
	case base.CountOnly() && !out.CountOnly():
		return fmt.Errorf("--amount %s: the model was trained count-only (--amount none), on purchase days, not spend; leave --amount out to read the log as it was", out.Amount)
	case !base.CountOnly() && out.CountOnly():
		col := "its amount column"
		if base.Amount != "" {
			col = fmt.Sprintf("amount column %q", base.Amount)
		}
		return fmt.Errorf("--amount none: the model was trained on spend (%s) and cannot score purchase days; leave --amount out, or train a count-only model with --amount none", col)
	}
	return nil
}

func describePeriods(n, days int) string {
	if n == 0 {
		return "no recent-period features"
	}
	return fmt.Sprintf("%d recent periods of %d days", n, days)
}

// Output files.
