package job

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/model"
)

// fingerprintFormat versions the fingerprint a job records in its
// checkpoints; CheckResume refuses other versions.
const fingerprintFormat = "cohort.job.fingerprint/v1"

// fingerprint is what a job records in its checkpoints about the run that
// wrote them (Prepared.Fingerprint). What fixes the training trajectory,
// and so decides whether a run may resume from the checkpoint, is Model
// (less what model.ResumeMismatches lets change: the epochs and patience),
// the feature columns, and the training and validation matrices, compared
// by content: moving or renaming the data file changes nothing, a changed
// file or any read option that changes a feature or a label is caught
// exactly. The data file and the read options are recorded to say why the
// matrices differ; on their own (another path to the same data, a horizon
// whose extra weeks hold no purchase) they do not stop a resume, whose
// model is then the one an uninterrupted run with this run's flags trains.
type fingerprint struct {
	Format string `json:"format"`
	// Model is the configuration the run trained with, defaults filled.
	Model model.Config `json:"model"`
	// Features and Log1p are the feature columns and their log1p flags.
	Features []string `json:"features"`
	Log1p    []bool   `json:"log1p"`
	// Train and Validation digest the matrices the run trained on.
	Train      matrixDigest `json:"train"`
	Validation matrixDigest `json:"validation"`
	// Data, Read and the window they gave: the causes to name when the
	// matrices differ.
	Data           dataFile    `json:"data"`
	Read           clv.Options `json:"read"`
	CalibrationEnd time.Time   `json:"calibration_end"`
	HoldoutEnd     time.Time   `json:"holdout_end,omitzero"`
}

// matrixDigest identifies a feature matrix and its labels: the SHA-256 of
// its shape and of its values' float32 bits, row by row.
type matrixDigest struct {
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	SHA256 string `json:"sha256"`
}

// dataFile is the transaction log as the file system saw it.
type dataFile struct {
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"`
	Modified time.Time `json:"modified,omitzero"`
}

func (f dataFile) String() string {
	if f.Modified.IsZero() {
		return f.Path
	}
	return fmt.Sprintf("%s (%d bytes, modified %s)", f.Path, f.Bytes, f.Modified.UTC().Format(time.RFC3339))
}

