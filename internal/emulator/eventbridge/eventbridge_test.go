package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

var fixedNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func start(t testing.TB) *Server {
	t.Helper()
	s := New(Options{Seed: 7, Now: func() time.Time { return fixedNow }})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client returns a real EventBridge client pointed at s whose retryer does
// not sleep.
func client(s *Server, maxAttempts int) *eventbridge.Client {
	return eventbridge.NewFromConfig(emuhttp.ClientConfig(s.URL(), maxAttempts))
}

func TestPutEventsRecordsEnvelopes(t *testing.T) {
	s := start(t)
	busARN := s.CreateBus("ecrwarden")
	var mu sync.Mutex
	var delivered []string
	cancel := s.SubscribeBus("ecrwarden", func(_ context.Context, env []byte) {
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, string(env))
	})
	defer cancel()

	out, err := client(s, 1).PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{EventBusName: aws.String(busARN), Source: aws.String("ecrwarden"), DetailType: aws.String("TagRejected"), Detail: aws.String(`{"repository":"mlops/retail-api","tag":"bad","note":"a<b && c>d"}`), Resources: []string{"arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api"}, Time: aws.Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))},
		{EventBusName: aws.String("ecrwarden"), Source: aws.String("ecrwarden"), DetailType: aws.String("DeploymentPatched"), Detail: aws.String(`{"deployment":"api"}`)},
		{EventBusName: aws.String("ecrwarden"), Source: aws.String("ecrwarden"), Detail: aws.String(`{}`)},
		{EventBusName: aws.String("ecrwarden"), Source: aws.String("ecrwarden"), DetailType: aws.String("x"), Detail: aws.String(`[1,2]`)},
		{EventBusName: aws.String("nope"), Source: aws.String("ecrwarden"), DetailType: aws.String("x"), Detail: aws.String(`{}`)},
	}})
	if err != nil {
		t.Fatalf("PutEvents: %v", err)
	}
	if out.FailedEntryCount != 3 {
		t.Errorf("FailedEntryCount = %d, want 3", out.FailedEntryCount)
	}
	var codes []string
	for _, e := range out.Entries {
		codes = append(codes, aws.ToString(e.ErrorCode))
	}
	if diff := cmp.Diff([]string{"", "", "InvalidArgument", "MalformedDetail", "ResourceNotFoundException"}, codes); diff != "" {
		t.Errorf("entry error codes (-want +got):\n%s", diff)
	}
	if msg := aws.ToString(out.Entries[2].ErrorMessage); !strings.Contains(msg, "DetailType") {
		t.Errorf("missing DetailType message = %q, want it to name DetailType", msg)
	}

	got := s.Events("ecrwarden")
	if len(got) != 2 {
		t.Fatalf("recorded %d events, want 2", len(got))
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(got[0], &ev); err != nil {
		t.Fatalf("decode envelope with aws-lambda-go: %v", err)
	}
	want := events.CloudWatchEvent{
		Version:    "0",
		ID:         aws.ToString(out.Entries[0].EventId),
		DetailType: "TagRejected",
		Source:     "ecrwarden",
		AccountID:  "123456789012",
		Time:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Region:     "ap-southeast-1",
		Resources:  []string{"arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api"},
		Detail:     json.RawMessage(`{"repository":"mlops/retail-api","tag":"bad","note":"a<b && c>d"}`),
	}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	var ev2 events.CloudWatchEvent
	if err := json.Unmarshal(got[1], &ev2); err != nil || !ev2.Time.Equal(fixedNow) || ev2.Resources == nil {
		t.Errorf("second envelope = %+v (%v), want time %v and empty resources", ev2, err, fixedNow)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{string(got[0]), string(got[1])}, delivered); diff != "" {
		t.Errorf("delivered envelopes (-want +got):\n%s", diff)
	}
}

