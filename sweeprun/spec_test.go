package sweeprun_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-clv/cohort/clv"
	"github.com/cohort-clv/cohort/model"
	"github.com/cohort-clv/cohort/sweep"
	"github.com/cohort-clv/cohort/sweeprun"
)

// TestParseSpecErrors ensures a bad spec is refused with an error naming
// the field at fault.
func TestParseSpecErrors(t *testing.T) {
	const space = `space: {parameters: [{name: lr, type: float, min: 0.001, max: 0.1, log: true}]}`
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no data", "horizon: 39w\ntrials: 2\n" + space, "data:"},
		{"no horizon", "data: x.csv\ntrials: 2\n" + space, "horizon:"},
		{"bad horizon", "data: x.csv\nhorizon: 39q\ntrials: 2\n" + space, `horizon "39q"`},
		{"no trials", "data: x.csv\nhorizon: 39w\n" + space, "trials: 0"},
		{"no space", "data: x.csv\nhorizon: 39w\ntrials: 2", "space:"},
		{"unknown parameter", "data: x.csv\nhorizon: 39w\ntrials: 2\nspace: {parameters: [{name: depth, type: int, min: 1, max: 3}]}", `parameter "depth"`},
		{"bad rule", "data: x.csv\nhorizon: 39w\ntrials: 2\nearly_stopping: {rule: hyperband}\n" + space, `rule "hyperband"`},
		{"bad date", "data: x.csv\nhorizon: 39w\ncalibration_end: 30/09/1997\ntrials: 2\n" + space, "calibration_end"},
		{"unknown field", "data: x.csv\nhorizon: 39w\ntrials: 2\nbudget: 3\n" + space, "budget"},
		{"bad data end", "data: x.csv\nhorizon: 39w\ndata_end: June\ntrials: 2\n" + space, `data_end "June"`},
		{"bad negative", "data: x.csv\nhorizon: 39w\nnegative: keep\ntrials: 2\n" + space, `negative "keep"`},
		{"bad decimal", "data: x.csv\nhorizon: 39w\ndecimal: \";\"\ntrials: 2\n" + space, "decimal"},
		{"bad date format", "data: x.csv\nhorizon: 39w\ndate_format: dd/mm/yyyy\ntrials: 2\n" + space, "02/01/2006"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sweeprun.ParseSpec([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestApply ensures each space parameter lands in its model.Config field,
// with hidden sizes parsed from their categorical string.
func TestApply(t *testing.T) {
	base := model.DefaultConfig()
	got, err := sweeprun.Apply(base, sweep.Config{"hidden": "64x32", "lr": 0.01, "batch": 300.0, "weight_decay": 0.0, "cosine": true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Hidden, []int{64, 32}) || got.LR != 0.01 || got.Batch != 300 || got.WeightDecay != 0 || !got.Cosine {
		t.Errorf("Apply gave %+v", got)
	}
	if !slices.Equal(base.Hidden, model.DefaultConfig().Hidden) {
		t.Errorf("Apply changed the base's hidden sizes to %v", base.Hidden)
	}
	for _, bad := range []sweep.Config{{"hidden": "64,a"}, {"hidden": "0"}, {"lr": "fast"}, {"depth": 3}} {
		if _, err := sweeprun.Apply(base, bad); err == nil {
			t.Errorf("Apply(%v) succeeded, want an error", bad)
		}
	}
}

// TestSpecReadOptions ensures a spec's read fields reach clv.Options as
// train's flags of the same names set them.
func TestSpecReadOptions(t *testing.T) {
	spec, err := sweeprun.ParseSpec([]byte(`data: shop.csv
horizon: 39w
calibration_end: "2024-06-30"
data_end: "2024-12-31"
delimiter: ";"
decimal: ","
date_format: 02.01.2006
skip_bad_rows: true
negative: drop
header: "yes"
trials: 2
space: {parameters: [{name: lr, type: float, min: 0.001, max: 0.1, log: true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := spec.ReadOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.Delimiter != ";" || o.Decimal != "," || o.DateFormat != "02.01.2006" || !o.SkipBadRows ||
		o.Negative != clv.DropNegative || o.Header != "yes" ||
		o.DataEnd.Format(time.DateOnly) != "2024-12-31" || o.CalibrationEnd.Format(time.DateOnly) != "2024-06-30" {
		t.Errorf("read options %+v", o)
	}
}

// TestParseSpecModelDefaults ensures a sweep's base model is cohort train's:
// fields the spec leaves out take model.DefaultConfig's values (weight decay
// 1e-4, seed 1), while an explicit zero where zero means "off" stays zero.
func TestParseSpecModelDefaults(t *testing.T) {
	const head = "data: x.csv\nhorizon: 39w\ntrials: 2\nspace: {parameters: [{name: lr, type: float, min: 0.001, max: 0.1, log: true}]}\n"
	d := model.DefaultConfig()
	for _, tc := range []struct {
		name, model string
		check       func(model.Config) bool
	}{
		{"no model block", "", func(c model.Config) bool {
			return c.WeightDecay == d.WeightDecay && c.Seed == d.Seed && c.LR == d.LR && c.Patience == d.Patience && slices.Equal(c.Hidden, d.Hidden)
		}},
		{"model without them", "model: {max_epochs: 5}", func(c model.Config) bool {
			return c.WeightDecay == 1e-4 && c.Seed == 1 && c.MaxEpochs == 5 && c.Ensemble == 1
		}},
		{"explicit weight_decay 0", "model: {weight_decay: 0}", func(c model.Config) bool { return c.WeightDecay == 0 && c.Seed == 1 }},
		{"explicit seeds", "model: {seed: 7}\nseed: 3", func(c model.Config) bool { return c.Seed == 7 }},
		{"top-level seed is the sampler's", "seed: 3", func(c model.Config) bool { return c.Seed == 1 }},
		{"hidden as a string", `model: {hidden: "32,16"}`, func(c model.Config) bool { return slices.Equal(c.Hidden, []int{32, 16}) }},
		{"linear model", "model: {hidden: []}", func(c model.Config) bool { return c.Hidden != nil && len(c.Hidden) == 0 }},
		{"hidden as a number", "model: {hidden: 16}", func(c model.Config) bool { return slices.Equal(c.Hidden, []int{16}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sweeprun.ParseSpec([]byte(head + tc.model))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s.Model) {
				t.Errorf("base model %+v", s.Model)
			}
			js, err := s.JobSpec(sweep.Config{"lr": 0.01}, "out")
			if err != nil {
				t.Fatal(err)
			}
			if js.Model.WeightDecay != s.Model.WeightDecay || js.Model.Seed != s.Model.Seed {
				t.Errorf("a trial's model %+v lost the base's weight decay or seed", js.Model)
			}
		})
	}
}

// TestParseSpecValues ensures every value a trial could get is checked
// before anything runs, naming the parameter and the value: values training
// refuses, wrong types, and zeros that training would silently replace by
// the default; and that values which are fine pass.
func TestParseSpecValues(t *testing.T) {
	const head = "data: x.csv\nhorizon: 39w\ntrials: 2\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string // empty: the spec is fine
	}{
		{"negative lr", "space: {parameters: [{name: lr, type: float, min: -0.01, max: 0}]}",
			[]string{`parameter "lr": min -0.01`, "lr must be positive", `"lr": max 0`, "lr 0 would train as the default"}},
		{"ensemble above 32", "space: {parameters: [{name: ensemble, type: int, min: 40, max: 50}]}",
			[]string{`parameter "ensemble": min 40`, "ensemble must be 1..32"}},
		{"hidden abc", `space: {parameters: [{name: hidden, type: categorical, values: ["abc", "16"]}]}`,
			[]string{`parameter "hidden": value abc`}},
		{"mixed-type choices", `space: {parameters: [{name: hidden, type: categorical, values: [16, "32,16", true]}]}`,
			[]string{`parameter "hidden": value true`}},
		{"lr 0 choice", "space: {parameters: [{name: lr, type: categorical, values: [0, 0.001]}]}",
			[]string{`parameter "lr": value 0`, "default 0.001"}},
		{"batch from 0", "space: {parameters: [{name: batch, type: int, min: 0, max: 1}]}",
			[]string{`parameter "batch": min 0`, "default 512"}},
		{"patience range over 0", "space: {parameters: [{name: patience, type: int, min: -1, max: 3}]}",
			[]string{`parameter "patience": value in the range 0`, "use -1"}},
		{"cosine not a boolean", `space: {parameters: [{name: cosine, type: categorical, values: [true, "yes"]}]}`,
			[]string{`parameter "cosine": value yes`}},
		{"model lr 0", "model: {lr: 0, patience: 0}\nspace: {parameters: [{name: batch, type: int, min: 64, max: 128}]}",
			[]string{"model.lr 0", "model.patience 0"}},
		{"beta1 1", "space: {parameters: [{name: beta1, type: float, min: 0.5, max: 1}]}",
			[]string{`parameter "beta1": max 1`}},
		{"unknown sampler", "sampler: {algorithm: cmaes}\nspace: {parameters: [{name: lr, type: float, min: 0.001, max: 0.01}]}",
			[]string{`algorithm "cmaes"`}},
		{"asha without room", "model: {max_epochs: 1}\nspace: {parameters: [{name: lr, type: float, min: 0.001, max: 0.01}]}",
			[]string{"max_epochs (1)", "rule: none"}},
		{"train's epochs", "model: {epochs: 3}\nspace: {parameters: [{name: lr, type: float, min: 0.001, max: 0.01}]}",
			[]string{"model.max_epochs"}},
		{"zeros that mean off", "space: {parameters: [{name: weight_decay, type: float, min: 0, max: 0.001}, " +
			"{name: warmup_steps, type: int, min: 0, max: 50}, {name: clip_norm, type: float, min: 0, max: 1}]}", nil},
		{"patience choices", "space: {parameters: [{name: patience, type: categorical, values: [-1, 5]}]}", nil},
		{"linear hidden", `space: {parameters: [{name: hidden, type: categorical, values: ["linear", "16", 32]}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sweeprun.ParseSpec([]byte(head + tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("a fine spec refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestParseSpecFile ensures a relative data path is resolved against the
// spec file's directory (and stored absolute, so a resume from another
// directory finds it), and that errors name the file.
func TestParseSpecFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "specs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	const rest = "\nhorizon: 39w\ntrials: 2\nspace: {parameters: [{name: lr, type: float, min: 0.001, max: 0.1, log: true}]}\n"
	for _, tc := range []struct {
		name, data, want, wantErr string
	}{
		{"beside the spec", "shop.csv", filepath.Join(sub, "shop.csv"), ""},
		{"above the spec", "../data/shop.csv", filepath.Join(dir, "data", "shop.csv"), ""},
		{"absolute", "/srv/shop.csv", "/srv/shop.csv", ""},
		{"bad spec", "shop.csv\ncalibration_end: 30/09/1997", "", "calibration_end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(sub, "spec.yaml")
			if err := os.WriteFile(path, []byte("data: "+tc.data+rest), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := sweeprun.ParseSpecFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), path+":") {
					t.Fatalf("error %v, want one starting with %s: and mentioning %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Data != tc.want {
				t.Errorf("data %q, want %q", s.Data, tc.want)
			}
		})
	}
}

// TestTrialJSONValue ensures only completed and pruned trials carry a value
// in JSON: a failed trial's would otherwise read as the best loss, 0.
func TestTrialJSONValue(t *testing.T) {
	for _, tc := range []struct {
		status sweeprun.Status
		value  float64
		want   bool
	}{
		{sweeprun.Completed, 2.5, true},
		{sweeprun.Pruned, 3.5, true},
		{sweeprun.Failed, 0, false},
		{sweeprun.Running, 0, false},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			b, err := json.Marshal(sweeprun.Trial{ID: 1, Status: tc.status, Value: tc.value, Reason: "r"})
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			v, ok := m["value"]
			if ok != tc.want || ok && v != tc.value {
				t.Errorf("%s trial encodes as %s; want a value: %v", tc.status, b, tc.want)
			}
			var back sweeprun.Trial
			if err := json.Unmarshal(b, &back); err != nil || back.Value != tc.value || back.Status != tc.status {
				t.Errorf("decoded back as %+v (%v)", back, err)
			}
		})
	}
}

// TestParseSpecRetries ensures retries left out is 2 and an explicit 0
// means no rerun, not the default.
func TestParseSpecRetries(t *testing.T) {
	const head = "data: x.csv\nhorizon: 39w\ntrials: 2\nspace: {parameters: [{name: lr, type: float, min: 0.001, max: 0.1, log: true}]}\n"
	for _, tc := range []struct {
		yaml string
		want int
	}{{"", 2}, {"retries: 0", 0}, {"retries: 5", 5}} {
		s, err := sweeprun.ParseSpec([]byte(head + tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if s.Retries != tc.want {
			t.Errorf("%q: retries %d, want %d", tc.yaml, s.Retries, tc.want)
		}
	}
}

// TestPlotFewTrials ensures the plots draw (rather than panic on a
// degenerate log axis) when a log-scale parameter has one value or none.
func TestPlotFewTrials(t *testing.T) {
	sp, err := sweep.ParseSpace([]byte(`parameters: [{name: lr, type: float, min: 0.0001, max: 0.01, log: true},
  {name: batch, type: int, min: 128, max: 1024, log: true}]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		trials []sweeprun.Trial
	}{
		{"one completed", []sweeprun.Trial{{ID: 0, Status: sweeprun.Completed, Value: 2, Config: sweep.Config{"lr": 0.0007, "batch": 300}}}},
		{"one pruned", []sweeprun.Trial{{ID: 0, Status: sweeprun.Pruned, Value: 3, Config: sweep.Config{"lr": 0.0007, "batch": 300}}}},
		{"one failed", []sweeprun.Trial{{ID: 0, Status: sweeprun.Failed, Config: sweep.Config{"lr": 0.0007, "batch": 300}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := sweeprun.Plot(dir, sp, tc.trials); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "param-lr.png")); err != nil {
				t.Error(err)
			}
		})
	}
}
