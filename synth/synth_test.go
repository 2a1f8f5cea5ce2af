package synth

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// small is a quick CDNOW-like config for process p.
func small(p Process, customers int, seed uint64) Config {
	cfg := DefaultConfig(p)
	cfg.Customers = customers
	cfg.Seed = seed
	return cfg
}

func collect(t *testing.T, cfg Config) []Transaction {
	t.Helper()
	var out []Transaction
	if err := Generate(context.Background(), cfg, func(tx Transaction) error {
		out = append(out, tx)
		return nil
	}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return out
}

// TestGenerateDeterministic ensures a seed fixes the output, another seed
// changes it, and customer k's history does not depend on the customer count.
func TestGenerateDeterministic(t *testing.T) {
	for _, p := range []Process{BGNBD, ParetoNBD} {
		t.Run(p.String(), func(t *testing.T) {
			a := collect(t, small(p, 500, 7))
			b := collect(t, small(p, 500, 7))
			if len(a) != len(b) {
				t.Fatalf("same seed: %d vs %d transactions", len(a), len(b))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("same seed: transaction %d differs: %+v vs %+v", i, a[i], b[i])
				}
			}
			c := collect(t, small(p, 500, 8))
			same := len(a) == len(c)
			for i := 0; same && i < len(a); i++ {
				same = a[i] == c[i]
			}
			if same {
				t.Fatal("seeds 7 and 8 gave identical output")
			}
			half := collect(t, small(p, 250, 7))
			for i := range half {
				if half[i] != a[i] {
					t.Fatalf("250 customers: transaction %d is %+v, with 500 it was %+v", i, half[i], a[i])
				}
			}
			if a[len(half)].Customer != "c0000251" {
				t.Fatalf("after the first 250 customers comes %q, want c0000251", a[len(half)].Customer)
			}
		})
	}
}

// TestGenerateShape ensures every customer appears once, in id order, born in
// the cohort window, with ordered times before End and positive amounts.
func TestGenerateShape(t *testing.T) {
	for _, p := range []Process{BGNBD, ParetoNBD} {
		t.Run(p.String(), func(t *testing.T) {
			cfg := small(p, 2000, 3)
			cfg.Start = time.Date(2024, 3, 10, 15, 30, 0, 0, time.FixedZone("x", 5*3600))
			cfg.End = time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 200)
			start := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
			cohortEnd := start.AddDate(0, 0, cfg.CohortDays)
			seen := map[string]bool{}
			var prev Transaction
			for i, tx := range collect(t, cfg) {
				switch {
				case i == 0 || tx.Customer != prev.Customer:
					if seen[tx.Customer] {
						t.Fatalf("customer %s appears in two runs", tx.Customer)
					}
					if i > 0 && tx.Customer < prev.Customer {
						t.Fatalf("customer %s after %s", tx.Customer, prev.Customer)
					}
					seen[tx.Customer] = true
					if tx.Time.Before(start) || !tx.Time.Before(cohortEnd) {
						t.Fatalf("%s born %v, outside [%v, %v)", tx.Customer, tx.Time, start, cohortEnd)
					}
				case tx.Time.Before(prev.Time):
					t.Fatalf("%s: %v after %v", tx.Customer, tx.Time, prev.Time)
				}
				if !tx.Time.Before(cfg.End) {
					t.Fatalf("%s: %v not before end %v", tx.Customer, tx.Time, cfg.End)
				}
				if !(tx.Amount > 0) || math.IsInf(tx.Amount, 0) {
					t.Fatalf("%s: amount %v", tx.Customer, tx.Amount)
				}
				prev = tx
			}
			if len(seen) != cfg.Customers {
				t.Fatalf("%d customers seen, want %d", len(seen), cfg.Customers)
			}
		})
	}
}

