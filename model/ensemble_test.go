package model

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// TestEnsembleMembersTrainAsAlone ensures the members of a packed ensemble
// do not interact: each member, trained inside the ensemble with clipping
// on, ends bit-identical to a single network started from its initial
// weights and trained on the same batches.
func TestEnsembleMembersTrainAsAlone(t *testing.T) {
	be := testBackend(t)
	data, _, _ := synthetic(256, 5)
	const k, batch, steps = 3, 64, 12
	packed, err := NewEnsembleLayout(data.Cols, []int{8, 4}, k)
	if err != nil {
		t.Fatal(err)
	}
	single, err := NewLayout(data.Cols, []int{8, 4})
	if err != nil {
		t.Fatal(err)
	}
	if packed.Size != k*single.Size || packed.MemberSize() != single.Size {
		t.Fatalf("ensemble of %d: size %d, member %d; a single net has %d", k, packed.Size, packed.MemberSize(), single.Size)
	}
	ob := OutputBiasFor(data.Y)
	ens := NewNet(be, packed)
	ens.Init(9, ob)
	start := ens.ParamsHost()

	// A single net of the same seed starts as member 0; members differ.
	alone := NewNet(be, single)
	alone.Init(9, ob)
	if !slices.Equal(alone.ParamsHost(), start[:single.Size]) {
		t.Error("member 0 does not start as a single network of the same seed")
	}
	if slices.Equal(start[:single.Size], start[single.Size:2*single.Size]) {
		t.Error("members 0 and 1 start from the same weights")
	}

	cfg := smallConfig().WithDefaults()
	cfg.ClipNorm = 0.5 // small enough to bite, so per-member clipping is exercised
	train := func(net *Net) []float32 {
		opt := NewAdam(be, net.Layout().Size, cfg.AdamParams())
		opt.ClipNorm = cfg.ClipNorm
		xb, yb := be.Alloc(batch*data.Cols), be.Alloc(batch)
		for s := range steps {
			lo := (s * batch) % data.Rows
			be.Upload(xb, data.X[lo*data.Cols:(lo+batch)*data.Cols])
			be.Upload(yb, data.Y[lo:lo+batch])
			net.LossAndGrad(xb, yb, batch)
			opt.Step(net)
		}
		return net.ParamsHost()
	}
	got := train(ens)
	for m := range k {
		one := NewNet(be, single)
		if err := one.SetParams(start[m*single.Size : (m+1)*single.Size]); err != nil {
			t.Fatal(err)
		}
		want := train(one)
		if !slices.Equal(got[m*single.Size:(m+1)*single.Size], want) {
			t.Errorf("member %d trained inside the ensemble differs from the same network trained alone", m)
		}
	}
}

// TestEnsemblePredictsMembersMean ensures an ensemble's p and expected
// spend are its members' means, its distribution's mean matches them, and
// it saves and loads like a single model.
func TestEnsemblePredictsMembersMean(t *testing.T) {
	be := testBackend(t)
	train, _, log1p := synthetic(600, 3)
	val, _, _ := synthetic(200, 4)
	cfg := smallConfig()
	cfg.MaxEpochs = 3
	cfg.Ensemble = 3
	m, _, err := Train(t.Context(), be, train, val, cfg, TrainOptions{Log1p: log1p})
	if err != nil {
		t.Fatal(err)
	}
	if m.Layout.MemberCount() != 3 {
		t.Fatalf("trained model has %d members, want 3", m.Layout.MemberCount())
	}
	p, spend := m.Predict(be, val.X, val.Rows)

	single, err := NewLayout(m.Layout.Inputs, m.Layout.Hidden)
	if err != nil {
		t.Fatal(err)
	}
	wantP, wantS := make([]float64, val.Rows), make([]float64, val.Rows)
	params := m.Params()
	for j := range 3 {
		one, err := NewModel(m.Config, single, m.Pipeline, params[j*single.Size:(j+1)*single.Size])
		if err != nil {
			t.Fatal(err)
		}
		pj, sj := one.Predict(be, val.X, val.Rows)
		for i := range pj {
			wantP[i] += pj[i] / 3
			wantS[i] += sj[i] / 3
		}
	}
	for i := range p {
		if math.Abs(p[i]-wantP[i]) > 1e-9 || math.Abs(spend[i]-wantS[i]) > 1e-9*math.Max(1, wantS[i]) {
			t.Fatalf("row %d: ensemble predicts (%v, %v), members' mean (%v, %v)", i, p[i], spend[i], wantP[i], wantS[i])
		}
	}

	// The merged distribution keeps p and the expected spend.
	dp, mu, sigma := m.Distribution(be, val.X, val.Rows)
	var off float64
	for i := range spend {
		if math.Abs(dp[i]-p[i]) > 1e-6 { // float64 sigmoid vs the kernel's float32
			t.Fatalf("row %d: distribution p %v, Predict %v", i, dp[i], p[i])
		}
		off = max(off, math.Abs(dp[i]*math.Exp(mu[i]+sigma[i]*sigma[i]/2)/spend[i]-1))
	}
	if off > 1e-5 {
		t.Errorf("merged distribution's mean is up to %.2g relative off the ensemble's spend", off)
	}

	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Layout, m.Layout) || got.Config.Ensemble != 3 {
		t.Fatalf("loaded layout %+v, ensemble %d; want %+v, 3", got.Layout, got.Config.Ensemble, m.Layout)
	}
	p2, s2 := got.Predict(be, val.X, val.Rows)
	if !slices.Equal(p, p2) || !slices.Equal(spend, s2) {
		t.Error("predictions differ after save and load")
	}
}

