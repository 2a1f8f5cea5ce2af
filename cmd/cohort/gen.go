package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cohort-clv/cohort/internal/atomicfile"
	"github.com/cohort-clv/cohort/synth"
)

// genFlags are cohort gen's flags; zero model parameters mean "the CDNOW fit".
type genFlags struct {
	model                                string
	r, alpha, a, b, s, beta, p, q, gamma float64
	customers                            int
	start                                string
	cohortDays, weeks                    int
	seed                                 uint64
	out                                  string
	json                                 bool
	quiet                                bool
}

// genSummary is what --json prints.
type genSummary struct {
	Out          string  `json:"out"`
	Model        string  `json:"model"`
	Customers    int64   `json:"customers"`
	Transactions int64   `json:"transactions"`
	Seconds      float64 `json:"seconds"`
}

func newGenCmd() *cobra.Command {
	f := &genFlags{}
	cmd := &cobra.Command{
		Use:   "gen --out FILE",
		Short: "Generate a synthetic transaction log from a known BG/NBD or Pareto/NBD process",
		Long: `gen writes a synthetic shop's transaction log (customer_id,date,amount) drawn from
the classic "buy till you die" models, with parameters you choose, so you can test
a fit against the truth, demo cohort, or benchmark at any scale.

Each customer makes a first purchase on a day drawn uniformly over the first
--cohort-days days from --start, then comes back at random (a Poisson process)
at their own rate while they are still a customer, until --weeks after --start.
How rates and lifetimes vary between customers:

  rate of purchase   each customer's weekly rate ~ Gamma(shape --r, rate --alpha);
                     the average customer buys r/alpha times a week
  --model bgnbd      after each repeat purchase a customer leaves for good with
                     their own probability ~ Beta(--a, --b) (mean a/(a+b))
  --model pareto     a customer leaves at a random time, at their own weekly
                     rate ~ Gamma(shape --s, rate --beta), whether or not they buy
  spend              each customer's typical basket is set by nu ~ Gamma(--q,
                     rate --gamma); each amount ~ Gamma(shape --p, rate nu),
                     so the mean amount is p*gamma/(q-1)

Parameters you leave out take the values fitted on the CDNOW record-store data
(bgnbd: r=0.243 alpha=4.414 a=0.793 b=2.426; pareto: r=0.553 alpha=10.578
s=0.606 beta=11.669; spend: p=6.25 q=3.74 gamma=15.44), so the output looks
like a real shop. Dates are whole days (2006-01-02); amounts have two decimals.
The same flags and --seed always give the same file, and any number of
customers streams in constant memory.

Example:
  cohort gen --customers 100000 --weeks 78 --seed 7 --out shop.csv.gz
  cohort gen --customers 100000 --out shop.parquet     # customer_id, date (DATE), amount
  cohort gen --model pareto --s 1.2 --customers 5000 --out - | head`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			return runGen(cmd, f, cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "bgnbd", "purchase process: bgnbd or pareto")
	fl.Float64Var(&f.r, "r", 0, "shape of the purchase-rate distribution (default: CDNOW fit)")
	fl.Float64Var(&f.alpha, "alpha", 0, "rate of the purchase-rate distribution, per week (default: CDNOW fit)")
	fl.Float64Var(&f.a, "a", 0, "bgnbd: Beta a of the dropout probability (default 0.793)")
	fl.Float64Var(&f.b, "b", 0, "bgnbd: Beta b of the dropout probability (default 2.426)")
	fl.Float64Var(&f.s, "s", 0, "pareto: shape of the dropout-rate distribution (default 0.606)")
	fl.Float64Var(&f.beta, "beta", 0, "pareto: rate of the dropout-rate distribution, per week (default 11.669)")
	fl.Float64Var(&f.p, "p", 0, "spend: Gamma shape of each amount (default 6.25)")
	fl.Float64Var(&f.q, "q", 0, "spend: Gamma shape of the per-customer scale (default 3.74)")
	fl.Float64Var(&f.gamma, "gamma", 0, "spend: Gamma rate of the per-customer scale (default 15.44)")
	fl.IntVar(&f.customers, "customers", 10000, "number of customers")
	fl.StringVar(&f.start, "start", "2024-01-01", "first day of the cohort window (YYYY-MM-DD)")
	fl.IntVar(&f.cohortDays, "cohort-days", 84, "days over which customers make their first purchase")
	fl.IntVar(&f.weeks, "weeks", 78, "weeks of data from --start")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed; the same seed and flags give the same file")
	fl.StringVar(&f.out, "out", "", `output file: CSV, gzipped for a ".gz" name, Parquet for a ".parquet" one; "-" (or /dev/stdout) writes CSV to stdout (required); missing directories are created`)
	fl.BoolVar(&f.json, "json", false, "print a JSON summary on stdout (customers, transactions, seconds; on stderr when --out is stdout)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress and no summary on stderr")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// config turns the flags into a validated synth.Config, with errors that name
// the flag.
func (f *genFlags) config(cmd *cobra.Command) (synth.Config, error) {
	proc, err := synth.ParseProcess(strings.ToLower(f.model))
	if err != nil {
		return synth.Config{}, fmt.Errorf("--model %q: want bgnbd or pareto", f.model)
	}
	p := synth.CDNOWParams(proc)
	for _, o := range []struct {
		name     string
		from, to *float64
		only     synth.Process // -1: both processes
	}{
		{"r", &f.r, &p.R, -1}, {"alpha", &f.alpha, &p.Alpha, -1},
		{"a", &f.a, &p.A, synth.BGNBD}, {"b", &f.b, &p.B, synth.BGNBD},
		{"s", &f.s, &p.S, synth.ParetoNBD}, {"beta", &f.beta, &p.Beta, synth.ParetoNBD},
		{"p", &f.p, &p.P, -1}, {"q", &f.q, &p.Q, -1}, {"gamma", &f.gamma, &p.Gamma, -1},
	} {
		if !cmd.Flags().Changed(o.name) {
			continue
		}
		if o.only >= 0 && o.only != proc {
			return synth.Config{}, fmt.Errorf("--%s applies to --model %s only", o.name, o.only)
		}
		*o.to = *o.from
	}
	if strings.HasSuffix(strings.ToLower(f.out), ".parquet.gz") {
		return synth.Config{}, fmt.Errorf("--out %s: Parquet compresses its own columns; name it .parquet", f.out)
	}
	if err := checkOutFile(f.out, "shop.csv.gz"); err != nil {
		return synth.Config{}, err
	}
	start, err := time.Parse(time.DateOnly, f.start)
	if err != nil {
		return synth.Config{}, fmt.Errorf("--start %q: want a date like 2024-01-01", f.start)
	}
	if f.weeks < 1 {
		return synth.Config{}, fmt.Errorf("--weeks must be >= 1, got %d", f.weeks)
	}
	if f.cohortDays > 7*f.weeks {
		return synth.Config{}, fmt.Errorf("--cohort-days must be at most --weeks*7 = %d, got %d", 7*f.weeks, f.cohortDays)
	}
	cfg := synth.Config{
		Params:     p,
		Customers:  f.customers,
		Start:      start,
		CohortDays: f.cohortDays,
		End:        start.AddDate(0, 0, 7*f.weeks),
		Seed:       f.seed,
	}
	if err := cfg.Validate(); err != nil {
		var pe *synth.ParamError
		if errors.As(err, &pe) {
			return synth.Config{}, fmt.Errorf("--%s must be %s, got %g", pe.Field, pe.Want, pe.Value)
		}
		return synth.Config{}, err
	}
	return cfg, nil
}

// runGen writes the log, shows progress on a terminal and prints the summary.
func runGen(cmd *cobra.Command, f *genFlags, cfg synth.Config) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	dataOnStdout := toStdout(f.out, stdout)
	// --out /dev/stdout is --out -: see predict. A .gz or .parquet name
	// asks for what only the file writer makes.
	stream := f.out == "-" || dataOnStdout && !isParquet(f.out) && !strings.HasSuffix(f.out, ".gz")
	if !stream {
		if err := checkOutFileWritable(f.out); err != nil {
			return err
		}
	}
	began := time.Now()
	var done synth.Counts
	var progress func(synth.Counts)
	if !f.quiet {
		progress = progressLine(stderr, began)
	}
	cfg.OnProgress = func(c synth.Counts) {
		done = c
		if progress != nil {
			progress(c)
		}
	}
	var err error
	if stream {
		err = synth.WriteCSV(cmd.Context(), stdout, cfg)
	} else {
		err = writeSynthLog(cmd.Context(), f.out, cfg)
	}
	if progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	sum := genSummary{
		Out: f.out, Model: cfg.Params.Process.String(),
		Customers: done.Customers, Transactions: done.Transactions,
		Seconds: time.Since(began).Seconds(),
	}
	if f.json {
		w := stdout
		if dataOnStdout {
			w = stderr // stdout carries the data
		}
		return json.NewEncoder(w).Encode(sum)
	}
	if f.quiet {
		return nil
	}
	// The summary is a diagnostic: stderr, whatever --out is.
	_, err = fmt.Fprintf(stderr, "wrote %d transactions of %d customers (%s) to %s in %.1fs\n",
		sum.Transactions, sum.Customers, sum.Model, sum.Out, sum.Seconds)
	return err
}

// progressLine returns a reporter that redraws one status line on w at most
// four times a second, or nil when w is not a terminal.
func progressLine(w io.Writer, began time.Time) func(synth.Counts) {
	file, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return nil
	}
	var last time.Time
	return func(c synth.Counts) {
		now := time.Now()
		if now.Sub(last) < 250*time.Millisecond {
			return
		}
		last = now
		secs := max(now.Sub(began).Seconds(), 1e-9)
		fmt.Fprintf(w, "\rgen: %d customers, %d transactions, %.0f customers/s", c.Customers, c.Transactions, float64(c.Customers)/secs)
	}
}

// writeSynthLog writes the log atomically, as Parquet for a .parquet name
// and CSV otherwise (gzipped for a .gz name): path is
// either the old file or the complete new one. Missing directories above it
// are created, and removed again if the write fails.
func writeSynthLog(ctx context.Context, path string, cfg synth.Config) error {
	undo, err := makeOutFileDir(path)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		if isParquet(path) {
			return synth.WriteParquet(ctx, w, cfg)
		}
		if !strings.HasSuffix(path, ".gz") {
			return synth.WriteCSV(ctx, w, cfg)
		}
		gz := gzip.NewWriter(w)
		if err := synth.WriteCSV(ctx, gz, cfg); err != nil {
			return err
		}
		return gz.Close()
	})
	if err != nil {
		undo()
		if pe := (*os.PathError)(nil); errors.As(err, &pe) && pe.Path == path {
			return err // atomicfile's, which names path already
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// isParquet reports whether an output path names a Parquet file.
func isParquet(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".parquet") }
