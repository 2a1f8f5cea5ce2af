package clv

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxAbsValue bounds every amount, quantity and extra value. Anything
// larger is a parse accident (a phone number in the amount column), and the
// bound keeps every sum and its float32 feature finite.
const maxAbsValue = 1e12

// pow10 holds the powers of ten that float64 represents exactly; with a
// mantissa below 2^53 one multiplication or division by them is correctly
// rounded (the classic fast path of strconv).
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a decimal number ("12", "-3.50", ".5", "1e3") without
// allocating. It rejects everything else, including NaN, Inf, hex floats,
// thousands separators and values beyond maxAbsValue; ok is false then.
func parseFloat(b []byte) (v float64, ok bool) {
	i := 0
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	exp, sig := 0, 0
	digits, exact := false, true
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		digits = true
		if sig < 19 {
			mant = mant*10 + uint64(b[i]-'0')
			if mant != 0 {
				sig++
			}
		} else {
			exp++
			exact = exact && b[i] == '0'
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			digits = true
			if sig < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				if mant != 0 {
					sig++
				}
				exp--
			} else {
				exact = exact && b[i] == '0'
			}
		}
	}
	if !digits {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		e, n := 0, 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
			n++
		}
		if n == 0 {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(b) {
		return 0, false
	}
	switch {
	case mant == 0:
		v = 0
	case exact && mant < 1<<53 && exp >= -22 && exp <= 22:
		v = float64(mant)
		if exp < 0 {
			v /= pow10[-exp]
		} else {
			v *= pow10[exp]
		}
	default:
		// Rare: more than 19 significant digits or a large exponent. The
		// grammar above already matched, so strconv sees a plain decimal.
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return 0, false
		}
		return f, math.Abs(f) <= maxAbsValue
	}
	if neg {
		v = -v
	}
	return v, v <= maxAbsValue && v >= -maxAbsValue
}

// MinYear and MaxYear bound the dates a log may hold, inclusive. A date
// outside them is a bad row (ReasonBadDate): it is almost always a
// placeholder for a missing date (0001-01-01, 9999-12-31, a Parquet DATE of
// INT32_MIN) or a parse accident, and one such row would stretch every
// customer's window over centuries. The bound also keeps every difference
// of day numbers, and every date the report prints, well within range.
const (
	MinYear = 1900
	MaxYear = 2200
)

// minDay and maxDay are the day numbers of 1900-01-01 and 2200-12-31
// (TestSupportedDays checks them against daysFromCivil).
const (
	minDay = -25567
	maxDay = 84370
)

// inRange reports whether a day number lies in the supported years. It
// takes an int64 so that a day computed from a timestamp is checked before
// it is narrowed to int32.
func inRange(day int64) bool { return day >= minDay && day <= maxDay }

// outOfRange is the message of a date outside the supported years; what
// names the value as the file wrote it.
func outOfRange(what string) string {
	return fmt.Sprintf("%s is outside the supported years %d-%d (a placeholder for a missing date?)", what, MinYear, MaxYear)
}

// describeDay writes a day number for a message: the date when it has
// four digits, else its offset from 1970-01-01 and its year.
func describeDay(day int64) string {
	if day >= -719162 && day <= 2932896 { // 0001-01-01 .. 9999-12-31
		return time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
	}
	y := time.Unix(day*86400, 0).UTC().Year()
	if day < 0 {
		return fmt.Sprintf("1970-01-01 - %d days (year %d)", -day, y)
	}
	return fmt.Sprintf("1970-01-01 + %d days (year %d)", day, y)
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm), without time.Time and its allocations.
func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// dayOf returns the day number of t's calendar date in t's own location.
func dayOf(t time.Time) int32 {
	y, m, d := t.Date()
	return daysFromCivil(y, int(m), d)
}

// dayTime returns midnight UTC of a day number.
func dayTime(day int32) time.Time { return time.Unix(int64(day)*86400, 0).UTC() }

// daysIn returns the length of month m of year y.
func daysIn(y, m int) int {
	switch m {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

// digits parses b as an unsigned decimal of exactly len(b) digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// civil validates a date and returns its day number.
func civil(y, m, d int) (int32, bool) {
	if y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// dateStatus is what parsing a date field found.
type dateStatus uint8

const (
	dateOK         dateStatus = iota
	dateInvalid               // not a date in the format
	dateOutOfRange            // a date, outside MinYear..MaxYear
)

// dateParser turns date fields into day numbers. It remembers the last field
// it parsed, because logs repeat the same date on many consecutive rows.
type dateParser struct {
	layout string // user's Go layout; empty = the built-in formats
	last   [40]byte
	lastN  int
	day    int32
}

// parse returns the day number of the calendar date written in b; the time
// of day and any zone offset are ignored (the shop's own calendar date is
// what BTYD counts). A date outside the supported years is dateOutOfRange.
func (p *dateParser) parse(b []byte) (int32, dateStatus) {
	if p.lastN > 0 && len(b) == p.lastN && string(b) == string(p.last[:p.lastN]) {
		return p.day, dateOK
	}
	var day int32
	var ok bool
	if p.layout != "" {
		var t time.Time
		t, ok = parseLayout(p.layout, b)
		if ok {
			day = dayOf(t)
		}
	} else {
		day, ok = parseBuiltinDate(b)
	}
	switch {
	case !ok:
		return 0, dateInvalid
	case !inRange(int64(day)):
		return 0, dateOutOfRange
	}
	if len(b) <= len(p.last) {
		p.lastN = copy(p.last[:], b)
		p.day = day
	}
	return day, dateOK
}

func parseLayout(layout string, b []byte) (time.Time, bool) {
	t, err := time.Parse(layout, string(b))
	return t, err == nil && t.Year() >= 1
}

// parseBuiltinDate accepts 20060102, 2006-01-02, 2006-01-02 15:04:05 (also
// with a T) and RFC 3339.
func parseBuiltinDate(b []byte) (int32, bool) {
	switch {
	case len(b) == 8:
		y, ok1 := digits(b[:4])
		m, ok2 := digits(b[4:6])
		d, ok3 := digits(b[6:8])
		if !ok1 || !ok2 || !ok3 {
			return 0, false
		}
		return civil(y, m, d)
	case len(b) >= 10 && b[4] == '-' && b[7] == '-':
		y, ok1 := digits(b[:4])
		m, ok2 := digits(b[5:7])
		d, ok3 := digits(b[8:10])
		if !ok1 || !ok2 || !ok3 {
			return 0, false
		}
		day, ok := civil(y, m, d)
		if !ok || len(b) == 10 {
			return day, ok
		}
		if len(b) == 19 && (b[10] == ' ' || b[10] == 'T') && validClock(b[11:19]) {
			return day, true
		}
		if b[10] == 'T' || b[10] == 't' {
			if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
				return dayOf(t), true
			}
		}
	}
	return 0, false
}

// validClock checks "15:04:05".
func validClock(b []byte) bool {
	if b[2] != ':' || b[5] != ':' {
		return false
	}
	h, ok1 := digits(b[0:2])
	m, ok2 := digits(b[3:5])
	s, ok3 := digits(b[6:8])
	return ok1 && ok2 && ok3 && h < 24 && m < 60 && s < 61
}
