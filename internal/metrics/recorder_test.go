package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

var clock = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func newTestRecorder(buf *bytes.Buffer, fn Dim) *Recorder {
	return New(buf, fn, WithNamespace("ecrwarden/test"), WithClock(func() time.Time { return clock }))
}

// lines parses every line the recorder wrote; each must be valid EMF.
func lines(t *testing.T, buf *bytes.Buffer) ([]map[string]any, []Datum) {
	t.Helper()
	var docs []map[string]any
	var data []Datum
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		d, err := Parse([]byte(l))
		if err != nil {
			t.Fatalf("invalid EMF %s: %v", l, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		docs, data = append(docs, m), append(data, d...)
	}
	return docs, data
}

func TestRecorderWritesOneDocumentPerDimensionValues(t *testing.T) {
	var buf bytes.Buffer
	r := newTestRecorder(&buf, FunctionOnpush)
	r.Count(Pushes, VerdictAccepted)
	r.Count(Pushes, VerdictAccepted)
	r.Count(Pushes, VerdictRejected)
	r.Duration(PushToPatch, 1500*time.Millisecond)
	r.Duration(PushToPatch, 2*time.Second)
	r.Count(Alerts, ChannelSlack, ResultSent)
	r.Count(Alerts, ResultDeduplicated, ChannelSNS) // any order
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	r.Flush(ctx)

	docs, data := lines(t, &buf)
	ts := clock
	want := []Datum{
		{Namespace: "ecrwarden/test", Name: PushToPatch, Unit: Milliseconds, Values: []float64{1500, 2000}, Timestamp: ts},
		{Namespace: "ecrwarden/test", Name: Alerts, Unit: Count, Dims: []Dim{ChannelSlack, ResultSent}, Values: []float64{1}, Timestamp: ts},
		{Namespace: "ecrwarden/test", Name: Alerts, Unit: Count, Dims: []Dim{ChannelSNS, ResultDeduplicated}, Values: []float64{1}, Timestamp: ts},
		{Namespace: "ecrwarden/test", Name: Pushes, Unit: Count, Dims: []Dim{VerdictAccepted}, Values: []float64{2}, Timestamp: ts},
		{Namespace: "ecrwarden/test", Name: Pushes, Unit: Count, Dims: []Dim{VerdictRejected}, Values: []float64{1}, Timestamp: ts},
	}
	if diff := cmp.Diff(want, data); diff != "" {
		t.Errorf("datums (-want +got):\n%s", diff)
	}
	// The document itself, member by member, as the specification lays it out.
	wantDoc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": float64(clock.UnixMilli()),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "ecrwarden/test",
				"Dimensions": []any{[]any{"Verdict"}},
				"Metrics":    []any{map[string]any{"Name": "Pushes", "Unit": "Count"}},
			}},
		},
		"Verdict": "accepted", "Pushes": float64(2),
		"Function": "onpush", "requestId": "req-1",
		"msg": "metrics", "level": "INFO",
	}
	got := docs[3]
	delete(got, "time")
	if diff := cmp.Diff(wantDoc, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}

	buf.Reset()
	r.Flush(ctx)
	if buf.Len() != 0 {
		t.Errorf("a second Flush wrote %s; want nothing (the invocation's metrics went out already)", buf.String())
	}
}

func TestRecorderSplitsValueArrays(t *testing.T) {
	var buf bytes.Buffer
	r := newTestRecorder(&buf, FunctionOnscan)
	for i := range 250 {
		r.Add(PushToPatch, float64(i))
	}
	r.Add(GCMonthlyCostSaved, 1.25)
	r.Flush(context.Background())
	docs, data := lines(t, &buf)
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3 (100 + 100 + 50 values)", len(docs))
	}
	var values []float64
	cost := 0
	for _, d := range data {
		switch d.Name {
		case PushToPatch:
			values = append(values, d.Values...)
		case GCMonthlyCostSaved:
			cost++
			if d.Values[0] != 1.25 {
				t.Errorf("cost saved %v, want 1.25", d.Values)
			}
		}
	}
	if cost != 1 {
		t.Errorf("the counter went out %d times, want once", cost)
	}
	if len(values) != 250 || values[0] != 0 || values[249] != 249 {
		t.Errorf("%d values (first %v), want all 250 in order", len(values), values[:1])
	}
}