func digestOf(d model.Data) matrixDigest {
	h := sha256.New()
	buf := make([]byte, 0, 64<<10)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(d.Rows))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(d.Cols))
	for _, a := range [][]float32{d.X, d.Y} {
		for _, v := range a {
			if len(buf)+4 > cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	h.Write(buf)
	return matrixDigest{Rows: d.Rows, Cols: d.Cols, SHA256: hex.EncodeToString(h.Sum(nil))}
}

func (p *Prepared) fingerprint() *fingerprint {
	fp := &fingerprint{
		Format: fingerprintFormat, Model: p.Spec.Model.WithDefaults(),
		Features: p.Dataset.FeatureNames, Log1p: p.Dataset.Log1p,
		Train: digestOf(p.TrainData), Validation: digestOf(p.ValData),
		Data: dataFile{Path: p.Spec.Data}, Read: p.Spec.Read,
		CalibrationEnd: p.Dataset.Report.CalibrationEnd, HoldoutEnd: p.Dataset.Report.HoldoutEnd,
	}
	if fi, err := os.Stat(p.Spec.Data); err == nil {
		fp.Data.Bytes, fp.Data.Modified = fi.Size(), fi.ModTime().UTC()
	}
	return fp
}

// Fingerprint is what every checkpoint of this run records about it (see
// SaveCheckpointWith and CheckResume): the model configuration, the
// features, a SHA-256 of the training and validation matrices, and the
// data file and read options they came from. It hashes both matrices, a
// fraction of a second for a million customers. Local saves it in every
// checkpoint; a distributed worker, which holds only its shard, gets it
// from the coordinator in the generation plan (GenerationPlan.fingerprint)
// and rank 0 saves it with model.SaveCheckpointWith.
func (p *Prepared) Fingerprint() (json.RawMessage, error) {
	raw, err := json.Marshal(p.fingerprint())
	if err != nil {
		return nil, fmt.Errorf("job: fingerprint: %w", err)
	}
	return raw, nil
}

// ResumeMismatchError is CheckResume's refusal: the checkpoint at Path was
// written by a run with other settings or data. Settings are the
// differing settings (for a data difference, also the read options and
// data file that differ, its likely causes); Data says which data differ,
// e.g. "the training data differ from the checkpoint's (...)".
type ResumeMismatchError struct {
	Path     string
	Settings []model.Mismatch
	Data     []string
	// Unfingerprinted: the checkpoint has no fingerprint, and these are the
	// differences that its state alone shows.
	Unfingerprinted bool
}

func (e *ResumeMismatchError) Error() string {
	var parts []string
	if len(e.Settings) > 0 {
		a, b := make([]string, len(e.Settings)), make([]string, len(e.Settings))
		for i, m := range e.Settings {
			a[i], b[i] = m.What+" "+m.Checkpoint, m.What+" "+m.Run
		}
		parts = append(parts, "the checkpoint was trained with "+andList(a)+", this run has "+andList(b))
	}
	parts = append(parts, e.Data...)
	var note string
	if e.Unfingerprinted {
		note = " (the checkpoint has no fingerprint: it was written by an older cohort (or by workers whose plan carried none), so only its features, steps per epoch and learning rates could be compared)"
	}
	return fmt.Sprintf("job: resume from %s: %s%s: resume with the checkpoint's data and settings, or train with --overwrite instead of --resume to start over",
		e.Path, strings.Join(parts, "; "), note)
}

func andList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// CheckResume refuses to resume this run from the checkpoint at path when
// the checkpoint was trained on other data or with settings that change
// the training trajectory, with a *ResumeMismatchError that names what
// differs; TrainWith calls it before the training step whenever the spec
// has Resume, on one process or many.
//
// A checkpoint without a fingerprint (written before fingerprints
// existed, or by distributed workers before the generation plan carried
// one: see Fingerprint) is compared on what its state shows: the
// feature columns and their standardisation (which a changed data file or
// calibration end moves), the optimizer steps per epoch (batch and
// training rows) and the learning rate of every finished epoch. When
// those agree it is accepted with a warning through slog, since neither
// its seed nor its labels (the horizon) can be checked: refusing it would
// throw away every run interrupted across the upgrade, to guard against the mistakes these
// comparisons already catch most of.
func (p *Prepared) CheckResume(ctx context.Context, path string) error {
	st, raw, err := model.LoadCheckpointWith(path)
	if err != nil {
		return fmt.Errorf("job: resume: %w", err)
	}
	run := p.fingerprint()
	if raw == nil {
		return p.checkUnfingerprinted(ctx, path, st, run)
	}
	var ck fingerprint
	if err := json.Unmarshal(raw, &ck); err != nil {
		return fmt.Errorf("job: resume from %s: read its fingerprint: %w", path, err)
	}
	if ck.Format != fingerprintFormat {
		return fmt.Errorf("job: resume from %s: its fingerprint is %q, this cohort reads %q: resume with the cohort that wrote it, or train with --overwrite instead of --resume to start over",
			path, ck.Format, fingerprintFormat)
	}
	e := &ResumeMismatchError{Path: path, Settings: model.ResumeMismatches(ck.Model, run.Model)}
	if !slices.Equal(ck.Features, run.Features) || !slices.Equal(ck.Log1p, run.Log1p) {
		e.Data = append(e.Data, featureDiff(ck.Features, ck.Log1p, run.Features, run.Log1p))
	}
	for _, d := range []struct {
		what      string
		ckpt, run matrixDigest
	}{{"training", ck.Train, run.Train}, {"validation", ck.Validation, run.Validation}} {
		if d.ckpt != d.run {
			e.Data = append(e.Data, fmt.Sprintf("the %s data differ from the checkpoint's (%d rows, digest %.16s vs %d rows, digest %.16s)",
				d.what, d.ckpt.Rows, d.ckpt.SHA256, d.run.Rows, d.run.SHA256))
		}
	}
	if len(e.Data) > 0 {
		e.Settings = append(readMismatches(&ck, run), e.Settings...)
	}
	if len(e.Settings) == 0 && len(e.Data) == 0 {
		return nil
	}
	return e
}

// featureDiff says how two runs' feature columns differ: columns only one
// of them has, log1p flags, or order.
func featureDiff(ckNames []string, ckLog1p []bool, names []string, log1p []bool) string {
	flags := func(names []string, log1p []bool) map[string]bool {
		m := make(map[string]bool, len(names))
		for i, n := range names {
			m[n] = i < len(log1p) && log1p[i]
		}
		return m
	}
	a, b := flags(ckNames, ckLog1p), flags(names, log1p)
	list := func(s []string) string {
		const show = 6
		if len(s) > show {
			return fmt.Sprintf("%s and %d more", strings.Join(s[:show], " "), len(s)-show)
		}
		return strings.Join(s, " ")
	}
	var onlyA, onlyB, logs []string
	for _, n := range ckNames {
		if l, ok := b[n]; !ok {
			onlyA = append(onlyA, n)
		} else if l != a[n] {
			logs = append(logs, n)
		}
	}
	for _, n := range names {
		if _, ok := a[n]; !ok {
			onlyB = append(onlyB, n)
		}
	}
	var parts []string
	if len(onlyA) > 0 {
		parts = append(parts, "only the checkpoint's: "+list(onlyA))
	}
	if len(onlyB) > 0 {
		parts = append(parts, "only this run's: "+list(onlyB))
	}
	if len(logs) > 0 {
		parts = append(parts, "log1p differs on "+list(logs))
	}
	if len(parts) == 0 {
		parts = append(parts, "the same columns in another order")
	}
	return fmt.Sprintf("the features differ from the checkpoint's (%d vs %d columns; %s)", len(ckNames), len(names), strings.Join(parts, "; "))
}

// readMismatches are the recorded causes of a data difference: the data
// file and the read options (with the calibration end as resolved).
func readMismatches(ck, run *fingerprint) []model.Mismatch {
	var ms []model.Mismatch
	add := func(what, a, b string) {
		if a != b {
			ms = append(ms, model.Mismatch{What: what, Checkpoint: a, Run: b})
		}
	}
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return "none"
		}
		return t.Format(time.DateOnly)
	}
	onOff := func(v bool) string {
		if v {
			return "on"
		}
		return "off"
	}
	a, b := ck.Read, run.Read
	add("data file", ck.Data.String(), run.Data.String())
	add("calibration end", date(ck.CalibrationEnd), date(run.CalibrationEnd))
	add("horizon", a.Horizon.String(), b.Horizon.String())
	add("customer column", or(a.Customer, "(detected)"), or(b.Customer, "(detected)"))
	add("date column", or(a.Date, "(detected)"), or(b.Date, "(detected)"))
	add("amount column", or(a.Amount, "(detected)"), or(b.Amount, "(detected)"))
	add("quantity column", or(a.Quantity, "(detected)"), or(b.Quantity, "(detected)"))
	add("extra columns", or(strings.Join(a.Extra, ","), "none"), or(strings.Join(b.Extra, ","), "none"))
	count := func(n int) string {
		if n == 0 {
			return "(default)"
		}
		return strconv.Itoa(n)
	}
	add("periods", count(a.Periods), count(b.Periods))
	add("period days", count(a.PeriodDays), count(b.PeriodDays))
	add("negative amounts", a.Negative.String(), b.Negative.String())
	add("skip bad rows", onOff(a.SkipBadRows), onOff(b.SkipBadRows))
	add("format", or(a.Format, "(detected)"), or(b.Format, "(detected)"))
	add("header", or(a.Header, "auto"), or(b.Header, "auto"))
	add("delimiter", or(a.Delimiter, "(detected)"), or(b.Delimiter, "(detected)"))
	add("date format", or(a.DateFormat, "(detected)"), or(b.DateFormat, "(detected)"))
	// "" and "." read the same; with "," a grouped "1.234" is 1234, not 1.234.
	add("decimal separator", or(strings.TrimSpace(a.Decimal), "."), or(strings.TrimSpace(b.Decimal), "."))
	// DataEnd is left out: it only decides whether the data cover the
	// holdout, so it cannot be why the matrices differ.
	return ms
}

