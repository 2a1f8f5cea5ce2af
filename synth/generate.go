package synth

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Transaction is one purchase. Time is exact (continuous time from the
// process, in UTC); Amount is not rounded.
type Transaction struct {
	Customer string
	Time     time.Time
	Amount   float64
}

// Generate streams the transactions of cfg to emit, customer by customer in id
// order, each customer's transactions in time order, holding one customer at a
// time. It stops at the first error from emit or when ctx is done, and
// returns that error wrapped (errors.Is sees through it).
func Generate(ctx context.Context, cfg Config, emit func(Transaction) error) error {
	g, err := newGenerator(cfg)
	if err != nil {
		return err
	}
	start := day(cfg.Start)
	width := idWidth(cfg.Customers)
	var (
		id   string
		last = -1
		buf  []byte
	)
	err = g.run(ctx, func(k int, weeks, amount float64) error {
		if k != last {
			buf = appendID(buf[:0], k, width)
			id, last = string(buf), k
		}
		at := start.Add(time.Duration(weeks * float64(7*24*time.Hour)))
		return emit(Transaction{Customer: id, Time: at, Amount: amount})
	})
	if err != nil {
		return fmt.Errorf("synth: generate: %w", err)
	}
	return nil
}

// generator draws customers one at a time from per-customer random streams.
type generator struct {
	cfg         Config
	pcg         *rand.PCG
	rng         *rand.Rand
	cohortWeeks float64 // births in [0, cohortWeeks)
	endDays     int     // whole days from start to end
	endWeeks    float64 // transactions in [birth, endWeeks)
}

func newGenerator(cfg Config) (*generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcg := rand.NewPCG(0, 0)
	days := int(day(cfg.End).Sub(day(cfg.Start)) / (24 * time.Hour))
	return &generator{
		cfg:         cfg,
		pcg:         pcg,
		rng:         rand.New(pcg),
		cohortWeeks: float64(cfg.CohortDays) / 7,
		endDays:     days,
		endWeeks:    float64(days) / 7,
	}, nil
}

// run calls emit(customer number, weeks since start, amount) for every
// transaction and reports progress through cfg.OnProgress. Errors come back
// unwrapped for the caller to name its operation.
func (g *generator) run(ctx context.Context, emit func(k int, weeks, amount float64) error) error {
	var n Counts
	count := func(k int, weeks, amount float64) error {
		n.Transactions++
		return emit(k, weeks, amount)
	}
	for k := 1; k <= g.cfg.Customers; k++ {
		if k&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := g.customer(k, count); err != nil {
			return err
		}
		n.Customers++
		if g.cfg.OnProgress != nil && k%ProgressEvery == 0 {
			g.cfg.OnProgress(n)
		}
	}
	if g.cfg.OnProgress != nil && n.Customers%ProgressEvery != 0 {
		g.cfg.OnProgress(n) // the totals, unless just reported
	}
	return nil
}

// customer draws customer k's latent traits and history. The order of draws
// is part of the output's definition: changing it changes every data set.
func (g *generator) customer(k int, emit func(k int, weeks, amount float64) error) error {
	g.pcg.Seed(streamSeeds(g.cfg.Seed, uint64(k)))
	p := g.cfg.Params
	birth := g.rng.Float64() * g.cohortWeeks
	lambda := g.gamma(p.R, p.Alpha)
	limit := g.endWeeks
	var drop float64 // BG/NBD: dropout probability after each repeat purchase
	switch p.Process {
	case BGNBD:
		drop = g.beta(p.A, p.B)
	case ParetoNBD:
		mu := g.gamma(p.S, p.Beta)
		limit = min(limit, birth+g.rng.ExpFloat64()/mu) // mu == 0 lives forever
	}
	// A ν near the float64 floor would make amounts overflow to +Inf. With
	// Q > 1 that is all but impossible; redrawing conditions on ν > 1e-300,
	// which changes nothing measurable.
	nu := g.gamma(p.Q, p.Gamma)
	for !(nu > 1e-300) {
		nu = g.gamma(p.Q, p.Gamma)
	}
	if err := emit(k, birth, g.gamma(p.P, nu)); err != nil {
		return err
	}
	t := birth
	for {
		t += g.rng.ExpFloat64() / lambda // lambda == 0: +Inf, no repeats
		if t >= limit {
			return nil
		}
		if err := emit(k, t, g.gamma(p.P, nu)); err != nil {
			return err
		}
		if p.Process == BGNBD && g.rng.Float64() < drop {
			return nil
		}
	}
}

// gamma draws from Gamma(shape, rate) on the customer's stream.
func (g *generator) gamma(shape, rate float64) float64 {
	return distuv.Gamma{Alpha: shape, Beta: rate, Src: g.pcg}.Rand()
}

// beta draws from Beta(a, b); with tiny a and b both underlying gammas can
// underflow to 0 (0/0), which is redrawn.
func (g *generator) beta(a, b float64) float64 {
	for {
		x := distuv.Beta{Alpha: a, Beta: b, Src: g.pcg}.Rand()
		if !math.IsNaN(x) {
			return x
		}
	}
}

// streamSeeds derives customer k's PCG seeds from the run seed with
// SplitMix64, so neighbouring customers get unrelated streams.
func streamSeeds(seed, k uint64) (uint64, uint64) {
	z := seed + k*0x9e3779b97f4a7c15
	return splitmix64(z), splitmix64(z ^ 0xd1b54a32d192ed03)
}

func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// idWidth is the zero-padded width of customer numbers: 7 digits, more when
// needed so that ids sort as their numbers do.
func idWidth(customers int) int {
	return max(7, len(strconv.Itoa(customers)))
}

// appendID appends "c" and k zero-padded to width digits.
func appendID(b []byte, k, width int) []byte {
	b = append(b, 'c')
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(k), 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}
