package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	dynamoemu "github.com/ecrwarden/ecrwarden/internal/emulator/dynamodb"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testPolicy: two repositories whose untagged images older than a day
// expire; no clusters, so nothing is in use.
const testPolicy = `
version: 1
gc:
  dryRun: false
  maxDeletesPerRun: 10
repositories:
  - name: team/api
    retention:
      - { untagged: true, maxAge: 1d }
  - name: team/worker
    retention:
      - { untagged: true, maxAge: 1d }
`

type delivery struct {
	Key   string
	Alert alert.Alert
}

// deletionKey matches the hash gc.Result.ReportKey appends to the key of a
// report of deletions.
var deletionKey = regexp.MustCompile(`#[0-9a-f]{16}$`)

// keyOf returns key with the hash of a report of deletions written as
// "#<deleted>", for comparisons.
func keyOf(key string) string { return deletionKey.ReplaceAllString(key, "#<deleted>") }

// fakeAlerts records deliveries and, like notify.Once, sends a key once.
type fakeAlerts struct{ sent []delivery }

func (f *fakeAlerts) Deliver(ctx context.Context, key string, a alert.Alert) (bool, error) {
	for _, d := range f.sent {
		if d.Key == key {
			return false, nil
		}
	}
	f.sent = append(f.sent, delivery{key, a})
	return true, nil
}

// fakeAudit records the events published; the next fail calls fail; with
// hang, a call waits for its context to end (EventBridge throttling, retried).
type fakeAudit struct {
	events []audit.Event
	fail   int
	hang   bool
}

func (f *fakeAudit) Publish(ctx context.Context, events ...audit.Event) error {
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.fail > 0 {
		f.fail--
		return errors.New("PutEvents: InternalException (injected)")
	}
	f.events = append(f.events, events...)
	return nil
}

// fakeQueue records the messages sent.
type fakeQueue struct{ bodies []string }

