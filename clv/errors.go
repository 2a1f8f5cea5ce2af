package clv

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Reason classifies a bad row; IngestReport.BadRows counts rows by Reason.
type Reason string

// The reasons a row can be bad.
const (
	ReasonNotANumber Reason = "not_a_number"    // amount, quantity or extra value is not a finite decimal
	ReasonBadDate    Reason = "bad_date"        // date field does not parse, or is outside MinYear..MaxYear
	ReasonShortRow   Reason = "short_row"       // fewer fields than a mapped column needs
	ReasonLongRow    Reason = "long_row"        // more fields than the header (the first row without one): an unquoted delimiter in a value
	ReasonEmptyID    Reason = "empty_id"        // customer id is empty
	ReasonBinary     Reason = "binary"          // NUL byte in the line or invalid UTF-8 in a customer id
	ReasonLongLine   Reason = "long_line"       // line longer than MaxLineBytes
	ReasonQuote      Reason = "bad_quote"       // unterminated or misplaced double quote
	ReasonNegative   Reason = "negative_amount" // negative amount under ErrorNegative
	ReasonNull       Reason = "null"            // Parquet null in a required column
	ReasonHeader     Reason = "repeated_header" // the header line again, mid-file (exports joined together)
	// ReasonHeaderChanged is a header line mid-file with other columns
	// than the file's header: exports with different layouts joined
	// together. The rows after it cannot be read with the first header's
	// positions, so it stops the load even when bad rows are skipped.
	ReasonHeaderChanged Reason = "header_changed"
	// ReasonMixedCurrency is an amount in another currency than the
	// amounts before it ("€9.99" after "$12.50"): they cannot be summed,
	// and every row in either currency would be misread, so it stops the
	// load even when bad rows are skipped.
	ReasonMixedCurrency Reason = "mixed_currency"
)

// headerChangedError stops a load that skips bad rows at a header line
// with other columns (ReasonHeaderChanged); without skipping, the row's
// RowError does. Load prefixes the file name.
type headerChangedError struct {
	line int64
	msg  string
}

func (e *headerChangedError) Error() string {
	return "line " + strconv.FormatInt(e.line, 10) + ": " + e.msg + " (--skip-bad-rows cannot skip this line: the rows after it would be read with the wrong columns)"
}

// mixedCurrencyError stops a load that skips bad rows at the first amount
// in a second currency (ReasonMixedCurrency); without skipping, the row's
// RowError does. Load prefixes the file name.
type mixedCurrencyError struct {
	row RowError
}

func (e *mixedCurrencyError) Error() string {
	at := "line "
	if e.row.Parquet {
		at = "row "
	}
	return at + strconv.FormatInt(e.row.Line, 10) + ": column " + e.row.Column + ": " + e.row.Msg +
		" (--skip-bad-rows cannot skip this row: the rows in either currency would be misread, not this one)"
}

// MaxLineBytes is the longest line a CSV file may have; longer lines are bad
// rows (ReasonLongLine) rather than an unbounded allocation.
const MaxLineBytes = 1 << 20

// RowError is a bad row: where it is and what is wrong. Load returns it
// (wrapped) at the first bad row unless Options.SkipBadRows is set.
type RowError struct {
	File    string // file name as given to Load
	Line    int64  // 1-based line (CSV) or row (Parquet) number
	Parquet bool   // Line counts Parquet rows, not text lines
	Column  string // header name, or "N (role)" without a header; empty for whole-row problems
	Reason  Reason
	Msg     string // what is wrong, e.g. `"12,x" is not a number`
}

// Error formats the row as FILE:LINE: column "NAME": MSG (Parquet files say
// "FILE: row N:" instead, since they have no lines).
func (e *RowError) Error() string {
	loc := e.File + ":" + strconv.FormatInt(e.Line, 10)
	if e.Parquet {
		loc = e.File + ": row " + strconv.FormatInt(e.Line, 10)
	}
	if e.Column == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": column " + e.Column + ": " + e.Msg
}

// BadRow is one skipped row as reported in IngestReport.BadExamples.
type BadRow struct {
	Line   int64  `json:"line"`
	Reason Reason `json:"reason"`
	Error  string `json:"error"`
}

// maxBadExamples is how many skipped rows the report quotes.
const maxBadExamples = 5

// badRow is a bad row as a parser records it, before its absolute line is
// known.
type badRow struct {
	at     int   // number of good records of the batch before it
	line   int64 // line within the batch (CSV) or absolute row (Parquet)
	reason Reason
	col    string // column as errors name it (colMap.display), or empty
	msg    string
}

