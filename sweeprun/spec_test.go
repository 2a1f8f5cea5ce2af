package sweeprun_test

import (
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
