package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Limits of the Embedded Metric Format specification.
const (
	// MaxMetrics is the most MetricDefinitions one MetricDirective holds.
	MaxMetrics = 100
	// MaxDimensions is the most keys one DimensionSet holds.
	MaxDimensions = 9
	// MaxValues is the most values one metric's array target holds.
	MaxValues = 100
)

// Message is the msg of every EMF log line, so that a Logs Insights query
// can find them: filter msg = "metrics".
const Message = "metrics"

// Recorder collects one invocation's metrics and writes them as EMF lines
// on Flush. It is safe for concurrent use. A nil *Recorder records nothing.
type Recorder struct {
	out       *slog.Logger
	diag      *slog.Logger
	namespace string
	function  Dim
	now       func() time.Time
	classify  func(error) (Dim, bool)

	mu     sync.Mutex
	groups map[string]*group
}

// group is the metrics recorded with one set of dimension values: one EMF
// document (or more, past the format's limits).
type group struct {
	dims   []Dim // sorted by key
	keys   []string
	unit   map[Name]Unit
	sums   map[Name]float64
	values map[Name][]float64
	names  []Name // in order of first record
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithNamespace sets the CloudWatch namespace (DefaultNamespace otherwise).
func WithNamespace(ns string) Option { return func(r *Recorder) { r.namespace = ns } }

// WithClock sets the clock of the documents' timestamps.
func WithClock(now func() time.Time) Option { return func(r *Recorder) { r.now = now } }

// WithClassifier adds kinds of errors the package cannot see (see
// ErrorKind): c returns the kind of err and true, or false to leave it to
// the generic rules.
func WithClassifier(c func(error) (Dim, bool)) Option { return func(r *Recorder) { r.classify = c } }

// WithLogger sets where refused records are reported (by default the
// recorder's own writer, as JSON).
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.diag = l } }

// New returns a recorder for function (FunctionOnpush, FunctionOnscan or
// FunctionGC) that writes EMF lines to w: the function's log stream,
// stdout or stderr (Lambda sends both to CloudWatch Logs).
func New(w io.Writer, function Dim, opts ...Option) *Recorder {
	r := &Recorder{
		out:       slog.New(slog.NewJSONHandler(w, nil)),
		namespace: DefaultNamespace,
		function:  function,
		now:       time.Now,
		groups:    map[string]*group{},
	}
	r.diag = r.out
	for _, o := range opts {
		o(r)
	}
	return r
}

// Add records value for the metric name with the dimension values dims
// (one for each of the metric's keys): counters are summed over the
// invocation, distributions keep every value. A record that does not fit
// the metric's definition is refused and reported, not written.
func (r *Recorder) Add(name Name, value float64, dims ...Dim) {
	if r == nil {
		return
	}
	def, err := r.check(name, value, dims)
	if err != nil {
		r.diag.Warn("metric refused", "metric", string(name), "error", err)
		return
	}
	sorted := slices.Clone(dims)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	parts := make([]string, len(sorted))
	for i, d := range sorted {
		parts[i] = d.String()
	}
	key := strings.Join(parts, ",")
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.groups[key]
	if g == nil {
		g = &group{dims: sorted, unit: map[Name]Unit{}, sums: map[Name]float64{}, values: map[Name][]float64{}}
		for _, d := range sorted {
			g.keys = append(g.keys, d.Key)
		}
		r.groups[key] = g
	}
	if _, seen := g.unit[name]; !seen {
		g.names = append(g.names, name)
		g.unit[name] = def.Unit
	}
	if def.Distribution {
		g.values[name] = append(g.values[name], value)
	} else {
		g.sums[name] += value
	}
}

// Count adds one to the counter name.
func (r *Recorder) Count(name Name, dims ...Dim) { r.Add(name, 1, dims...) }

// Duration records d, in milliseconds, for the metric name.
func (r *Recorder) Duration(name Name, d time.Duration, dims ...Dim) {
	r.Add(name, float64(d)/float64(time.Millisecond), dims...)
}

// Error counts err in Errors under the recorder's function and its kind
// (ErrorKind, and the recorder's classifier). A nil error counts nothing.
func (r *Recorder) Error(err error) {
	if r == nil || err == nil {
		return
	}
	r.Add(Errors, 1, r.function, classify(err, r.classify))
}

