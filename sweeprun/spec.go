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
	"os"
	"path/filepath"
	"reflect"
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
	// ParseSpecFile makes a relative Data absolute against the spec file's
	// directory.
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
	// parameters override its fields (see Apply). ParseSpec decodes it over
	// model.DefaultConfig, as cohort train's flags start from it: a field
	// the spec leaves out has train's default (weight_decay 1e-4, seed 1...),
	// and an explicit weight_decay: 0 means 0. A zero that training would
	// silently replace by the default (lr, batch, patience...) is refused.
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
	// Retries is how many times a trial interrupted by a crash (its
	// process killed or dead without recording a stop) is re-run before it
	// is marked failed (default 2; 0: never). A clean stop (Ctrl-C,
	// SIGTERM; see Options.RecordStops) is not a crash and does not count.
	Retries int `json:"retries"`
	// Seed seeds the sampler (which configurations it proposes) when
	// Sampler.Seed is 0; it is not the model's seed, which is model.seed
	// (default 1, as train's --seed).
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
// errors name the field. The model block is decoded over
// model.DefaultConfig, and every value of the search space is checked
// against the model's rules before anything runs.
func ParseSpec(data []byte) (*Spec, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("sweeprun: parse spec: %w", err)
	}
	if js, err = hiddenAsList(js); err != nil {
		return nil, fmt.Errorf("sweeprun: parse spec: %w", err)
	}
	s, err := decodeSpec(js)
	if err != nil {
		var unknown string
		if strings.Contains(err.Error(), `unknown field "epochs"`) {
			unknown = " (the spec's name for train's --epochs is model.max_epochs)"
		}
		return nil, fmt.Errorf("sweeprun: parse spec: %w%s", err, unknown)
	}
	if err := s.fill(); err != nil {
		return nil, err
	}
	if err := s.checkModel(); err != nil {
		return nil, fmt.Errorf("sweeprun: invalid spec: %w", err)
	}
	return s, nil
}

// ParseSpecFile reads and parses the spec file at path: a relative data
// path is taken relative to the file's directory and stored absolute, so
// the sweep resumes from any working directory; errors start with path.
func ParseSpecFile(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweeprun: read spec: %w", err)
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !filepath.IsAbs(s.Data) {
		abs, err := filepath.Abs(filepath.Join(filepath.Dir(path), s.Data))
		if err != nil {
			return nil, fmt.Errorf("%s: data: %w", path, err)
		}
		s.Data = abs
	}
	return s, nil
}

