// Package jsonval is the JSON of the values records hold, the same in every driver and every
// transport: AppendValue writes them for clients, AppendExact as drivers store them (arrays,
// objects, json fields and event bodies), and Decode reads what was stored.
package jsonval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Decode decodes one JSON value: objects as map[string]any, arrays as []any, numbers as int64
// when they are whole and fit, float64 otherwise.
func Decode(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode json: unexpected data after the value")
	}
	return numbers(x)
}

// numbers replaces the json.Number values in x, recursively.
func numbers(x any) (any, error) {
	switch x := x.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("decode json: number %s: %w", x, err)
		}
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), nil
		}
		return f, nil
	case []any:
		for i, el := range x {
			v, err := numbers(el)
			if err != nil {
				return nil, err
			}
			x[i] = v
		}
	case map[string]any:
		for k, el := range x {
			v, err := numbers(el)
			if err != nil {
				return nil, err
			}
			x[k] = v
		}
	}
	return x, nil
}
