package model

import (
	"math"
	"strings"
	"testing"
)

// TestConfigSizeBounds ensures Validate (on any data) and CheckSize and
// Layout (on a known feature count) refuse a network over MaxParams or a
// training estimate over MaxTrainBytes, counting the ensemble, with an
// error naming the count and the limit, and accept the sizes below.
func TestConfigSizeBounds(t *testing.T) {
	cfg := func(hidden []int, ensemble, batch int) Config {
		c := DefaultConfig()
		c.Hidden, c.Ensemble, c.Batch = hidden, ensemble, batch
		return c
	}
	tests := []struct {
		name   string
		cfg    Config
		inputs int      // for CheckSize and Layout
		valid  []string // Validate's error must name these; nil: Validate passes
		sized  []string // CheckSize's error must name these; nil: it passes
	}{
		{"default", DefaultConfig(), 34, nil, nil},
		{"default at batch 2^20", cfg([]int{128, 64}, 1, 1<<20), 34, nil, nil},
		{"the batch's inputs count", cfg([]int{128, 64}, 1, 1<<20), 1024, nil, []string{"on 1024 input features at batch 1048576", "5.5 GiB"}},
		{"linear", cfg([]int{}, 1, 512), 1024, nil, nil},
		{"audit: hidden 2x65536", cfg([]int{65536, 65536}, 1, 256), 34,
			[]string{"hidden [65536 65536]", "at least 4295", "parameters", "limit of 50000000"},
			[]string{"on 34 input features", "has 4297523203 parameters", "16.0 GiB a float32 buffer", "limit of 50000000"}},
		{"audit: hidden 16x65536, ensemble 32, batch 2^20", cfg(fill(16, 65536), 32, 1<<20), 34,
			[]string{"x ensemble 32", "limit of 50000000"}, []string{"x ensemble 32", "2061695451232 parameters"}},
		{"just under the limit", cfg([]int{7000, 7000}, 1, 512), 34, nil, nil},
		{"the ensemble multiplies", cfg([]int{7000, 7000}, 2, 512), 34,
			[]string{"x ensemble 2", "at least 98", "limit of 50000000"}, []string{"x ensemble 2", "limit of 50000000"}},
		{"the first layer counts once the features are known", cfg([]int{40000}, 2, 512), 1024,
			nil, []string{"on 1024 input features", "82240006 parameters", "limit of 50000000"}},
		{"batch x width over the memory limit", cfg([]int{1024, 1024}, 1, 1<<20), 34,
			[]string{"at batch 1048576", "2051 activations a row", "limit of 4.0 GiB"},
			[]string{"on 34 input features at batch 1048576", "limit of 4.0 GiB"}},
		{"batch x width x ensemble", cfg([]int{512, 256}, 8, 131072), 34,
			[]string{"x ensemble 8 at batch 131072", "limit of 4.0 GiB"}, []string{"limit of 4.0 GiB"}},
		{"huge widths saturate instead of overflowing", cfg([]int{math.MaxInt, math.MaxInt}, 1, 1), 34,
			[]string{"9223372036854775807 parameters"}, []string{"9223372036854775807 parameters"}},
	}
	check := func(t *testing.T, what string, err error, want []string) {
		t.Helper()
		if want == nil {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("%s accepted it; want an error naming %q", what, want)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", what, err, w)
			}
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, "Validate", tc.cfg.Validate(), tc.valid)
			check(t, "CheckSize", tc.cfg.CheckSize(tc.inputs), tc.sized)
			l, err := tc.cfg.Layout(tc.inputs)
			check(t, "Layout", err, tc.sized)
			if err == nil && int64(l.Size) != tc.cfg.SizeOf(tc.inputs).Params {
				t.Errorf("Layout.Size = %d, SizeOf.Params = %d", l.Size, tc.cfg.SizeOf(tc.inputs).Params)
			}
		})
	}
}

// TestSizeOf pins the estimate on a small network: 3 inputs, hidden [4, 2],
// the 3 ZILN outputs, two members, batch 10.
func TestSizeOf(t *testing.T) {
	c := Config{Hidden: []int{4, 2}, Ensemble: 2, Batch: 10}
	got := c.SizeOf(3)
	params := int64(2 * ((3*4 + 4) + (4*2 + 2) + (2*3 + 3)))
	want := Size{Params: params, RowWidth: 2 * (4 + 2 + 3)}
	want.TrainBytes = 4 * (paramBuffers*params + 2*10*want.RowWidth + 10*3)
	if got != want {
		t.Fatalf("SizeOf = %+v, want %+v", got, want)
	}
	l, err := NewEnsembleLayout(3, c.Hidden, 2)
	if err != nil || int64(l.Size) != got.Params {
		t.Fatalf("layout size %d (%v), SizeOf.Params %d", l.Size, err, got.Params)
	}
}

func fill(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}
