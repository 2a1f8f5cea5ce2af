package clv

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Dataset is the per-customer view of a transaction log: features from the
// calibration window and labels from the holdout window.
type Dataset struct {
	FeatureNames []string
	// Log1p flags the heavy-tailed features (money, counts): a model should
	// apply log1p before standardising them.
	Log1p     []bool
	Customers []Customer // sorted by ID (byte order) for determinism
	Report    IngestReport
}

// Customer is one customer's summary. The BTYD fields use weeks and the
// conventions of the package documentation.
type Customer struct {
	ID               string
	X, Tx, T         float64   // repeat purchase days, recency and age at calibration end, in weeks
	RepeatMeanSpend  float64   // mean spend of the repeat purchase days (0 when X == 0): Gamma-Gamma's input
	Features         []float32 // len(FeatureNames), all finite
	HoldoutSpend     float64   // label: spend in the holdout window (0 without a horizon); purchase days when count-only
	HoldoutPurchases int       // label: purchase days in the holdout window
}

// Columns names the columns a load used, as header names or 1-based indexes.
type Columns struct {
	Customer string   `json:"customer"`
	Date     string   `json:"date"`
	Amount   string   `json:"amount"` // "none" for a count-only log (Options.CountOnly)
	Quantity string   `json:"quantity,omitempty"`
	Extra    []string `json:"extra,omitempty"`
}

// IngestReport says what Load read, skipped and decided.
type IngestReport struct {
	File      string  `json:"file"`
	Format    string  `json:"format"`              // "csv", "csv+gzip" or "parquet"
	Delimiter string  `json:"delimiter,omitempty"` // ",", ";", "|", "tab" or "whitespace"
	Header    bool    `json:"header"`
	Columns   Columns `json:"columns"`

	Rows            int64            `json:"rows"`               // data rows read, good and bad (no header, no blank lines)
	Transactions    int64            `json:"transactions"`       // rows accepted
	BadRows         map[Reason]int64 `json:"bad_rows,omitempty"` // skipped rows by reason (SkipBadRows)
	BadExamples     []BadRow         `json:"bad_examples,omitempty"`
	NegativeRows    int64            `json:"negative_rows"`    // rows with a negative amount, netted or dropped
	DroppedNegative int64            `json:"dropped_negative"` // of those, dropped (DropNegative)
	RowsAfterEnd    int64            `json:"rows_after_end"`   // dated after the holdout end (or the calibration end without a horizon): ignored
	PurchaseDays    int64            `json:"purchase_days"`    // distinct customer-days with a purchase, all windows
	ReturnOnlyDays  int64            `json:"return_only_days"` // customer-days with only negative rows: not purchase days
	TotalAmount     float64          `json:"total_amount"`     // sum of accepted amounts, all windows; PurchaseDays when count-only
	TotalQuantity   float64          `json:"total_quantity"`

	Customers         int `json:"customers"`          // with features: first purchase on or before the calibration end
	ExcludedCustomers int `json:"excluded_customers"` // no purchase on or before the calibration end (a first purchase later, or returns only): left out

	FirstDate      time.Time `json:"first_date"` // of accepted rows
	LastDate       time.Time `json:"last_date"`
	CalibrationEnd time.Time `json:"calibration_end"`
	HoldoutEnd     time.Time `json:"holdout_end,omitzero"` // zero without a horizon
	Horizon        Horizon   `json:"horizon"`
	HoldoutWeeks   float64   `json:"holdout_weeks"`

	// Currency is the currency symbol or ISO 4217 code the amounts were
	// written with ("$", "€", "EUR"), as the first one wrote it; the
	// reader drops it to read them. Empty when none carried one.
	Currency string `json:"currency,omitempty"`

	// Warnings are findings about the file as a whole that do not stop the
	// read but may mean it was misread (amounts whose "." groups
	// thousands), one sentence each.
	Warnings []string `json:"warnings,omitempty"`
}

// StdinPath as Load's path reads the log from standard input, as GNU
// tools read "-" ("--data -"); messages and the IngestReport then name
// the input StdinName. A file called "-" is read as "./-".
const (
	StdinPath = "-"
	StdinName = "stdin"
)

// Load reads the transaction log at path (StdinPath for standard input)
// and returns per-customer features and labels. It streams: memory grows
// with customers and their distinct purchase days, not with rows, and rows
// may come in any order. A Parquet log needs random access, so it cannot
// come through a pipe.
func Load(ctx context.Context, path string, opts Options) (*Dataset, error) {
	return loadFile(ctx, path, os.Stdin, opts)
}

