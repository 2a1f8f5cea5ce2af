package model

import (
	"fmt"

	"github.com/cohort-clv/cohort/kernels"
)

// LayerLayout locates one dense layer inside the flat parameter vector. The
// weight matrix is In×Out, row-major, so a batch goes forward as X·W.
type LayerLayout struct {
	In         int `json:"in"`
	Out        int `json:"out"`
	WeightOff  int `json:"weight_offset"`
	BiasOff    int `json:"bias_offset"`
	Activation int `json:"activation"` // kernels.Activation
}

// Layout is the shape of a Net: where every layer's weights and biases sit in
// the one flat parameter Buffer (and, identically, in the gradient Buffer).
//
// A Net may pack an ensemble: Members networks of the same shape, one after
// another in the flat Buffer, each trained on its own loss from its own
// initialisation and averaged in prediction. Layers locate the layers of
// one member relative to its start; member m starts at m*MemberSize().
type Layout struct {
	Inputs int           `json:"inputs"`
	Hidden []int         `json:"hidden"`
	Layers []LayerLayout `json:"layers"`
	// Members is the number of packed networks; 0 (files written before
	// ensembles) means 1.
	Members int `json:"members,omitempty"`
	Size    int `json:"size"` // total float32 values, all members
}

// NewEnsembleLayout lays out members MLPs of NewLayout's shape one after
// another.
func NewEnsembleLayout(inputs int, hidden []int, members int) (Layout, error) {
	if members < 1 || members > MaxEnsemble {
		return Layout{}, fmt.Errorf("model: layout: ensemble must be 1..%d networks, got %d", MaxEnsemble, members)
	}
	l, err := NewLayout(inputs, hidden)
	if err != nil {
		return Layout{}, err
	}
	if members > 1 {
		l.Members = members
		l.Size *= members
	}
	return l, nil
}

// MaxEnsemble bounds the networks one Net packs.
const MaxEnsemble = 32

// MemberCount is the number of packed networks (at least 1).
func (l Layout) MemberCount() int { return max(l.Members, 1) }

// MemberSize is the number of float32 values of one member.
func (l Layout) MemberSize() int { return l.Size / l.MemberCount() }

// NewLayout lays out an MLP with the given input width and hidden widths,
// followed by the ZILN head. Each layer's weights are followed by its bias.
func NewLayout(inputs int, hidden []int) (Layout, error) {
	if inputs <= 0 {
		return Layout{}, fmt.Errorf("model: layout: inputs must be positive, got %d", inputs)
	}
	for i, h := range hidden {
		if h <= 0 {
			return Layout{}, fmt.Errorf("model: layout: hidden[%d] must be positive, got %d", i, h)
		}
	}
	l := Layout{Inputs: inputs, Hidden: append([]int(nil), hidden...)}
	in, off := inputs, 0
	widths := append(append([]int(nil), hidden...), kernels.ZILNOutputs)
	for i, out := range widths {
		act := kernels.ReLU
		if i == len(widths)-1 {
			act = kernels.Identity
		}
		l.Layers = append(l.Layers, LayerLayout{In: in, Out: out, WeightOff: off, BiasOff: off + in*out, Activation: int(act)})
		off += in*out + out
		in = out
	}
	l.Size = off
	return l, nil
}

// equal reports whether two layouts describe the same parameter vector.
func (l Layout) equal(o Layout) bool {
	if l.Inputs != o.Inputs || l.Size != o.Size || l.MemberCount() != o.MemberCount() ||
		len(l.Layers) != len(o.Layers) || len(l.Hidden) != len(o.Hidden) {
		return false
	}
	for i := range l.Layers {
		if l.Layers[i] != o.Layers[i] {
			return false
		}
	}
	for i := range l.Hidden {
		if l.Hidden[i] != o.Hidden[i] {
			return false
		}
	}
	return true
}
