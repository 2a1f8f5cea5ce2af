package job

import (
	"strings"
	"testing"

	"github.com/cohort-clv/cohort/model"
)

// TestFeatureShift ensures the warning fires when more than a tenth of the
// scored customers lie beyond 4 training SDs on some feature, names the
// features most shifted first, and stays silent otherwise.
func TestFeatureShift(t *testing.T) {
	p := model.Pipeline{
		FeatureNames: []string{"age_weeks", "spend_total", "frequency"},
		Log1p:        []bool{false, true, false},
		Mean:         []float32{40, 3, 1},
		Std:          []float32{5, 1, 1},
	}
	// rows builds n customers; the first k of them get age (the rest 40).
	rows := func(n, k int, age float32) []float32 {
		X := make([]float32, 0, 3*n)
		for i := range n {
			a := float32(40)
			if i < k {
				a = age
			}
			X = append(X, a, 19, 1) // log1p(19) ≈ 3: the training mean
		}
		return X
	}
	tests := []struct {
		name    string
		X       []float32
		want    []string // substrings, in order; nil: no warning
		notWant string
	}{
		{"as trained", rows(100, 0, 0), nil, ""},
		{"a few far out", rows(100, 10, 200), nil, ""}, // 10%: not more than a tenth
		{"within 4 SD", rows(100, 100, 59), nil, ""},
		{"one cohort aged", rows(100, 100, 78), []string{"on age_weeks 100% of them (typically 7.6 SD out), lie more than 4 training standard deviations", "prefer the baseline's columns"}, "more features"},
		{"some aged", rows(100, 30, 100), []string{"on age_weeks 30% of them (typically 12.0 SD out)"}, "spend_total"},
		{"younger too", rows(100, 50, 0), []string{"on age_weeks 50% of them (typically 8.0 SD out)"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := featureShift(p, tt.X, len(tt.X)/3)
			if tt.want == nil {
				if got != "" {
					t.Fatalf("got warning %q, want none", got)
				}
				return
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("warning %q lacks %q (in order)", got, w)
				}
				rest = rest[i+len(w):]
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("warning %q names %q", got, tt.notWant)
			}
		})
	}
}

// TestFeatureShiftOrder ensures several shifted features are named by share,
// at most three, with a count of the rest.
func TestFeatureShiftOrder(t *testing.T) {
	p := model.Pipeline{FeatureNames: []string{"a", "b", "c", "d", "e"}, Log1p: make([]bool, 5), Mean: make([]float32, 5), Std: []float32{1, 1, 1, 1, 1}}
	const n = 10
	var X []float32
	for i := range n {
		// Feature j is out (value 9) for the first 2+2j customers: e
		// most, then d, c, b, a (20%: still more than a tenth).
		for j := range 5 {
			v := float32(0)
			if i < 2+2*j {
				v = 9
			}
			X = append(X, v)
		}
	}
	got := featureShift(p, X, n)
	want := "lie outside the range the deep model was trained on: on e 100% of them (typically 9.0 SD out), on d 80% (typically 9.0 SD out), on c 60% (typically 9.0 SD out), on 2 more features, lie more than 4"
	if !strings.Contains(got, want) {
		t.Errorf("got  %q\nwant it to contain %q", got, want)
	}
}
