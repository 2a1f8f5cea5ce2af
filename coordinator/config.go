package coordinator

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cohort-clv/cohort/model"
	cohortv1 "github.com/cohort-clv/cohort/proto/cohort/v1"
)

// modelConfigProto is cfg, with defaults filled, as the plan carries it.
func modelConfigProto(cfg model.Config) *cohortv1.ModelConfig {
	cfg = cfg.WithDefaults()
	m := &cohortv1.ModelConfig{Linear: len(cfg.Hidden) == 0, Lr: cfg.LR, WeightDecay: cfg.WeightDecay,
		Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps, Batch: uint32(cfg.Batch), MaxEpochs: uint32(cfg.MaxEpochs),
		Patience: int32(cfg.Patience), ClipNorm: cfg.ClipNorm, WarmupSteps: uint32(cfg.WarmupSteps), Cosine: cfg.Cosine, Seed: cfg.Seed}
	for _, h := range cfg.Hidden {
		m.Hidden = append(m.Hidden, uint32(h))
	}
	return m
}

// decodeFloats reads little-endian float32s.
func decodeFloats(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%d bytes, want a multiple of 4", len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}
