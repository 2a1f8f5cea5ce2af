package sweep

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

const specYAML = `
parameters:
  - name: lr
    type: float
    min: 1.0e-4
    max: 0.1
    log: true
  - name: hidden
    type: int
    min: 16
    max: 512
    log: true
  - name: layers
    type: int
    min: 1
    max: 4
  - name: optimizer
    type: categorical
    values: [adam, sgd]
  - name: momentum
    type: float
    min: 0.5
    max: 0.99
    when: {optimizer: [sgd]}
  - name: batch
    type: categorical
    values: [256, 1024]
`

func mustSpace(t testing.TB, spec string) *Space {
	t.Helper()
	s, err := ParseSpace([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestParseSpace ensures YAML and JSON specs give the same space with every
// kind of parameter.
func TestParseSpace(t *testing.T) {
	y := mustSpace(t, specYAML)
	j := mustSpace(t, `{"parameters": [
		{"name": "lr", "type": "float", "min": 1e-4, "max": 0.1, "log": true},
		{"name": "hidden", "type": "int", "min": 16, "max": 512, "log": true},
		{"name": "layers", "type": "int", "min": 1, "max": 4},
		{"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]},
		{"name": "momentum", "type": "float", "min": 0.5, "max": 0.99, "when": {"optimizer": ["sgd"]}},
		{"name": "batch", "type": "categorical", "values": [256, 1024]}]}`)
	if !reflect.DeepEqual(y.Params(), j.Params()) {
		t.Errorf("YAML and JSON specs differ:\n%+v\n%+v", y.Params(), j.Params())
	}
	if y.Dim() != 6 || y.Params()[4].When["optimizer"][0] != "sgd" {
		t.Errorf("unexpected space %+v", y.Params())
	}
}

// TestParseSpaceErrors ensures bad specs are refused with an error that
// names the parameter and the problem.
func TestParseSpaceErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{`parameters: []`, "no parameters"},
		{`parameters: [{name: lr, type: float, min: 1}]`, `"lr": float parameter needs min and max`},
		{`parameters: [{name: lr, type: float, min: 1, max: 1}]`, `"lr": max (1) must exceed min (1)`},
		{`parameters: [{name: lr, type: float, min: 0, max: 1, log: true}]`, `"lr": log scale needs min > 0`},
		{`parameters: [{name: units, type: int, min: 1.5, max: 4}]`, `"units": int bounds must be integers`},
		{`parameters: [{name: o, type: categorical}]`, `"o": categorical parameter needs values`},
		{`parameters: [{name: o, type: categorical, values: [a, a]}]`, `"o": value a listed twice`},
		{`parameters: [{name: o, type: categorical, values: [[1]]}]`, `"o": value 1 ([1]): want a string`},
		{`parameters: [{name: x, type: double, min: 0, max: 1}]`, `"x": type "double"`},
		{`parameters: [{name: x, type: float, min: 0, max: 1}, {name: x, type: float, min: 0, max: 1}]`, `parameter 2 "x": duplicate name`},
		{`parameters: [{name: m, type: float, min: 0, max: 1, when: {opt: [sgd]}}]`, `"m": when: parent "opt" must be declared before`},
		{`parameters: [{name: opt, type: categorical, values: [adam]}, {name: m, type: float, min: 0, max: 1, when: {opt: [sgd]}}]`, `"m": when: sgd is not a value of "opt"`},
		{`parameters: [{name: a, type: float, min: 0, max: 1}, {name: m, type: float, min: 0, max: 1, when: {a: [1]}}]`, `"m": when: parent "a" must be categorical`},
		{`parameters: [{name: lr, type: float, min: 0, max: 1, step: 2}]`, `unknown field "step"`},
		{`parameters: [{name: lr, type: float, min: 0, max: 1, grid: 1}]`, `"lr": grid must be at least 2`},
		{"parameters:\n  - name: [", "parse space"},
	}
	for _, tt := range tests {
		_, err := ParseSpace([]byte(tt.spec))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSpace(%q) error = %v, want it to contain %q", tt.spec, err, tt.want)
		}
	}
}

