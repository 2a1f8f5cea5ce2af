package model

import (
	"fmt"
	"math"
	"math/rand/v2"

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
type Layout struct {
	Inputs int           `json:"inputs"`
	Hidden []int         `json:"hidden"`
	Layers []LayerLayout `json:"layers"`
	Size   int           `json:"size"` // total float32 values
}

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
	if l.Inputs != o.Inputs || l.Size != o.Size || len(l.Layers) != len(o.Layers) || len(l.Hidden) != len(o.Hidden) {
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

// Net is an MLP with a ZILN head whose parameters live in one flat Buffer and
// whose gradients live in a second flat Buffer of the same layout, so a
// distributed worker can allreduce the gradient as a single span. A Net is
// bound to one Backend and, like it, is not safe for concurrent use.
type Net struct {
	be     kernels.Backend
	layout Layout
	params kernels.Buffer
	grads  kernels.Buffer
	w, b   []kernels.Buffer // per-layer views into params
	dw, db []kernels.Buffer // per-layer views into grads

	// Workspace for up to capRows rows, grown on demand.
	capRows int
	acts    []kernels.Buffer // per-layer outputs (the last one holds the logits)
	deltas  []kernels.Buffer // per-layer gradients w.r.t. outputs
}

// NewNet allocates a Net with zero parameters on be; call Init or SetParams
// before using it.
func NewNet(be kernels.Backend, layout Layout) *Net {
	n := &Net{be: be, layout: layout, params: be.Alloc(layout.Size), grads: be.Alloc(layout.Size)}
	for _, l := range layout.Layers {
		n.w = append(n.w, n.params.Slice(l.WeightOff, l.In*l.Out))
		n.b = append(n.b, n.params.Slice(l.BiasOff, l.Out))
		n.dw = append(n.dw, n.grads.Slice(l.WeightOff, l.In*l.Out))
		n.db = append(n.db, n.grads.Slice(l.BiasOff, l.Out))
	}
	return n
}

// Backend returns the Backend the Net lives on.
func (n *Net) Backend() kernels.Backend { return n.be }

// Layout returns the offsets of every layer in Params and Grads.
func (n *Net) Layout() Layout { return n.layout }

// Params is the flat parameter Buffer (weights and biases of every layer).
func (n *Net) Params() kernels.Buffer { return n.params }

// Grads is the flat gradient Buffer written by LossAndGrad, laid out like
// Params. Allreducing it between LossAndGrad and Adam.Step is the
// data-parallel training step.
func (n *Net) Grads() kernels.Buffer { return n.grads }

// OutputBias is the initial bias of the ZILN head, chosen from the training
// labels so that the untrained net already predicts the base rate and the
// typical log spend; it removes the long first phase where the net only
// learns the label scale.
type OutputBias struct {
	Logit, Mu, RawSigma float32
}

// OutputBiasFor derives an OutputBias from labels: the logit of the positive
// rate, the mean log positive label and softplus⁻¹ of its standard deviation.
func OutputBiasFor(labels []float32) OutputBias {
	return labelStatsOf(labels).outputBias()
}

// labelStats are the sums OutputBiasFor needs. Sums from disjoint shards add
// up, so data-parallel replicas allreduce them and start from the same bias.
type labelStats struct {
	n, pos, sum, sumSq float64 // rows, positive labels, sum and sum of squares of log(label > 0)
}

func labelStatsOf(labels []float32) labelStats {
	s := labelStats{n: float64(len(labels))}
	for _, y := range labels {
		if y > 0 {
			l := math.Log(float64(y))
			s.pos++
			s.sum += l
			s.sumSq += l * l
		}
	}
	return s
}

func (s labelStats) outputBias() OutputBias {
	if s.n == 0 {
		return OutputBias{RawSigma: float32(softplusInv(1))}
	}
	rate := min(max(s.pos/s.n, 1e-4), 1-1e-4)
	ob := OutputBias{Logit: float32(math.Log(rate / (1 - rate))), RawSigma: float32(softplusInv(1))}
	if s.pos > 0 {
		mean := s.sum / s.pos
		sd := math.Sqrt(max(s.sumSq/s.pos-mean*mean, 0))
		ob.Mu = float32(mean)
		ob.RawSigma = float32(softplusInv(max(sd, 0.1)))
	}
	return ob
}

// softplusInv is the inverse of log(1+exp(x)) for s > 0.
func softplusInv(s float64) float64 {
	if s > 20 {
		return s
	}
	return math.Log(math.Expm1(s))
}

// Init draws the weights from a seeded PCG stream: He/Kaiming normal
// (std sqrt(2/fan_in)) for the ReLU layers and LeCun normal (std
// sqrt(1/fan_in)) for the linear head; hidden biases start at zero and the
// head's bias at ob.
func (n *Net) Init(seed uint64, ob OutputBias) {
	host := make([]float32, n.layout.Size)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for _, l := range n.layout.Layers {
		gain := 2.0
		if kernels.Activation(l.Activation) == kernels.Identity {
			gain = 1.0
		}
		std := math.Sqrt(gain / float64(l.In))
		for i := range l.In * l.Out {
			host[l.WeightOff+i] = float32(rng.NormFloat64() * std)
		}
	}
	last := n.layout.Layers[len(n.layout.Layers)-1]
	host[last.BiasOff+0] = ob.Logit
	host[last.BiasOff+1] = ob.Mu
	host[last.BiasOff+2] = ob.RawSigma
	n.be.Upload(n.params, host)
}

// ParamsHost downloads the flat parameters into a new host slice (for
// checkpoints and for keeping the best weights).
func (n *Net) ParamsHost() []float32 {
	host := make([]float32, n.layout.Size)
	n.be.Download(host, n.params)
	return host
}

// SetParams uploads host parameters laid out as Layout.
func (n *Net) SetParams(host []float32) error {
	if len(host) != n.layout.Size {
		return fmt.Errorf("model: set params: got %d values, layout needs %d", len(host), n.layout.Size)
	}
	n.be.Upload(n.params, host)
	return nil
}

// reserve makes the workspace hold at least rows rows.
func (n *Net) reserve(rows int) {
	if rows <= n.capRows {
		return
	}
	n.capRows = rows
	n.acts, n.deltas = n.acts[:0], n.deltas[:0]
	for _, l := range n.layout.Layers {
		n.acts = append(n.acts, n.be.Alloc(rows*l.Out))
		n.deltas = append(n.deltas, n.be.Alloc(rows*l.Out))
	}
}

// Forward runs x (rows×Inputs) through the net and returns the logits
// (rows×3), a view into the workspace valid until the next call.
func (n *Net) Forward(x kernels.Buffer, rows int) kernels.Buffer {
	if x.Len() < rows*n.layout.Inputs {
		panic(fmt.Sprintf("model: forward: input holds %d values, %d rows need %d", x.Len(), rows, rows*n.layout.Inputs))
	}
	n.reserve(rows)
	in := x.Slice(0, rows*n.layout.Inputs)
	for i, l := range n.layout.Layers {
		out := n.acts[i].Slice(0, rows*l.Out)
		n.be.Gemm(false, false, rows, l.Out, l.In, 1, in, n.w[i], 0, out)
		n.be.BiasAct(out, rows, l.Out, n.b[i], kernels.Activation(l.Activation))
		in = out
	}
	return in
}

// Loss returns the mean ZILN loss of a batch without touching Grads.
func (n *Net) Loss(x, y kernels.Buffer, rows int) float64 {
	logits := n.Forward(x, rows)
	last := len(n.layout.Layers) - 1
	return n.be.ZILNLoss(n.deltas[last].Slice(0, rows*kernels.ZILNOutputs), logits, y.Slice(0, rows), rows)
}

// LossAndGrad runs a batch forward and backward: it overwrites Grads with
// the gradient of the mean ZILN loss over the rows samples of x
// (rows×Inputs) with labels y (rows spends) and returns that loss.
func (n *Net) LossAndGrad(x, y kernels.Buffer, rows int) float64 {
	if y.Len() < rows {
		panic(fmt.Sprintf("model: loss and grad: labels hold %d values, need %d", y.Len(), rows))
	}
	x, y = x.Slice(0, rows*n.layout.Inputs), y.Slice(0, rows)
	logits := n.Forward(x, rows)
	last := len(n.layout.Layers) - 1
	loss := n.be.ZILNLoss(n.deltas[last].Slice(0, rows*kernels.ZILNOutputs), logits, y, rows)
	for i := last; i >= 0; i-- {
		l := n.layout.Layers[i]
		d := n.deltas[i].Slice(0, rows*l.Out)
		in := x
		if i > 0 {
			in = n.acts[i-1].Slice(0, rows*l.In)
		}
		// dW = inᵀ·d, db = column sums of d.
		n.be.Gemm(true, false, l.In, l.Out, rows, 1, in, d, 0, n.dw[i])
		n.be.ColSum(n.db[i], d, rows, l.Out, 0)
		if i > 0 {
			prev := n.deltas[i-1].Slice(0, rows*l.In)
			n.be.Gemm(false, true, rows, l.In, l.Out, 1, d, n.w[i], 0, prev)
			n.be.ActBackward(prev, in, kernels.Activation(n.layout.Layers[i-1].Activation))
		}
	}
	return loss
}