// loadFile is Load with standard input passed in, so that tests can put a
// pipe or a regular file there.
func loadFile(ctx context.Context, path string, stdin *os.File, opts Options) (*Dataset, error) {
	name, f := path, stdin
	if path == StdinPath {
		// Standard input is the process's, not Load's: it stays open.
		name = StdinName
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("clv: read transactions: %w", err)
		}
		defer f.Close()
	}
	if opts.Progress == nil {
		return LoadReader(ctx, name, f, opts)
	}
	// A pipe's size is 0, which the progress report takes as unknown.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("clv: read transactions: %s: %w", name, err)
	}
	cf := &countingFile{f: f}
	stop := reportProgress(cf, fi.Size(), opts.Progress)
	ds, err := LoadReader(ctx, name, cf, opts)
	stop()
	return ds, err
}

// LoadReader is Load on an open stream; name is used in messages. Parquet
// needs random access: r must then also be an io.ReaderAt and an io.Seeker
// (an *os.File or a *bytes.Reader).
func LoadReader(ctx context.Context, name string, r io.Reader, opts Options) (*Dataset, error) {
	ds, err := load(ctx, name, r, &opts)
	if err != nil {
		var re *RowError
		if !errors.As(err, &re) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("clv: read transactions: %w", err)
	}
	return ds, nil
}

func load(ctx context.Context, name string, r io.Reader, o *Options) (*Dataset, error) {
	headerMode, err := o.validate()
	if err != nil {
		return nil, err
	}
	rep := IngestReport{File: name, Horizon: o.Horizon}
	var cutoff int32
	hasCut := !o.CalibrationEnd.IsZero()
	if hasCut {
		cutoff = dayOf(o.Horizon.End(o.CalibrationEnd))
	}
	workers := o.workers()
	c := &consumer{file: name, skip: o.SkipBadRows}
	seed := maphash.MakeSeed()
	var cols colMap
	var produce func(ctx context.Context, free chan *batch, out chan<- *batch)
	warnings := func() []string { return nil }
	isParquet, ra, size, err := sniffFormat(r, o.Format)
	if err != nil {
		return nil, err
	}
	if isParquet {
		src, _, err := openParquet(ra, size, o)
		if err != nil {
			return nil, err
		}
		src.cutoff, src.hasCut, src.seed = cutoff, hasCut, seed
		cols, c.parquet = src.cols, true
		rep.Format, rep.Header = "parquet", true
		produce = src.produce
		warnings = src.Warnings
		workers = 1
	} else {
		src, header, err := openCSV(r, o, headerMode)
		if err != nil {
			return nil, err
		}
		src.cfg.cutoff, src.cfg.hasCutoff, src.cfg.seed = cutoff, hasCut, seed
		cols = src.cfg.cols
		rep.Format, rep.Delimiter, rep.Header = "csv", delimiterName(src.cfg.delim), header != nil
		if src.gzipped {
			rep.Format = "csv+gzip"
		}
		produce = func(ctx context.Context, free chan *batch, out chan<- *batch) {
			src.produce(ctx, workers, free, out)
		}
		warnings = src.Warnings
	}
	rep.Columns = Columns{Customer: cols.names[colCustomer], Date: cols.names[colDate], Amount: cols.names[colAmount],
		Quantity: cols.names[colQuantity], Extra: cols.names[colExtra0:]}
	c.amountCol = cols.display[colAmount]
	c.st, c.nExtra = newStore(seed, cols.hasQuantity(), cols.extras()), cols.extras()
	t0 := time.Now()
	if err := pipeline(ctx, workers+4, produce, c.consume); err != nil {
		return nil, err
	}
	t1 := time.Now()
	rep.Rows, rep.BadRows, rep.BadExamples = c.rows, c.bad, c.examples
	rep.NegativeRows, rep.DroppedNegative, rep.RowsAfterEnd = c.negatives, c.dropped, c.afterHoldout
	rep.Warnings = warnings()
	if w := c.currencyWarning(); w != "" {
		rep.Currency = c.cur.cur.text
		rep.Warnings = append(rep.Warnings, w)
	}
	if c.rows == 0 {
		return nil, errors.New("no data rows")
	}
	if c.st.transactions == 0 {
		if hasCut && c.afterHoldout > 0 {
			// The commonest cause: a calibration end from another data set.
			// Without a horizon (predict, features without labels) the
			// rows are cut at the calibration end itself.
			after := "the calibration end " + o.CalibrationEnd.Format(time.DateOnly)
			if !o.Horizon.IsZero() {
				after = fmt.Sprintf("%s (the calibration end %s plus the %s horizon)", o.Horizon.End(o.CalibrationEnd).Format(time.DateOnly),
					o.CalibrationEnd.Format(time.DateOnly), o.Horizon)
			}
			return nil, fmt.Errorf("no valid rows: %d of %d data rows are dated after %s and are ignored: is --calibration-end right for this log?",
				c.afterHoldout, c.rows, after)
		}
		first := ""
		if len(c.examples) > 0 {
			first = "; the first: " + c.examples[0].Error
		}
		return nil, fmt.Errorf("no valid rows: all %d data rows were bad or filtered out%s", c.rows, first)
	}
	fs := newFeatureSpec(o, &cols)
	ds, err := finalize(ctx, c.st, o, &fs, rep)
	if err == nil {
		slog.DebugContext(ctx, "clv: loaded", "file", name, "rows", rep.Rows, "customers", len(ds.Customers),
			"read", t1.Sub(t0), "features", time.Since(t1))
	}
	return ds, err
}

