package model

import (
	"fmt"
	"math"
)

// stdFloor is the smallest standard deviation a feature is divided by; a
// feature constant on the training rows is centred but not scaled, so it
// cannot blow up on rows where it varies.
const stdFloor = 1e-6

// Pipeline turns raw feature rows into the net's inputs: an optional signed
// log1p per feature (for money and counts, whose tails would otherwise
// dominate), then standardisation with statistics of the training rows.
type Pipeline struct {
	FeatureNames []string  `json:"feature_names"`
	Log1p        []bool    `json:"log1p"`
	Mean         []float32 `json:"mean"`
	Std          []float32 `json:"std"`
}

// FitPipeline computes the per-feature mean and standard deviation of the
// (optionally log1p'd) training features. names and log1p may be nil
// (features are then named f0, f1, ... and left unlogged).
func FitPipeline(d Data, names []string, log1p []bool) (Pipeline, error) {
	m, err := NewMoments(d, log1p)
	if err != nil {
		return Pipeline{}, err
	}
	return m.Pipeline(names)
}

// Moments are per-feature sums over training rows, after log1p. Sums from
// disjoint shards add up, so data-parallel workers allreduce their Moments
// and all fit the same Pipeline, as if one process had seen every row.
type Moments struct {
	Log1p []bool
	Rows  int
	Sum   []float64
	SumSq []float64
}

// NewMoments sums the features of d; log1p may be nil.
func NewMoments(d Data, log1p []bool) (Moments, error) {
	if log1p != nil && len(log1p) != d.Cols {
		return Moments{}, fmt.Errorf("model: pipeline: %d log1p flags for %d columns", len(log1p), d.Cols)
	}
	m := Moments{Log1p: make([]bool, d.Cols), Rows: d.Rows, Sum: make([]float64, d.Cols), SumSq: make([]float64, d.Cols)}
	copy(m.Log1p, log1p)
	p := Pipeline{Log1p: m.Log1p}
	for i := range d.Rows {
		for j, x := range d.X[i*d.Cols : (i+1)*d.Cols] {
			v := p.pre(j, float64(x))
			m.Sum[j] += v
			m.SumSq[j] += v * v
		}
	}
	return m, nil
}

// Add accumulates the moments of another shard with the same columns.
func (m *Moments) Add(o Moments) error {
	if len(o.Sum) != len(m.Sum) || len(o.SumSq) != len(m.SumSq) {
		return fmt.Errorf("model: pipeline: moments of %d columns added to %d", len(o.Sum), len(m.Sum))
	}
	m.Rows += o.Rows
	for j := range m.Sum {
		m.Sum[j] += o.Sum[j]
		m.SumSq[j] += o.SumSq[j]
	}
	return nil
}

// Pipeline fits means and standard deviations; names may be nil.
func (m Moments) Pipeline(names []string) (Pipeline, error) {
	cols := len(m.Sum)
	if names != nil && len(names) != cols {
		return Pipeline{}, fmt.Errorf("model: pipeline: %d feature names for %d columns", len(names), cols)
	}
	if len(m.Log1p) != cols || len(m.SumSq) != cols {
		return Pipeline{}, fmt.Errorf("model: pipeline: moments hold %d log1p flags and %d sums of squares for %d columns", len(m.Log1p), len(m.SumSq), cols)
	}
	p := Pipeline{
		FeatureNames: make([]string, cols),
		Log1p:        append([]bool(nil), m.Log1p...),
		Mean:         make([]float32, cols),
		Std:          make([]float32, cols),
	}
	n := float64(max(m.Rows, 1))
	for j := range cols {
		p.FeatureNames[j] = fmt.Sprintf("f%d", j)
		if names != nil {
			p.FeatureNames[j] = names[j]
		}
		mean := m.Sum[j] / n
		sd := math.Sqrt(max(m.SumSq[j]/n-mean*mean, 0))
		if sd < stdFloor {
			sd = 1
		}
		p.Mean[j], p.Std[j] = float32(mean), float32(sd)
	}
	return p, nil
}

// pre applies the feature's log transform. It is signed so that negative
// values (net refunds) stay finite and ordered.
func (p Pipeline) pre(j int, x float64) float64 {
	if !p.Log1p[j] {
		return x
	}
	if x < 0 {
		return -math.Log1p(-x)
	}
	return math.Log1p(x)
}

// Apply transforms rows of raw features src into dst (both rows×Cols).
func (p Pipeline) Apply(dst, src []float32, rows int) {
	cols := len(p.Mean)
	if len(src) != rows*cols || len(dst) != rows*cols {
		panic(fmt.Sprintf("model: pipeline: %d rows of %d features need %d values, got src %d dst %d", rows, cols, rows*cols, len(src), len(dst)))
	}
	for i := range rows {
		for j := range cols {
			k := i*cols + j
			dst[k] = float32((p.pre(j, float64(src[k])) - float64(p.Mean[j])) / float64(p.Std[j]))
		}
	}
}

// validate checks that a pipeline loaded from disk is consistent.
func (p Pipeline) validate(cols int) error {
	if len(p.FeatureNames) != cols || len(p.Log1p) != cols || len(p.Mean) != cols || len(p.Std) != cols {
		return fmt.Errorf("pipeline has %d names, %d log1p flags, %d means, %d stds for %d inputs",
			len(p.FeatureNames), len(p.Log1p), len(p.Mean), len(p.Std), cols)
	}
	for j, s := range p.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) || math.IsNaN(float64(p.Mean[j])) || math.IsInf(float64(p.Mean[j]), 0) {
			return fmt.Errorf("pipeline feature %q: mean %v std %v, want finite mean and positive std", p.FeatureNames[j], p.Mean[j], s)
		}
	}
	return nil
}
