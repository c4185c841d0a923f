package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	ddbemu "github.com/ecrwarden/ecrwarden/internal/emulator/dynamodb"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	secretsemu "github.com/ecrwarden/ecrwarden/internal/emulator/secretsmanager"
	slackemu "github.com/ecrwarden/ecrwarden/internal/emulator/slack"
	snsemu "github.com/ecrwarden/ecrwarden/internal/emulator/sns"
	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/notify"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

const region = "eu-west-1"

var creds = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))

type emulators struct {
	sns     *snsemu.Server
	secrets *secretsemu.Server
	slack   *slackemu.Server
}

func startEmulators(t *testing.T) emulators {
	t.Helper()
	e := emulators{
		sns:     snsemu.New(snsemu.Options{Region: region}),
		secrets: secretsemu.New(secretsemu.Options{Region: region}),
		slack:   slackemu.New(1),
	}
	for name, s := range map[string]interface {
		Start(string) (string, error)
		Close() error
	}{"sns": e.sns, "secrets manager": e.secrets, "slack": e.slack} {
		if _, err := s.Start("127.0.0.1:0"); err != nil {
			t.Fatalf("start %s emulator: %v", name, err)
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	return e
}

// bigAlert is a findings alert for an image with 2,000 findings.
func bigAlert() alert.Alert {
	fs := make([]findings.Finding, 2000)
	sev := []policy.Severity{"CRITICAL", "HIGH", "MEDIUM", "LOW"}
	for i := range fs {
		id := fmt.Sprintf("CVE-2025-%05d", 10000+i)
		fs[i] = findings.Finding{ID: id, Severity: sev[i%4], Score: 7.5, Title: id + " - libexample",
			URI:      "https://nvd.nist.gov/vuln/detail/" + id,
			Packages: []findings.Package{{Name: "libexample", InstalledVersion: "1.0." + fmt.Sprint(i), FixedVersion: "1.1.0"}}}
	}
	r := findings.Evaluate("mlops/train-model", policy.ScanPolicy{AlertAt: "LOW"}, fs, time.Now())
	return alert.Alert{Kind: alert.KindFindings, Repository: "mlops/train-model", Tags: []string{"v2.0.0"},
		Digest: "sha256:" + strings.Repeat("ab", 32), Region: region, Account: "123456789012", Findings: &r,
		Fingerprint: findings.Fingerprint("mlops/train-model", "sha256:"+strings.Repeat("ab", 32), r.Alerting)}
}

// TestEmulatedDelivery runs the Notifier with the real SNS and Secrets
// Manager clients against the emulators, and the Slack sink throttling the
// first post.
func TestEmulatedDelivery(t *testing.T) {
	e := startEmulators(t)
	topic := e.sns.CreateTopic("ecrwarden-alerts")
	e.secrets.PutSecret("ecrwarden/slack-webhook", e.slack.WebhookURL())
	e.slack.Faults().Set(slackemu.Op, fault.Rule{Throttle: 1})
	e.slack.SetRetryAfter(2)

	snsClient := sns.New(sns.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(e.sns.URL())})
	smClient := secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(e.secrets.URL())})
	var slept []time.Duration
	n := notify.New(
		notify.WithSNS(snsClient, topic),
		notify.WithSlack(smClient, "ecrwarden/slack-webhook"),
		notify.WithHTTPClient(e.slack.Client()),
		notify.WithClock(time.Now, func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }),
		notify.WithLogger(slog.New(slog.DiscardHandler)),
	)

	a := bigAlert()
	rep, err := n.Send(t.Context(), a)
	if err != nil {
		t.Fatalf("Send: %v (report %+v)", err, rep)
	}
	if rep.Slack.Attempts != 2 || len(slept) != 1 || slept[0] != 2*time.Second {
		t.Errorf("slack attempts %d, sleeps %v; want 2 attempts after one 2s Retry-After wait", rep.Slack.Attempts, slept)
	}

	msgs := e.sns.Messages(topic)
	if len(msgs) != 1 {
		t.Fatalf("SNS got %d messages, want 1", len(msgs))
	}
	subject, body, attrs := alert.SNS(a)
	m := msgs[0]
	if m.MessageID != rep.SNS.MessageID || m.Subject != subject || m.Message != body {
		t.Errorf("SNS message id %q subject %q (body %d bytes); want id %q subject %q (body %d bytes)",
			m.MessageID, m.Subject, len(m.Message), rep.SNS.MessageID, subject, len(body))
	}
	for k, v := range attrs {
		if got := m.Attributes[k]; got.DataType != "String" || got.StringValue != v {
			t.Errorf("attribute %s = %+v, want String %q", k, got, v)
		}
	}

	if rj := e.slack.Rejections(); len(rj) != 0 {
		t.Fatalf("Slack sink refused the message: %+v", rj[0].Reason)
	}
	ps := e.slack.Payloads()
	if len(ps) != 1 {
		t.Fatalf("Slack sink accepted %d payloads, want 1", len(ps))
	}
	var want, got alert.SlackMessage
	want = alert.Slack(a)
	if err := json.Unmarshal(ps[0].Body, &got); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if got.Text != want.Text || len(got.Blocks) != len(want.Blocks) {
		t.Errorf("Slack payload text %q with %d blocks, want %q with %d", got.Text, len(got.Blocks), want.Text, len(want.Blocks))
	}
}