func TestRecorderRefusesWhatTheDefinitionsDoNotAllow(t *testing.T) {
	tests := []struct {
		name   string
		metric Name
		value  float64
		dims   []Dim
		want   string
	}{
		{"unknown metric", "Deploys", 1, nil, "unknown metric"},
		{"a digest as a value", Pushes, 1, []Dim{{KeyVerdict, "sha256:0123456789abcdef"}}, "value not one of"},
		{"a tag as a dimension", Pushes, 1, []Dim{VerdictAccepted, {"Tag", "v1.2.3"}}, "want one value for each"},
		{"a key the metric lacks", Rollouts, 1, []Dim{VerdictAccepted}, "no such key"},
		{"missing dimension", Alerts, 1, []Dim{ChannelSlack}, "want one value for each"},
		{"a key twice", Alerts, 1, []Dim{ChannelSlack, ChannelSNS}, "given twice"},
		{"not a number", GCBytes, 0 * inf(), []Dim{ActionDeleted}, "not a finite number"},
		{"infinite", GCBytes, inf(), []Dim{ActionDeleted}, "not a finite number"},
		{"another function's errors", Errors, 1, []Dim{FunctionGC, KindAWS}, "this recorder is onpush's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, diag bytes.Buffer
			r := New(&out, FunctionOnpush, WithLogger(slog.New(slog.NewJSONHandler(&diag, nil))))
			r.Add(tt.metric, tt.value, tt.dims...)
			r.Flush(context.Background())
			if out.Len() != 0 {
				t.Errorf("wrote %s", out.String())
			}
			if !strings.Contains(diag.String(), "metric refused") || !strings.Contains(diag.String(), tt.want) {
				t.Errorf("report %q, want a refusal saying %q", diag.String(), tt.want)
			}
		})
	}
}

func inf() float64 { var zero float64; return 1 / zero }

func TestNilRecorderRecordsNothing(t *testing.T) {
	var r *Recorder
	r.Count(Pushes, VerdictAccepted)
	r.Duration(PushToPatch, time.Second)
	r.Error(errors.New("x"))
	r.Flush(context.Background())
}

func TestWrapCountsFailedInvocations(t *testing.T) {
	var buf bytes.Buffer
	r := newTestRecorder(&buf, FunctionGC)
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
	h := Wrap(r, func(ctx context.Context, raw json.RawMessage) (any, error) {
		r.Add(GCImages, 3, ActionDeleted)
		if string(raw) == `"fail"` {
			return nil, fmt.Errorf("gc run: %w", &retry.MaxAttemptsError{Attempt: 8, Err: throttle})
		}
		return nil, nil
	})
	if _, err := h(context.Background(), json.RawMessage(`"ok"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := h(context.Background(), json.RawMessage(`"fail"`)); err == nil {
		t.Fatal("the error was swallowed")
	}
	_, data := lines(t, &buf)
	var got []string
	for _, d := range data {
		got = append(got, fmt.Sprintf("%s %v %v", d.Name, d.Dims, d.Values))
	}
	want := []string{
		"GCImages [Action=deleted] [3]",
		"GCImages [Action=deleted] [3]", // documents in the order of their dimension values
		"Errors [Function=gc Kind=throttled] [1]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}

	buf.Reset()
	errMalformed := errors.New("malformed event")
	r.classify = func(err error) (Dim, bool) { return KindEvent, errors.Is(err, errMalformed) }
	he := WrapError(r, func(context.Context, json.RawMessage) error {
		return errors.Join(errors.New("alert failed"), fmt.Errorf("onscan: %w", errMalformed))
	})
	if err := he(context.Background(), nil); err == nil {
		t.Fatal("the error was swallowed")
	}
	_, data = lines(t, &buf)
	if len(data) != 1 || data[0].Name != Errors || data[0].Dims[1] != KindEvent {
		t.Errorf("documents %+v, want one Errors with Kind=event", data)
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Dim
	}{
		{"deadline", fmt.Errorf("describe images: %w", context.DeadlineExceeded), KindTimeout},
		{"SNS throttled", &smithy.GenericAPIError{Code: "Throttled"}, KindThrottled},
		{"ECR throttled", &smithy.GenericAPIError{Code: "ThrottlingException"}, KindThrottled},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, KindAWS},
		{"no answer", &smithy.OperationError{ServiceID: "Lambda", OperationName: "ListFunctions", Err: errors.New("dial tcp: no such host")}, KindAWS},
		{"anything else", errors.New("boom"), KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorKind(tt.err); got != tt.want {
				t.Errorf("ErrorKind(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestDefinitions(t *testing.T) {
	defs := Definitions()
	if len(defs) > MaxMetrics {
		t.Errorf("%d definitions: one document could exceed the %d metrics a directive holds", len(defs), MaxMetrics)
	}
	seen := map[Name]bool{}
	for _, d := range defs {
		if seen[d.Name] {
			t.Errorf("%s defined twice", d.Name)
		}
		seen[d.Name] = true
		if len(d.Dimensions) > MaxDimensions {
			t.Errorf("%s: %d dimension keys, at most %d", d.Name, len(d.Dimensions), MaxDimensions)
		}
		if len(d.Values) != len(d.Dimensions) {
			t.Errorf("%s: values for %d keys, %d keys", d.Name, len(d.Values), len(d.Dimensions))
		}
		for _, k := range d.Dimensions {
			if len(d.Values[k]) == 0 {
				t.Errorf("%s: no values for %s", d.Name, k)
			}
		}
		if d.Description == "" {
			t.Errorf("%s: no description", d.Name)
		}
	}
	// Definitions is a copy: changing it changes nothing.
	defs[0].Values[defs[0].Dimensions[0]][0] = "sha256:abc"
	if _, err := New(&bytes.Buffer{}, FunctionOnpush).check(Pushes, 1, []Dim{VerdictAccepted}); err != nil {
		t.Errorf("Definitions shares its slices: %v", err)
	}
}
