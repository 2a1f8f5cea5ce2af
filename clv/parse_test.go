package clv

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParseFloat ensures the allocation-free parser agrees bit for bit with
// strconv on decimals and rejects what is not a plain finite decimal.
func TestParseFloat(t *testing.T) {
	good := []string{"0", "-0", "12", "12.5", "-3.75", "+4", ".5", "5.", "0.1", "1e3", "1E-2", "2.5e+2",
		"123456789012.34", "0.000000000000000000000000001", "123456789012.3456789012345", "900719925474.0993", "0.1234567890123456789012",
		"0.30000000000000004", "1e-300"}
	for _, s := range good {
		want, _ := strconv.ParseFloat(s, 64)
		got, ok := parseFloat([]byte(s))
		if !ok || got != want {
			t.Errorf("parseFloat(%q) = %v %v, want %v", s, got, ok, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		v := (rng.Float64() - 0.3) * math.Pow(10, float64(rng.IntN(14)-4))
		for _, s := range []string{strconv.FormatFloat(v, 'f', rng.IntN(6), 64), strconv.FormatFloat(v, 'g', -1, 64)} {
			want, _ := strconv.ParseFloat(s, 64)
			if got, ok := parseFloat([]byte(s)); !ok || got != want {
				t.Fatalf("parseFloat(%q) = %v %v, want %v", s, got, ok, want)
			}
		}
	}
	bad := []string{"", "-", ".", "e5", "1e", "1e+", "12,5", "1,234.00", "NaN", "Inf", "-inf", "0x10", "1_000", "12a",
		" 12", "1.2.3", "--1", "1e13", "-2e12", "1e999"}
	for _, s := range bad {
		if v, ok := parseFloat([]byte(s)); ok {
			t.Errorf("parseFloat(%q) = %v, want rejection", s, v)
		}
	}
}

// TestParseNumber ensures both decimal separators read plain numbers and
// well-formed thousands groups like strconv reads the plain form, and that
// ambiguous or malformed groupings are refused.
func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		dec  byte
		want float64 // NaN: refused
	}{
		{"14.92", '.', 14.92},
		{"2,754.00", '.', 2754},
		{"-1,234,567.5", '.', -1234567.5},
		{"1,234", '.', 1234}, // a well-formed group: thousands, not 1.234
		{"999,999", '.', 999999},
		{"14,92", '.', math.NaN()},
		{"0,125", '.', math.NaN()}, // a group may not start with 0: a decimal comma
		{"1,2345", '.', math.NaN()},
		{"12,34,567", '.', math.NaN()},
		{"1,,234", '.', math.NaN()},
		{",123", '.', math.NaN()},
		{"1,234e3", '.', math.NaN()}, // no exponent with groups
		{"1,234.5.6", '.', math.NaN()},
		{"14,92", ',', 14.92},
		{"-0,5", ',', -0.5},
		{",5", ',', 0.5},
		{"2.754,00", ',', 2754},
		{"1.234.567,891", ',', 1234567.891},
		{"1.234", ',', 1234},
		{"1234", ',', 1234},
		{"1,5e3", ',', 1500},
		{"14.92", ',', math.NaN()},
		{"0.5", ',', math.NaN()},
		{"2,754.00", ',', math.NaN()},
		{"1.234,5,6", ',', math.NaN()},
		{"1e13", ',', math.NaN()},
		{"", ',', math.NaN()},
		{strings.Repeat("1", 70), ',', math.NaN()},
	}
	for _, tc := range tests {
		got, ok := parseNumber([]byte(tc.in), tc.dec)
		switch {
		case math.IsNaN(tc.want) && ok:
			t.Errorf("parseNumber(%q, %q) = %v, want refusal", tc.in, tc.dec, got)
		case !math.IsNaN(tc.want) && (!ok || got != tc.want):
			t.Errorf("parseNumber(%q, %q) = %v %v, want %v", tc.in, tc.dec, got, ok, tc.want)
		}
	}
}