// checkUnfingerprinted compares a checkpoint without a fingerprint on what
// its state shows (see CheckResume).
func (p *Prepared) checkUnfingerprinted(ctx context.Context, path string, st *model.TrainState, run *fingerprint) error {
	e := &ResumeMismatchError{Path: path, Unfingerprinted: true}
	if d := pipelineDiff(st.Pipeline, p.TrainData, run); d != "" {
		e.Data = append(e.Data, d)
	}
	cfg, rows := run.Model, p.TrainData.Rows
	batch := max(min(cfg.Batch, rows), 1)
	perEpoch := (rows + batch - 1) / batch
	trained := func(st *model.TrainState) int { return (st.Epoch-1)*perEpoch + (st.Offset+batch-1)/batch }
	if len(st.History.Epochs) > 0 && st.History.Epochs[0].Steps != perEpoch || st.Adam.Step != trained(st) {
		ckpt := "?"
		if len(st.History.Epochs) > 0 {
			ckpt = strconv.Itoa(st.History.Epochs[0].Steps)
		}
		e.Settings = append(e.Settings, model.Mismatch{What: "steps per epoch", Checkpoint: ckpt,
			Run: fmt.Sprintf("%d (batch %d over %d training rows)", perEpoch, batch, rows)})
	}
	total := perEpoch * cfg.MaxEpochs
	for _, ep := range st.History.Epochs {
		if want := cfg.LRAt(ep.Steps, total); ep.LR != want {
			f := func(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }
			at := fmt.Sprintf(" at step %d", ep.Steps)
			e.Settings = append(e.Settings, model.Mismatch{What: "learning rate", Checkpoint: f(ep.LR) + at, Run: f(want) + at})
			break
		}
	}
	if len(e.Settings) > 0 || len(e.Data) > 0 {
		return e
	}
	slog.WarnContext(ctx, "resuming from a checkpoint without a fingerprint (written by an older cohort, or by workers whose plan carried none): "+
		"its features, steps per epoch and learning rates match this run, its seed and labels (--horizon) could not be checked",
		"checkpoint", path)
	return nil
}

