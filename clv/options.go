package clv

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Options say how to read a transaction log and how to cut it into a
// calibration and a holdout window. The zero value reads a CSV file with
// everything detected; see the package documentation for the defaults.
type Options struct {
	// Format is "csv", "parquet", or "" to decide by content: a file that
	// starts with the Parquet magic "PAR1" is Parquet, anything else CSV.
	// Gzip-compressed CSV is recognised by its magic bytes either way.
	Format string

	// Customer, Date and Amount name the three required columns, each by
	// header name (case-insensitive) or by 1-based index ("3"). Empty picks
	// a default (see the package documentation). Amount AmountNone reads a
	// count-only log: no amount column, and every purchase day is worth 1.
	Customer, Date, Amount string
	// Quantity optionally names a column of item counts. Empty maps a column
	// called quantity, qty, units, items, number_of_cds or cds when the header
	// has one; "-" maps none.
	Quantity string
	// Extra names further numeric columns; each is summed per customer over
	// the calibration window and becomes a feature "extra_<name>".
	Extra []string

	// Header is "auto" (or ""), "yes" or "no".
	Header string
	// Delimiter is one of ",", ";", "|", "tab", "whitespace" (runs of spaces
	// and tabs), or "" to detect it from the first lines.
	Delimiter string
	// DateFormat is a Go time layout such as "01/02/2006". Empty accepts
	// 20060102, 2006-01-02, 2006-01-02 15:04:05 and RFC 3339. A layout
	// that cannot write and read back a date is refused (CheckDateFormat).
	DateFormat string
	// Decimal is the decimal separator of the numbers in text: "." (or
	// empty) or "," (European exports, "14,92"). Thousands may be grouped
	// by the other character in groups of three digits: "2,754.00" with
	// ".", "2.754,00" with ",". See the package documentation.
	Decimal string

	// CalibrationEnd is the last day (inclusive) of the calibration window;
	// only its calendar date counts. Zero means the last date in the data,
	// or, with a Horizon, the latest day whose holdout ends on or before
	// it, so that the holdout is the last Horizon of the data: that date
	// minus the horizon, except where months normalise past a month's end
	// (data to 07-31 with 3m: 04-30, holdout to 07-30, not 05-01 to 08-01).
	CalibrationEnd time.Time
	// Horizon is the length of the holdout window after CalibrationEnd. Zero
	// means no holdout: features only, labels stay zero (prediction mode).
	// At most 100 years.
	Horizon Horizon
	// FixedHorizon says the Horizon is not the caller's to choose: it is the
	// one a model was trained for, and evaluating the model needs it. An
	// error about a holdout the data does not cover then suggests another
	// calibration end only, not a shorter horizon. Not stored.
	FixedHorizon bool `json:"-"`
	// ColumnsFromModel lists the column settings, by role ("customer",
	// "date", "amount", "quantity", "extra"; "date-format" for the date
	// layout, "delimiter" for the delimiter), that were not chosen for this
	// file but taken from the options a model was trained with, as predict
	// and eval read a log. An error about such a column then says where its
	// name came from and which flag overrides it. Not stored.
	ColumnsFromModel []string `json:"-"`
	// DataEnd is the last day the log covers, when that is known to be
	// later than its last transaction (a small or quiet shop where nobody
	// bought on the last days). Only the check that the data cover the
	// holdout reads it. Zero means the last transaction's date.
	DataEnd time.Time

	// SkipBadRows skips malformed rows, counting them in the IngestReport,
	// instead of stopping at the first one.
	SkipBadRows bool
	// Negative says what a negative amount (a return) does.
	Negative NegativePolicy

	// Periods and PeriodDays shape the recent-activity features: spend and
	// purchase days in each of the last Periods windows of PeriodDays days
	// before CalibrationEnd. Zero picks 8 periods of 28 days; a negative
	// Periods turns the features off.
	Periods, PeriodDays int

	// Threads caps the goroutines that parse rows and build features: zero
	// uses GOMAXPROCS. Beyond 8 the reader, not parsing, limits the rate, so
	// more are not started. Not stored.
	Threads int `json:"-"`

	// Progress, when set, is told how far Load has read the file: bytes
	// read (compressed bytes for gzip) of total, about four times a
	// second and once at the end, from another goroutine. Not stored.
	Progress func(read, total int64) `json:"-"`
}

// AmountNone as Options.Amount reads a count-only log, one without a spend
// column (groceryElog's cust,date): every purchase day of a customer is worth
// exactly 1, however many rows it has, so spend features, RepeatMeanSpend and
// the HoldoutSpend label count purchase days. It is matched case-insensitively,
// so no amount column can be named "none".
const AmountNone = "none"

