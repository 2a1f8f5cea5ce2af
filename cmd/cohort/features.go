package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/internal/atomicfile"
	"github.com/cohort-clv/cohort/job"
)

// featuresFlags are cohort features' flags.
type featuresFlags struct {
	data    dataFlags
	out     string
	json    bool
	quiet   bool
	threads int
}

// featuresSummary is what --json prints.
type featuresSummary struct {
	Out      string           `json:"out"`
	Features []string         `json:"features"`
	Seconds  float64          `json:"seconds"`
	RowsPerS float64          `json:"rows_per_second"`
	Report   clv.IngestReport `json:"report"`
	Warnings []string         `json:"warnings,omitempty"` // as train's: a censored log, an outlier first date
}

func newFeaturesCmd() *cobra.Command {
	f := &featuresFlags{}
	cmd := &cobra.Command{
		Use:   "features --data FILE --out FILE",
		Short: "Turn a transaction log into one row of features (and holdout labels) per customer",
		Long: `features reads a transaction log (customer, date, amount) and writes one CSV row
per customer: the id, the features a CLV model sees (recency, frequency, age,
spend statistics, gaps between purchases, spend in recent periods, quantity and
extra columns), and with --horizon the labels (holdout spend and purchase days),
plus the customer's train/validation/test split. Features come from purchases on
or before --calibration-end only; labels from the --horizon after it.

Rows of one customer and day are merged into one purchase day, and time is in
weeks, as in BTYD and lifetimes: frequency, recency_weeks and age_weeks are x,
t_x and T of cdnow_customers_summary.csv.

The gap_*_weeks features describe the gaps between consecutive purchase days
(0 for a one-time buyer). gap_std_weeks is their population standard deviation
(divided by the number of gaps, not one less; 0 with fewer than two gaps).
since_last_over_gap is weeks_since_last / (gap_mean_weeks + 1): how overdue the
next purchase is against the customer's usual gap. The +1 week keeps it finite
for one-time buyers, whose mean gap is 0 (it is then weeks_since_last), and
stops gaps of a day or two from blowing it up.
` + dataHelp + `

Examples:
  cohort features --data CDNOW_master.txt --calibration-end 1997-09-30 --horizon 39w --out cdnow.csv
  cohort features --data shop.csv.gz --skip-bad-rows --json --out - > features.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFeatures(cmd, f) },
	}
	f.data.bind(cmd.Flags(), forFeatures)
	cmd.Flags().StringVar(&f.out, "out", "", `output file: CSV, or Parquet for a ".parquet" name; "-" (or /dev/stdout) writes CSV to stdout (required); missing directories are created`)
	cmd.Flags().BoolVar(&f.json, "json", false, "print the summary as JSON on stdout (the full ingest report; on stderr when --out is stdout)")
	cmd.Flags().IntVar(&f.threads, "threads", 0, "CPU threads for reading the log and building features (default 0: all cores, at most 8 are used)")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress and no summary on stderr")
	_ = cmd.MarkFlagRequired("data")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runFeatures(cmd *cobra.Command, f *featuresFlags) error {
	opts, err := f.data.options(cmd.Flags())
	if err != nil {
		return err
	}
	if err := refuseZeroHorizon(cmd.Flags(), opts, "leave --horizon out for features without labels"); err != nil {
		return err
	}
	if err := checkOutFile(f.out, "features.csv"); err != nil {
		return err
	}
	if f.threads < 0 {
		return fmt.Errorf("--threads must be >= 0 (0: all cores), got %d", f.threads)
	}
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	dataOnStdout := toStdout(f.out, stdout)
	// --out /dev/stdout is --out -: see predict.
	stream := f.out == "-" || dataOnStdout && !isParquet(f.out)
	if !stream {
		if err := checkOutFileWritable(f.out); err != nil {
			return err
		}
	}
	opts.Threads = f.threads
	if !f.quiet {
		opts.Progress = newProgress(stderr, 0).read
	}
	began := time.Now()
	ds, err := clv.Load(ctx, f.data.path, opts)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	labels := !opts.Horizon.IsZero()
	if stream {
		bw := bufio.NewWriterSize(ctxWriter{ctx: ctx, w: stdout}, 1<<20)
		if err := writeFeatures(bw, ds, labels); err != nil {
			return fmt.Errorf("features: write: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("features: write: %w", err)
		}
	} else if err := writeFeaturesFile(ctx, f.out, ds, labels); err != nil {
		return err
	}
	secs := time.Since(began).Seconds()
	warnings := job.IngestWarnings(ds)
	printWarnings(stderr, warnings)
	if f.json {
		w := stdout
		if dataOnStdout {
			w = stderr // stdout carries the data
		}
		if err := json.NewEncoder(w).Encode(featuresSummary{Out: f.out, Features: ds.FeatureNames, Seconds: secs,
			RowsPerS: float64(ds.Report.Rows) / secs, Report: ds.Report, Warnings: warnings}); err != nil {
			return err
		}
	} else if !f.quiet {
		// The summary is a diagnostic: stderr, whatever --out is.
		if err := printIngestSummary(stderr, ds, f.out, secs); err != nil {
			return err
		}
	}
	// A stop that came after the file was renamed into place.
	return stoppedAfter(ctx, f.out)
}

// writeFeaturesFile writes the CSV, or Parquet for a .parquet name,
// atomically (see internal/atomicfile), creating the missing directories
// above it. A ctx that ends while it writes stops the write, and the file
// is not replaced.
func writeFeaturesFile(ctx context.Context, path string, ds *clv.Dataset, labels bool) error {
	// Reading looked at ctx; the features are built by then. A stop
	// requested since must not end in a replaced file.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	undo, err := makeOutFileDir(path)
	if err != nil {
		return err
	}
	write := writeFeatures
	if isParquet(path) {
		write = writeFeaturesParquet
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		if err := write(ctxWriter{ctx: ctx, w: w}, ds, labels); err != nil {
			return err
		}
		// A signal after the last write: still no rename.
		return ctx.Err()
	})
	if err != nil {
		undo()
		return fmt.Errorf("features: %w", err)
	}
	return nil
}

// writeFeatures writes the header and one row per customer. Formatting
// floats costs more than reading them did, so workers format chunks of rows
// while this goroutine writes the finished ones in order; at most two
// chunks per worker are in flight.
func writeFeatures(w io.Writer, ds *clv.Dataset, labels bool) error {
	head := append([]string{"customer_id"}, ds.FeatureNames...)
	if labels {
		head = append(head, "holdout_spend", "holdout_purchases")
	}
	head = append(head, "split")
	if _, err := io.WriteString(w, strings.Join(head, ",")+"\n"); err != nil {
		return err
	}
	const chunk = 4096
	cs := ds.Customers
	n := (len(cs) + chunk - 1) / chunk
	workers := max(runtime.GOMAXPROCS(0), 1)
	results := make([]chan []byte, n)
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	jobs := make(chan int)
	tokens := make(chan struct{}, 2*workers) // bounds the formatted chunks waiting to be written
	free := make(chan []byte, 2*workers)
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Go(func() {
		defer close(jobs)
		for i := range n {
			select {
			case tokens <- struct{}{}:
			case <-done:
				return
			}
			select {
			case jobs <- i:
			case <-done:
				return
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				var buf []byte
				select {
				case buf = <-free:
				default:
				}
				lo, hi := i*chunk, min((i+1)*chunk, len(cs))
				results[i] <- appendRows(buf[:0], cs[lo:hi], labels)
			}
		})
	}
	for i := range n {
		b := <-results[i]
		if _, err := w.Write(b); err != nil {
			return err
		}
		free <- b
		<-tokens
	}
	return nil
}

// appendRows formats customers as CSV rows.
func appendRows(buf []byte, cs []clv.Customer, labels bool) []byte {
	for i := range cs {
		c := &cs[i]
		buf = appendCSVField(buf, c.ID)
		for _, v := range c.Features {
			buf = append(buf, ',')
			buf = appendFeature(buf, v)
		}
		if labels {
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, c.HoldoutSpend, 'g', 12, 64) // a sum: hide its last-bit noise
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, int64(c.HoldoutPurchases), 10)
		}
		buf = append(buf, ',')
		buf = append(buf, clv.SplitOf(c.ID).String()...)
		buf = append(buf, '\n')
	}
	return buf
}

// appendFeature formats a feature in few digits that read back exactly.
// Most features are whole numbers (counts, empty periods) or money with two
// decimals; both skip the general (and slow) shortest-float formatting.
func appendFeature(buf []byte, v float32) []byte {
	if v >= 1<<24 || v <= -1<<24 || v != v {
		return strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
	}
	if i := int32(v); float32(i) == v {
		return strconv.AppendInt(buf, int64(i), 10)
	}
	if c := math.Round(float64(v) * 100); float32(c/100) == v { // cents
		if c < 0 {
			buf, c = append(buf, '-'), -c
		}
		n := int64(c)
		buf = strconv.AppendInt(buf, n/100, 10)
		buf = append(buf, '.', byte('0'+n/10%10))
		if n%10 != 0 {
			buf = append(buf, byte('0'+n%10))
		}
		return buf
	}
	return strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
}

// appendCSVField quotes a field when it holds a comma, quote or line break.
func appendCSVField(buf []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(buf, s...)
	}
	return append(append(buf, '"'), strings.ReplaceAll(s, `"`, `""`)+`"`...)
}

// printIngestSummary prints what was read, skipped and written.
func printIngestSummary(w io.Writer, ds *clv.Dataset, out string, secs float64) error {
	if err := writeIngest(w, ds.Report, secs, false); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "wrote %s: %d customers x %d features\n", out, len(ds.Customers), len(ds.FeatureNames))
	return err
}