// quoteField quotes a field for an error message, cut to a readable length.
func quoteField(b []byte) string {
	const max = 60
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// headerList lists header names for a message: plain names as they are,
// others (control bytes, invalid UTF-8, very long) quoted and cut, and at
// most 30 of them, so that a binary file read as CSV cannot fill the
// terminal with raw bytes.
func headerList(header []string) string {
	const most = 30
	var b strings.Builder
	for i, h := range header {
		if i == most {
			fmt.Fprintf(&b, ", ... (%d more)", len(header)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if plainName(h) {
			b.WriteString(h)
		} else {
			b.WriteString(quoteField([]byte(h)))
		}
	}
	return b.String()
}

// plainName reports whether a header name can go into a message unquoted.
func plainName(h string) bool {
	if len(h) > 60 || !utf8.ValidString(h) {
		return false
	}
	for _, r := range h {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// notDate says why b is not a date; note says where layout came from when
// the user did not type it (layoutNote).
func notDate(b []byte, layout, note string) string {
	if len(b) == 0 {
		return "empty date"
	}
	msg := quoteField(b) + " is not a date (want 20060102, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or set a date format)"
	if layout != "" {
		msg = fmt.Sprintf("%s is not a date in layout %q%s", quoteField(b), layout, note)
	}
	if hint := dateHint(string(b), layout); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// dateLayouts are the layouts dateHint tries on a date that failed: those
// SQL clients, BigQuery, spreadsheets and European exports write.
var dateLayouts = []string{
	"2006-01-02 15:04:05", // also with fractional seconds, which time.Parse accepts after the seconds
	"2006-01-02 15:04",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05-07",
	"2006-01-02 15:04:05-07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 MST",
	"2006/01/02",
	"2006/01/02 15:04:05",
	"02.01.2006",
	"02.01.2006 15:04",
	"02.01.2006 15:04:05",
	"2.1.2006",
	"2.1.2006 15:04",
	"2.1.2006 15:04:05",
	"02-Jan-2006",
	"2 Jan 2006",
	"Jan 2, 2006",
	"January 2, 2006",
}

// dateHint suggests what to do about a date s that failed under layout
// ("" for the built-in formats): a layout that reads it, or what kind of
// number it is. It returns "" when it has nothing to say.
func dateHint(s, layout string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if allDigits(s) {
		switch {
		case len(s) == 10:
			return "Unix time in seconds? those are not dates: convert them to dates (e.g. 2006-01-02) first"
		case len(s) == 13:
			return "Unix time in milliseconds? those are not dates: convert them to dates (e.g. 2006-01-02) first"
		case len(s) == 5:
			return "an Excel serial day number? format the column as a date (e.g. yyyy-mm-dd) before exporting"
		}
	}
	if layout != "" && (strings.Contains(layout, "01") || strings.Contains(layout, "02")) {
		// One-digit months and days need 1 and 2: "01" wants two digits.
		l := strings.Replace(strings.Replace(layout, "01", "1", 1), "02", "2", 1)
		if l != layout && parses(l, s) {
			return fmt.Sprintf(`one-digit months or days need 1 and 2 in the layout ("01" and "02" want two digits): --date-format %q`, l)
		}
	}
	if l := slashLayout(s); l != "" {
		return l
	}
	for _, l := range dateLayouts {
		if l != layout && parses(l, s) {
			return fmt.Sprintf("it looks like --date-format %q", l)
		}
	}
	return ""
}

// slashLayout suggests a layout for a date written with slashes, d/m/y or
// m/d/y (spreadsheets), with the time if it has one; it says which order
// when the numbers cannot tell.
func slashLayout(s string) string {
	date, _, _ := strings.Cut(s, " ")
	parts := strings.Split(date, "/")
	if len(parts) != 3 || len(parts[2]) != 4 || !allDigits(parts[0]+parts[1]+parts[2]) || len(parts[0]) > 2 || len(parts[1]) > 2 {
		return ""
	}
	a, _ := strconv.Atoi(parts[0])
	b, _ := strconv.Atoi(parts[1])
	layout, other := "1/2/2006", "2/1/2006"
	if a > 12 {
		layout, other = other, ""
	} else if b > 12 {
		other = ""
	}
	for _, t := range []string{"", " 15:04", " 15:04:05", " 3:04 PM", " 3:04:05 PM"} {
		if parses(layout+t, s) {
			if other != "" {
				return fmt.Sprintf("it looks like --date-format %q (month first), or %q if the day comes first", layout+t, other+t)
			}
			return fmt.Sprintf("it looks like --date-format %q", layout+t)
		}
	}
	return ""
}

func parses(layout, s string) bool {
	_, err := time.Parse(layout, s)
	return err == nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// looksDecimal reports whether b is written like a decimal number, so that
// a parse failure means "out of range" rather than "not a number".
func looksDecimal(b []byte) bool {
	digits := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E':
		default:
			return false
		}
	}
	if !digits {
		return false
	}
	_, err := strconv.ParseFloat(string(b), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// looksTotal reports whether a customer id is the label of a spreadsheet's
// total or subtotal line ("Grand Total", "Total:", "Sum"), which exports put
// below the data with an empty date. Only a row that fails anyway asks.
func looksTotal(id []byte) bool {
	s := strings.ToLower(strings.TrimSpace(string(id)))
	for _, w := range []string{"total", "totals", "grand total", "subtotal", "sub-total", "sum"} {
		if s == w || strings.HasPrefix(s, w+" ") || strings.HasPrefix(s, w+":") {
			return true
		}
	}
	return false
}

// layoutNote is what a date error adds when the date layout was not chosen
// for this file but taken from a model's training options (predict, eval):
// the user never typed it, so the error says where it came from and how to
// leave it.
func layoutNote(o *Options) string {
	if o.DateFormat == "" || !slices.Contains(o.ColumnsFromModel, "date-format") {
		return ""
	}
	return ` (the model's training layout: --date-format sets another, --date-format "" the built-in formats)`
}