// CountOnly reports whether o reads a count-only log (Amount is AmountNone).
func (o *Options) CountOnly() bool {
	return strings.EqualFold(strings.TrimSpace(o.Amount), AmountNone)
}

// Validate checks the options that do not depend on the file, as Load does
// first: the header mode, format, negative policy, horizon, recent periods,
// delimiter, decimal separator, date format, and that the calibration and
// data end lie in the supported years (MinYear to MaxYear). A count-only
// load refuses any negative policy but the default NetNegative: it has no
// amounts, so none is negative.
func (o *Options) Validate() error {
	if _, err := o.validate(); err != nil {
		return fmt.Errorf("clv: %w", err)
	}
	return nil
}

// NegativePolicy says what a row with a negative amount does.
type NegativePolicy int

const (
	// NetNegative adds the negative amount to the customer's spend on that
	// day, so a same-day return cancels part of the purchase. See the package
	// documentation for days that hold only returns.
	NetNegative NegativePolicy = iota
	// DropNegative ignores rows with a negative amount (they are counted).
	DropNegative
	// ErrorNegative treats a negative amount as a bad row.
	ErrorNegative
)

// String returns the policy's name as ParseNegativePolicy accepts it.
func (p NegativePolicy) String() string {
	switch p {
	case NetNegative:
		return "net"
	case DropNegative:
		return "drop"
	case ErrorNegative:
		return "error"
	}
	return "NegativePolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseNegativePolicy parses "net", "drop" or "error".
func ParseNegativePolicy(s string) (NegativePolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "net", "":
		return NetNegative, nil
	case "drop":
		return DropNegative, nil
	case "error":
		return ErrorNegative, nil
	}
	return 0, fmt.Errorf("clv: negative policy %q: want net, drop or error", s)
}

// Horizon is the length of the holdout window. Days counts "d" and "w"
// horizons; Months counts "m" and "y" horizons, which are added by calendar
// (time.AddDate), so "6m" after 1997-09-30 ends on 1998-03-30.
type Horizon struct {
	Days   int
	Months int
}

// IsZero reports whether the horizon is empty (no holdout).
func (h Horizon) IsZero() bool { return h.Days == 0 && h.Months == 0 }

// End returns the last day of a holdout that starts the day after calEnd.
func (h Horizon) End(calEnd time.Time) time.Time { return calEnd.AddDate(0, h.Months, h.Days) }

// String formats the horizon as ParseHorizon reads it, e.g. "39w".
func (h Horizon) String() string {
	switch {
	case h.IsZero():
		return "0d"
	case h.Months == 0 && h.Days%7 == 0:
		return strconv.Itoa(h.Days/7) + "w"
	case h.Months == 0:
		return strconv.Itoa(h.Days) + "d"
	case h.Days == 0 && h.Months%12 == 0:
		return strconv.Itoa(h.Months/12) + "y"
	case h.Days == 0:
		return strconv.Itoa(h.Months) + "m"
	}
	return strconv.Itoa(h.Months) + "m" + strconv.Itoa(h.Days) + "d"
}

// MarshalText encodes the horizon as String does, so it reads back with
// UnmarshalText (JSON summaries, saved model metadata).
func (h Horizon) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses what MarshalText wrote.
func (h *Horizon) UnmarshalText(b []byte) error {
	v, err := ParseHorizon(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// errHorizon says what ParseHorizon accepts.
var errHorizon = errors.New(`want a positive whole number and a unit: d (days), w (weeks), m (months) or y (years), e.g. "39w", "180d", "6m"`)

// ParseHorizon parses a holdout length such as "39w", "26w", "180d", "6m"
// or "1y". "0", "" and "0d" mean no holdout.
func ParseHorizon(s string) (Horizon, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" || t == "0" {
		return Horizon{}, nil
	}
	// A combined form "1m3d" is what String prints for mixed horizons.
	var h Horizon
	rest := t
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return Horizon{}, fmt.Errorf("clv: horizon %q: %w", s, errHorizon)
		}
		n, _ := strconv.Atoi(rest[:i])
		switch rest[i] {
		case 'd':
			h.Days += n
		case 'w':
			h.Days += 7 * n
		case 'm':
			h.Months += n
		case 'y':
			h.Months += 12 * n
		default:
			return Horizon{}, fmt.Errorf("clv: horizon %q: %w", s, errHorizon)
		}
		rest = rest[i+1:]
	}
	return h, nil
}

