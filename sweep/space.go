// Package sweep holds the search algorithms of hyperparameter sweeps: search
// spaces parsed from YAML or JSON, samplers (grid, scrambled-Sobol random
// search, Bayesian optimisation with a Gaussian process, TPE) and early
// stopping rules (ASHA, median stopping).
//
// Everything here is a pure, single-process core: it knows nothing of etcd
// or the cluster. Every sampler and stopper can serialise its complete state
// (observations, pending trials, RNG state) to JSON with State and be rebuilt
// with Restore, so a coordinator can store the state transactionally and a
// standby can continue a sweep exactly where the old leader left it.
//
// All objectives are minimised.
package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"sigs.k8s.io/yaml"
)

// Kind is the type of a parameter.
type Kind string

// The parameter kinds.
const (
	Float       Kind = "float"
	Int         Kind = "int"
	Categorical Kind = "categorical"
)

// Param is one dimension of a search space as written in a spec.
type Param struct {
	Name string `json:"name"`
	Type Kind   `json:"type"`
	// Min and Max bound numeric parameters (inclusive); pointers so a
	// missing bound is an error rather than a silent zero.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Log samples numeric parameters uniformly in log space (learning rates,
	// widths); needs Min > 0.
	Log bool `json:"log,omitempty"`
	// Values are the choices of a categorical parameter (strings, numbers or
	// booleans).
	Values []any `json:"values,omitempty"`
	// When makes the parameter conditional: it is active only when each named
	// categorical parent, declared earlier, takes one of the listed values.
	When map[string][]any `json:"when,omitempty"`
	// Grid is the number of grid-search points of a numeric parameter
	// (default 5 for floats; integers enumerate every value when there are
	// at most 10, else 5 points).
	Grid int `json:"grid,omitempty"`
}

// Config is one point of a search space: parameter name to value. Floats are
// float64, integers int, categoricals the value from the spec. Inactive
// conditional parameters are absent.
type Config map[string]any

// Space is a validated search space. Each parameter is one dimension of the
// unit hypercube that the model-based samplers work in.
type Space struct {
	params []Param
	index  map[string]int
}

type spaceSpec struct {
	Parameters []Param `json:"parameters"`
}

// ParseSpace reads a search space from YAML or JSON of the form
// {"parameters": [{"name": ..., "type": ..., ...}, ...]}.
func ParseSpace(data []byte) (*Space, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("sweep: parse space: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var spec spaceSpec
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("sweep: parse space: %w", err)
	}
	return NewSpace(spec.Parameters)
}

// NewSpace validates params and builds a Space. Errors name the parameter.
func NewSpace(params []Param) (*Space, error) {
	if len(params) == 0 {
		return nil, errors.New("sweep: space: no parameters")
	}
	s := &Space{params: make([]Param, len(params)), index: make(map[string]int, len(params))}
	for i, p := range params {
		if err := s.validate(p); err != nil {
			return nil, fmt.Errorf("sweep: space: parameter %d %q: %w", i+1, p.Name, err)
		}
		// Copies, so the caller's slices stay as they were.
		vals := make([]any, len(p.Values))
		for j, v := range p.Values {
			vals[j] = normalise(v)
		}
		p.Values = vals
		when := make(map[string][]any, len(p.When))
		for parent, vs := range p.When {
			c := make([]any, len(vs))
			for j, v := range vs {
				c[j] = normalise(v)
			}
			when[parent] = c
		}
		p.When = when
		s.params[i] = p
		s.index[p.Name] = i
	}
	return s, nil
}

func (s *Space) validate(p Param) error {
	if p.Name == "" {
		return errors.New("empty name")
	}
	if _, dup := s.index[p.Name]; dup {
		return errors.New("duplicate name")
	}
	switch p.Type {
	case Float, Int:
		if p.Min == nil || p.Max == nil {
			return fmt.Errorf("%s parameter needs min and max", p.Type)
		}
		lo, hi := *p.Min, *p.Max
		if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
			return errors.New("min and max must be finite")
		}
		if !(hi > lo) {
			return fmt.Errorf("max (%g) must exceed min (%g)", hi, lo)
		}
		if p.Type == Int && (lo != math.Trunc(lo) || hi != math.Trunc(hi)) {
			return fmt.Errorf("int bounds must be integers, got min %g max %g", lo, hi)
		}
		if p.Log && lo <= 0 {
			return fmt.Errorf("log scale needs min > 0, got %g", lo)
		}
		if len(p.Values) > 0 {
			return fmt.Errorf("values are only for categorical parameters")
		}
		if p.Grid < 0 || p.Grid == 1 {
			return fmt.Errorf("grid must be at least 2, got %d", p.Grid)
		}
	case Categorical:
		if len(p.Values) == 0 {
			return errors.New("categorical parameter needs values")
		}
		if p.Min != nil || p.Max != nil || p.Log {
			return errors.New("min, max and log are only for numeric parameters")
		}
		for i, v := range p.Values {
			switch normalise(v).(type) {
			case string, float64, bool:
			default:
				return fmt.Errorf("value %d (%v): want a string, number or boolean", i+1, v)
			}
			for _, w := range p.Values[:i] {
				if equal(v, w) {
					return fmt.Errorf("value %v listed twice", v)
				}
			}
		}
	default:
		return fmt.Errorf("type %q: want float, int or categorical", p.Type)
	}
	for parent, vals := range p.When {
		j, ok := s.index[parent]
		if !ok {
			return fmt.Errorf("when: parent %q must be declared before this parameter", parent)
		}
		pp := s.params[j]
		if pp.Type != Categorical {
			return fmt.Errorf("when: parent %q must be categorical", parent)
		}
		if len(vals) == 0 {
			return fmt.Errorf("when: parent %q lists no values", parent)
		}
		for _, v := range vals {
			if !slices.ContainsFunc(pp.Values, func(w any) bool { return equal(v, w) }) {
				return fmt.Errorf("when: %v is not a value of %q", v, parent)
			}
		}
	}
	return nil
}

