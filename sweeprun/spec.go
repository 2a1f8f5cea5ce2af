// Package sweeprun runs hyperparameter sweeps of CLV models on this machine:
// it reads and prepares the data once, trains the trials a [sweep.Sampler]
// proposes in parallel goroutines, stops bad ones early with a
// [sweep.Stopper], and keeps every piece of sweep state in etcd, written
// transactionally, so a restarted coordinator resumes the sweep exactly.
//
// # Key layout
//
// Below /cohort/sweeps/<id>/:
//
//	spec            the Spec, JSON
//	sampler         the sampler's State after every Propose and Observe
//	stopper         the stopper's State after every report
//	trials/<n>      one Trial record per trial, n zero-padded
//
// A trial key and the state that mentions it change in one clientv3 Txn,
// so no restart can see a trial completed that the sampler has not observed
// or the reverse.
package sweeprun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/job"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/sweep"
)

// Spec is a sweep as written in spec.yaml.
type Spec struct {
	// Data is the transaction log; CalibrationEnd (YYYY-MM-DD), Horizon
	// (39w, 180d...) and Columns mean what train's flags of the same name do.
	Data           string  `json:"data"`
	CalibrationEnd string  `json:"calibration_end,omitempty"`
	Horizon        string  `json:"horizon"`
	Columns        Columns `json:"columns,omitempty"`
	// Format, Header, Delimiter, DateFormat, Decimal, SkipBadRows,
	// Negative and DataEnd read the log as train's flags of the same names
	// do (--date-format, --skip-bad-rows, --data-end...), for logs that
	// need them.
	Format      string `json:"format,omitempty"`
	Header      string `json:"header,omitempty"`
	Delimiter   string `json:"delimiter,omitempty"`
	DateFormat  string `json:"date_format,omitempty"`
	Decimal     string `json:"decimal,omitempty"`
	SkipBadRows bool   `json:"skip_bad_rows,omitempty"`
	Negative    string `json:"negative,omitempty"`
	DataEnd     string `json:"data_end,omitempty"`
	// Model is the base configuration every trial starts from; the space's
	// parameters override its fields (see Apply). Zero fields take
	// model.DefaultConfig's values.
	Model model.Config `json:"model,omitempty"`
	// Space is the search space in sweep.ParseSpace's format.
	Space json.RawMessage `json:"space"`
	// Objective is "val_loss" (the default and only objective: the best
	// validation loss of the trial).
	Objective string `json:"objective,omitempty"`
	// Sampler picks the algorithm (grid, random, bayes, tpe) and its options.
	Sampler sweep.Options `json:"sampler"`
	// Trials is the budget: how many trials the sweep runs in all.
	Trials int `json:"trials"`
	// Parallel is how many trials train at once (default 1).
	Parallel int `json:"parallel,omitempty"`
	// Threads bounds the CPU threads shared by the parallel trials (0: all).
	Threads int `json:"threads,omitempty"`
	// WorkersPerTrial is how many cluster workers train each trial
	// data-parallel when a coordinator runs the sweep (Submit; default 1):
	// many small trials pack onto the cluster, Parallel at a time.
	WorkersPerTrial int `json:"workers_per_trial,omitempty"`
	// EarlyStopping is the rule that stops bad trials.
	EarlyStopping EarlyStopping `json:"early_stopping,omitempty"`
	// Retries is how many times a trial interrupted by a crash is re-run
	// before it is marked failed (default 2).
	Retries int `json:"retries,omitempty"`
	// Seed seeds the sampler when Sampler.Seed is 0.
	Seed uint64 `json:"seed,omitempty"`
}

// Columns name the transaction log's columns as train's flags do.
type Columns struct {
	Customer string   `json:"customer,omitempty"`
	Date     string   `json:"date,omitempty"`
	Amount   string   `json:"amount,omitempty"`
	Quantity string   `json:"quantity,omitempty"`
	Extra    []string `json:"extra,omitempty"`
}

// EarlyStopping selects a stopping rule: "asha" (the default), "median" or
// "none", with that rule's options.
type EarlyStopping struct {
	Rule   string              `json:"rule,omitempty"`
	ASHA   sweep.ASHAOptions   `json:"asha,omitempty"`
	Median sweep.MedianOptions `json:"median,omitempty"`
}