// TestMixLognormals ensures the merged distribution keeps the mixture's
// p and the first two moments of its spend given a purchase.
func TestMixLognormals(t *testing.T) {
	tests := []struct {
		name      string
		p, mu, sd []float64 // two members, stride 1
	}{
		{"equal members", []float64{0.4, 0.4}, []float64{2, 2}, []float64{0.5, 0.5}},
		{"equal weights", []float64{0.5, 0.5}, []float64{1, 3}, []float64{1, 1}},
		{"weighted by p", []float64{0.6, 0.2}, []float64{1, 5}, []float64{0.2, 0.4}},
		{"one member buys", []float64{0.3, 0}, []float64{1, 5}, []float64{0.2, 0.4}},
		{"wide members", []float64{0.5, 0.5}, []float64{3, 4}, []float64{6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, mu, sd := mixLognormals(2, 1, 0, tt.p, tt.mu, tt.sd)
			wantP := (tt.p[0] + tt.p[1]) / 2
			// log of p-weighted moment n of the members' lognormals
			logMoment := func(n float64) float64 {
				var s float64
				for j := range 2 {
					s += tt.p[j] / (2 * wantP) * math.Exp(n*tt.mu[j]-n*tt.mu[0]+n*n*tt.sd[j]*tt.sd[j]/2-n*n*tt.sd[0]*tt.sd[0]/2)
				}
				return math.Log(s) + n*tt.mu[0] + n*n*tt.sd[0]*tt.sd[0]/2
			}
			if math.Abs(p-wantP) > 1e-15 {
				t.Errorf("p = %v, want %v", p, wantP)
			}
			if got, want := mu+sd*sd/2, logMoment(1); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("log mean %v, mixture's %v", got, want)
			}
			if got, want := 2*mu+2*sd*sd, logMoment(2); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("log second moment %v, mixture's %v", got, want)
			}
			if tt.name == "equal members" && (math.Abs(mu-2) > 1e-12 || math.Abs(sd-0.5) > 1e-12) {
				t.Errorf("equal members merge to (%v, %v), want (2, 0.5)", mu, sd)
			}
		})
	}
}

// TestEnsembleConfig ensures the ensemble size is bounded with an error
// naming the field.
func TestEnsembleConfig(t *testing.T) {
	for _, k := range []int{-1, MaxEnsemble + 1} {
		cfg := DefaultConfig()
		cfg.Ensemble = k
		if err := cfg.Validate(); err == nil {
			t.Errorf("ensemble %d: no error", k)
		}
		if _, err := NewEnsembleLayout(4, nil, k); err == nil {
			t.Errorf("layout of %d members: no error", k)
		}
	}
	if got := (Config{}).WithDefaults().Ensemble; got != DefaultConfig().Ensemble {
		t.Errorf("zero ensemble defaults to %d, want %d", got, DefaultConfig().Ensemble)
	}
}

// TestDescribe ensures the report's model line names the shape, the
// ensemble and the seed.
func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		members int
		want    string
	}{
		{1, "MLP 6-8-4-3 with a ZILN head; seed 7"},
		{5, "ensemble of 5 MLPs 6-8-4-3 with ZILN heads, averaged; seed 7"},
	} {
		l, err := NewEnsembleLayout(6, []int{8, 4}, tt.members)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewModel(Config{Seed: 7}, l, Pipeline{FeatureNames: []string{"a", "b", "c", "d", "e", "f"}, Log1p: make([]bool, 6), Mean: make([]float32, 6), Std: []float32{1, 1, 1, 1, 1, 1}}, make([]float32, l.Size))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Describe(); got != tt.want {
			t.Errorf("%d members: %q, want %q", tt.members, got, tt.want)
		}
	}
}
