package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Datum is what CloudWatch extracts from an EMF document for one metric and
// one of its directive's dimension sets.
type Datum struct {
	Namespace string
	Name      Name
	Unit      Unit
	// Dims are the dimension set's keys, in the set's order, with the
	// values of their target members.
	Dims      []Dim
	Values    []float64
	Timestamp time.Time
}

// units are the values a MetricDefinition's Unit may take (MetricDatum).
var units = []Unit{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

// maxName is the longest Namespace, dimension key or metric name (255).
const maxName = 255

// Parse checks one log event against the Embedded Metric Format
// specification and returns the data CloudWatch would extract from it: one
// Datum per metric definition and dimension set. A document the
// specification rejects is an error naming the first rule it breaks.
func Parse(event []byte) ([]Datum, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("emf: the log event is not a JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("emf: data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, errors.New("emf: no _aws object on the root node")
	}
	tsNum, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return nil, errors.New("emf: _aws.Timestamp is not a number")
	}
	tsMillis, err := tsNum.Int64()
	if err != nil {
		return nil, fmt.Errorf("emf: _aws.Timestamp %s is not a whole number of milliseconds", tsNum)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok {
		return nil, errors.New("emf: _aws.CloudWatchMetrics is not an array")
	}
	ts := time.UnixMilli(tsMillis).UTC()
	var out []Datum
	for i, d := range directives {
		data, err := parseDirective(root, d, ts)
		if err != nil {
			return nil, fmt.Errorf("emf: CloudWatchMetrics[%d]: %w", i, err)
		}
		out = append(out, data...)
	}
	return out, nil
}

func parseDirective(root map[string]any, v any, ts time.Time) ([]Datum, error) {
	d, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	ns, ok := d["Namespace"].(string)
	if !ok || ns == "" || len(ns) > maxName {
		return nil, fmt.Errorf("Namespace %v: want a string of 1 to %d characters", d["Namespace"], maxName)
	}
	sets, ok := d["Dimensions"].([]any)
	if !ok || len(sets) == 0 {
		return nil, errors.New("Dimensions: want an array of at least one DimensionSet")
	}
	var dimSets [][]Dim
	for i, s := range sets {
		keys, ok := s.([]any)
		if !ok {
			return nil, fmt.Errorf("Dimensions[%d]: not an array", i)
		}
		if len(keys) > MaxDimensions {
			return nil, fmt.Errorf("Dimensions[%d]: %d keys, at most %d allowed", i, len(keys), MaxDimensions)
		}
		var set []Dim
		for _, k := range keys {
			key, ok := k.(string)
			if !ok || key == "" || len(key) > maxName {
				return nil, fmt.Errorf("Dimensions[%d]: key %v: want a string of 1 to %d characters", i, k, maxName)
			}
			val, ok := root[key].(string)
			if !ok {
				return nil, fmt.Errorf("dimension %q: the root node has no string member %q", key, key)
			}
			set = append(set, Dim{Key: key, Value: val})
		}
		dimSets = append(dimSets, set)
	}
	defs, ok := d["Metrics"].([]any)
	if !ok {
		return nil, errors.New("Metrics: not an array")
	}
	if len(defs) > MaxMetrics {
		return nil, fmt.Errorf("Metrics: %d definitions, at most %d allowed", len(defs), MaxMetrics)
	}
	var out []Datum
	for i, m := range defs {
		def, ok := m.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Metrics[%d]: not an object", i)
		}
		name, ok := def["Name"].(string)
		if !ok || name == "" || len(name) > maxName {
			return nil, fmt.Errorf("Metrics[%d]: Name %v: want a string of 1 to %d characters", i, def["Name"], maxName)
		}
		unit := None
		if u, present := def["Unit"]; present {
			s, ok := u.(string)
			if !ok || !slices.Contains(units, Unit(s)) {
				return nil, fmt.Errorf("metric %q: Unit %v is not a CloudWatch unit", name, u)
			}
			unit = Unit(s)
		}
		values, err := targetValues(root, name)
		if err != nil {
			return nil, err
		}
		for _, set := range dimSets {
			out = append(out, Datum{Namespace: ns, Name: Name(name), Unit: unit, Dims: set, Values: values, Timestamp: ts})
		}
	}
	return out, nil
}

// targetValues reads a metric's target member: a number, or an array of at
// most MaxValues numbers.
func targetValues(root map[string]any, name string) ([]float64, error) {
	v, ok := root[name]
	if !ok {
		return nil, fmt.Errorf("metric %q: the root node has no member %q", name, name)
	}
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", name, err)
		}
		return []float64{f}, nil
	case []any:
		if len(v) == 0 || len(v) > MaxValues {
			return nil, fmt.Errorf("metric %q: %d values, want 1 to %d", name, len(v), MaxValues)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			n, ok := x.(json.Number)
			if !ok {
				return nil, fmt.Errorf("metric %q: value %d is %v, not a number", name, i, x)
			}
			f, err := n.Float64()
			if err != nil {
				return nil, fmt.Errorf("metric %q: %w", name, err)
			}
			out[i] = f
		}
		return out, nil
	default:
		return nil, fmt.Errorf("metric %q: target member is %T, want a number or an array of numbers", name, v)
	}
}