// errParquetStream refuses Parquet from a stream: its metadata is at the
// end of the file and its columns are read by offset, which a pipe cannot
// give. notCSV says the same for Parquet bytes found on one.
var errParquetStream = errors.New("a Parquet file cannot be read from a stream (stdin or a pipe): it needs random access; " +
	"pass the file itself with --data, or stream the log as CSV")

// sniffFormat decides between CSV and Parquet. Parquet needs random access,
// so it reports the reader as an io.ReaderAt with its size.
func sniffFormat(r io.Reader, format string) (isParquet bool, ra io.ReaderAt, size int64, err error) {
	format = strings.ToLower(format)
	if format == "csv" {
		return false, nil, 0, nil
	}
	ras, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	})
	if !ok {
		if format == "parquet" {
			return false, nil, 0, errParquetStream
		}
		return false, nil, 0, nil
	}
	pos, err := ras.Seek(0, io.SeekCurrent)
	if err != nil { // a pipe or terminal: stream it as CSV
		if format == "parquet" {
			// The seek error ("illegal seek") says nothing the
			// message does not.
			return false, nil, 0, errParquetStream
		}
		return false, nil, 0, nil
	}
	if size, err = ras.Seek(0, io.SeekEnd); err != nil {
		return false, nil, 0, err
	}
	if _, err = ras.Seek(pos, io.SeekStart); err != nil {
		return false, nil, 0, err
	}
	magic := make([]byte, len(parquetMagic))
	n, _ := ras.ReadAt(magic, 0)
	if format == "parquet" || bytes.Equal(magic[:n], []byte(parquetMagic)) {
		return true, ras, size, nil
	}
	return false, nil, 0, nil
}