// TestEmulatedSlackDown: SNS is delivered, Slack's 5xx answers exhaust the
// retries, and the error says so.
func TestEmulatedSlackDown(t *testing.T) {
	e := startEmulators(t)
	topic := e.sns.CreateTopic("ecrwarden-alerts")
	e.secrets.PutSecret("ecrwarden/slack-webhook", e.slack.WebhookURL())
	e.slack.Faults().Set(slackemu.Op, fault.Rule{ServerError: 10, Status: 503})

	snsClient := sns.New(sns.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(e.sns.URL())})
	smClient := secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(e.secrets.URL())})
	n := notify.New(
		notify.WithSNS(snsClient, topic),
		notify.WithSlack(smClient, "ecrwarden/slack-webhook"),
		notify.WithHTTPClient(e.slack.Client()),
		notify.WithClock(time.Now, func(context.Context, time.Duration) error { return nil }),
		notify.WithLogger(slog.New(slog.DiscardHandler)),
	)
	rep, err := n.Send(t.Context(), bigAlert())
	if err == nil || rep.SNS.Status != notify.StatusSent || rep.Slack.Status != notify.StatusFailed {
		t.Fatalf("Send = %v, report %+v; want SNS sent, Slack failed", err, rep)
	}
	if got := len(e.sns.Messages(topic)); got != 1 {
		t.Errorf("SNS got %d messages, want 1", got)
	}
	if got := e.slack.Calls().Count(slackemu.Op); got != notify.DefaultMaxAttempts {
		t.Errorf("Slack sink saw %d posts, want %d", got, notify.DefaultMaxAttempts)
	}
}

// onceRig is a notify.Once on the SNS, Secrets Manager, Slack and DynamoDB
// emulators, with an audit publisher that fails while failAudit is set.
type onceRig struct {
	e         emulators
	topic     string
	once      *notify.Once
	store     *dedupe.Store
	audited   [][]audit.Event
	failAudit bool
	// rec records the Alerts metric into metrics (Flush first).
	rec     *metrics.Recorder
	metrics *metrics.Collector
}

func (r *onceRig) Publish(_ context.Context, events ...audit.Event) error {
	if r.failAudit {
		return errors.New("eventbridge: InternalFailure")
	}
	r.audited = append(r.audited, events)
	return nil
}

func newOnceRig(t *testing.T) *onceRig {
	t.Helper()
	r := &onceRig{e: startEmulators(t)}
	r.topic = r.e.sns.CreateTopic("ecrwarden-alerts")
	r.e.secrets.PutSecret("ecrwarden/slack-webhook", r.e.slack.WebhookURL())
	ddb := ddbemu.New(ddbemu.Options{Region: region})
	if err := ddb.CreateTable("dedupe", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	if _, err := ddb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Close() })
	opts := func(url string) func(*dynamodb.Options) {
		return func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(url) }
	}
	r.store = dedupe.New(dynamodb.New(dynamodb.Options{Region: region, Credentials: creds}, opts(ddb.URL())), "dedupe",
		dedupe.WithReserve(time.Second))
	n := notify.New(
		notify.WithSNS(sns.New(sns.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(r.e.sns.URL())}), r.topic),
		notify.WithSlack(secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(r.e.secrets.URL())}), "ecrwarden/slack-webhook"),
		notify.WithHTTPClient(r.e.slack.Client()),
		notify.WithLogger(slog.New(slog.DiscardHandler)),
	)
	r.metrics = metrics.NewCollector()
	r.rec = metrics.New(r.metrics.Writer(), metrics.FunctionOnscan)
	r.once = notify.NewOnce(n, r.store, notify.WithAuditPublisher(r), notify.WithMetrics(r.rec))
	return r
}

// alerts returns the Alerts metric recorded so far, per "channel result".
func (r *onceRig) alerts(t *testing.T) map[string]float64 {
	t.Helper()
	r.rec.Flush(t.Context())
	if p := r.metrics.Problems(); len(p) > 0 {
		t.Fatalf("invalid EMF: %v", p)
	}
	out := map[string]float64{}
	for _, s := range r.metrics.Series() {
		if s.Name == metrics.Alerts {
			out[s.Dims[0].Value+" "+s.Dims[1].Value] = s.Sum()
		}
	}
	return out
}

