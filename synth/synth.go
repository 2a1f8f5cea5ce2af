// Package synth generates synthetic transaction logs from the classic
// "buy till you die" processes whose parameters are known, so that fits can be
// checked against the truth (parameter recovery), demos look like a real shop,
// and scale benchmarks have as much data as they want.
//
// Each customer is born (makes a first purchase) at a time drawn uniformly over
// the cohort window [Start, Start+CohortDays) and then repeats as a Poisson
// process at a personal rate λ per week while alive:
//
//   - BG/NBD (Fader, Hardie & Lee 2005): λ ~ Gamma(shape R, rate Alpha) and a
//     personal dropout probability p ~ Beta(A, B). Dropout can happen only
//     immediately after a repeat purchase: after each one the customer becomes
//     inactive with probability p. The first (birth) purchase never ends a life.
//   - Pareto/NBD (Schmittlein, Morrison & Colombo 1987): λ ~ Gamma(R, Alpha)
//     and a lifetime ~ Exp(μ) from birth with μ ~ Gamma(shape S, rate Beta).
//
// Every transaction, the first included, carries a spend from the Gamma-Gamma
// model (Fader, Hardie & Lee 2005, "RFM and CLV"): a personal ν ~ Gamma(shape
// Q, rate Gamma) and per transaction z ~ Gamma(shape P, rate ν), so that the
// mean spend per transaction is P·Gamma/(Q-1); Validate requires Q > 1, so
// that the mean is finite.
//
// Time is continuous inside the generator, measured from midnight UTC of
// Start; transactions at or after End are cut off. Generate hands out exact
// times and amounts; WriteCSV writes the calendar date (day precision,
// 2006-01-02) and the amount rounded to cents, so fits on its output see
// day-rounded recency and age, which moves BG/NBD and Pareto/NBD estimates
// only slightly at weekly time scales. Readers that count purchase days (as
// clv does) also merge a customer's same-day transactions: about 1.4% of
// repeat purchases at CDNOW parameters, more for heavier buyers.
//
// Output is deterministic for a Config (Seed included) and streamed: customer
// by customer, in id order, each customer's transactions in time order, in
// memory that does not grow with the number of customers. Each customer draws
// from its own random stream derived from (Seed, customer number), so customer
// k's history is the same whatever the total number of customers.
package synth

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Process is the purchase-and-dropout process a customer follows.
type Process int

const (
	// BGNBD is the beta-geometric/NBD process: dropout only right after a
	// repeat purchase, with a personal probability p ~ Beta(A, B).
	BGNBD Process = iota
	// ParetoNBD is the Pareto/NBD process: an exponential lifetime with a
	// personal rate μ ~ Gamma(S, Beta), dropout at any time.
	ParetoNBD
)

// String returns the process name as the CLI spells it ("bgnbd", "pareto").
func (p Process) String() string {
	switch p {
	case BGNBD:
		return "bgnbd"
	case ParetoNBD:
		return "pareto"
	}
	return fmt.Sprintf("Process(%d)", int(p))
}

// ParseProcess reads a process name: "bgnbd" or "pareto" ("paretonbd" too).
func ParseProcess(s string) (Process, error) {
	switch s {
	case "bgnbd", "bg/nbd":
		return BGNBD, nil
	case "pareto", "paretonbd", "pareto/nbd":
		return ParetoNBD, nil
	}
	return 0, fmt.Errorf("synth: unknown model %q: want bgnbd or pareto", s)
}

// Params are the population parameters. Rates (Alpha, Beta, Gamma) are rates,
// not scales, and time is in weeks, as in the BTYD literature; A, B are used
// by BGNBD only, S, Beta by ParetoNBD only.
type Params struct {
	Process Process
	// R, Alpha: purchase rate λ ~ Gamma(shape R, rate Alpha) per week;
	// the population's mean rate is R/Alpha.
	R, Alpha float64
	// A, B: BG/NBD dropout probability p ~ Beta(A, B); mean A/(A+B).
	A, B float64
	// S, Beta: Pareto/NBD dropout rate μ ~ Gamma(shape S, rate Beta) per week.
	S, Beta float64
	// P, Q, Gamma: Gamma-Gamma spend; ν ~ Gamma(Q, rate Gamma) per customer,
	// each amount ~ Gamma(P, rate ν). Q must exceed 1 (see Validate).
	P, Q, Gamma float64
}

// CDNOWParams returns parameters fitted on the CDNOW sample (2357 customers,
// 78 weeks), so that synthetic shops look like a real one: BG/NBD r=0.243,
// α=4.414, a=0.793, b=2.426 (Fader, Hardie & Lee 2005); Pareto/NBD r=0.553,
// α=10.578, s=0.606, β=11.669 (the same authors' comparison); Gamma-Gamma
// p=6.25, q=3.74, γ=15.44 (mean spend per transaction about $35).
func CDNOWParams(p Process) Params {
	out := Params{Process: p, P: 6.25, Q: 3.74, Gamma: 15.44}
	switch p {
	case ParetoNBD:
		out.R, out.Alpha, out.S, out.Beta = 0.553, 10.578, 0.606, 11.669
	default:
		out.R, out.Alpha, out.A, out.B = 0.243, 4.414, 0.793, 2.426
	}
	return out
}