// TestGenerateStops ensures an emit error and a cancelled context end the run
// with that error visible to errors.Is.
func TestGenerateStops(t *testing.T) {
	stop := errors.New("full")
	n := 0
	err := Generate(context.Background(), small(BGNBD, 1000, 1), func(Transaction) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("emit error: got %v after %d calls, want %v after 10", err, n, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Generate(ctx, small(BGNBD, 100000, 1), func(Transaction) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v", err)
	}
}

// TestValidate ensures each bad parameter is reported by its CLI name, and
// that parameters of the other process are not required.
func TestValidate(t *testing.T) {
	base := func(p Process) Config { return DefaultConfig(p) }
	tests := []struct {
		name  string
		cfg   func() Config
		field string // "" = valid; "-" = an error that is not a ParamError
	}{
		{"bgnbd default", func() Config { return base(BGNBD) }, ""},
		{"pareto default", func() Config { return base(ParetoNBD) }, ""},
		{"bgnbd ignores s", func() Config { c := base(BGNBD); c.Params.S = -1; return c }, ""},
		{"pareto ignores a", func() Config { c := base(ParetoNBD); c.Params.A = 0; return c }, ""},
		{"r zero", func() Config { c := base(BGNBD); c.Params.R = 0; return c }, "r"},
		{"alpha negative", func() Config { c := base(BGNBD); c.Params.Alpha = -1; return c }, "alpha"},
		{"a NaN", func() Config { c := base(BGNBD); c.Params.A = math.NaN(); return c }, "a"},
		{"b inf", func() Config { c := base(BGNBD); c.Params.B = math.Inf(1); return c }, "b"},
		{"s zero", func() Config { c := base(ParetoNBD); c.Params.S = 0; return c }, "s"},
		{"beta negative", func() Config { c := base(ParetoNBD); c.Params.Beta = -2; return c }, "beta"},
		{"p zero", func() Config { c := base(BGNBD); c.Params.P = 0; return c }, "p"},
		{"q negative", func() Config { c := base(ParetoNBD); c.Params.Q = -3; return c }, "q"},
		{"q half", func() Config { c := base(BGNBD); c.Params.Q = 0.5; return c }, "q"},
		{"q one", func() Config { c := base(BGNBD); c.Params.Q = 1; return c }, "q"},
		{"q NaN", func() Config { c := base(ParetoNBD); c.Params.Q = math.NaN(); return c }, "q"},
		{"q inf", func() Config { c := base(BGNBD); c.Params.Q = math.Inf(1); return c }, "q"},
		{"q just above 1", func() Config { c := base(BGNBD); c.Params.Q = 1.0001; return c }, ""},
		{"p NaN", func() Config { c := base(BGNBD); c.Params.P = math.NaN(); return c }, "p"},
		{"gamma inf", func() Config { c := base(ParetoNBD); c.Params.Gamma = math.Inf(1); return c }, "gamma"},
		{"r negative inf", func() Config { c := base(BGNBD); c.Params.R = math.Inf(-1); return c }, "r"},
		{"gamma zero", func() Config { c := base(BGNBD); c.Params.Gamma = 0; return c }, "gamma"},
		{"customers zero", func() Config { c := base(BGNBD); c.Customers = 0; return c }, "customers"},
		{"cohort days zero", func() Config { c := base(BGNBD); c.CohortDays = 0; return c }, "cohort-days"},
		{"cohort past end", func() Config { c := base(BGNBD); c.CohortDays = 78*7 + 1; return c }, "-"},
		{"no start", func() Config { c := base(BGNBD); c.Start = time.Time{}; return c }, "-"},
		{"unknown process", func() Config { c := base(BGNBD); c.Params.Process = 9; return c }, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg().Validate()
			var pe *ParamError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.field == "":
			case err == nil:
				t.Fatalf("no error, want one about %s", tt.field)
			case tt.field == "-" && errors.As(err, &pe):
				t.Fatalf("got ParamError %v, want another error", err)
			case tt.field != "-" && (!errors.As(err, &pe) || pe.Field != tt.field):
				t.Fatalf("got %v, want a ParamError on %s", err, tt.field)
			}
			if err != nil {
				if gerr := Generate(context.Background(), tt.cfg(), func(Transaction) error { return nil }); gerr == nil {
					t.Fatal("Generate accepted a config Validate rejects")
				}
			}
		})
	}
	for _, m := range []struct {
		set  func(*Params)
		want string
	}{
		{func(p *Params) { p.Alpha = -1 }, "synth: alpha must be > 0, got -1"},
		{func(p *Params) { p.Q = 0.5 }, "synth: q must be > 1 (the mean amount p*gamma/(q-1) is infinite for q <= 1), got 0.5"},
		{func(p *Params) { p.Q = math.Inf(1) }, "synth: q must be finite, got +Inf"},
	} {
		c := DefaultConfig(BGNBD)
		m.set(&c.Params)
		if msg := c.Validate().Error(); msg != m.want {
			t.Errorf("message %q, want %q", msg, m.want)
		}
	}
}

// TestParseProcess ensures the CLI names round-trip and unknown ones fail.
func TestParseProcess(t *testing.T) {
	for _, p := range []Process{BGNBD, ParetoNBD} {
		got, err := ParseProcess(p.String())
		if err != nil || got != p {
			t.Fatalf("ParseProcess(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseProcess("mbgnbd"); err == nil {
		t.Fatal("ParseProcess(mbgnbd) accepted")
	}
}

// TestExtremeParams ensures parameters at the edge of their domain still give
// finite, positive amounts and ordered, in-window times.
func TestExtremeParams(t *testing.T) {
	for _, pr := range []Params{
		{Process: BGNBD, R: 0.01, Alpha: 0.01, A: 0.01, B: 0.01, P: 50, Q: 1.001, Gamma: 1e-6},
		{Process: ParetoNBD, R: 0.01, Alpha: 1e6, S: 0.01, Beta: 1e-6, P: 0.05, Q: 1.002, Gamma: 1e6},
	} {
		cfg := small(pr.Process, 20000, 1)
		cfg.Params = pr
		end := day(cfg.End)
		if err := Generate(context.Background(), cfg, func(tx Transaction) error {
			if !(tx.Amount >= 0) || math.IsInf(tx.Amount, 0) || !tx.Time.Before(end) {
				t.Fatalf("%v: bad transaction %+v", pr.Process, tx)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOnProgress ensures progress reports grow, come every ProgressEvery
// customers, and end exactly once with the true totals.
func TestOnProgress(t *testing.T) {
	for _, customers := range []int{ProgressEvery*2 + 5, ProgressEvery * 2} {
		cfg := small(BGNBD, customers, 4)
		var reports []Counts
		cfg.OnProgress = func(c Counts) { reports = append(reports, c) }
		tx := 0
		if err := Generate(context.Background(), cfg, func(Transaction) error { tx++; return nil }); err != nil {
			t.Fatal(err)
		}
		want := []int64{ProgressEvery, 2 * ProgressEvery}
		if customers%ProgressEvery != 0 {
			want = append(want, int64(customers))
		}
		if len(reports) != len(want) {
			t.Fatalf("%d customers: %d reports %v, want customers %v", customers, len(reports), reports, want)
		}
		for i, r := range reports {
			if r.Customers != want[i] || (i > 0 && r.Transactions < reports[i-1].Transactions) {
				t.Fatalf("%d customers: report %d is %+v, want %d customers and growing transactions", customers, i, r, want[i])
			}
		}
		if last := reports[len(reports)-1]; last.Transactions != int64(tx) {
			t.Fatalf("final report %+v, but %d transactions were emitted", last, tx)
		}
	}
}