func (q *fakeQueue) SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out sqs.SendMessageBatchOutput
	for _, e := range params.Entries {
		q.bodies = append(q.bodies, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return &out, nil
}

// env is an ECR emulator seeded with, per repository, three old untagged
// images and one tagged image, and a handler wired to it.
type env struct {
	ecr    *ecremu.Server
	h      *handler
	alerts *fakeAlerts
	audit  *fakeAudit
	queue  *fakeQueue
	logs   *bytes.Buffer
	// metrics collects what the handler's recorder flushes.
	metrics *metrics.Collector
}

func newEnv(t *testing.T, policyText string, untagged int) *env {
	t.Helper()
	s := ecremu.New(ecremu.Config{Now: func() time.Time { return now }})
	url, stop, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	for _, repo := range []string{"team/api", "team/worker"} {
		if err := s.CreateRepository(repo, ecremu.RepositoryOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := range untagged {
			m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"annotations":{"n":"%s-%d"}}`, ecremu.MediaTypeOCIManifest, repo, i)
			if _, err := s.SeedImage(repo, ecremu.Image{Manifest: m, PushedAt: now.Add(-48 * time.Hour), Size: 1 << 20}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SeedImage(repo, ecremu.Image{Tags: []string{"v1"}, PushedAt: now.Add(-48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	client := ecr.New(ecr.Options{BaseEndpoint: aws.String(url), Region: ecremu.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  emuhttp.HTTPClient(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.NewExponentialJitterBackoff(10 * time.Millisecond)
		})})
	f, err := policy.Parse("test.yaml", []byte(policyText))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ecr: s, alerts: &fakeAlerts{}, audit: &fakeAudit{}, queue: &fakeQueue{}, logs: &bytes.Buffer{}, metrics: metrics.NewCollector()}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	e.h = &handler{policy: f, run: &gc.Runner{ECR: client, Log: log}, alerts: e.alerts, audit: e.audit,
		now: func() time.Time { return now }, log: log, metrics: metrics.New(e.metrics.Writer(), metrics.FunctionGC)}
	return e
}

// reclaimed returns the GCImages and GCBytes the handler recorded as deleted.
func (e *env) reclaimed(t *testing.T) (images, bytes float64) {
	t.Helper()
	e.h.metrics.Flush(context.Background())
	im, _ := e.metrics.Find(metrics.GCImages, metrics.ActionDeleted)
	by, _ := e.metrics.Find(metrics.GCBytes, metrics.ActionDeleted)
	return im.Sum(), by.Sum()
}

// invoke runs the handler through aws-lambda-go's decode path.
func (e *env) invoke(t *testing.T, payload any) ([]byte, error) {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return lambda.NewHandler(e.h.Handle).Invoke(context.Background(), raw)
}

func (e *env) imageCount(repo string) int { return len(e.ecr.Images(repo)) }

func TestScheduledRunInline(t *testing.T) {
	e := newEnv(t, testPolicy, 3)
	if _, err := e.invoke(t, map[string]any{"trigger": "schedule", "runId": "run-1"}); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	for _, repo := range []string{"team/api", "team/worker"} {
		if n := e.imageCount(repo); n != 1 {
			t.Errorf("%s: %d images left, want the tagged one", repo, n)
		}
	}
	// 6 MiB at $0.10 per GB-month.
	for i := range e.alerts.sent {
		e.alerts.sent[i].Key = keyOf(e.alerts.sent[i].Key)
	}
	want := []delivery{{Key: "gc#run-1#<deleted>", Alert: alert.Alert{Kind: alert.KindGCReport, Region: "ap-southeast-1", Account: "123456789012",
		GC: &alert.GCReport{RunID: "run-1", Cap: 10, MonthlySavings: 6.0 / 1024 * 0.10, Prices: gc.DefaultPrices.Source, Repositories: []alert.GCRepository{
			{Name: "team/api", Images: 3, Bytes: 3 << 20}, {Name: "team/worker", Images: 3, Bytes: 3 << 20}}}}}}
	if diff := cmp.Diff(want, e.alerts.sent, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if len(e.audit.events) != 2 || e.audit.events[0].DetailType != audit.ImagesExpired {
		t.Errorf("audit events = %+v, want two ImagesExpired", e.audit.events)
	}
	var logged []string
	for _, l := range strings.Split(e.logs.String(), "\n") {
		var rec struct {
			Msg     string   `json:"msg"`
			Action  string   `json:"action"`
			Digest  string   `json:"digest"`
			Digests []string `json:"digests"`
		}
		if json.Unmarshal([]byte(l), &rec) != nil || rec.Action != "delete" {
			continue
		}
		switch rec.Msg {
		case "gc decision":
			logged = append(logged, rec.Digest)
		case "gc decisions":
			logged = append(logged, rec.Digests...)
		}
	}
	if len(logged) != 6 {
		t.Errorf("%d digests logged as deleted, want 6 (every deletion; kept images are counted in the plan line)", len(logged))
	}
	if images, bytes := e.reclaimed(t); images != 6 || bytes != 6<<20 {
		t.Errorf("metrics: %v images and %v bytes deleted, want 6 and %d", images, bytes, 6<<20)
	}
}

func TestDryRunLogsTheSamePlan(t *testing.T) {
	plans := map[bool]string{}
	for _, dry := range []bool{true, false} {
		e := newEnv(t, testPolicy, 2)
		e.h.dryRun = dry
		if _, err := e.invoke(t, map[string]any{"trigger": "schedule", "runId": "r"}); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(e.logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) != nil || rec["msg"] != "gc decision" && rec["msg"] != "gc decisions" {
				continue
			}
			delete(rec, "time")
			delete(rec, "dryRun")
			lines = append(lines, fmt.Sprint(rec))
		}
		plans[dry] = strings.Join(lines, "\n")
		left := e.imageCount("team/api")
		if dry && left != 3 || !dry && left != 1 {
			t.Errorf("dryRun %v: %d images left", dry, left)
		}
		if e.alerts.sent[0].Alert.GC.DryRun != dry {
			t.Errorf("dryRun %v: report says %v", dry, e.alerts.sent[0].Alert.GC.DryRun)
		}
		if images, _ := e.reclaimed(t); dry && images != 0 || !dry && images != 4 {
			t.Errorf("dryRun %v: metrics say %v images deleted", dry, images)
		}
	}
	if plans[true] == "" || plans[true] != plans[false] {
		t.Errorf("dry-run plan:\n%s\nreal plan:\n%s", plans[true], plans[false])
	}
}

func TestCapRefusalAlertsWithoutFailing(t *testing.T) {
	e := newEnv(t, testPolicy, 6) // 12 planned, cap 10
	if _, err := e.invoke(t, map[string]any{"trigger": "schedule", "runId": "r"}); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if e.imageCount("team/api") != 7 || e.ecr.Log().Count("BatchDeleteImage") != 0 {
		t.Errorf("images deleted despite the cap")
	}
	if len(e.alerts.sent) != 1 || !e.alerts.sent[0].Alert.GC.CapRefused {
		t.Errorf("alerts = %+v, want one cap refusal", e.alerts.sent)
	}
}

func TestListingErrorFailsTheInvocation(t *testing.T) {
	e := newEnv(t, testPolicy, 1)
	e.ecr.Faults().Set("DescribeImages", fault.Rule{ServerError: 10})
	_, err := e.invoke(t, map[string]any{"trigger": "schedule", "runId": "r"})
	if err == nil || !strings.Contains(err.Error(), "describe images") {
		t.Fatalf("Invoke error = %v, want the listing failure", err)
	}
	if e.ecr.Log().Count("BatchDeleteImage") != 0 {
		t.Errorf("deleted after a failed listing")
	}
	if len(e.alerts.sent) != 1 || e.alerts.sent[0].Alert.GC.Repositories[0].Error == "" {
		t.Errorf("alerts = %+v, want the error reported", e.alerts.sent)
	}
}

func TestFanOutAndMessages(t *testing.T) {
	e := newEnv(t, testPolicy, 2)
	e.h.queue, e.h.queueURL = e.queue, "https://sqs.ap-southeast-1.amazonaws.com/123456789012/gc"
	if _, err := e.invoke(t, map[string]any{"trigger": "schedule", "runId": "run-9"}); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"runId":"run-9","repository":"team/api"}`, `{"runId":"run-9","repository":"team/worker"}`}
	if diff := cmp.Diff(want, e.queue.bodies); diff != "" {
		t.Fatalf("messages (-want +got):\n%s", diff)
	}
	if e.ecr.Log().Count("DescribeImages") != 0 {
		t.Errorf("the fan-out listed images itself")
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: e.queue.bodies[0], EventSource: "aws:sqs"},
		{MessageId: "m2", Body: `{"runId":"run-9","repository":"team/unknown"}`, EventSource: "aws:sqs"},
		{MessageId: "m3", Body: `not json`, EventSource: "aws:sqs"},
		{MessageId: "m4", Body: e.queue.bodies[1], EventSource: "aws:sqs"},
	}}
	out, err := e.invoke(t, ev)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	wantFailed := []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}, {ItemIdentifier: "m3"}}
	if diff := cmp.Diff(wantFailed, resp.BatchItemFailures); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
	if e.imageCount("team/api") != 1 || e.imageCount("team/worker") != 1 {
		t.Errorf("images left: api %d worker %d, want 1 each", e.imageCount("team/api"), e.imageCount("team/worker"))
	}
	var keys []string
	for _, d := range e.alerts.sent {
		keys = append(keys, keyOf(d.Key))
	}
	wantKeys := []string{"gc#run-9#team/api#<deleted>", "gc#run-9#team/unknown", "gc#run-9#team/worker#<deleted>"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("alert keys (-want +got):\n%s", diff)
	}
	for _, d := range e.alerts.sent {
		if d.Alert.GC.RunID != "run-9" {
			t.Errorf("alert %s names run %q, want the run of its message, run-9", d.Key, d.Alert.GC.RunID)
		}
	}
}

