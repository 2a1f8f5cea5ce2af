package clv

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
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
	})
	if allocs != 0 {
		t.Errorf("%v allocations per row, want 0", allocs)
	}
}
