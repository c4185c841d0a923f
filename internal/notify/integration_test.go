package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	secretsemu "github.com/ecrwarden/ecrwarden/internal/emulator/secretsmanager"
	slackemu "github.com/ecrwarden/ecrwarden/internal/emulator/slack"
	snsemu "github.com/ecrwarden/ecrwarden/internal/emulator/sns"
	"github.com/ecrwarden/ecrwarden/internal/findings"
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
