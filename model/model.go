// Package model is cohort's deep CLV model: a multilayer perceptron with a
// zero-inflated lognormal (ZILN) head (Wang, Liu & Miao 2019), trained with
// AdamW on a kernels.Backend.
//
// Raw customer features pass through a Pipeline (optional log1p, then
// standardisation fit on the training rows) into a Net, whose three outputs
// are the logit of P(spend > 0) and the location and raw scale of the
// lognormal spend given a purchase; the prediction is p·exp(μ + σ²/2).
//
// All parameters of a Net live in one flat Buffer and all gradients in
// another of the same Layout, so data-parallel training is LossAndGrad on
// each worker's batch, an allreduce of Net.Grads, and the same Adam.Step on
// every worker. Train does the single-process version of that loop with
// shuffled minibatches and early stopping; a trained Model saves to and
// loads from a versioned, checksummed directory.
package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cohort-clv/cohort/kernels"
)

// predictBatch bounds the rows Predict pushes through the net at once, so
// scoring millions of customers needs only a small workspace.
const predictBatch = 4096

// Model is a trained network with the pipeline its inputs need.
type Model struct {
	Config   Config
	Layout   Layout
	Pipeline Pipeline
	// Meta is opaque to the model and saved alongside it; the CLI keeps the
	// data options there so predictions use the same feature definitions.
	Meta   json.RawMessage
	params []float32
}

// NewModel assembles a Model from its parts, for example from the weights a
// distributed job ended with. params is copied.
func NewModel(cfg Config, layout Layout, pipe Pipeline, params []float32) (*Model, error) {
	want, err := NewEnsembleLayout(layout.Inputs, layout.Hidden, layout.MemberCount())
	if err != nil {
		return nil, fmt.Errorf("model: new: %w", err)
	}
	if !want.equal(layout) {
		return nil, fmt.Errorf("model: new: layout offsets do not match %d MLP(s) %d-%v-%d",
			layout.MemberCount(), layout.Inputs, layout.Hidden, kernels.ZILNOutputs)
	}
	if len(params) != layout.Size {
		return nil, fmt.Errorf("model: new: %d parameters, layout needs %d", len(params), layout.Size)
	}
	if err := pipe.validate(layout.Inputs); err != nil {
		return nil, fmt.Errorf("model: new: %w", err)
	}
	return &Model{Config: cfg, Layout: layout, Pipeline: pipe, params: append([]float32(nil), params...)}, nil
}

// Params returns a copy of the flat parameters.
func (m *Model) Params() []float32 { return append([]float32(nil), m.params...) }

// Describe names the network for people: "MLP 34-128-64-3 with a ZILN
// head, seed 1", or "ensemble of 5 MLPs 34-128-64-3 ..., averaged".
func (m *Model) Describe() string {
	widths := []string{strconv.Itoa(m.Layout.Inputs)}
	for _, h := range m.Layout.Hidden {
		widths = append(widths, strconv.Itoa(h))
	}
	shape := strings.Join(append(widths, strconv.Itoa(kernels.ZILNOutputs)), "-")
	if k := m.Layout.MemberCount(); k > 1 {
		return fmt.Sprintf("ensemble of %d MLPs %s with ZILN heads, averaged; seed %d", k, shape, m.Config.Seed)
	}
	return fmt.Sprintf("MLP %s with a ZILN head; seed %d", shape, m.Config.Seed)
}

// Inputs is the number of raw features a row must have.
func (m *Model) Inputs() int { return m.Layout.Inputs }

// Predict scores rows of raw features X (rows×Inputs, the same columns the
// model was trained on) and returns, per row, the probability of any spend
// and the expected spend; an ensemble's are its members' means. It panics
// when len(X) != rows*Inputs; callers holding user data check Inputs first.
func (m *Model) Predict(be kernels.Backend, X []float32, rows int) (p, spend []float64) {
	p, spend = make([]float64, rows), make([]float64, rows)
	batch := min(rows, predictBatch)
	hp, hs := make([]float32, batch), make([]float32, batch)
	pb, sb := be.Alloc(batch), be.Alloc(batch)
	k := float64(m.Layout.MemberCount())
	m.forward(be, "predict", X, rows, func(lo, n int, logits []kernels.Buffer) {
		for _, lg := range logits {
			be.ZILNPredict(pb.Slice(0, n), sb.Slice(0, n), lg, n)
			be.Download(hp[:n], pb.Slice(0, n))
			be.Download(hs[:n], sb.Slice(0, n))
			for i := range n {
				p[lo+i] += float64(hp[i]) / k
				spend[lo+i] += float64(hs[i]) / k
			}
		}
	})
	return p, spend
}

// forward pushes X through the pipeline and the net in batches of at most
// predictBatch rows and hands each batch's logits (per member,
// n×ZILNOutputs, valid during the call) to use, with the batch's first row
// lo. It panics, naming op, when len(X) != rows*Inputs.
func (m *Model) forward(be kernels.Backend, op string, X []float32, rows int, use func(lo, n int, logits []kernels.Buffer)) {
	cols := m.Layout.Inputs
	if len(X) != rows*cols {
		panic(fmt.Sprintf("model: %s: %d rows of %d features need %d values, got %d", op, rows, cols, rows*cols, len(X)))
	}
	net := NewNet(be, m.Layout)
	if err := net.SetParams(m.params); err != nil {
		panic(err) // NewModel and Load guarantee the length
	}
	batch := min(rows, predictBatch)
	hx := make([]float32, batch*cols)
	xb := be.Alloc(batch * cols)
	views := make([]kernels.Buffer, m.Layout.MemberCount())
	for lo := 0; lo < rows; lo += batch {
		n := min(batch, rows-lo)
		m.Pipeline.Apply(hx[:n*cols], X[lo*cols:(lo+n)*cols], n)
		x := xb.Slice(0, n*cols)
		be.Upload(x, hx[:n*cols])
		for i, lg := range net.Forward(x, n) {
			views[i] = lg.Slice(0, n*kernels.ZILNOutputs)
		}
		use(lo, n, views)
	}
}
