package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"
)

type fakeBus struct {
	putEvents func(ctx context.Context, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
	calls     [][]types.PutEventsRequestEntry
}

func (f *fakeBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls = append(f.calls, in.Entries)
	return f.putEvents(ctx, in)
}

func ok(_ context.Context, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
	out := &eventbridge.PutEventsOutput{}
	for range in.Entries {
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String("id")})
	}
	return out, nil
}

func newTestPublisher(f *fakeBus) *Publisher {
	p := New(f, "ecrwarden")
	p.sleep = func(context.Context, time.Duration) error { return nil }
	return p
}

func TestPublishBatchesOfTen(t *testing.T) {
	f := &fakeBus{putEvents: ok}
	p := newTestPublisher(f)
	var events []Event
	for i := range 23 {
		events = append(events, Event{DetailType: ImagesExpired, Detail: map[string]any{"n": i}})
	}
	if err := p.Publish(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range f.calls {
		sizes = append(sizes, len(c))
	}
	if diff := cmp.Diff([]int{10, 10, 3}, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	e := f.calls[0][0]
	if aws.ToString(e.Source) != Source || aws.ToString(e.EventBusName) != "ecrwarden" || aws.ToString(e.DetailType) != ImagesExpired {
		t.Errorf("entry = %+v", e)
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &detail); err != nil || detail["n"] != 0.0 {
		t.Errorf("detail = %s (%v)", aws.ToString(e.Detail), err)
	}
}

func TestPublishRetriesRefusedEntries(t *testing.T) {
	attempt := 0
	f := &fakeBus{putEvents: func(ctx context.Context, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		attempt++
		out, _ := ok(ctx, in)
		if attempt == 1 {
			out.FailedEntryCount = 1
			out.Entries[1] = types.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")}
		}
		return out, nil
	}}
	p := newTestPublisher(f)
	err := p.Publish(context.Background(),
		Event{DetailType: TagRejected, Detail: map[string]string{"tag": "a"}},
		Event{DetailType: TagRejected, Detail: map[string]string{"tag": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || len(f.calls[1]) != 1 || !strings.Contains(aws.ToString(f.calls[1][0].Detail), `"b"`) {
		t.Errorf("second call should retry only entry b; calls = %d", len(f.calls))
	}
}

func TestPublishReportsPersistentFailure(t *testing.T) {
	f := &fakeBus{putEvents: func(ctx context.Context, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		out, _ := ok(ctx, in)
		out.FailedEntryCount = 1
		out.Entries[0] = types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("boom")}
		return out, nil
	}}
	err := newTestPublisher(f).Publish(context.Background(), Event{DetailType: DeploymentPatched, Detail: struct{}{}})
	if err == nil || !strings.Contains(err.Error(), "InternalFailure") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("error = %v", err)
	}
	if len(f.calls) != maxAttempts {
		t.Errorf("calls = %d, want %d", len(f.calls), maxAttempts)
	}
}

func TestPublishCallError(t *testing.T) {
	boom := errors.New("connection reset")
	f := &fakeBus{putEvents: func(context.Context, *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		return nil, boom
	}}
	if err := newTestPublisher(f).Publish(context.Background(), Event{DetailType: FindingsAlerted, Detail: struct{}{}}); !errors.Is(err, boom) {
		t.Errorf("error = %v, want it to wrap %v", err, boom)
	}
}

func TestPublishRejectsBadDetail(t *testing.T) {
	f := &fakeBus{putEvents: ok}
	p := newTestPublisher(f)
	if err := p.Publish(context.Background(), Event{DetailType: TagRejected, Detail: []int{1}}); err == nil {
		t.Error("a non-object detail must be refused")
	}
	if err := p.Publish(context.Background(), Event{DetailType: TagRejected, Detail: map[string]string{"x": strings.Repeat("a", maxEntryBytes)}}); err == nil || !strings.Contains(err.Error(), "no list left to truncate") {
		t.Errorf("oversized entry error = %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("nothing should be sent for invalid events; calls = %d", len(f.calls))
	}
}

// findingIDs returns n CVE ids.
func findingIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("CVE-2026-%06d", i)
	}
	return ids
}

// TestPublishBoundsLargeDetails: details around and far over the entry limit
// go out under it, with their lists cut and marked; details at the limit
// pass unchanged.
func TestPublishBoundsLargeDetails(t *testing.T) {
	resources := []string{"arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api"}
	// A detail whose entry is exactly one byte under the limit.
	base := map[string]any{"repository": "mlops/retail-api", "findings": []string{}}
	entry := func(detail []byte) types.PutEventsRequestEntry {
		return types.PutEventsRequestEntry{Source: aws.String(Source), DetailType: aws.String(FindingsAlerted), Detail: aws.String(string(detail)), Resources: resources}
	}
	empty, _ := json.Marshal(base)
	pad := maxEntryBytes - 1 - entrySize(entry(empty))
	atLimit := map[string]any{"repository": "mlops/retail-api", "findings": []string{strings.Repeat("x", pad-2)}}
	if b, _ := json.Marshal(atLimit); entrySize(entry(b)) != maxEntryBytes-1 {
		t.Fatalf("test setup: entry of %d bytes, want %d", entrySize(entry(b)), maxEntryBytes-1)
	}
	overByOne := map[string]any{"repository": "mlops/retail-api", "findings": []string{strings.Repeat("x", pad-3), "y"}}
	tests := []struct {
		name      string
		detail    map[string]any
		wantTotal map[string]int // list name → total, for the lists that must be cut
	}{
		{"one byte under the limit", atLimit, nil},
		{"just over the limit", overByOne, map[string]int{"findings": 2}},
		{"20,000 finding ids", map[string]any{"repository": "mlops/retail-api", "findings": findingIDs(20000), "expiredIgnores": []string{"CVE-2024-0001"}}, map[string]int{"findings": 20000}},
		{"two huge lists", map[string]any{"digests": findingIDs(15000), "findings": findingIDs(15000)}, map[string]int{"digests": 15000, "findings": 15000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBus{putEvents: ok}
			if err := newTestPublisher(f).Publish(context.Background(), Event{DetailType: FindingsAlerted, Resources: resources, Detail: tt.detail}); err != nil {
				t.Fatal(err)
			}
			e := f.calls[0][0]
			if n := entrySize(e); n >= maxEntryBytes {
				t.Fatalf("entry of %d bytes, want under %d", n, maxEntryBytes)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &got); err != nil {
				t.Fatal(err)
			}
			if tt.wantTotal == nil {
				want, _ := json.Marshal(tt.detail)
				if aws.ToString(e.Detail) != string(want) {
					t.Error("a detail under the limit must go out unchanged")
				}
				return
			}
			for name, total := range tt.wantTotal {
				list, _ := got[name].([]any)
				if got[name+TruncatedSuffix] != true || got[name+TotalSuffix] != float64(total) || len(list) >= total {
					t.Errorf("%s: %d items, truncated %v, total %v; want fewer than %d, marked truncated with total %d",
						name, len(list), got[name+TruncatedSuffix], got[name+TotalSuffix], total, total)
				}
			}
			if got["repository"] != nil && got["repository"] != "mlops/retail-api" {
				t.Errorf("repository = %v, want it untouched", got["repository"])
			}
		})
	}
}

// TestPublishBatchesBySize: ten entries of 100 KB go out in batches whose
// total stays under the limit.
func TestPublishBatchesBySize(t *testing.T) {
	f := &fakeBus{putEvents: ok}
	var events []Event
	for i := range 10 {
		events = append(events, Event{DetailType: ImagesExpired, Detail: map[string]any{"n": i, "pad": strings.Repeat("d", 100*1024)}})
	}
	if err := newTestPublisher(f).Publish(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range f.calls {
		total := 0
		for _, e := range c {
			total += entrySize(e)
		}
		if total >= maxEntryBytes {
			t.Errorf("batch of %d entries is %d bytes, want under %d", len(c), total, maxEntryBytes)
		}
		sizes = append(sizes, len(c))
	}
	if diff := cmp.Diff([]int{2, 2, 2, 2, 2}, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
}
