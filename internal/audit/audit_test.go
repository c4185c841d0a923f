package audit

import (
	"context"
	"encoding/json"
	"errors"
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
	if err := p.Publish(context.Background(), Event{DetailType: TagRejected, Detail: map[string]string{"x": strings.Repeat("a", maxEntryBytes)}}); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("oversized entry error = %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("nothing should be sent for invalid events; calls = %d", len(f.calls))
	}
}
