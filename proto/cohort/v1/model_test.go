package cohortv1

import (
	"reflect"
	"slices"
	"testing"

	"github.com/cohort-clv/cohort/model"
)

// TestModelConfigRoundTrip ensures a model configuration survives the trip
// through the API unchanged, the linear model (empty, non-nil Hidden)
// included.
func TestModelConfigRoundTrip(t *testing.T) {
	for _, cfg := range []model.Config{
		model.DefaultConfig(),
		func() model.Config { c := model.DefaultConfig(); c.Hidden = []int{}; return c }(),
		{Hidden: []int{7}, LR: 0.5, WeightDecay: 0.1, Batch: 3, MaxEpochs: 2, Patience: -1, ClipNorm: 1, WarmupSteps: 9, Cosine: true, Seed: 42},
		{},
	} {
		if got := ModelConfigOf(cfg).Config(); !reflect.DeepEqual(got, cfg) {
			t.Errorf("round trip of %+v gave %+v", cfg, got)
		}
	}
	if got := (*ModelConfig)(nil).Config(); !reflect.DeepEqual(got, model.Config{}) {
		t.Errorf("nil config gave %+v", got)
	}
}

// TestJobStateTerminal ensures exactly the three end states are terminal.
func TestJobStateTerminal(t *testing.T) {
	for st := range JobState_name {
		s := JobState(st)
		want := s == JobState_JOB_STATE_SUCCEEDED || s == JobState_JOB_STATE_FAILED || s == JobState_JOB_STATE_CANCELLED
		if s.Terminal() != want {
			t.Errorf("%v.Terminal() = %v, want %v", s, s.Terminal(), want)
		}
	}
}

// TestModelConfig ensures the plan's model configuration becomes the
// model.Config the coordinator sent, including a linear model's empty
// (not default) hidden layers.
func TestModelConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     *ModelConfig
		hidden []int
	}{
		{"mlp", &ModelConfig{Hidden: []uint32{32, 16}, Lr: 0.01, Batch: 64, MaxEpochs: 7, Patience: -1, Seed: 9, Cosine: true}, []int{32, 16}},
		{"linear", &ModelConfig{Linear: true, Lr: 0.01}, []int{}},
		{"default layers", &ModelConfig{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.in.Config()
			if !slices.Equal(cfg.Hidden, tc.hidden) || (cfg.Hidden == nil) != (tc.hidden == nil) {
				t.Errorf("hidden %#v, want %#v", cfg.Hidden, tc.hidden)
			}
			if cfg.LR != tc.in.GetLr() || cfg.Batch != int(tc.in.GetBatch()) || cfg.MaxEpochs != int(tc.in.GetMaxEpochs()) ||
				cfg.Patience != int(tc.in.GetPatience()) || cfg.Seed != tc.in.GetSeed() || cfg.Cosine != tc.in.GetCosine() {
				t.Errorf("config %+v from %v", cfg, tc.in)
			}
		})
	}
}