// TestCheckDateFormat ensures Go layouts pass and patterns of other tools
// are refused with the layout they meant, where it can be told.
func TestCheckDateFormat(t *testing.T) {
	for _, good := range []string{"01/02/2006", "02.01.2006", "2006-01-02", "20060102", "Jan 2, 2006", "02-Jan-06",
		"2006-01-02 15:04", time.RFC3339, "1/2/2006"} {
		if err := CheckDateFormat(good); err != nil {
			t.Errorf("CheckDateFormat(%q): %v", good, err)
		}
	}
	for bad, meant := range map[string]string{
		"dd/mm/yyyy": "02/01/2006", "YYYY-MM-DD": "2006-01-02", "%d.%m.%Y": "02.01.2006", "yyyyMMdd": "20060102",
		"mm/dd/yyyy HH:mm": "01/02/2006 15:04", "d/m/yy": "2/1/06", "dd-MMM-yyyy": "02-Jan-2006",
	} {
		want := `"` + bad + `" is not a Go time layout: write the date 2006-01-02 (January 2, 2006) the way the file writes its dates, here ` + meant
		if err := CheckDateFormat(bad); err == nil || err.Error() != want {
			t.Errorf("CheckDateFormat(%q) = %v\nwant %s", bad, err, want)
		}
	}
	for _, bad := range []string{"foo", "2006-01", "01/02", "%Q"} {
		want := `"` + bad + `" is not a Go time layout with a year, month and day: write the date 2006-01-02 (January 2, 2006) the way the file writes its dates, e.g. 02/01/2006 for day/month/year`
		if err := CheckDateFormat(bad); err == nil || err.Error() != want {
			t.Errorf("CheckDateFormat(%q) = %v\nwant %s", bad, err, want)
		}
	}
}

// TestSupportedDays ensures the day bounds are those of MinYear and
// MaxYear, and that the parsers refuse dates just outside them.
func TestSupportedDays(t *testing.T) {
	if lo, hi := daysFromCivil(MinYear, 1, 1), daysFromCivil(MaxYear, 12, 31); lo != minDay || hi != maxDay {
		t.Fatalf("minDay, maxDay = %d, %d; want %d, %d", minDay, maxDay, lo, hi)
	}
	for field, want := range map[string]dateStatus{"1900-01-01": dateOK, "2200-12-31": dateOK, "1899-12-31": dateOutOfRange,
		"22010101": dateOutOfRange, "0001-01-01": dateOutOfRange, "9999-12-31T23:59:59Z": dateOutOfRange, "1899-13-01": dateInvalid} {
		p := dateParser{}
		if _, st := p.parse([]byte(field)); st != want {
			t.Errorf("parse(%q) = %d, want %d", field, st, want)
		}
	}
	for day, want := range map[int64]string{-25568: "1899-12-31", math.MinInt32: "1970-01-01 - 2147483648 days (year -5877641)",
		106751991: "1970-01-01 + 106751991 days (year 294247)", 2932896: "9999-12-31"} {
		if got := describeDay(day); got != want {
			t.Errorf("describeDay(%d) = %q, want %q", day, got, want)
		}
	}
}

// TestParseHorizon ensures the horizon units parse, print back, and that a
// bad one says what is expected.
func TestParseHorizon(t *testing.T) {
	tests := []struct {
		in   string
		want Horizon
		str  string
	}{
		{"39w", Horizon{Days: 273}, "39w"},
		{"26W", Horizon{Days: 182}, "26w"},
		{"180d", Horizon{Days: 180}, "180d"},
		{"6m", Horizon{Months: 6}, "6m"},
		{"1y", Horizon{Months: 12}, "1y"},
		{"1m3d", Horizon{Months: 1, Days: 3}, "1m3d"},
		{"", Horizon{}, "0d"},
		{"0", Horizon{}, "0d"},
	}
	for _, tc := range tests {
		h, err := ParseHorizon(tc.in)
		if err != nil || h != tc.want || h.String() != tc.str {
			t.Errorf("ParseHorizon(%q) = %+v (%s), %v; want %+v (%s)", tc.in, h, h, err, tc.want, tc.str)
		}
		var back Horizon
		if err := back.UnmarshalText([]byte(h.String())); err != nil || back != h {
			t.Errorf("%s does not read back: %+v %v", h, back, err)
		}
	}
	for _, bad := range []string{"39", "w", "39x", "-3w", "3.5w", "1234567d", "39 w"} {
		_, err := ParseHorizon(bad)
		want := `clv: horizon "` + bad + `": want a positive whole number and a unit: d (days), w (weeks), m (months) or y (years), e.g. "39w", "180d", "6m"`
		if err == nil || err.Error() != want {
			t.Errorf("ParseHorizon(%q) error %v", bad, err)
		}
	}
}

// TestParseNoAllocs ensures the per-row parsers do not allocate.
func TestParseNoAllocs(t *testing.T) {
	p := dateParser{}
	sp := splitter{delim: ',', need: 3}
	line := []byte("C12345, 2020-03-15 ,123.45")
	allocs := testing.AllocsPerRun(100, func() {
		sp.split(line)
		p.parse(sp.fields[1])
		parseFloat(sp.fields[2])
		parseBuiltinDate([]byte("19970101"))
		parseNumber([]byte("1,234.50"), '.')
		parseNumber([]byte("1.234,50"), ',')
	})
	if allocs != 0 {
		t.Errorf("%v allocations per row, want 0", allocs)
	}
}
