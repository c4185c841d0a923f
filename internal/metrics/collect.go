package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Collector reads EMF documents out of function logs, as CloudWatch Logs
// does, and sums them into the series the dashboard plots. It is safe for
// concurrent use; give each log stream its own Writer.
type Collector struct {
	mu       sync.Mutex
	series   map[string]*Series
	problems []string
}

// Series is every value of one metric with one set of dimension values.
type Series struct {
	Namespace string
	Name      Name
	Unit      Unit
	Dims      []Dim
	// Values are the values in the order they were read.
	Values []float64
}

// Sum is the sum of the values.
func (s *Series) Sum() float64 {
	var t float64
	for _, v := range s.Values {
		t += v
	}
	return t
}

// Quantile returns the q-quantile of the values (nearest rank).
func (s *Series) Quantile(q float64) float64 {
	if len(s.Values) == 0 {
		return 0
	}
	v := slices.Clone(s.Values)
	slices.Sort(v)
	i := max(int(math.Ceil(q*float64(len(v))))-1, 0)
	return v[min(i, len(v)-1)]
}

// DimString is the series' dimensions as key=value, comma separated.
func (s *Series) DimString() string {
	parts := make([]string, len(s.Dims))
	for i, d := range s.Dims {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{series: map[string]*Series{}} }

// Writer returns a writer for one log stream: every complete line holding
// an _aws member is parsed as an EMF document; other lines are ignored.
func (c *Collector) Writer() io.Writer { return &lineWriter{c: c} }

type lineWriter struct {
	c       *Collector
	mu      sync.Mutex
	pending []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		w.c.Line(w.pending[:i])
		w.pending = w.pending[i+1:]
	}
	if len(w.pending) == 0 {
		w.pending = nil // let a large line's buffer go
	}
	return len(p), nil
}

// Line takes one log event. A line that names _aws but breaks the
// specification is kept as a problem (Problems).
func (c *Collector) Line(line []byte) {
	line = bytes.TrimSpace(line)
	if !bytes.Contains(line, []byte(`"_aws"`)) {
		return
	}
	data, err := Parse(line)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.problems = append(c.problems, fmt.Sprintf("%v: %.200s", err, line))
		return
	}
	for _, d := range data {
		s := Series{Namespace: d.Namespace, Name: d.Name, Unit: d.Unit, Dims: d.Dims}
		key := s.Namespace + "|" + string(s.Name) + "|" + s.DimString()
		if c.series[key] == nil {
			c.series[key] = &s
		}
		c.series[key].Values = append(c.series[key].Values, d.Values...)
	}
}

// Problems lists the lines that named _aws and were not valid EMF.
func (c *Collector) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.problems)
}

// Series returns every series read so far, in the order of Definitions
// (unknown metrics last, by name), then by dimensions.
func (c *Collector) Series() []Series {
	c.mu.Lock()
	out := make([]Series, 0, len(c.series))
	for _, s := range c.series {
		cp := *s
		cp.Dims, cp.Values = slices.Clone(s.Dims), slices.Clone(s.Values)
		out = append(out, cp)
	}
	c.mu.Unlock()
	rank := func(n Name) int {
		for i, d := range definitions {
			if d.Name == n {
				return i
			}
		}
		return len(definitions)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := rank(a.Name), rank(b.Name); ra != rb {
			return ra < rb
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.DimString() < b.DimString()
	})
	return out
}

// Sums returns the sum of every series, keyed "Name key=value,key=value"
// ("Name " for a metric without dimensions): what tests compare.
func (c *Collector) Sums() map[string]float64 {
	out := map[string]float64{}
	for _, s := range c.Series() {
		out[string(s.Name)+" "+s.DimString()] = s.Sum()
	}
	return out
}

// Find returns the series of name with exactly dims (in any order).
func (c *Collector) Find(name Name, dims ...Dim) (Series, bool) {
	want := slices.Clone(dims)
	sort.Slice(want, func(i, j int) bool { return want[i].Key < want[j].Key })
	for _, s := range c.Series() {
		got := slices.Clone(s.Dims)
		sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
		if s.Name == name && slices.Equal(got, want) {
			return s, true
		}
	}
	return Series{}, false
}