func TestPutEventsLimits(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	entry := func(detail string) types.PutEventsRequestEntry {
		return types.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String(detail)}
	}
	eleven := make([]types.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry("{}")
	}
	// Source "s" + DetailType "d" + Detail: 2 + len(detail) bytes.
	atLimit := `{"x":"` + strings.Repeat("a", maxEntriesBytes-2-8-1) + `"}`
	overLimit := `{"x":"` + strings.Repeat("a", maxEntriesBytes-2-8) + `"}`
	tests := []struct {
		name    string
		entries []types.PutEventsRequestEntry
		code    string
	}{
		{name: "no entries", entries: []types.PutEventsRequestEntry{}, code: "ValidationException"},
		{name: "eleven entries", entries: eleven, code: "ValidationException"},
		{name: "just under 256 KB", entries: []types.PutEventsRequestEntry{entry(atLimit)}},
		{name: "256 KB", entries: []types.PutEventsRequestEntry{entry(overLimit)}, code: "ValidationException"},
		{name: "two halves over 256 KB", entries: []types.PutEventsRequestEntry{entry(atLimit[:maxEntriesBytes/2-2] + `"}`), entry(atLimit[:maxEntriesBytes/2-2] + `"}`)}, code: "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: tt.entries})
			if tt.code == "" {
				if err != nil {
					t.Fatalf("PutEvents: %v", err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Errorf("PutEvents error = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestFaultsAndRetryer(t *testing.T) {
	s := start(t)
	in := &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String("{}")}}}
	t.Run("throttling is retried until it succeeds", func(t *testing.T) {
		s.Calls().Reset()
		s.Faults().Set("PutEvents", fault.Rule{Throttle: 2})
		if _, err := client(s, 3).PutEvents(context.Background(), in); err != nil {
			t.Fatalf("PutEvents after 2 throttles: %v", err)
		}
		if got := s.Calls().Count("PutEvents"); got != 3 {
			t.Errorf("PutEvents attempts = %d, want 3", got)
		}
	})
	t.Run("persistent 5xx gives up after MaxAttempts", func(t *testing.T) {
		s.Calls().Reset()
		s.Faults().Set("PutEvents", fault.Rule{ServerError: 100})
		_, err := client(s, 3).PutEvents(context.Background(), in)
		var ie *types.InternalException
		if !errors.As(err, &ie) {
			t.Fatalf("PutEvents error = %v, want InternalException", err)
		}
		if got := s.Calls().Count("PutEvents"); got != 3 {
			t.Errorf("PutEvents attempts = %d, want 3", got)
		}
	})
	t.Run("per-entry failures", func(t *testing.T) {
		s.Reset()
		s.Faults().Set("PutEvents", fault.Rule{ItemFailure: 1})
		out, err := client(s, 1).PutEvents(context.Background(), in)
		if err != nil {
			t.Fatalf("PutEvents: %v", err)
		}
		if out.FailedEntryCount != 1 || aws.ToString(out.Entries[0].ErrorCode) != "InternalFailure" {
			t.Errorf("result = %+v, want one InternalFailure", out.Entries)
		}
		if n := len(s.Events(DefaultBus)); n != 0 {
			t.Errorf("recorded %d events for failed entries, want 0", n)
		}
	})
	s.Faults().Clear()
}

func TestPutEnvelope(t *testing.T) {
	s := New(Options{})
	var got []string
	s.Subscribe(func(_ context.Context, env []byte) { got = append(got, string(env)) })
	env := `{"version":"0","id":"1","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","time":"2026-11-25T10:00:00Z","region":"ap-southeast-1","resources":[],"detail":{"result":"SUCCESS"}}`
	if err := s.PutEnvelope(context.Background(), DefaultBus, []byte(env)); err != nil {
		t.Fatalf("PutEnvelope: %v", err)
	}
	if diff := cmp.Diff([]string{env}, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"source":"aws.ecr"}`, `not json`} {
		if err := s.PutEnvelope(context.Background(), DefaultBus, []byte(bad)); err == nil {
			t.Errorf("PutEnvelope(%s) succeeded, want an error", bad)
		}
	}
	if err := s.PutEnvelope(context.Background(), "missing", []byte(env)); err == nil {
		t.Errorf("PutEnvelope on a missing bus succeeded, want an error")
	}
}

func TestMalformedRequests(t *testing.T) {
	s := start(t)
	tests := []struct {
		name, target, body, code, mention string
	}{
		{name: "not JSON", target: "AWSEvents.PutEvents", body: `{"Entries":`, code: "SerializationException", mention: "malformed"},
		{name: "entries not a list", target: "AWSEvents.PutEvents", body: `{"Entries":"x"}`, code: "SerializationException", mention: "Entries"},
		{name: "source not a string", target: "AWSEvents.PutEvents", body: `{"Entries":[{"Source":5}]}`, code: "SerializationException", mention: "Entries.Source"},
		{name: "time not a number", target: "AWSEvents.PutEvents", body: `{"Entries":[{"Time":"yesterday"}]}`, code: "SerializationException", mention: "Time"},
		{name: "unknown target", target: "AWSEvents.PutRule", body: `{}`, code: "UnknownOperationException", mention: "PutRule"},
		{name: "foreign target", target: "DynamoDB_20120810.GetItem", body: `{}`, code: "UnknownOperationException", mention: "DynamoDB_20120810.GetItem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 400 || e.Type != tt.code || !strings.Contains(e.Message, tt.mention) {
				t.Errorf("got %d %s, want 400 %s mentioning %q", resp.StatusCode, b, tt.code, tt.mention)
			}
		})
	}
}