// maxHorizonMonths bounds the horizon (100 years), so that every holdout
// end is a date the report can write.
const maxHorizonMonths = 1200

// Defaults of the recent-activity features.
const (
	defaultPeriods    = 8
	defaultPeriodDays = 28
)

// delimiter kinds; a byte value is a single-byte delimiter.
const whitespaceDelim = 0

// parseDelimiter maps the Delimiter option to a byte (whitespaceDelim for
// runs of whitespace) and whether it was given at all.
func parseDelimiter(s string) (byte, bool, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, false, nil
	case ",", "comma":
		return ',', true, nil
	case ";", "semicolon":
		return ';', true, nil
	case "|", "pipe":
		return '|', true, nil
	case "\t", `\t`, "tab":
		return '\t', true, nil
	case " ", "whitespace", "space", "spaces":
		return whitespaceDelim, true, nil
	}
	return 0, false, fmt.Errorf(`delimiter %q: want ",", ";", "|", "tab" or "whitespace" (or empty to detect it)`, s)
}

// delimiterName is how the report names a delimiter.
func delimiterName(d byte) string {
	switch d {
	case whitespaceDelim:
		return "whitespace"
	case '\t':
		return "tab"
	}
	return string(d)
}

// validate checks the options that do not depend on the file and returns
// the normalised header mode ("auto", "yes" or "no").
func (o *Options) validate() (string, error) {
	header := strings.ToLower(strings.TrimSpace(o.Header))
	switch header {
	case "", "auto":
		header = "auto"
	case "yes", "true", "y":
		header = "yes"
	case "no", "false", "n":
		header = "no"
	default:
		return "", fmt.Errorf("header %q: want auto, yes or no", o.Header)
	}
	switch strings.ToLower(o.Format) {
	case "", "csv", "parquet":
	default:
		return "", fmt.Errorf("format %q: want csv, parquet, or empty to decide by content", o.Format)
	}
	if o.Negative < NetNegative || o.Negative > ErrorNegative {
		return "", fmt.Errorf("negative policy %d: want NetNegative, DropNegative or ErrorNegative", int(o.Negative))
	}
	if o.CountOnly() && o.Negative != NetNegative {
		return "", fmt.Errorf("negative policy %s: a count-only log (amount %s) has no amounts, so none is negative; leave the policy at its default",
			o.Negative, AmountNone)
	}
	if o.Horizon.Days < 0 || o.Horizon.Months < 0 {
		return "", fmt.Errorf("horizon %+v: must not be negative", o.Horizon)
	}
	if o.PeriodDays < 0 {
		return "", fmt.Errorf("period days %d: must not be negative", o.PeriodDays)
	}
	if o.Periods > 520 {
		return "", fmt.Errorf("periods %d: at most 520", o.Periods)
	}
	if _, _, err := parseDelimiter(o.Delimiter); err != nil {
		return "", err
	}
	if _, err := parseDecimal(o.Decimal); err != nil {
		return "", err
	}
	if o.DateFormat != "" {
		if err := CheckDateFormat(o.DateFormat); err != nil {
			return "", fmt.Errorf("date format %w", err)
		}
	}
	for _, d := range []struct {
		name string
		t    time.Time
	}{{"calibration end", o.CalibrationEnd}, {"data end", o.DataEnd}} {
		if !d.t.IsZero() && (d.t.Year() < MinYear || d.t.Year() > MaxYear) {
			return "", fmt.Errorf("%s %s: outside the supported years %d-%d", d.name, d.t.Format(time.DateOnly), MinYear, MaxYear)
		}
	}
	if o.Horizon.Months > maxHorizonMonths || o.Horizon.Months*31+o.Horizon.Days > maxHorizonMonths*31 {
		return "", fmt.Errorf("horizon %s: at most 100y", o.Horizon)
	}
	return header, nil
}

// EffectivePeriods returns the number and length in days of the recent
// periods a load with o builds: Periods and PeriodDays with their defaults
// filled in, and 0 periods when they are turned off.
func (o *Options) EffectivePeriods() (n, days int) {
	n, days = o.Periods, o.PeriodDays
	if n == 0 {
		n = defaultPeriods
	}
	if n < 0 {
		n = 0
	}
	if days == 0 {
		days = defaultPeriodDays
	}
	return n, days
}

// workers is how many goroutines parse rows and build features: Threads, or
// GOMAXPROCS when it is zero, at most 8.
func (o *Options) workers() int {
	n := o.Threads
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return min(max(n, 1), 8)
}
