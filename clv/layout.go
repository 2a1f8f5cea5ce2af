package clv

import (
	"fmt"
	"strings"
	"time"
)

// CheckDateFormat reports whether layout is a Go time layout that writes
// and reads back a calendar date: year, month and day. Go layouts are the
// reference date, Monday, January 2, 2006, written the way the file writes
// its dates ("02/01/2006" for day/month/year); patterns such as
// "dd/mm/yyyy" or "%d/%m/%Y" are not layouts, and time.Parse would read
// them as literal text, so that every row failed. The error says so and,
// where it can, gives the layout the pattern meant.
func CheckDateFormat(layout string) error {
	if layoutWorks(layout) {
		return nil
	}
	const how = "write the date 2006-01-02 (January 2, 2006) the way the file writes its dates"
	if s := translateLayout(layout); s != "" && layoutWorks(s) {
		return fmt.Errorf("%q is not a Go time layout: %s, here %s", layout, how, s)
	}
	return fmt.Errorf("%q is not a Go time layout with a year, month and day: %s, e.g. 02/01/2006 for day/month/year", layout, how)
}

// layoutWorks reports whether layout round-trips the year, month and day
// of two reference dates (two, so that a constant cannot pass).
func layoutWorks(layout string) bool {
	for _, ref := range []time.Time{time.Date(2024, 3, 17, 0, 0, 0, 0, time.UTC), time.Date(1999, 11, 8, 0, 0, 0, 0, time.UTC)} {
		t, err := time.Parse(layout, ref.Format(layout))
		if err != nil || t.Year() != ref.Year() || t.Month() != ref.Month() || t.Day() != ref.Day() {
			return false
		}
	}
	return true
}

// translateLayout turns a date pattern as other tools write it ("dd/mm/yyyy",
// "YYYY-MM-DD HH:mm", "%d.%m.%Y") into a Go layout, or returns "" when it
// does not know a part. Letters other than y, m, d, h and s are kept.
func translateLayout(p string) string {
	strf := map[byte]string{'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'M': "04", 'S': "05",
		'b': "Jan", 'B': "January", 'F': "2006-01-02", 'T': "15:04:05"}
	var b strings.Builder
	afterHour := false // "mm" after an hour is minutes
	for i := 0; i < len(p); {
		c := p[i]
		if c == '%' && i+1 < len(p) {
			s, ok := strf[p[i+1]]
			if !ok {
				return ""
			}
			b.WriteString(s)
			i += 2
			continue
		}
		lc := c | 0x20 // ASCII lower case
		if lc != 'y' && lc != 'm' && lc != 'd' && lc != 'h' && lc != 's' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i
		for j < len(p) && p[j]|0x20 == lc {
			j++
		}
		var s string
		switch n := j - i; {
		case lc == 'y' && n == 4:
			s = "2006"
		case lc == 'y' && n == 2:
			s = "06"
		case lc == 'm' && afterHour && n == 2:
			s = "04"
		case lc == 'm' && n <= 2:
			s = [...]string{"", "1", "01"}[n]
		case lc == 'm' && n == 3:
			s = "Jan"
		case lc == 'm' && n == 4:
			s = "January"
		case lc == 'd' && n <= 2:
			s = [...]string{"", "2", "02"}[n]
		case lc == 'h' && n <= 2:
			s, afterHour = "15", true
		case lc == 's' && n <= 2:
			s = "05"
		default:
			return ""
		}
		b.WriteString(s)
		i = j
	}
	return b.String()
}