// pipelineDiff says how the checkpoint's standardisation differs from the
// one this run's training features give, or "" when they agree: the same
// columns, log1p flags, and means and deviations within 1e-3 of their
// scale (a distributed run sums them in another order).
func pipelineDiff(ck model.Pipeline, train model.Data, run *fingerprint) string {
	if !slices.Equal(ck.FeatureNames, run.Features) || !slices.Equal(ck.Log1p, run.Log1p) {
		return featureDiff(ck.FeatureNames, ck.Log1p, run.Features, run.Log1p)
	}
	pipe, err := model.FitPipeline(train, run.Features, run.Log1p)
	if err != nil || len(ck.Mean) != len(pipe.Mean) || len(ck.Std) != len(pipe.Std) {
		return fmt.Sprintf("the training features differ from the checkpoint's (%d standardised columns vs %d)", len(ck.Mean), len(pipe.Mean))
	}
	for j := range pipe.Mean {
		a, b := float64(ck.Mean[j]), float64(pipe.Mean[j])
		sa, sb := float64(ck.Std[j]), float64(pipe.Std[j])
		scale := max(1, math.Abs(a), math.Abs(b), sa, sb)
		if !(math.Abs(a-b) <= 1e-3*scale) || !(math.Abs(sa-sb) <= 1e-3*scale) {
			return fmt.Sprintf("the training features differ from the checkpoint's (%q: mean %.6g, std %.6g vs mean %.6g, std %.6g)",
				pipe.FeatureNames[j], a, sa, b, sb)
		}
	}
	return ""
}
