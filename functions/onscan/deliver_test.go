package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/notify"
)

// dedupeCondition is the only condition fakeTable evaluates: internal/dedupe's.
const dedupeCondition = "attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)"

// fakeTable is an in-memory DynamoDB table for internal/dedupe: it
// evaluates the store's claim condition and answers a failed one as
// DynamoDB does, with the old item (ReturnValuesOnConditionCheckFailure
// ALL_OLD).
type fakeTable struct {
	mu    sync.Mutex
	items map[string]map[string]ddbtypes.AttributeValue
}

func number(tb testing.TB, v ddbtypes.AttributeValue) int64 {
	tb.Helper()
	n, ok := v.(*ddbtypes.AttributeValueMemberN)
	if !ok {
		tb.Fatalf("attribute %T is not a number", v)
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		tb.Fatalf("number %q: %v", n.Value, err)
	}
	return i
}

func str(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func (f *fakeTable) putItem(tb testing.TB, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := str(in.Item["pk"])
	old, exists := f.items[key]
	if in.ConditionExpression != nil {
		if *in.ConditionExpression != dedupeCondition {
			return nil, fmt.Errorf("fakeTable: unsupported condition %q", *in.ConditionExpression)
		}
		names, values := in.ExpressionAttributeNames, in.ExpressionAttributeValues
		now := number(tb, values[":now"])
		ok := !exists ||
			number(tb, old[names["#exp"]]) < now ||
			(str(old[names["#state"]]) == str(values[":pending"]) && number(tb, old[names["#lease"]]) < now)
		if !ok {
			return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed"), Item: old}
		}
	}
	f.items[key] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

// tableAPI binds a fakeTable to a test for its number parsing.
type tableAPI struct {
	tb testing.TB
	t  *fakeTable
}

func (a tableAPI) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return a.t.putItem(a.tb, in)
}

func (a tableAPI) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	delete(a.t.items, str(in.Key["pk"]))
	return &dynamodb.DeleteItemOutput{}, nil
}

// fakeSNS counts publishes.
type fakeSNS struct{ subjects []string }

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.subjects = append(f.subjects, aws.ToString(in.Subject))
	return &sns.PublishOutput{MessageId: aws.String(strconv.Itoa(len(f.subjects)))}, nil
}

// fakeSecret holds the webhook URL.
type fakeSecret struct{ url string }

func (f fakeSecret) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.url)}, nil
}

