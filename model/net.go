package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-clv/cohort/kernels"
)

// Net is an MLP with a ZILN head whose parameters live in one flat Buffer and
// whose gradients live in a second flat Buffer of the same layout, so a
// distributed worker can allreduce the gradient as a single span. A Net is
// bound to one Backend and, like it, is not safe for concurrent use.
type Net struct {
	be      kernels.Backend
	layout  Layout
	params  kernels.Buffer
	grads   kernels.Buffer
	members []member

	// Workspace for up to capRows rows per member, grown on demand.
	capRows int
	logits  []kernels.Buffer // per member, the views Forward returns
}

// member is one packed network: views into the Net's params and grads, and
// its own workspace.
type member struct {
	w, b   []kernels.Buffer // per-layer views into params
	dw, db []kernels.Buffer // per-layer views into grads
	acts   []kernels.Buffer // per-layer outputs (the last one holds the logits)
	deltas []kernels.Buffer // per-layer gradients w.r.t. outputs
}

// NewNet allocates a Net with zero parameters on be; call Init or SetParams
// before using it.
func NewNet(be kernels.Backend, layout Layout) *Net {
	n := &Net{be: be, layout: layout, params: be.Alloc(layout.Size), grads: be.Alloc(layout.Size)}
	size := layout.MemberSize()
	for m := range layout.MemberCount() {
		var mb member
		base := m * size
		for _, l := range layout.Layers {
			mb.w = append(mb.w, n.params.Slice(base+l.WeightOff, l.In*l.Out))
			mb.b = append(mb.b, n.params.Slice(base+l.BiasOff, l.Out))
			mb.dw = append(mb.dw, n.grads.Slice(base+l.WeightOff, l.In*l.Out))
			mb.db = append(mb.db, n.grads.Slice(base+l.BiasOff, l.Out))
		}
		n.members = append(n.members, mb)
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
// head's bias at ob. Member m of an ensemble draws from stream m of the
// seed, so member 0 starts as a single network of that seed does.
func (n *Net) Init(seed uint64, ob OutputBias) {
	host := make([]float32, n.layout.Size)
	size := n.layout.MemberSize()
	for m := range n.layout.MemberCount() {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15+uint64(m)))
		p := host[m*size : (m+1)*size]
		for _, l := range n.layout.Layers {
			gain := 2.0
			if kernels.Activation(l.Activation) == kernels.Identity {
				gain = 1.0
			}
			std := math.Sqrt(gain / float64(l.In))
			for i := range l.In * l.Out {
				p[l.WeightOff+i] = float32(rng.NormFloat64() * std)
			}
		}
		last := n.layout.Layers[len(n.layout.Layers)-1]
		p[last.BiasOff+0] = ob.Logit
		p[last.BiasOff+1] = ob.Mu
		p[last.BiasOff+2] = ob.RawSigma
	}
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
	for m := range n.members {
		mb := &n.members[m]
		mb.acts, mb.deltas = mb.acts[:0], mb.deltas[:0]
		for _, l := range n.layout.Layers {
			mb.acts = append(mb.acts, n.be.Alloc(rows*l.Out))
			mb.deltas = append(mb.deltas, n.be.Alloc(rows*l.Out))
		}
	}
}

// Forward runs x (rows×Inputs) through every member and returns each
// member's logits (rows×3), views into the workspace valid until the next
// call.
func (n *Net) Forward(x kernels.Buffer, rows int) []kernels.Buffer {
	if x.Len() < rows*n.layout.Inputs {
		panic(fmt.Sprintf("model: forward: input holds %d values, %d rows need %d", x.Len(), rows, rows*n.layout.Inputs))
	}
	n.reserve(rows)
	n.logits = n.logits[:0]
	for m := range n.members {
		n.logits = append(n.logits, n.forward(&n.members[m], x.Slice(0, rows*n.layout.Inputs), rows))
	}
	return n.logits
}

// forward runs x through one member and returns its logits.
func (n *Net) forward(mb *member, in kernels.Buffer, rows int) kernels.Buffer {
	for i, l := range n.layout.Layers {
		out := mb.acts[i].Slice(0, rows*l.Out)
		n.be.Gemm(false, false, rows, l.Out, l.In, 1, in, mb.w[i], 0, out)
		n.be.BiasAct(out, rows, l.Out, mb.b[i], kernels.Activation(l.Activation))
		in = out
	}
	return in
}

// Loss returns the mean ZILN loss of a batch, averaged over the members,
// without touching Grads.
func (n *Net) Loss(x, y kernels.Buffer, rows int) float64 {
	logits := n.Forward(x, rows)
	last := len(n.layout.Layers) - 1
	var sum float64
	for m, lg := range logits {
		sum += n.be.ZILNLoss(n.members[m].deltas[last].Slice(0, rows*kernels.ZILNOutputs), lg, y.Slice(0, rows), rows)
	}
	return sum / float64(len(logits))
}

// LossAndGrad runs a batch forward and backward: it overwrites Grads with
// the gradient of the mean ZILN loss over the rows samples of x
// (rows×Inputs) with labels y (rows spends) and returns that loss. In an
// ensemble each member's part of Grads is the gradient of its own loss, as
// if it trained alone (the sum of the members' losses, whose parts do not
// interact), and the loss returned is the members' mean.
func (n *Net) LossAndGrad(x, y kernels.Buffer, rows int) float64 {
	if y.Len() < rows {
		panic(fmt.Sprintf("model: loss and grad: labels hold %d values, need %d", y.Len(), rows))
	}
	x, y = x.Slice(0, rows*n.layout.Inputs), y.Slice(0, rows)
	n.reserve(rows)
	var sum float64
	for m := range n.members {
		sum += n.lossAndGrad(&n.members[m], x, y, rows)
	}
	return sum / float64(len(n.members))
}

// lossAndGrad is LossAndGrad of one member.
func (n *Net) lossAndGrad(mb *member, x, y kernels.Buffer, rows int) float64 {
	logits := n.forward(mb, x, rows)
	last := len(n.layout.Layers) - 1
	loss := n.be.ZILNLoss(mb.deltas[last].Slice(0, rows*kernels.ZILNOutputs), logits, y, rows)
	for i := last; i >= 0; i-- {
		l := n.layout.Layers[i]
		d := mb.deltas[i].Slice(0, rows*l.Out)
		in := x
		if i > 0 {
			in = mb.acts[i-1].Slice(0, rows*l.In)
		}
		// dW = inᵀ·d, db = column sums of d.
		n.be.Gemm(true, false, l.In, l.Out, rows, 1, in, d, 0, mb.dw[i])
		n.be.ColSum(mb.db[i], d, rows, l.Out, 0)
		if i > 0 {
			prev := mb.deltas[i-1].Slice(0, rows*l.In)
			n.be.Gemm(false, true, rows, l.In, l.Out, 1, d, mb.w[i], 0, prev)
			n.be.ActBackward(prev, in, kernels.Activation(n.layout.Layers[i-1].Activation))
		}
	}
	return loss
}
