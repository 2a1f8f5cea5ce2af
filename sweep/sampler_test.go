package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const gridSpec = `
parameters:
  - {name: model, type: categorical, values: [mlp, linear]}
  - {name: lr, type: float, min: 0.001, max: 0.1, log: true, grid: 3, when: {model: [mlp]}}
  - {name: layers, type: int, min: 1, max: 3}
  - {name: width, type: int, min: 8, max: 512, log: true, grid: 4}
`

// TestGridEnumeratesExactly ensures the grid holds every combination once,
// branches into a conditional parameter only where it is active, spaces
// log parameters geometrically, then reports exhaustion.
func TestGridEnumeratesExactly(t *testing.T) {
	s := mustSpace(t, gridSpec)
	g, err := New(s, Options{Algorithm: AlgorithmGrid})
	if err != nil {
		t.Fatal(err)
	}
	// (mlp x 3 lr + linear) x 3 layers x 4 widths.
	const want = (3 + 1) * 3 * 4
	var all []Trial
	for {
		batch, err := g.Propose(context.Background(), 7)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	if len(all) != want {
		t.Fatalf("grid has %d points, want %d", len(all), want)
	}
	seen := map[string]bool{}
	lrs, widths := map[float64]bool{}, map[int]bool{}
	for _, tr := range all {
		key := fmt.Sprint(tr.Config)
		if seen[key] {
			t.Errorf("config %v proposed twice", tr.Config)
		}
		seen[key] = true
		if lr, ok := tr.Config["lr"]; ok {
			if tr.Config["model"] != "mlp" {
				t.Errorf("lr set for %v", tr.Config)
			}
			lrs[lr.(float64)] = true
		}
		widths[tr.Config["width"].(int)] = true
	}
	for _, lr := range []float64{0.001, 0.01, 0.1} {
		found := false
		for got := range lrs {
			found = found || math.Abs(got-lr) < 1e-12
		}
		if !found {
			t.Errorf("lr grid %v lacks %v", lrs, lr)
		}
	}
	if !reflect.DeepEqual(widths, map[int]bool{8: true, 32: true, 128: true, 512: true}) {
		t.Errorf("width grid %v, want 8, 32, 128, 512", widths)
	}
	if _, err := g.Propose(context.Background(), 1); !errors.Is(err, ErrExhausted) {
		t.Errorf("after the grid: err = %v, want ErrExhausted", err)
	}
}

// TestConstantLiarDistinct ensures k proposals made at once, with none of
// them reported, are k distinct configs for every sampler, including on a
// small discrete space where snapping could make model proposals collide.
func TestConstantLiarDistinct(t *testing.T) {
	discrete := mustSpace(t, `
parameters:
  - {name: a, type: int, min: 1, max: 4}
  - {name: b, type: categorical, values: [x, y, z]}
  - {name: c, type: int, min: 0, max: 2}
`) // 36 configs
	fn := branin()
	for _, alg := range []Algorithm{AlgorithmRandom, AlgorithmBayes, AlgorithmTPE} {
		for _, sp := range []struct {
			name  string
			space *Space
		}{{"branin", fn.space}, {"discrete", discrete}} {
			t.Run(string(alg)+"/"+sp.name, func(t *testing.T) {
				s, err := New(sp.space, Options{Algorithm: alg, Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				// A history past the initial design, so the model proposes.
				var seen []string
				for i := range 12 {
					tr, err := s.Propose(context.Background(), 1)
					if err != nil {
						t.Fatal(err)
					}
					tr[0].Status, tr[0].Value = Completed, float64(i%5)+0.1*float64(i)
					if err := s.Observe(tr[0]); err != nil {
						t.Fatal(err)
					}
					seen = append(seen, fmt.Sprint(tr[0].Config))
				}
				const k = 8
				batch, err := s.Propose(context.Background(), k)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) != k {
					t.Fatalf("got %d proposals, want %d", len(batch), k)
				}
				for _, tr := range batch {
					key := fmt.Sprint(tr.Config)
					if slices.Contains(seen, key) {
						t.Errorf("proposal %v repeats a pending or observed config", tr.Config)
					}
					seen = append(seen, key)
				}
			})
		}
	}
}

// TestObserveErrors ensures bad reports are refused with a reason.
func TestObserveErrors(t *testing.T) {
	s, err := New(branin().space, Options{Algorithm: AlgorithmRandom, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := s.Propose(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ok := tr[0]
	ok.Status, ok.Value = Completed, 1
	nan := ok
	nan.Value = math.NaN()
	pending := ok
	pending.Status = Pending
	tests := []struct {
		name string
		t    Trial
		want string
	}{
		{"nan", nan, "not finite"},
		{"pending", pending, `status "pending"`},
		{"bad config", Trial{ID: 9, Status: Completed, Config: Config{"x1": 1.0}}, `"x2" is missing`},
	}
	for _, tt := range tests {
		if err := s.Observe(tt.t); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
	swapped := ok
	swapped.Config = Config{"x1": 0.0, "x2": 0.0}
	if err := s.Observe(swapped); err == nil || !strings.Contains(err.Error(), "not the one proposed") {
		t.Errorf("report with another config: error = %v, want refused", err)
	}
	if err := s.Observe(ok); err != nil {
		t.Fatal(err)
	}
	if err := s.Observe(ok); err == nil || !strings.Contains(err.Error(), "already observed") {
		t.Errorf("second report: error = %v, want already observed", err)
	}
	if _, err := New(branin().space, Options{Algorithm: "hyperband"}); err == nil {
		t.Error("unknown algorithm accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Propose(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Propose: err = %v", err)
	}
}

// TestStateRoundTrip ensures a sampler restored from its State, taken
// mid-sweep with trials pending, proposes exactly what the original
// proposes, through further proposals and observations.
func TestStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	cond := mustSpace(t, specYAML)
	score := func(c Config) float64 {
		v := math.Log10(c["lr"].(float64)) + float64(c["layers"].(int))
		if m, ok := c["momentum"]; ok {
			v += m.(float64)
		}
		return v
	}
	for _, alg := range []Algorithm{AlgorithmGrid, AlgorithmRandom, AlgorithmBayes, AlgorithmTPE} {
		t.Run(string(alg), func(t *testing.T) {
			a, err := New(cond, Options{Algorithm: alg, Seed: 11})
			if err != nil {
				t.Fatal(err)
			}
			var pending []Trial
			step := func(s Sampler, n int) []Trial {
				tr, err := s.Propose(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				return tr
			}
			report := func(s Sampler, tr Trial) {
				tr.Status, tr.Value = Completed, score(tr.Config)
				if tr.ID%7 == 3 {
					tr.Status = Failed
				}
				if err := s.Observe(tr); err != nil {
					t.Fatal(err)
				}
			}
			for range 6 {
				batch := step(a, 3)
				for _, tr := range batch[:2] {
					report(a, tr)
				}
				pending = append(pending, batch[2])
			}
			state, err := a.State()
			if err != nil {
				t.Fatal(err)
			}
			b, err := Restore(cond, state)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := b.State(); string(again) != string(state) {
				t.Fatalf("state changed by a round trip:\n%s\n%s", state, again)
			}
			for _, tr := range pending {
				report(a, tr)
				report(b, tr)
			}
			for round := range 5 {
				ta, tb := step(a, 2), step(b, 2)
				if !reflect.DeepEqual(ta, tb) {
					t.Fatalf("round %d: original proposed %v, restored %v", round, ta, tb)
				}
				for i := range ta {
					report(a, ta[i])
					report(b, tb[i])
				}
			}
		})
	}
	if _, err := Restore(branin().space, []byte(`{"options":{"algorithm":"random"},"params":["a"]}`)); err == nil {
		t.Error("state of another space accepted")
	}
}

// TestConcurrentUse ensures a sampler shared by goroutines that propose and
// report at once stays consistent: every trial gets a unique ID and every
// report is accepted (run with -race).
func TestConcurrentUse(t *testing.T) {
	fn := branin()
	for _, alg := range []Algorithm{AlgorithmRandom, AlgorithmBayes, AlgorithmTPE} {
		t.Run(string(alg), func(t *testing.T) {
			s, err := New(fn.space, Options{Algorithm: alg, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			const workers, each = 4, 5
			ids := make(chan int, workers*each)
			errs := make(chan error, workers)
			for range workers {
				go func() {
					for range each {
						tr, err := s.Propose(context.Background(), 1)
						if err != nil {
							errs <- err
							return
						}
						tr[0].Status, tr[0].Value = Completed, fn.f(tr[0].Config)
						if err := s.Observe(tr[0]); err != nil {
							errs <- err
							return
						}
						ids <- tr[0].ID
					}
					errs <- nil
				}()
			}
			for range workers {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			close(ids)
			seen := map[int]bool{}
			for id := range ids {
				if seen[id] {
					t.Errorf("trial ID %d handed out twice", id)
				}
				seen[id] = true
			}
			if len(seen) != workers*each {
				t.Errorf("%d trials, want %d", len(seen), workers*each)
			}
		})
	}
}

// TestTrialJSONRoundTrip ensures a proposed trial that travels as JSON (as
// through etcd), with its integers turned into float64, is still accepted
// as the trial that was proposed.
func TestTrialJSONRoundTrip(t *testing.T) {
	space := mustSpace(t, specYAML)
	for _, alg := range []Algorithm{AlgorithmGrid, AlgorithmBayes} {
		s, err := New(space, Options{Algorithm: alg, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		trials, err := s.Propose(context.Background(), 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trials {
			data, err := json.Marshal(tr)
			if err != nil {
				t.Fatal(err)
			}
			var back Trial
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			back.Status, back.Value = Completed, 1
			if err := s.Observe(back); err != nil {
				t.Errorf("%s: trial after JSON refused: %v", alg, err)
			}
		}
	}
}

// TestGridEndpointsExact ensures a grid's first and last points of a
// numeric range are its bounds exactly, not exp(log(bound)) a hair off
// (0.009999999999999995 for 0.01), and that GridSize counts the points the
// grid sampler proposes before it is exhausted.
func TestGridEndpointsExact(t *testing.T) {
	for _, tc := range []struct {
		param    string
		lo, hi   float64
		wantSize int
	}{
		{`{name: lr, type: float, min: 0.0003, max: 0.01, log: true, grid: 4}`, 0.0003, 0.01, 4},
		{`{name: lr, type: float, min: 0.0001, max: 0.01, log: true}`, 0.0001, 0.01, 5},
		{`{name: wd, type: float, min: 0.1, max: 0.7, grid: 3}`, 0.1, 0.7, 3},
		{`{name: b, type: int, min: 16, max: 1024, log: true, grid: 4}`, 16, 1024, 4},
	} {
		t.Run(tc.param, func(t *testing.T) {
			sp, err := ParseSpace([]byte("parameters: [" + tc.param + "]"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := GridSize(sp)
			if err != nil || n != tc.wantSize {
				t.Fatalf("GridSize %d (%v), want %d", n, err, tc.wantSize)
			}
			g, err := New(sp, Options{Algorithm: AlgorithmGrid})
			if err != nil {
				t.Fatal(err)
			}
			var vals []float64
			for {
				ps, err := g.Propose(context.Background(), 1)
				if errors.Is(err, ErrExhausted) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range ps[0].Config {
					switch x := v.(type) {
					case float64:
						vals = append(vals, x)
					case int:
						vals = append(vals, float64(x))
					}
				}
			}
			if len(vals) != n || vals[0] != tc.lo || vals[len(vals)-1] != tc.hi {
				t.Errorf("grid %v: want %d points from exactly %v to %v", vals, n, tc.lo, tc.hi)
			}
		})
	}
}