// ParseSpec reads a Spec from YAML or JSON, fills defaults and validates it;
// errors name the field.
func ParseSpec(data []byte) (*Spec, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("sweeprun: parse spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("sweeprun: parse spec: %w", err)
	}
	if err := s.fill(); err != nil {
		return nil, err
	}
	return &s, nil
}

// fill sets defaults and validates.
func (s *Spec) fill() error {
	d := model.DefaultConfig()
	if s.Model.Hidden == nil {
		s.Model.Hidden = d.Hidden
	}
	s.Model = s.Model.WithDefaults()
	if s.Parallel == 0 {
		s.Parallel = 1
	}
	if s.Retries == 0 {
		s.Retries = 2
	}
	if s.WorkersPerTrial == 0 {
		s.WorkersPerTrial = 1
	}
	if s.Objective == "" {
		s.Objective = "val_loss"
	}
	if s.EarlyStopping.Rule == "" {
		s.EarlyStopping.Rule = "asha"
	}
	if s.Sampler.Seed == 0 {
		s.Sampler.Seed = s.Seed
	}
	if s.Sampler.Algorithm == "" {
		s.Sampler.Algorithm = sweep.AlgorithmTPE
	}
	var errs []error
	if s.Data == "" {
		errs = append(errs, errors.New("data: a transaction log is required"))
	}
	if s.Horizon == "" {
		errs = append(errs, errors.New("horizon: a holdout horizon such as 39w is required"))
	}
	if s.Trials < 1 {
		errs = append(errs, fmt.Errorf("trials: %d, want >= 1", s.Trials))
	}
	if s.Parallel < 1 || s.Threads < 0 || s.Retries < 0 {
		errs = append(errs, fmt.Errorf("parallel %d, threads %d, retries %d: want parallel >= 1, threads and retries >= 0", s.Parallel, s.Threads, s.Retries))
	}
	if s.WorkersPerTrial < 1 || s.WorkersPerTrial > 1024 {
		errs = append(errs, fmt.Errorf("workers_per_trial: %d, want 1..1024", s.WorkersPerTrial))
	}
	if s.Objective != "val_loss" {
		errs = append(errs, fmt.Errorf("objective %q: want val_loss", s.Objective))
	}
	if _, err := s.ReadOptions(); err != nil {
		errs = append(errs, err)
	}
	if space, err := s.space(); err != nil {
		errs = append(errs, err)
	} else {
		for _, p := range space.Params() {
			if _, ok := setters[p.Name]; !ok {
				errs = append(errs, fmt.Errorf("space: parameter %q: want one of %s", p.Name, setterNames()))
			}
		}
	}
	if _, err := s.newStopper(); err != nil {
		errs = append(errs, err)
	}
	if err := s.Model.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweeprun: invalid spec: %w", err)
	}
	return nil
}