// TestReportNamesTheRun: the report names the run its ImagesExpired events
// carry — the run id of the request, or without one the Lambda request id
// (the alert's dedupe key) — so an alert can be matched to the audit trail.
func TestReportNamesTheRun(t *testing.T) {
	tests := []struct {
		name    string
		payload map[string]any
		ctx     context.Context
		want    string
	}{
		{name: "run id of the schedule", payload: map[string]any{"trigger": "schedule", "runId": "2026-11-30T03:00:00Z"},
			ctx: context.Background(), want: "2026-11-30T03:00:00Z"},
		{name: "Lambda request id", payload: map[string]any{"trigger": "manual"},
			ctx:  lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8f14e45f-ceea-4167-a5a6-1b3c9d2e7f00"}),
			want: "8f14e45f-ceea-4167-a5a6-1b3c9d2e7f00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testPolicy, 1)
			raw, err := json.Marshal(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := lambda.NewHandler(e.h.Handle).Invoke(tt.ctx, raw); err != nil {
				t.Fatal(err)
			}
			if len(e.alerts.sent) != 1 {
				t.Fatalf("alerts %+v, want one report", e.alerts.sent)
			}
			if got := e.alerts.sent[0]; keyOf(got.Key) != "gc#"+tt.want+"#<deleted>" || got.Alert.GC.RunID != tt.want {
				t.Errorf("report under key %q names run %q, want %q under gc#%s#<deleted>", got.Key, got.Alert.GC.RunID, tt.want, tt.want)
			}
			var runs []any
			for _, ev := range e.audit.events {
				runs = append(runs, ev.Detail.(map[string]any)["runId"])
			}
			if diff := cmp.Diff([]any{tt.want, tt.want}, runs); diff != "" {
				t.Errorf("audit events' runId (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReportOutlivesTheDeletions: the audit events of a fan-out message that
// deleted images cannot be published (EventBridge down). The images are
// gone, so a retry of the message would find nothing to report (the fault
// schedule found it: deletions never audited); the report goes on in a
// message of its own, which delivers it once EventBridge answers.
func TestReportOutlivesTheDeletions(t *testing.T) {
	e := newEnv(t, testPolicy, 2)
	e.h.queue, e.h.queueURL = e.queue, "https://sqs.ap-southeast-1.amazonaws.com/123456789012/gc"
	e.audit.fail = 1
	sqsEvent := func(bodies ...string) events.SQSEvent {
		var ev events.SQSEvent
		for i, b := range bodies {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b, EventSource: "aws:sqs"})
		}
		return ev
	}
	failures := func(out []byte) []events.SQSBatchItemFailure {
		t.Helper()
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.BatchItemFailures
	}
	out, err := e.invoke(t, sqsEvent(`{"runId":"run-7","repository":"team/api"}`))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(out); len(f) != 0 {
		t.Fatalf("batch item failures %v: the message failed after deleting, and its retry would find nothing to report", f)
	}
	if n := e.imageCount("team/api"); n != 1 {
		t.Fatalf("%d images left in team/api, want 1", n)
	}
	if len(e.queue.bodies) != 1 || !strings.Contains(e.queue.bodies[0], `"report"`) {
		t.Fatalf("messages sent %q, want one report message", e.queue.bodies)
	}
	if len(e.audit.events) != 0 {
		t.Fatalf("audit events %v published while EventBridge failed", e.audit.events)
	}
	listed := e.ecr.Log().Count("DescribeImages")
	out, err = e.invoke(t, sqsEvent(e.queue.bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(out); len(f) != 0 {
		t.Fatalf("the report message failed: %v", f)
	}
	if len(e.audit.events) != 1 {
		t.Fatalf("audit events %v, want the one ImagesExpired of the run", e.audit.events)
	}
	detail, _ := e.audit.events[0].Detail.(map[string]any)
	if e.audit.events[0].DetailType != audit.ImagesExpired || detail["images"] != float64(2) || detail["repository"] != "team/api" {
		t.Errorf("audit event %+v, want ImagesExpired of the 2 images deleted from team/api", e.audit.events[0])
	}
	if len(e.alerts.sent) != 1 || e.alerts.sent[0].Alert.GC.RunID != "run-7" {
		t.Errorf("alerts %v, want the run's one report, naming run-7", e.alerts.sent)
	}
	if n := e.ecr.Log().Count("DescribeImages"); n != listed {
		t.Errorf("%d DescribeImages calls for the report message: it collected again", n-listed)
	}
}

// TestReportOutlivesASlowAudit: EventBridge throttles until the invocation's
// deadline; the audit is cut at the deadline minus the reserve, which is left
// to send the report on (the fault schedule's seed 107: the Publish took the
// whole deadline and the deletions went unreported).
func TestReportOutlivesASlowAudit(t *testing.T) {
	e := newEnv(t, testPolicy, 2)
	e.h.queue, e.h.queueURL = e.queue, "https://sqs.ap-southeast-1.amazonaws.com/123456789012/gc"
	e.audit.hang = true
	raw, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m0", Body: `{"runId":"run-8","repository":"team/api"}`, EventSource: "aws:sqs"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dedupe.DefaultReserve+time.Second)
	defer cancel()
	out, err := lambda.NewHandler(e.h.Handle).Invoke(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 || len(e.queue.bodies) != 1 || !strings.Contains(e.queue.bodies[0], `"report"`) {
		t.Fatalf("batch item failures %v, messages %q: want the report sent on and the message done", resp.BatchItemFailures, e.queue.bodies)
	}
}

func TestUnknownEvent(t *testing.T) {
	e := newEnv(t, testPolicy, 0)
	for _, payload := range []any{map[string]any{"detail-type": "ECR Image Action"}, "hello"} {
		if _, err := e.invoke(t, payload); err == nil {
			t.Errorf("Invoke(%v) succeeded, want an error", payload)
		}
	}
}

// TestFanOutCapIsPerRun: gc.maxDeletesPerRun bounds the run across its
// fanned-out messages. Each repository plans 6 deletions under a cap of 10:
// the first message deletes, the second is refused and alerts, and a
// redelivery of the first does not count its 6 again.
func TestFanOutCapIsPerRun(t *testing.T) {
	e := newEnv(t, testPolicy, 6)
	db := dynamoemu.New(dynamoemu.Options{Now: func() time.Time { return now }})
	if _, err := db.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.CreateTable("dedupe", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	e.h.budget = &gc.DynamoBudget{Client: dynamodb.NewFromConfig(emuhttp.ClientConfig(db.URL(), 3)), Table: "dedupe"}
	message := func(id, repo string) events.SQSEvent {
		return events.SQSEvent{Records: []events.SQSMessage{{MessageId: id, EventSource: "aws:sqs",
			Body: `{"runId":"run-cap","repository":"` + repo + `"}`}}}
	}
	for _, m := range []events.SQSEvent{message("m1", "team/api"), message("m2", "team/worker")} {
		if _, err := e.invoke(t, m); err != nil {
			t.Fatal(err)
		}
	}
	if api, worker := e.imageCount("team/api"), e.imageCount("team/worker"); api != 1 || worker != 7 {
		t.Errorf("images left: api %d worker %d; want 1 (6 deleted) and 7 (refused: 6 + 6 > 10)", api, worker)
	}
	if len(e.alerts.sent) != 2 || !e.alerts.sent[1].Alert.GC.CapRefused ||
		!strings.Contains(e.alerts.sent[1].Alert.GC.Repositories[0].Error, "the run has used 6 of its cap of 10") {
		t.Errorf("alerts = %+v, want the second message refused", e.alerts.sent)
	}
	// A redelivery of m1 (say its first invocation timed out after deleting)
	// plans nothing now and reserves nothing more; the budget stays at 6.
	if _, err := e.invoke(t, message("m1", "team/api")); err != nil {
		t.Fatal(err)
	}
	ok, used, err := e.h.budget.Reserve(context.Background(), "run-cap", "team/other", 5, 10)
	if err != nil || ok || used != 6 {
		t.Errorf("after the redelivery: reserve 5 more = %v, used %d, %v; want refused at 6", ok, used, err)
	}
}

// TestReportAfterAFailedAttempt: a fan-out message's first attempt cannot
// list (an outage) and reports the failure; the redelivery lists, deletes
// and must report the deletions — under a key of its own, not as a repeat of
// the failure report (the fault schedule's seed 11: an in-use listing outage
// alerted, the redriven message deleted one image, and its report was
// deduplicated away, so Slack and SNS only ever said "nothing deleted"). A
// further redelivery finds nothing to delete and reports nothing more.
func TestReportAfterAFailedAttempt(t *testing.T) {
	e := newEnv(t, testPolicy, 2)
	e.h.queue, e.h.queueURL = e.queue, "https://sqs.ap-southeast-1.amazonaws.com/123456789012/gc"
	message := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", EventSource: "aws:sqs",
		Body: `{"runId":"run-11","repository":"team/api"}`}}}
	failed := func(out []byte) int {
		t.Helper()
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		return len(resp.BatchItemFailures)
	}
	e.ecr.Faults().Set("DescribeImages", fault.Rule{ServerError: 100})
	out, err := e.invoke(t, message)
	if err != nil {
		t.Fatal(err)
	}
	if failed(out) != 1 || e.imageCount("team/api") != 3 {
		t.Fatalf("the first attempt: %d failures, %d images left; want the message failed and nothing deleted", failed(out), e.imageCount("team/api"))
	}
	e.ecr.Faults().Clear()
	for range 2 { // the redelivery, then one more
		out, err = e.invoke(t, message)
		if err != nil {
			t.Fatal(err)
		}
		if failed(out) != 0 {
			t.Fatalf("the redelivery failed")
		}
	}
	if n := e.imageCount("team/api"); n != 1 {
		t.Fatalf("%d images left, want 1", n)
	}
	type report struct {
		Key    string
		Images int
		Error  bool
	}
	var got []report
	for _, d := range e.alerts.sent {
		r := d.Alert.GC.Repositories[0]
		got = append(got, report{Key: d.Key, Images: r.Images, Error: r.Error != ""})
	}
	for i := range got {
		got[i].Key = keyOf(got[i].Key)
	}
	want := []report{{Key: "gc#run-11#team/api", Error: true}, {Key: "gc#run-11#team/api#<deleted>", Images: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}
