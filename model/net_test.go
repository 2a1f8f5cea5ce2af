package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-clv/cohort/kernels"
)

// TestNewLayout ensures layers tile the flat vector without gaps or overlap
// and that bad widths are rejected.
func TestNewLayout(t *testing.T) {
	tests := []struct {
		name    string
		inputs  int
		hidden  []int
		size    int
		wantErr bool
	}{
		{"two hidden", 4, []int{5, 3}, 4*5 + 5 + 5*3 + 3 + 3*3 + 3, false},
		{"linear", 7, []int{}, 7*3 + 3, false},
		{"zero inputs", 0, []int{4}, 0, true},
		{"zero width", 3, []int{4, 0}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLayout(tt.inputs, tt.hidden)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if l.Size != tt.size {
				t.Errorf("size = %d, want %d", l.Size, tt.size)
			}
			off, in := 0, tt.inputs
			for i, ly := range l.Layers {
				if ly.WeightOff != off || ly.BiasOff != off+ly.In*ly.Out || ly.In != in {
					t.Errorf("layer %d = %+v, want weights at %d with %d inputs", i, ly, off, in)
				}
				off, in = ly.BiasOff+ly.Out, ly.Out
			}
			if last := l.Layers[len(l.Layers)-1]; last.Out != kernels.ZILNOutputs || kernels.Activation(last.Activation) != kernels.Identity {
				t.Errorf("head = %+v, want %d linear outputs", last, kernels.ZILNOutputs)
			}
		})
	}
}

// refLoss is an independent float64 forward pass and mean ZILN loss.
func refLoss(l Layout, p []float64, x []float64, y []float64, rows int) float64 {
	in := x
	for li, ly := range l.Layers {
		out := make([]float64, rows*ly.Out)
		for i := range rows {
			for j := range ly.Out {
				s := p[ly.BiasOff+j]
				for k := range ly.In {
					s += in[i*ly.In+k] * p[ly.WeightOff+k*ly.Out+j]
				}
				if li < len(l.Layers)-1 {
					s = max(s, 0)
				}
				out[i*ly.Out+j] = s
			}
		}
		in = out
	}
	var total float64
	for i := range rows {
		lg, mu, r := in[3*i], in[3*i+1], in[3*i+2]
		if y[i] > 0 {
			total += math.Log1p(math.Exp(-lg))
			sigma := max(math.Log1p(math.Exp(r)), math.Sqrt(1e-7))
			z := (math.Log(y[i]) - mu) / sigma
			total += math.Log(y[i]) + math.Log(sigma) + 0.5*math.Log(2*math.Pi) + 0.5*z*z
		} else {
			total += math.Log1p(math.Exp(lg))
		}
	}
	return total / float64(rows)
}

// TestLossAndGradMatchesFiniteDifferences ensures backpropagation through
// the flat layout agrees with float64 central differences of an independent
// reference loss, parameter by parameter.
func TestLossAndGradMatchesFiniteDifferences(t *testing.T) {
	be := testBackend(t)
	layout, err := NewLayout(4, []int{5, 3})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 7
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, rows*4)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []float32{0, 3.5, 0, 12, 0.4, 0, 80}
	net := NewNet(be, layout)
	net.Init(11, OutputBias{Logit: 0.2, Mu: 1, RawSigma: 0.3})
	params := net.ParamsHost()
	// Non-zero hidden biases so their gradients are exercised too.
	for _, ly := range layout.Layers {
		for j := range ly.Out {
			params[ly.BiasOff+j] += float32(0.1 * rng.NormFloat64())
		}
	}
	if err := net.SetParams(params); err != nil {
		t.Fatal(err)
	}
	xb, yb := be.Alloc(len(x)), be.Alloc(rows)
	be.Upload(xb, x)
	be.Upload(yb, y)
	loss := net.LossAndGrad(xb, yb, rows)
	grad := make([]float32, layout.Size)
	be.Download(grad, net.Grads())

	p64, x64, y64 := f64s(params), f64s(x), f64s(y)
	want := refLoss(layout, p64, x64, y64, rows)
	if math.Abs(loss-want) > 1e-4*math.Abs(want) {
		t.Fatalf("loss = %v, reference %v", loss, want)
	}
	const h = 1e-6
	for i := range p64 {
		orig := p64[i]
		p64[i] = orig + h
		up := refLoss(layout, p64, x64, y64, rows)
		p64[i] = orig - h
		down := refLoss(layout, p64, x64, y64, rows)
		p64[i] = orig
		fd := (up - down) / (2 * h)
		if d := math.Abs(float64(grad[i]) - fd); d > 1e-4+1e-3*math.Abs(fd) {
			t.Errorf("param %d: grad %v, finite difference %v", i, grad[i], fd)
		}
	}
	if l2 := net.Loss(xb, yb, rows); l2 != loss {
		t.Errorf("Loss = %v, LossAndGrad gave %v", l2, loss)
	}
}

