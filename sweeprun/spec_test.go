package sweeprun_test

import (
	"slices"
	"strings"
	"testing"

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