// decodeSpec decodes JSON strictly, over model.DefaultConfig, so a model
// field the spec leaves out keeps cohort train's default.
func decodeSpec(js []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	s := newSpec()
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// newSpec is a Spec with the defaults that a field left out keeps, for
// decoding over: an explicit 0 in the spec stays 0.
func newSpec() Spec { return Spec{Model: model.DefaultConfig(), Retries: 2} }

// hiddenAsList rewrites model.hidden written as a string ("32,16", as the
// space's hidden values are) or one number into the list model.Config
// decodes.
func hiddenAsList(js []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(js, &doc) != nil || doc["model"] == nil {
		return js, nil // not an object: the strict decode says why
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(doc["model"], &m) != nil {
		return js, nil
	}
	var h any
	if json.Unmarshal(m["hidden"], &h) != nil {
		return js, nil
	}
	switch h.(type) {
	case string, float64:
	default:
		return js, nil // a list, or a mistake the strict decode names
	}
	widths, err := parseHidden(h)
	if err != nil {
		return nil, fmt.Errorf("model.hidden: %w", err)
	}
	var err2 error
	if m["hidden"], err2 = json.Marshal(widths); err2 != nil {
		return nil, err2
	}
	if doc["model"], err2 = json.Marshal(m); err2 != nil {
		return nil, err2
	}
	return json.Marshal(doc)
}

// fill sets defaults and validates.
func (s *Spec) fill() error {
	if s.Model.Hidden == nil {
		s.Model.Hidden = model.DefaultConfig().Hidden
	}
	if s.Parallel == 0 {
		s.Parallel = 1
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
		if _, err := sweep.New(space, s.Sampler); err != nil {
			errs = append(errs, fmt.Errorf("sampler: %w", err))
		}
	}
	if _, err := s.newStopper(); err != nil {
		errs = append(errs, err)
	}
	if err := s.Model.WithDefaults().Validate(); err != nil {
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
		if o.MaxResource != 0 {
			return sweep.NewASHA(o)
		}
		o.MaxResource = s.Model.WithDefaults().MaxEpochs
		a, err := sweep.NewASHA(o)
		if err != nil {
			return nil, fmt.Errorf("early_stopping: asha stops trials between min_resource and model.max_epochs (%d), which leaves it no room: %w; "+
				"for so few epochs use early_stopping: {rule: none}", o.MaxResource, err)
		}
		return a, nil
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

// checkModel refuses a base model, or a value of the search space applied
// to it, that training would refuse or would silently train as something
// else: every bound of a numeric parameter (and 0, when an integer range
// holds it) and every categorical value goes through the parameter's setter
// and model.Config.Validate, so a bad space fails before any trial runs.
func (s *Spec) checkModel() error {
	var errs []error
	if err := defaultedZeros(s.Model, "model.", ""); err != nil {
		errs = append(errs, err)
	}
	space, err := s.space()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, p := range space.Params() {
		if _, ok := setters[p.Name]; !ok {
			continue // fill reported it
		}
		for _, v := range probeValues(p) {
			if err := s.checkValue(p.Name, v.value); err != nil {
				errs = append(errs, fmt.Errorf("space: parameter %q: %s %v: %w", p.Name, v.what, v.value, err))
			}
		}
	}
	return errors.Join(errs...)
}

// probe is one value of a parameter that checkModel tries.
type probe struct {
	what  string // "min", "max", "value"...
	value any
}

// probeValues are the values of p worth trying: a numeric range's bounds
// (the model's rules are intervals, so the bounds stand for the range) and
// 0 when an integer range holds it; each categorical value.
func probeValues(p sweep.Param) []probe {
	if p.Type == sweep.Categorical {
		out := make([]probe, len(p.Values))
		for i, v := range p.Values {
			out[i] = probe{"value", v}
		}
		return out
	}
	lo, hi := *p.Min, *p.Max
	if p.Type == sweep.Int {
		out := []probe{{"min", int(lo)}, {"max", int(hi)}}
		if lo < 0 && hi > 0 {
			out = append(out, probe{"value in the range", 0})
		}
		return out
	}
	return []probe{{"min", lo}, {"max", hi}}
}

// checkValue applies name = v to the base model as a trial would.
func (s *Spec) checkValue(name string, v any) error {
	c, err := Apply(s.Model, sweep.Config{name: v})
	if err != nil {
		return errors.Unwrap(err) // Apply's error names the parameter again
	}
	if err := defaultedZeros(c, "", name); err != nil {
		return err
	}
	return c.WithDefaults().Validate()
}

// defaultedZeros reports the fields of c that are 0 where training takes 0
// to mean the default (model.Config.WithDefaults): lr 0 would train at the
// default rate, patience 0 with the default patience. Each error starts
// with prefix and the field's name; when only is set, only that field is
// checked.
func defaultedZeros(c model.Config, prefix, only string) error {
	d := c.WithDefaults()
	cv, dv := reflect.ValueOf(c), reflect.ValueOf(d)
	var errs []error
	for i := range cv.NumField() {
		name, _, _ := strings.Cut(cv.Type().Field(i).Tag.Get("json"), ",")
		if only != "" && name != only {
			continue
		}
		if reflect.DeepEqual(cv.Field(i).Interface(), dv.Field(i).Interface()) {
			continue
		}
		hint := "give the value itself"
		switch name {
		case "patience":
			hint = "use -1 to turn early stopping off, or a number of epochs"
		case "hidden":
			hint = `use "linear" or [] for no hidden layer`
		}
		errs = append(errs, fmt.Errorf("%s%s %v would train as the default %v (0 means the default); %s",
			prefix, name, cv.Field(i).Interface(), dv.Field(i).Interface(), hint))
	}
	return errors.Join(errs...)
}

// GridSize is the number of configurations of the spec's grid, for a grid
// sampler; ok is false for the other samplers, which never run out.
func (s *Spec) GridSize() (n int, ok bool) {
	if s.Sampler.Algorithm != sweep.AlgorithmGrid {
		return 0, false
	}
	space, err := s.space()
	if err != nil {
		return 0, false
	}
	n, err = sweep.GridSize(space)
	return n, err == nil
}

// ConfigText writes a configuration as name=value pairs in name order, as
// the sweep's log lines and summaries show it.
func ConfigText(c sweep.Config) string {
	keys := slices.Sorted(maps.Keys(c))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, c[k])
	}
	return strings.Join(parts, " ")
}