// ReadOptions turns the data fields into clv.Options.
func (s *Spec) ReadOptions() (clv.Options, error) {
	o := clv.Options{Customer: s.Columns.Customer, Date: s.Columns.Date, Amount: s.Columns.Amount,
		Quantity: s.Columns.Quantity, Extra: s.Columns.Extra,
		Format: s.Format, Header: s.Header, Delimiter: s.Delimiter, DateFormat: s.DateFormat,
		Decimal: s.Decimal, SkipBadRows: s.SkipBadRows}
	for _, d := range []struct {
		name, value string
		to          *time.Time
	}{{"calibration_end", s.CalibrationEnd, &o.CalibrationEnd}, {"data_end", s.DataEnd, &o.DataEnd}} {
		if d.value == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.value)
		if err != nil {
			return o, fmt.Errorf("%s %q: want a date like 1997-09-30", d.name, d.value)
		}
		*d.to = t
	}
	h, err := clv.ParseHorizon(s.Horizon)
	if err != nil {
		return o, fmt.Errorf("horizon %q: want a whole number and a unit, d, w, m or y: 39w, 180d", s.Horizon)
	}
	o.Horizon = h
	if o.Negative, err = clv.ParseNegativePolicy(s.Negative); err != nil {
		return o, fmt.Errorf("negative %q: want net, drop or error", s.Negative)
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// SearchSpace parses the spec's search space.
func (s *Spec) SearchSpace() (*sweep.Space, error) { return s.space() }

func (s *Spec) space() (*sweep.Space, error) {
	if len(s.Space) == 0 {
		return nil, errors.New("space: a search space is required")
	}
	sp, err := sweep.ParseSpace(s.Space)
	if err != nil {
		return nil, fmt.Errorf("space: %w", err)
	}
	return sp, nil
}

func (s *Spec) newStopper() (sweep.Stopper, error) {
	switch s.EarlyStopping.Rule {
	case "asha":
		o := s.EarlyStopping.ASHA
		if o.MaxResource == 0 {
			o.MaxResource = s.Model.MaxEpochs
		}
		return sweep.NewASHA(o)
	case "median":
		return sweep.NewMedian(s.EarlyStopping.Median)
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("early_stopping.rule %q: want asha, median or none", s.EarlyStopping.Rule)
}

func (s *Spec) restoreStopper(state []byte) (sweep.Stopper, error) {
	switch s.EarlyStopping.Rule {
	case "asha":
		return sweep.RestoreASHA(state)
	case "median":
		return sweep.RestoreMedian(state)
	}
	return nil, nil
}

// JobSpec is the training job of one configuration, writing into out.
func (s *Spec) JobSpec(cfg sweep.Config, out string) (job.Spec, error) {
	read, err := s.ReadOptions()
	if err != nil {
		return job.Spec{}, err
	}
	m, err := Apply(s.Model, cfg)
	if err != nil {
		return job.Spec{}, err
	}
	js := job.DefaultSpec()
	js.Data, js.Read, js.Model, js.Out, js.Threads = s.Data, read, m, out, s.Threads
	return js, nil
}

// setters map a space parameter to the model.Config field it sets.
var setters = map[string]func(*model.Config, any) error{
	"hidden": func(c *model.Config, v any) error {
		h, err := parseHidden(v)
		c.Hidden = h
		return err
	},
	"lr":           func(c *model.Config, v any) error { return setF32(&c.LR, v) },
	"weight_decay": func(c *model.Config, v any) error { return setF32(&c.WeightDecay, v) },
	"beta1":        func(c *model.Config, v any) error { return setF32(&c.Beta1, v) },
	"beta2":        func(c *model.Config, v any) error { return setF32(&c.Beta2, v) },
	"clip_norm":    func(c *model.Config, v any) error { return setF32(&c.ClipNorm, v) },
	"batch":        func(c *model.Config, v any) error { return setInt(&c.Batch, v) },
	"patience":     func(c *model.Config, v any) error { return setInt(&c.Patience, v) },
	"warmup_steps": func(c *model.Config, v any) error { return setInt(&c.WarmupSteps, v) },
	"ensemble":     func(c *model.Config, v any) error { return setInt(&c.Ensemble, v) },
	"cosine": func(c *model.Config, v any) error {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%v is not a boolean", v)
		}
		c.Cosine = b
		return nil
	},
}

// ParameterNames lists the model settings a search space may tune.
func ParameterNames() string { return setterNames() }

func setterNames() string {
	return strings.Join(slices.Sorted(maps.Keys(setters)), ", ")
}

// Apply returns base with the configuration's parameters set.
func Apply(base model.Config, cfg sweep.Config) (model.Config, error) {
	base.Hidden = append([]int(nil), base.Hidden...)
	for name, v := range cfg {
		set, ok := setters[name]
		if !ok {
			return base, fmt.Errorf("sweeprun: parameter %q: want one of %s", name, setterNames())
		}
		if err := set(&base, v); err != nil {
			return base, fmt.Errorf("sweeprun: parameter %q: %w", name, err)
		}
	}
	return base, nil
}

func num(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case json.Number:
		return x.Float64()
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

func setF32(dst *float32, v any) error {
	f, err := num(v)
	*dst = float32(f)
	return err
}

func setInt(dst *int, v any) error {
	f, err := num(v)
	*dst = int(f)
	return err
}

// parseHidden reads layer widths written "128,64" or "128x64" ("" or
// "linear" for none), or one width as a number.
func parseHidden(v any) ([]int, error) {
	if f, err := num(v); err == nil {
		return []int{int(f)}, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%v: want widths like \"128,64\"", v)
	}
	s = strings.TrimSpace(s)
	if s == "" || s == "linear" {
		return []int{}, nil
	}
	var h []int
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == 'x' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive widths like \"128,64\"", s)
		}
		h = append(h, n)
	}
	return h, nil
}