// Params returns the parameters in declaration order (parents before
// children). The caller must not modify them.
func (s *Space) Params() []Param { return s.params }

// Dim is the number of dimensions of the unit hypercube.
func (s *Space) Dim() int { return len(s.params) }

// active reports whether parameter i is active given the already decided
// values of its parents in cfg.
func (s *Space) active(i int, cfg Config) bool {
	for parent, vals := range s.params[i].When {
		v, ok := cfg[parent]
		if !ok || !slices.ContainsFunc(vals, func(w any) bool { return equal(v, w) }) {
			return false
		}
	}
	return true
}

// FromUnit maps a point of the unit hypercube to a Config. Coordinates are
// clamped to [0, 1]; inactive parameters are left out.
func (s *Space) FromUnit(u []float64) Config {
	cfg := make(Config, len(s.params))
	for i, p := range s.params {
		if !s.active(i, cfg) {
			continue
		}
		cfg[p.Name] = p.decode(u[i])
	}
	return cfg
}

// ToUnit maps a Config to the unit hypercube: discrete values go to the
// centre of their cell, so FromUnit(ToUnit(c)) == c, and inactive
// parameters to 0.5. It rejects missing, unknown or out-of-range values.
func (s *Space) ToUnit(cfg Config) ([]float64, error) {
	u := make([]float64, len(s.params))
	seen := Config{}
	for i, p := range s.params {
		u[i] = 0.5
		if !s.active(i, seen) {
			if _, ok := cfg[p.Name]; ok {
				return nil, fmt.Errorf("sweep: config: parameter %q is set but inactive", p.Name)
			}
			continue
		}
		v, ok := cfg[p.Name]
		if !ok {
			return nil, fmt.Errorf("sweep: config: parameter %q is missing", p.Name)
		}
		x, err := p.unit(v)
		if err != nil {
			return nil, fmt.Errorf("sweep: config: parameter %q: %w", p.Name, err)
		}
		u[i] = x
		seen[p.Name] = normalise(v)
	}
	for name := range cfg {
		if _, ok := s.index[name]; !ok {
			return nil, fmt.Errorf("sweep: config: unknown parameter %q", name)
		}
	}
	return u, nil
}

// decode maps a unit coordinate, clamped to [0, 1], to the parameter's value.
func (p Param) decode(x float64) any {
	x = min(max(x, 0), 1)
	lo, hi := bounds(p)
	switch p.Type {
	case Float:
		switch x {
		case 0: // the bounds exactly, not exp(log(lo)) a hair off
			return lo
		case 1:
			return hi
		}
		v := lo + x*(hi-lo)
		if p.Log {
			v = math.Exp(math.Log(lo) + x*(math.Log(hi)-math.Log(lo)))
		}
		return min(max(v, lo), hi) // rounding may step a hair outside
	case Int:
		k := lo + math.Floor(x*(hi-lo+1))
		if p.Log {
			a, b := math.Log(lo-0.5), math.Log(hi+0.5)
			k = math.Round(math.Exp(a + x*(b-a)))
		}
		return int(min(max(k, lo), hi))
	default:
		return p.Values[min(int(x*float64(len(p.Values))), len(p.Values)-1)]
	}
}

// Canonical validates cfg and returns a copy with every value in the type
// FromUnit gives it: integers as int and floats as float64 however they
// arrived (JSON from etcd turns every number into float64).
func (s *Space) Canonical(cfg Config) (Config, error) {
	if _, err := s.ToUnit(cfg); err != nil {
		return nil, err
	}
	out := make(Config, len(cfg))
	for name, v := range cfg {
		v = normalise(v)
		if s.params[s.index[name]].Type == Int {
			v = int(v.(float64))
		}
		out[name] = v
	}
	return out, nil
}

func (p Param) unit(v any) (float64, error) {
	lo, hi := bounds(p)
	if p.Type == Categorical {
		for k, w := range p.Values {
			if equal(v, w) {
				return (float64(k) + 0.5) / float64(len(p.Values)), nil
			}
		}
		return 0, fmt.Errorf("%v is not one of %v", v, p.Values)
	}
	x, ok := normalise(v).(float64)
	if !ok {
		return 0, fmt.Errorf("%v (%T) is not a number", v, v)
	}
	if math.IsNaN(x) || x < lo || x > hi {
		return 0, fmt.Errorf("%v is outside [%g, %g]", v, lo, hi)
	}
	if p.Type == Int {
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("%v is not an integer", v)
		}
		if p.Log {
			a, b := math.Log(lo-0.5), math.Log(hi+0.5)
			return (math.Log(x) - a) / (b - a), nil
		}
		return (x - lo + 0.5) / (hi - lo + 1), nil
	}
	if p.Log {
		return (math.Log(x) - math.Log(lo)) / (math.Log(hi) - math.Log(lo)), nil
	}
	return (x - lo) / (hi - lo), nil
}

func bounds(p Param) (lo, hi float64) {
	if p.Min != nil {
		lo = *p.Min
	}
	if p.Max != nil {
		hi = *p.Max
	}
	return lo, hi
}

// normalise turns every Go number into float64 so values from YAML, JSON
// and Go code compare equal.
func normalise(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return v
		}
		return f
	}
	return v
}

// equal compares scalar values; anything else (slices, maps) never matches,
// rather than panicking on an uncomparable interface.
func equal(a, b any) bool {
	a, b = normalise(a), normalise(b)
	switch a.(type) {
	case string, float64, bool:
	default:
		return false
	}
	return a == b
}