// check validates a record against the metric's definition.
func (r *Recorder) check(name Name, value float64, dims []Dim) (Definition, error) {
	def, ok := lookup(name)
	if !ok {
		return def, fmt.Errorf("unknown metric %q", name)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return def, fmt.Errorf("value %v is not a finite number", value)
	}
	if len(dims) != len(def.Dimensions) {
		return def, fmt.Errorf("dimensions %v, want one value for each of %v", dims, def.Dimensions)
	}
	seen := map[string]bool{}
	for _, d := range dims {
		allowed, ok := def.Values[d.Key]
		switch {
		case !ok:
			return def, fmt.Errorf("dimension %s: %s has no such key (keys %v)", d, name, def.Dimensions)
		case seen[d.Key]:
			return def, fmt.Errorf("dimension %s given twice", d.Key)
		case !slices.Contains(allowed, d.Value):
			return def, fmt.Errorf("dimension %s: value not one of %v", d, allowed)
		case d.Key == KeyFunction && d != r.function:
			return def, fmt.Errorf("dimension %s: this recorder is %s's", d, r.function.Value)
		}
		seen[d.Key] = true
	}
	return def, nil
}

// Flush writes what was recorded since the last Flush, one EMF line per set
// of dimension values (split where the format's limits require), and
// starts afresh. The line carries the function's name and, inside Lambda,
// the request id as properties.
func (r *Recorder) Flush(ctx context.Context) {
	if r == nil {
		return
	}
	r.mu.Lock()
	groups := r.groups
	r.groups = map[string]*group{}
	r.mu.Unlock()
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ts := r.now().UnixMilli()
	var requestID string
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	for _, k := range keys {
		for _, doc := range groups[k].documents(r.namespace, ts) {
			attrs := []slog.Attr{slog.Any("_aws", doc.meta), slog.String(KeyFunction, r.function.Value)}
			if requestID != "" {
				attrs = append(attrs, slog.String("requestId", requestID))
			}
			for _, d := range groups[k].dims {
				if d.Key != KeyFunction { // the property above already holds it
					attrs = append(attrs, slog.String(d.Key, d.Value))
				}
			}
			attrs = append(attrs, doc.targets...)
			r.out.LogAttrs(ctx, slog.LevelInfo, Message, attrs...)
		}
	}
}

// metadata is the _aws member.
type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// directive is a MetricDirective.
type directive struct {
	Namespace  string             `json:"Namespace"`
	Dimensions [][]string         `json:"Dimensions"`
	Metrics    []metricDefinition `json:"Metrics"`
}

// metricDefinition is a MetricDefinition.
type metricDefinition struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit,omitempty"`
}

type document struct {
	meta    metadata
	targets []slog.Attr
}

// documents lays the group out as EMF documents, distributions in arrays
// of at most MaxValues: values beyond the first MaxValues go in further
// documents. A group never holds more than MaxMetrics metrics: there are
// fewer definitions than that (TestDefinitions).
func (g *group) documents(namespace string, ts int64) []document {
	var docs []document
	for round := 0; ; round++ {
		var defs []metricDefinition
		var targets []slog.Attr
		for _, n := range g.names {
			vs, dist := g.values[n]
			switch {
			case !dist && round == 0:
				targets = append(targets, slog.Float64(string(n), g.sums[n]))
			case dist && round*MaxValues < len(vs):
				part := vs[round*MaxValues : min((round+1)*MaxValues, len(vs))]
				if len(part) == 1 {
					targets = append(targets, slog.Float64(string(n), part[0]))
				} else {
					targets = append(targets, slog.Any(string(n), part))
				}
			default:
				continue
			}
			defs = append(defs, metricDefinition{Name: string(n), Unit: g.unit[n]})
		}
		if len(defs) == 0 {
			return docs
		}
		docs = append(docs, document{
			meta: metadata{Timestamp: ts, CloudWatchMetrics: []directive{{
				Namespace: namespace, Dimensions: [][]string{slices.Clone(nonNil(g.keys))}, Metrics: defs,
			}}},
			targets: targets,
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