// TestAdamStateRoundTrip ensures an optimizer restored from State continues
// exactly like the one it was saved from.
func TestAdamStateRoundTrip(t *testing.T) {
	be := testBackend(t)
	layout, _ := NewLayout(3, []int{4})
	rng := rand.New(rand.NewPCG(8, 9))
	d := Data{X: make([]float32, 16*3), Y: make([]float32, 16), Rows: 16, Cols: 3}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for i := range d.Y {
		d.Y[i] = float32(max(rng.NormFloat64()*5, 0))
	}
	xb, yb := be.Alloc(len(d.X)), be.Alloc(d.Rows)
	be.Upload(xb, d.X)
	be.Upload(yb, d.Y)
	h := DefaultConfig().AdamParams()
	run := func(net *Net, opt *Adam, steps int) {
		for range steps {
			net.LossAndGrad(xb, yb, d.Rows)
			opt.Step(net)
		}
	}
	a := NewNet(be, layout)
	a.Init(5, OutputBias{})
	optA := NewAdam(be, layout.Size, h)
	run(a, optA, 3)

	b := NewNet(be, layout)
	if err := b.SetParams(a.ParamsHost()); err != nil {
		t.Fatal(err)
	}
	optB := NewAdam(be, layout.Size, h)
	if err := optB.SetState(optA.State()); err != nil {
		t.Fatal(err)
	}
	run(a, optA, 2)
	run(b, optB, 2)
	if optB.StepCount() != 5 {
		t.Errorf("restored step count = %d, want 5", optB.StepCount())
	}
	pa, pb := a.ParamsHost(), b.ParamsHost()
	for i := range pa {
		if pa[i] != pb[i] {
			t.Fatalf("param %d diverged after restore: %v vs %v", i, pa[i], pb[i])
		}
	}
	if err := optB.SetState(AdamState{M: make([]float32, 2), V: make([]float32, 2)}); err == nil {
		t.Error("SetState accepted moments of the wrong length")
	}
}

// TestAdamClipNorm ensures clipping reports the pre-clip global norm and
// rescales the gradient to ClipNorm only when it is exceeded.
func TestAdamClipNorm(t *testing.T) {
	tests := []struct {
		name     string
		grad     []float32
		clip     float32
		wantNorm float64
		wantGrad []float32
	}{
		{"clipped", []float32{3, 0, -4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 5, []float32{0.6, 0, -0.8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"under the cap", []float32{0.3, 0, 0.4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 0.5, []float32{0.3, 0, 0.4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := testBackend(t)
			layout, _ := NewLayout(4, []int{}) // 4*3+3 = 15 parameters
			net := NewNet(be, layout)
			be.Upload(net.Grads(), tt.grad)
			opt := NewAdam(be, layout.Size, DefaultConfig().AdamParams())
			opt.ClipNorm = tt.clip
			if norm := opt.Step(net); math.Abs(norm-tt.wantNorm) > 1e-6 {
				t.Errorf("norm = %v, want %v", norm, tt.wantNorm)
			}
			got := make([]float32, layout.Size)
			be.Download(got, net.Grads())
			for i := range got {
				if math.Abs(float64(got[i]-tt.wantGrad[i])) > 1e-6 {
					t.Fatalf("grad = %v, want %v", got, tt.wantGrad)
				}
			}
		})
	}
}

// TestOutputBiasFor ensures the head starts at the labels' positive rate and
// log-spend moments.
func TestOutputBiasFor(t *testing.T) {
	ob := OutputBiasFor([]float32{0, 0, float32(math.E), float32(math.Exp(3))})
	if math.Abs(float64(ob.Logit)) > 1e-6 {
		t.Errorf("logit = %v, want 0 for a 50%% positive rate", ob.Logit)
	}
	if math.Abs(float64(ob.Mu)-2) > 1e-6 {
		t.Errorf("mu = %v, want 2", ob.Mu)
	}
	if s := math.Log1p(math.Exp(float64(ob.RawSigma))); math.Abs(s-1) > 1e-5 {
		t.Errorf("sigma = %v, want 1", s)
	}
	if ob := OutputBiasFor([]float32{0, 0}); math.IsNaN(float64(ob.Logit)) || ob.Logit > -5 || ob.Mu != 0 {
		t.Errorf("all-zero labels gave %+v, want a very negative finite logit and mu 0", ob)
	}
}

// TestLRAt ensures the schedule warms up linearly and decays by cosine.
func TestLRAt(t *testing.T) {
	c := Config{LR: 1, WarmupSteps: 10, Cosine: true}
	tests := []struct {
		step int
		want float64
	}{{1, 0.1}, {5, 0.5}, {10, 1}, {60, 0.5}, {110, 0}}
	for _, tt := range tests {
		if got := c.LRAt(tt.step, 110); math.Abs(float64(got)-tt.want) > 1e-6 {
			t.Errorf("LRAt(%d) = %v, want %v", tt.step, got, tt.want)
		}
	}
	if got := (Config{LR: 0.3}).LRAt(1000, 10); got != 0.3 {
		t.Errorf("constant LR = %v, want 0.3", got)
	}
}
