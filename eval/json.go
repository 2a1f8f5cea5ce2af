package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// MarshalJSON encodes Metrics with its snake_case keys, writing null for
// the NaN of an undefined metric (encoding/json would refuse the value).
func (m Metrics) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	v := reflect.ValueOf(m)
	t := v.Type()
	for i := range t.NumField() {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(strconv.Quote(t.Field(i).Tag.Get("json")))
		buf.WriteByte(':')
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Float64:
			buf.Write(appendFloat(nil, f.Float()))
		case reflect.Int:
			buf.WriteString(strconv.FormatInt(f.Int(), 10))
		default:
			return nil, fmt.Errorf("eval: encode metrics: field %s has unsupported kind %s", t.Field(i).Name, f.Kind())
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON decodes what MarshalJSON writes, null back to NaN. Keys that
// are absent leave their field as it was.
func (m *Metrics) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("eval: decode metrics: %w", err)
	}
	v := reflect.ValueOf(m).Elem()
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("json")
		r, ok := raw[key]
		if !ok {
			continue
		}
		f := v.Field(i)
		if string(r) == "null" {
			if f.Kind() != reflect.Float64 {
				return fmt.Errorf("eval: decode metrics: field %q is null, want an integer", key)
			}
			f.SetFloat(math.NaN())
			continue
		}
		if err := json.Unmarshal(r, f.Addr().Interface()); err != nil {
			return fmt.Errorf("eval: decode metrics: field %q: %w", key, err)
		}
	}
	return nil
}

// appendFloat appends v as a JSON number, or null when it is not finite.
func appendFloat(b []byte, v float64) []byte {
	if !finite(v) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Float is a float64 that encodes NaN and ±Inf as JSON null, for callers
// (like eval/report) that put single scores into their own JSON documents.
type Float float64

// MarshalJSON writes the number, or null when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) { return appendFloat(nil, float64(f)), nil }

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("eval: decode float: %w", err)
	}
	*f = Float(v)
	return nil
}
