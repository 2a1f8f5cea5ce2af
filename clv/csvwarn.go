package clv

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// Warnings about a CSV file as a whole: things no single row shows. Today
// one: amounts that look like whole numbers with '.' grouping the thousands
// ("1.250" for 1250 EUR), read without --decimal , as 1.25. Each "1.250"
// is a valid decimal on its own; what gives it away is that every amount
// written with a '.' has exactly three digits after it.

// Thresholds of the thousands warning: how many amounts must look like
// "1.250", fewer in a file that looks European (';'-separated, or dates
// like 02.01.2006), where a decimal comma is the norm.
const (
	minThreeDecimals   = 20
	minThreeDecimalsEU = 2
)

// csvCounts is what one parser counts for the warnings between flushes.
type csvCounts struct {
	dotted  int64  // amounts with a '.'
	three   int64  // of those, written like a thousands group: "1.250", "-12.000"
	example []byte // the first of those in the chunk
}

// amount counts an amount field that parsed with '.' as the decimal
// separator.
func (c *csvCounts) amount(af []byte) {
	if bytes.IndexByte(af, '.') < 0 {
		return
	}
	c.dotted++
	if threeGroup(af) {
		c.three++
		if c.example == nil {
			c.example = append(make([]byte, 0, len(af)), af...)
		}
	}
}

// threeGroup reports whether b is written like a whole number with one
// '.' grouping its thousands: 1 to 3 digits, not starting with 0, a '.',
// and exactly 3 digits.
func threeGroup(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	i := bytes.IndexByte(b, '.')
	if i < 1 || i > 3 || b[0] == '0' || len(b)-i-1 != 3 {
		return false
	}
	for k, c := range b {
		if k != i && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// csvStats gathers the parsers' counts.
type csvStats struct {
	mu         sync.Mutex
	dotted     int64
	three      int64
	example    string
	exampleSeq int // chunk of the example: the earliest wins, as in the file
}

// flushCounts adds the parser's counts of the chunk it parsed to the file's.
func (p *csvParser) flushCounts(seq int) {
	w := &p.warn
	if w.dotted == 0 {
		return
	}
	st := p.cfg.stats
	st.mu.Lock()
	st.dotted += w.dotted
	st.three += w.three
	if w.example != nil && (st.example == "" || seq < st.exampleSeq) {
		st.example, st.exampleSeq = string(w.example), seq
	}
	st.mu.Unlock()
	*w = csvCounts{}
}

// Warnings are the findings about the file as a whole, once it has been
// read: each one sentence, for the ingest summary.
func (c *csvSource) Warnings() []string {
	st := c.cfg.stats
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var ws []string
	least := minThreeDecimals
	if c.cfg.delim == ';' || europeanLayout(c.cfg.layout) {
		least = minThreeDecimalsEU
	}
	if st.three >= int64(least) && st.three == st.dotted {
		whole := strings.ReplaceAll(st.example, ".", "")
		ws = append(ws, fmt.Sprintf("every amount written with a \".\" has exactly three digits after it (%d amounts, such as %q, read as %s): "+
			"if \".\" groups the thousands in this file (%q = %s), read it with --decimal ,",
			st.three, st.example, strings.TrimRight(strings.TrimRight(st.example, "0"), "."), st.example, strings.TrimLeft(whole, "+")))
	}
	return ws
}

// europeanLayout reports whether a date layout writes day.month.year.
func europeanLayout(layout string) bool {
	return strings.Contains(layout, "02.01.") || strings.Contains(layout, "2.1.")
}
