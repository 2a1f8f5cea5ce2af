package cohortv1

import "github.com/cohort-clv/cohort/model"

// ModelConfigOf is cfg as the API and the generation plans carry it. It
// fills no defaults: callers that want them apply cfg.WithDefaults first.
func ModelConfigOf(cfg model.Config) *ModelConfig {
	m := &ModelConfig{Linear: cfg.Hidden != nil && len(cfg.Hidden) == 0, Lr: cfg.LR, WeightDecay: cfg.WeightDecay,
		Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps, Batch: uint32(cfg.Batch), MaxEpochs: uint32(cfg.MaxEpochs),
		Patience: int32(cfg.Patience), ClipNorm: cfg.ClipNorm, WarmupSteps: uint32(cfg.WarmupSteps), Cosine: cfg.Cosine, Seed: cfg.Seed,
		Ensemble: uint32(cfg.Ensemble)}
	for _, h := range cfg.Hidden {
		m.Hidden = append(m.Hidden, uint32(h))
	}
	return m
}

// Config is m as model.Config, field for field; zero fields stay zero
// (model.Config.WithDefaults fills them) and a nil m is the zero Config.
// linear becomes a non-nil, empty Hidden: no hidden layer, which proto3
// cannot tell from an absent list.
func (m *ModelConfig) Config() model.Config {
	c := model.Config{LR: m.GetLr(), WeightDecay: m.GetWeightDecay(), Beta1: m.GetBeta1(), Beta2: m.GetBeta2(), Eps: m.GetEps(),
		Batch: int(m.GetBatch()), MaxEpochs: int(m.GetMaxEpochs()), Patience: int(m.GetPatience()),
		ClipNorm: m.GetClipNorm(), WarmupSteps: int(m.GetWarmupSteps()), Cosine: m.GetCosine(), Seed: m.GetSeed(),
		Ensemble: int(m.GetEnsemble())}
	switch {
	case m.GetLinear():
		c.Hidden = []int{}
	case len(m.GetHidden()) > 0:
		c.Hidden = make([]int, len(m.GetHidden()))
		for i, w := range m.GetHidden() {
			c.Hidden[i] = int(w)
		}
	}
	return c
}

// Terminal says whether a job in state s has ended for good (SUCCEEDED,
// FAILED or CANCELLED): its record changes no more.
func (s JobState) Terminal() bool {
	switch s {
	case JobState_JOB_STATE_SUCCEEDED, JobState_JOB_STATE_FAILED, JobState_JOB_STATE_CANCELLED:
		return true
	}
	return false
}
