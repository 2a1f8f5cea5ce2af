package worker

import (
	"slices"
	"testing"

	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// TestModelConfig ensures the plan's model configuration becomes the
// model.Config the coordinator sent, including a linear model's empty
// (not default) hidden layers.
func TestModelConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     *cohortv1.ModelConfig
		hidden []int
	}{
		{"mlp", &cohortv1.ModelConfig{Hidden: []uint32{32, 16}, Lr: 0.01, Batch: 64, MaxEpochs: 7, Patience: -1, Seed: 9, Cosine: true}, []int{32, 16}},
		{"linear", &cohortv1.ModelConfig{Linear: true, Lr: 0.01}, []int{}},
		{"default layers", &cohortv1.ModelConfig{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := modelConfig(tc.in)
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