// Config says what to generate. DefaultConfig fills every field; Generate and
// WriteCSV validate it and fill nothing.
type Config struct {
	Params Params
	// Customers is the number of customers, numbered 1..Customers; ids are
	// "c" and the number zero-padded to max(7, digits of Customers).
	Customers int
	// Start is the first day of the cohort window; only its date (as seen in
	// its own location) counts: the window starts at midnight UTC that day.
	Start time.Time
	// CohortDays is the length of the window over which customers are born,
	// uniformly; it must end no later than End.
	CohortDays int
	// End is the first day not generated (exclusive); like Start only its
	// date counts.
	End time.Time
	// Seed makes the output reproducible: same Config, same transactions.
	Seed uint64
	// OnProgress, when not nil, is called from the generating goroutine after
	// every ProgressEvery customers and once at the end with the totals. It
	// must be fast; it cannot stop the run (cancel the context for that).
	OnProgress func(Counts)
}

// ProgressEvery is how many customers pass between OnProgress calls.
const ProgressEvery = 1 << 14

// Counts is how much a run has produced so far.
type Counts struct {
	Customers    int64
	Transactions int64
}

// DefaultConfig is a CDNOW-like shop for process p: customers born over the
// 12 weeks from 1997-01-01 and observed for 78 weeks, with CDNOW parameters.
func DefaultConfig(p Process) Config {
	start := time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC)
	return Config{
		Params:     CDNOWParams(p),
		Customers:  10000,
		Start:      start,
		CohortDays: 84,
		End:        start.AddDate(0, 0, 78*7),
		Seed:       1,
	}
}

// ParamError reports a parameter out of its domain. Field is the lower-case
// name the CLI uses for the flag ("alpha", "customers").
type ParamError struct {
	Field string
	Value float64
	Want  string // e.g. "> 0"
}

// Error returns e.g. "synth: alpha must be > 0, got -1".
func (e *ParamError) Error() string {
	return fmt.Sprintf("synth: %s must be %s, got %g", e.Field, e.Want, e.Value)
}

// qWant is what Validate asks of Q. The mean of ν's reciprocal, and so the
// mean amount P·Gamma/(Q-1), is infinite for Q <= 1: a shop whose amounts
// have no mean (one order in the billions, spend totals ruled by it) is
// no test of a fit and no demo of a real one.
const qWant = "> 1 (the mean amount p*gamma/(q-1) is infinite for q <= 1)"

// Validate checks that every parameter the process uses is > 0 and finite,
// and Q > 1. It returns the first offending parameter as a *ParamError.
func (p Params) Validate() error {
	type field struct {
		name string
		v    float64
	}
	fs := []field{{"r", p.R}, {"alpha", p.Alpha}}
	switch p.Process {
	case BGNBD:
		fs = append(fs, field{"a", p.A}, field{"b", p.B})
	case ParetoNBD:
		fs = append(fs, field{"s", p.S}, field{"beta", p.Beta})
	default:
		return fmt.Errorf("synth: unknown process %d: want BGNBD or ParetoNBD", int(p.Process))
	}
	fs = append(fs, field{"p", p.P}, field{"q", p.Q}, field{"gamma", p.Gamma})
	for _, f := range fs {
		switch {
		case f.name == "q" && !(f.v > 1): // NaN too
			return &ParamError{Field: f.name, Value: f.v, Want: qWant}
		case !(f.v > 0): // NaN too
			return &ParamError{Field: f.name, Value: f.v, Want: "> 0"}
		case math.IsInf(f.v, 1):
			return &ParamError{Field: f.name, Value: f.v, Want: "finite"}
		}
	}
	return nil
}

// Validate checks the parameters and the windows.
func (c Config) Validate() error {
	if err := c.Params.Validate(); err != nil {
		return err
	}
	if c.Customers < 1 {
		return &ParamError{Field: "customers", Value: float64(c.Customers), Want: ">= 1"}
	}
	if c.CohortDays < 1 {
		return &ParamError{Field: "cohort-days", Value: float64(c.CohortDays), Want: ">= 1"}
	}
	if c.Start.IsZero() {
		return errors.New("synth: start is not set")
	}
	start, end := day(c.Start), day(c.End)
	days := int(end.Sub(start) / (24 * time.Hour))
	if days < c.CohortDays {
		return fmt.Errorf("synth: end %s must be at least cohort-days (%d) after start %s",
			end.Format(time.DateOnly), c.CohortDays, start.Format(time.DateOnly))
	}
	return nil
}

// day is midnight UTC of t's calendar date.
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