// TestSlackDownRetry drives the handler through the real notify.Once and
// dedupe.Store: with Slack down, SNS is sent and Handle fails (the event
// goes to the retry/DLQ path); the retries publish nothing to SNS again;
// once Slack is back, a retry posts to Slack only, and a redelivery after
// that sends nothing.
func TestSlackDownRetry(t *testing.T) {
	var down atomic.Bool
	var posts, accepted atomic.Int32
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		if down.Load() {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		accepted.Add(1)
		w.Write([]byte("ok"))
	}))
	defer slack.Close()

	topic := &fakeSNS{}
	n := notify.New(
		notify.WithSNS(topic, "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts"),
		notify.WithSlack(fakeSecret{slack.URL + "/services/T000/B000/secret"}, "ecrwarden/slack-webhook"),
		notify.WithHTTPClient(slack.Client()),
		notify.WithRetry(3, time.Minute, time.Millisecond),
		notify.WithClock(func() time.Time { return testNow }, func(context.Context, time.Duration) error { return nil }),
		notify.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	store := dedupe.New(tableAPI{t, &fakeTable{items: map[string]map[string]ddbtypes.AttributeValue{}}}, "dedupe",
		dedupe.WithClock(func() time.Time { return testNow }))
	r := newRig(t)
	r.h.alerts = notify.NewOnce(n, store, notify.WithAuditPublisher(r.audit))
	r.findings.basic = []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")}
	ev := basicScan(t, testRepo, "COMPLETE")
	ctx := invocation()

	down.Store(true)
	for attempt := 1; attempt <= 3; attempt++ { // Lambda's first try and two retries
		if err := r.h.Handle(ctx, ev); err == nil {
			t.Fatalf("attempt %d with Slack down: no error, want one", attempt)
		}
	}
	if got := len(topic.subjects); got != 1 {
		t.Errorf("SNS publishes after three attempts with Slack down = %d, want 1", got)
	}
	if got := posts.Load(); got != 9 {
		t.Errorf("Slack posts = %d, want 9 (3 bounded tries per attempt)", got)
	}
	if len(r.audit.events) != 0 {
		t.Errorf("audit events with Slack down = %d, want none until the alert is complete", len(r.audit.events))
	}

	down.Store(false)
	if err := r.h.Handle(ctx, ev); err != nil {
		t.Fatalf("retry with Slack back: %v", err)
	}
	if err := r.h.Handle(ctx, ev); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if got, want := [2]int{len(topic.subjects), int(accepted.Load())}, [2]int{1, 1}; got != want {
		t.Errorf("SNS publishes, Slack messages = %v, want %v", got, want)
	}
	if diff := cmp.Diff([]string{audit.FindingsAlerted}, r.auditTypes()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// TestSlackRateLimited: a 429 from Slack is retried after the Retry-After it
// names, and the alert then counts as sent.
func TestSlackRateLimited(t *testing.T) {
	var posts atomic.Int32
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) == 1 {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "rate_limited", http.StatusTooManyRequests)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer slack.Close()
	var waits []time.Duration
	n := notify.New(
		notify.WithSlack(fakeSecret{slack.URL + "/services/T000/B000/secret"}, "ecrwarden/slack-webhook"),
		notify.WithHTTPClient(slack.Client()),
		notify.WithRetry(3, time.Minute, time.Millisecond),
		notify.WithClock(func() time.Time { return testNow }, func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }),
		notify.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	store := dedupe.New(tableAPI{t, &fakeTable{items: map[string]map[string]ddbtypes.AttributeValue{}}}, "dedupe",
		dedupe.WithClock(func() time.Time { return testNow }))
	r := newRig(t)
	r.h.alerts = notify.NewOnce(n, store, notify.WithAuditPublisher(r.audit))
	r.findings.basic = []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")}
	if err := r.h.Handle(invocation(), basicScan(t, testRepo, "COMPLETE")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{7 * time.Second}, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := posts.Load(); got != 2 {
		t.Errorf("Slack posts = %d, want 2", got)
	}
	if diff := cmp.Diff([]string{audit.FindingsAlerted}, r.auditTypes()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// flakyAudit fails the first fail publications, then records into events.
type flakyAudit struct {
	fail   int
	events *fakeAudit
}

func (f *flakyAudit) Publish(ctx context.Context, events ...audit.Event) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("put audit events: InternalFailure")
	}
	return f.events.Publish(ctx, events...)
}

// TestAuditRetriedAfterAlertSent: when the audit event cannot be published
// after the alert went out, the event fails and its retry publishes the
// audit event without sending the alert again (it used to ride on the
// first successful send, and was lost).
func TestAuditRetriedAfterAlertSent(t *testing.T) {
	var posts atomic.Int32
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.Write([]byte("ok"))
	}))
	defer slack.Close()
	topic := &fakeSNS{}
	n := notify.New(
		notify.WithSNS(topic, "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts"),
		notify.WithSlack(fakeSecret{slack.URL + "/services/T000/B000/secret"}, "ecrwarden/slack-webhook"),
		notify.WithHTTPClient(slack.Client()),
		notify.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	store := dedupe.New(tableAPI{t, &fakeTable{items: map[string]map[string]ddbtypes.AttributeValue{}}}, "dedupe",
		dedupe.WithClock(func() time.Time { return testNow }))
	r := newRig(t)
	r.h.alerts = notify.NewOnce(n, store, notify.WithAuditPublisher(&flakyAudit{fail: 1, events: r.audit}))
	r.findings.basic = []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "CRITICAL")}
	ev := basicScan(t, testRepo, "COMPLETE")
	if err := r.h.Handle(invocation(), ev); err == nil {
		t.Fatal("Handle with the audit bus failing: no error, want one so that Lambda retries")
	}
	for i := range 2 {
		if err := r.h.Handle(invocation(), ev); err != nil {
			t.Fatalf("retry %d: %v", i+1, err)
		}
	}
	if got := [2]int{len(topic.subjects), int(posts.Load())}; got != [2]int{1, 1} {
		t.Errorf("SNS publishes, Slack posts = %v, want [1 1]", got)
	}
	if diff := cmp.Diff([]string{audit.FindingsAlerted}, r.auditTypes()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}