func (r *onceRig) counts() [2]int {
	return [2]int{len(r.e.sns.Messages(r.topic)), len(r.e.slack.Payloads())}
}

// TestOnceHeldLeaseIsAnError: a channel whose lease another invocation holds
// past our deadline is an error, never "already sent"; once that lease has
// ended the alert goes out.
func TestOnceHeldLeaseIsAnError(t *testing.T) {
	r := newOnceRig(t)
	held, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if st, err := r.store.Begin(held, "findings#fp1#slack"); err != nil || st != dedupe.Claimed {
		t.Fatalf("claim as another invocation: %v %v", st, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	sent, err := r.once.Deliver(ctx, "findings#fp1", bigAlert())
	if !errors.Is(err, dedupe.ErrInProgress) {
		t.Fatalf("Deliver with Slack's lease held elsewhere = %v (sent %v), want ErrInProgress", err, sent)
	}
	if got := r.counts(); got != [2]int{1, 0} {
		t.Errorf("SNS, Slack messages = %v, want [1 0]", got)
	}
	// The other invocation died; its lease ends 2 s after its deadline, and a
	// retry that waits for it claims the work.
	if sent, err := r.once.Deliver(t.Context(), "findings#fp1", bigAlert()); err != nil || !sent {
		t.Fatalf("Deliver after the lease ended: sent %v, %v", sent, err)
	}
	if got := r.counts(); got != [2]int{1, 1} {
		t.Errorf("SNS, Slack messages = %v, want [1 1]", got)
	}
	if d := r.once.Duplicates(); d != 1 {
		t.Errorf("duplicates = %d, want 1: the dead invocation may have posted", d)
	}
	want := map[string]float64{"sns sent": 1, "slack failed": 1, "sns deduplicated": 1, "slack sent": 1}
	if diff := cmp.Diff(want, r.alerts(t)); diff != "" {
		t.Errorf("Alerts metric (-want +got):\n%s", diff)
	}
}

// TestOnceSendBoundedByDeadline: a Slack post that hangs is cut at the
// deadline minus the reserve, its claim is released at once (not left to
// block the retry), and the retry posts it, counted as a possible
// duplicate.
func TestOnceSendBoundedByDeadline(t *testing.T) {
	r := newOnceRig(t)
	r.e.slack.Faults().Set(slackemu.Op, fault.Rule{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err := r.once.Deliver(ctx, "findings#fp2", bigAlert())
	if !errors.Is(err, notify.ErrSlack) || !errors.Is(err, dedupe.ErrUncertain) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver to a hanging Slack = %v, want an uncertain Slack failure at the deadline", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Deliver returned after the invocation's deadline: no time was left to record the outcome")
	}
	r.e.slack.Faults().Clear()
	sent, err := r.once.Deliver(t.Context(), "findings#fp2", bigAlert())
	if err != nil || !sent {
		t.Fatalf("retry: sent %v, %v", sent, err)
	}
	if got := r.counts(); got != [2]int{1, 1} {
		t.Errorf("SNS, Slack messages = %v, want [1 1]", got)
	}
	if d := r.once.Duplicates(); d != 1 {
		t.Errorf("duplicates = %d, want 1", d)
	}
}

// TestOnceAuditIsItsOwnStep: the audit events of an alert are published
// after the alert, retried until they are published even though the alert
// was sent by an earlier attempt, and published once.
func TestOnceAuditIsItsOwnStep(t *testing.T) {
	r := newOnceRig(t)
	ev := []audit.Event{{DetailType: audit.FindingsAlerted, Detail: map[string]any{"fingerprint": "fp3"}}}
	r.failAudit = true
	if _, err := r.once.DeliverAudited(t.Context(), "findings#fp3", bigAlert(), ev); err == nil {
		t.Fatal("DeliverAudited with the bus failing: no error, want one (the event is retried)")
	}
	r.failAudit = false
	for i := range 2 {
		sent, err := r.once.DeliverAudited(t.Context(), "findings#fp3", bigAlert(), ev)
		if err != nil || sent {
			t.Fatalf("retry %d: sent %v, %v; want the alert not sent again and no error", i+1, sent, err)
		}
	}
	if got := r.counts(); got != [2]int{1, 1} {
		t.Errorf("SNS, Slack messages = %v, want [1 1]", got)
	}
	if len(r.audited) != 1 {
		t.Errorf("audit published %d times, want once", len(r.audited))
	}
}