// TestUnitRoundTrip ensures every config maps to the unit hypercube and
// back unchanged, that FromUnit respects bounds and types, and that log
// parameters are uniform in log space.
func TestUnitRoundTrip(t *testing.T) {
	s := mustSpace(t, specYAML)
	rng := rand.New(rand.NewPCG(1, 2))
	var lowLR int
	for range 2000 {
		u := make([]float64, s.Dim())
		for i := range u {
			u[i] = rng.Float64()
		}
		cfg := s.FromUnit(u)
		lr := cfg["lr"].(float64)
		if lr < 1e-4 || lr > 0.1 {
			t.Fatalf("lr %v outside bounds", lr)
		}
		if lr < 1e-3 {
			lowLR++
		}
		if h := cfg["hidden"].(int); h < 16 || h > 512 {
			t.Fatalf("hidden %v outside bounds", h)
		}
		back, err := s.ToUnit(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if again := s.FromUnit(back); !reflect.DeepEqual(again, cfg) {
			t.Fatalf("round trip changed %v into %v", cfg, again)
		}
		for i, p := range s.Params() {
			if p.Type == Float && math.Abs(back[i]-u[i]) > 1e-9 && cfg[p.Name] != nil {
				t.Fatalf("float %s: unit %v came back as %v", p.Name, u[i], back[i])
			}
		}
	}
	// One decade of three: about a third of the draws.
	if frac := float64(lowLR) / 2000; frac < 0.28 || frac > 0.39 {
		t.Errorf("%.2f of log-uniform lr draws below 1e-3, want about 1/3", frac)
	}
	// Every integer of a linear range is reachable.
	seen := map[int]bool{}
	for k := range 400 {
		u := []float64{0.5, 0.5, float64(k) / 399, 0.1, 0.5, 0.5}
		seen[s.FromUnit(u)["layers"].(int)] = true
	}
	if len(seen) != 4 {
		t.Errorf("layers took values %v, want 1..4", seen)
	}
}

// TestConditionalInactive ensures a conditional parameter appears only when
// its parent takes an enabling value, sits at 0.5 in the unit hypercube
// when inactive, and is refused when set while inactive.
func TestConditionalInactive(t *testing.T) {
	s := mustSpace(t, specYAML)
	adam := s.FromUnit([]float64{0.5, 0.5, 0.5, 0.1, 0.9, 0.5})
	sgd := s.FromUnit([]float64{0.5, 0.5, 0.5, 0.9, 0.9, 0.5})
	if _, ok := adam["momentum"]; ok || adam["optimizer"] != "adam" {
		t.Errorf("adam config %v has momentum", adam)
	}
	if m, ok := sgd["momentum"].(float64); !ok || m < 0.5 || m > 0.99 {
		t.Errorf("sgd config %v lacks a valid momentum", sgd)
	}
	u, err := s.ToUnit(adam)
	if err != nil {
		t.Fatal(err)
	}
	if u[4] != 0.5 {
		t.Errorf("inactive momentum at %v, want 0.5", u[4])
	}
	bad := Config{"lr": 0.01, "hidden": 32, "layers": 2, "optimizer": "adam", "momentum": 0.9, "batch": 256}
	if _, err := s.ToUnit(bad); err == nil || !strings.Contains(err.Error(), `"momentum" is set but inactive`) {
		t.Errorf("ToUnit(%v) error = %v, want inactive momentum refused", bad, err)
	}
	missing := Config{"lr": 0.01, "hidden": 32, "layers": 2, "optimizer": "sgd", "batch": 256}
	if _, err := s.ToUnit(missing); err == nil || !strings.Contains(err.Error(), `"momentum" is missing`) {
		t.Errorf("ToUnit(%v) error = %v, want missing momentum", missing, err)
	}
}

// TestToUnitErrors ensures configs with wrong values are refused naming the
// parameter.
func TestToUnitErrors(t *testing.T) {
	s := mustSpace(t, specYAML)
	good := func() Config {
		return Config{"lr": 0.01, "hidden": 32, "layers": 2, "optimizer": "adam", "batch": 256}
	}
	if _, err := s.ToUnit(good()); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	tests := []struct {
		key  string
		val  any
		want string
	}{
		{"lr", 1.0, `"lr": 1 is outside`},
		{"layers", 2.5, `"layers": 2.5 is not an integer`},
		{"layers", "two", `"layers": two (string) is not a number`},
		{"optimizer", "rmsprop", `"optimizer": rmsprop is not one of`},
		{"depth", 3, `unknown parameter "depth"`},
	}
	for _, tt := range tests {
		c := good()
		c[tt.key] = tt.val
		if _, err := s.ToUnit(c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%v: error = %v, want %q", tt.key, tt.val, err, tt.want)
		}
	}
	// Integers arrive as float64 from JSON: accepted, and Canonical gives
	// them back as int.
	c := good()
	c["layers"] = 3.0
	if _, err := s.ToUnit(c); err != nil {
		t.Errorf("integral float64 refused: %v", err)
	}
	canon, err := s.Canonical(c)
	if err != nil {
		t.Fatal(err)
	}
	if canon["layers"] != 3 || canon["lr"] != 0.01 || canon["batch"] != 256.0 {
		t.Errorf("Canonical(%v) = %v, want layers int 3, lr and batch unchanged", c, canon)
	}
	c["layers"] = 9
	if _, err := s.Canonical(c); err == nil {
		t.Error("Canonical accepted an out-of-range value")
	}
}