// finalize cuts the windows and computes every customer's features, in ID
// order, in parallel.
func finalize(ctx context.Context, st *store, o *Options, fs *featureSpec, rep IngestReport) (*Dataset, error) {
	rep.Transactions, rep.TotalAmount, rep.TotalQuantity = st.transactions, st.amount, st.qty
	rep.FirstDate, rep.LastDate = dayTime(st.minDay), dayTime(st.maxDay)
	calEnd := st.maxDay
	switch {
	case !o.CalibrationEnd.IsZero():
		calEnd = dayOf(o.CalibrationEnd)
	case !o.Horizon.IsZero():
		// The holdout is the last Horizon of the data. Subtracting the
		// horizon is not enough for months: 07-31 minus 3m normalises to
		// 05-01, whose holdout ends 08-01, a day past the data.
		calEnd = latestCalibrationEnd(o.Horizon, st.maxDay)
	}
	holdEnd := calEnd
	if !o.Horizon.IsZero() {
		holdEnd = dayOf(o.Horizon.End(dayTime(calEnd)))
		rep.HoldoutEnd = dayTime(holdEnd)
		rep.HoldoutWeeks = float64(holdEnd-calEnd) / 7
	}
	rep.CalibrationEnd = dayTime(calEnd)

	st.done()
	ids := st.ids.strings()
	st.ids = nil // the table and arena can go; ids holds the strings
	order := sortIDs(ids)
	// Customers known only from rows after the cutoff have no days: they
	// first bought after the calibration end and are left out unseen.
	kept := order[:0]
	for _, ci := range order {
		if st.cust[ci].count() > 0 {
			kept = append(kept, ci)
		}
	}
	unseen := len(order) - len(kept)
	order = kept
	if len(ids) >= 1<<20 {
		// The id table and its grown-out copies are garbage now, about as
		// big as the output about to be allocated; collecting them first
		// lets the output reuse their memory instead of raising the peak
		// (the heap is nearly pointer-free, so this marks in milliseconds).
		runtime.GC()
	}

	nf := len(fs.names)
	custs := make([]Customer, len(order))
	feats := make([]float32, len(order)*nf)
	keep := make([]bool, len(order))
	workers := o.workers()
	var wg sync.WaitGroup
	var returnOnly, buyDays [8]int64
	per := (len(order) + workers - 1) / workers
	for w := range workers {
		lo, hi := min(w*per, len(order)), min((w+1)*per, len(order))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var g gatherer
			sums := make([]float64, fs.nExtra)
			for k0 := lo; k0 < hi; k0 += gatherWidth {
				if k0%4096 < gatherWidth && ctx.Err() != nil {
					return
				}
				group := order[k0:min(k0+gatherWidth, hi)]
				st.gather(group, &g)
				for j, ci := range group {
					for _, r := range g.recs[j] {
						if r.buy {
							buyDays[w]++
						} else {
							returnOnly[w]++
						}
					}
					k := k0 + j
					c := &custs[k]
					c.ID = ids[ci]
					keep[k] = fs.compute(g.recs[j], g.ex[j], sums, calEnd, holdEnd, c, feats[k*nf:(k+1)*nf])
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for w := range workers {
		rep.ReturnOnlyDays += returnOnly[w]
		rep.PurchaseDays += buyDays[w]
	}
	if fs.countOnly {
		rep.TotalAmount = float64(rep.PurchaseDays) // each purchase day is worth 1, not each row
	}
	// Compact away the customers who first bought after the calibration end.
	j := 0
	for k := range custs {
		if !keep[k] {
			continue
		}
		if j != k {
			custs[j] = custs[k]
			copy(feats[j*nf:(j+1)*nf], feats[k*nf:(k+1)*nf])
		}
		custs[j].Features = feats[j*nf : (j+1)*nf : (j+1)*nf]
		j++
	}
	rep.Customers, rep.ExcludedCustomers = j, len(custs)-j+unseen
	if j == 0 {
		return nil, fmt.Errorf("no customer bought on or before the calibration end %s (the data runs %s to %s)",
			rep.CalibrationEnd.Format(time.DateOnly), rep.FirstDate.Format(time.DateOnly), rep.LastDate.Format(time.DateOnly))
	}
	// After the check above: a calibration end before the data is the
	// plainer mistake to report.
	if err := checkHoldout(o, calEnd, holdEnd, st.minDay, st.maxDay, rep.RowsAfterEnd); err != nil {
		return nil, err
	}
	return &Dataset{FeatureNames: fs.names, Log1p: fs.log1p, Customers: custs[:j:j], Report: rep}, nil
}

// sortIDs returns the customer indexes in byte order of their ids. Each id
// is keyed by its first 8 bytes, so most comparisons stay in registers
// instead of chasing two strings, and the two halves sort in parallel.
func sortIDs(ids []string) []int32 {
	type key struct {
		pre uint64
		idx int32
	}
	keys := make([]key, len(ids))
	for i, id := range ids {
		var b [8]byte
		copy(b[:], id)
		keys[i] = key{binary.BigEndian.Uint64(b[:]), int32(i)}
	}
	cmpKey := func(a, b key) int {
		if c := cmp.Compare(a.pre, b.pre); c != 0 {
			return c
		}
		return strings.Compare(ids[a.idx], ids[b.idx])
	}
	half := len(keys) / 2
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(keys[:half], cmpKey) })
	slices.SortFunc(keys[half:], cmpKey)
	wg.Wait()
	order := make([]int32, 0, len(keys))
	a, b := keys[:half], keys[half:]
	for len(a) > 0 && len(b) > 0 {
		if cmpKey(a[0], b[0]) <= 0 {
			order, a = append(order, a[0].idx), a[1:]
		} else {
			order, b = append(order, b[0].idx), b[1:]
		}
	}
	for _, k := range a {
		order = append(order, k.idx)
	}
	for _, k := range b {
		order = append(order, k.idx)
	}
	return order
}
