package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

type fakeSNS struct {
	publish func(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

func (f *fakeSNS) Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f.publish(ctx, in, optFns...)
}

type fakeSecrets struct {
	get func(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

func (f *fakeSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f.get(ctx, in, optFns...)
}

// secretFor returns a fake Secrets Manager holding url under "slack-webhook"
// and a counter of its calls.
func secretFor(url string) (*fakeSecrets, *atomic.Int32) {
	var calls atomic.Int32
	return &fakeSecrets{get: func(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		calls.Add(1)
		if aws.ToString(in.SecretId) != "slack-webhook" {
			return nil, errors.New("ResourceNotFoundException: secret not found")
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(url)}, nil
	}}, &calls
}

// fakeClock advances only when the Notifier sleeps, and records the sleeps.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

// response is one canned webhook answer.
type response struct {
	status     int
	retryAfter string
	body       string
}

// slackServer answers with the given responses in turn (the last one
// repeats) and records the bodies it received.
type slackServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newSlack(t *testing.T, rs ...response) *slackServer {
	t.Helper()
	s := &slackServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		i := min(len(s.bodies), len(rs)) - 1
		s.mu.Unlock()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if rs[i].retryAfter != "" {
			w.Header().Set("Retry-After", rs[i].retryAfter)
		}
		w.WriteHeader(rs[i].status)
		io.WriteString(w, rs[i].body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *slackServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func testAlert() alert.Alert {
	r := findings.Evaluate("mlops/retail-api", policy.ScanPolicy{}, []findings.Finding{
		{ID: "CVE-2024-3094", Severity: "CRITICAL", Packages: []findings.Package{{Name: "xz-utils", InstalledVersion: "5.6.0", FixedVersion: "5.6.1"}}},
	}, time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC))
	return alert.Alert{Kind: alert.KindFindings, Repository: "mlops/retail-api", Digest: "sha256:abc", Tags: []string{"v1.4.2"},
		Region: "eu-west-1", Account: "123456789012", Findings: &r}
}

const topic = "arn:aws:sns:eu-west-1:123456789012:ecrwarden-alerts"

func okSNS(got *[]*sns.PublishInput) *fakeSNS {
	return &fakeSNS{publish: func(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
		*got = append(*got, in)
		return &sns.PublishOutput{MessageId: aws.String("msg-1")}, nil
	}}
}

func TestSendPublishesThenPosts(t *testing.T) {
	slack := newSlack(t, response{status: 200, body: "ok"})
	secrets, secretCalls := secretFor(slack.URL + "/services/T000/B000/XXXX")
	var published []*sns.PublishInput
	var logs bytes.Buffer
	n := New(WithSNS(okSNS(&published), topic), WithSlack(secrets, "slack-webhook"), WithHTTPClient(slack.Client()),
		WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))

	a := testAlert()
	for range 3 {
		rep, err := n.Send(t.Context(), a)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		want := Report{SNS: Delivery{Status: StatusSent, MessageID: "msg-1"}, Slack: Delivery{Status: StatusSent, Attempts: 1}}
		if diff := cmp.Diff(want, rep); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	}
	if got := secretCalls.Load(); got != 1 {
		t.Errorf("GetSecretValue called %d times, want 1 (cached per cold start)", got)
	}

	subject, body, attrs := alert.SNS(a)
	in := published[0]
	if aws.ToString(in.TopicArn) != topic || aws.ToString(in.Subject) != subject || aws.ToString(in.Message) != body {
		t.Errorf("publish input: topic %q subject %q", aws.ToString(in.TopicArn), aws.ToString(in.Subject))
	}
	gotAttrs := map[string][2]string{}
	for k, v := range in.MessageAttributes {
		gotAttrs[k] = [2]string{aws.ToString(v.DataType), aws.ToString(v.StringValue)}
	}
	wantAttrs := map[string][2]string{}
	for k, v := range attrs {
		wantAttrs[k] = [2]string{"String", v}
	}
	if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
		t.Errorf("message attributes (-want +got):\n%s", diff)
	}

	var posted alert.SlackMessage
	if err := json.Unmarshal(slack.bodies[0], &posted); err != nil {
		t.Fatalf("posted body is not JSON: %v", err)
	}
	if diff := cmp.Diff(alert.Slack(a), posted); diff != "" {
		t.Errorf("posted message (-want +got):\n%s", diff)
	}
	if strings.Contains(logs.String(), "XXXX") {
		t.Errorf("logs contain the webhook URL:\n%s", logs.String())
	}
}

func TestSlackRetries(t *testing.T) {
	start := time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		responses    []response
		deadline     time.Duration // 0: no deadline
		attempts     int
		wantRequests int
		wantSleeps   []time.Duration
		wantErr      []string // substrings; nil: success
	}{
		{
			name:         "429 waits Retry-After then succeeds",
			responses:    []response{{status: 429, retryAfter: "7", body: "rate_limited"}, {status: 200, body: "ok"}},
			wantRequests: 2,
			wantSleeps:   []time.Duration{7 * time.Second},
		},
		{
			name: "429 with an HTTP-date Retry-After",
			responses: []response{
				{status: 429, retryAfter: start.Add(3 * time.Second).Format(http.TimeFormat)},
				{status: 200, body: "ok"},
			},
			wantRequests: 2,
			wantSleeps:   []time.Duration{3 * time.Second},
		},
		{
			name:         "5xx backs off exponentially then succeeds",
			responses:    []response{{status: 500, body: "rollup_error"}, {status: 503}, {status: 200, body: "ok"}},
			wantRequests: 3,
			wantSleeps:   []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:         "400 fails at once with Slack's body",
			responses:    []response{{status: 400, body: "invalid_payload"}},
			wantRequests: 1,
			wantErr:      []string{"400", "invalid_payload"},
		},
		{
			name:         "404 channel_not_found fails at once",
			responses:    []response{{status: 404, body: "channel_not_found"}},
			wantRequests: 1,
			wantErr:      []string{"404", "channel_not_found"},
		},
		{
			name:         "Retry-After longer than the deadline fails without sleeping",
			responses:    []response{{status: 429, retryAfter: "30", body: "rate_limited"}},
			deadline:     10 * time.Second,
			wantRequests: 1,
			wantErr:      []string{"deadline", "429"},
		},
		{
			name:         "Retry-After over the wait budget fails",
			responses:    []response{{status: 429, retryAfter: "3600"}},
			wantRequests: 1,
			wantErr:      []string{"wait budget"},
		},
		{
			name:         "attempts are bounded",
			responses:    []response{{status: 429, retryAfter: "1"}},
			attempts:     3,
			wantRequests: 3,
			wantSleeps:   []time.Duration{time.Second, time.Second},
			wantErr:      []string{"gave up after 3 attempts", "429"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slack := newSlack(t, tt.responses...)
			secrets, _ := secretFor(slack.URL + "/services/T000/B000/SECRETPATH")
			clock := &fakeClock{t: start}
			opts := []Option{WithSlack(secrets, "slack-webhook"), WithHTTPClient(slack.Client()), WithClock(clock.now, clock.sleep),
				WithLogger(slog.New(slog.DiscardHandler))}
			if tt.attempts > 0 {
				opts = append(opts, WithRetry(tt.attempts, DefaultMaxWait, DefaultBackoff))
			}
			n := New(opts...)
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				// The deadline is on the fake clock's timeline; the real
				// context only needs to outlive the test.
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
				ctx = deadlineOnly{ctx}
			}
			rep, err := n.Send(ctx, testAlert())
			if got := slack.requests(); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
			if diff := cmp.Diff(tt.wantSleeps, clock.sleeps); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if rep.SNS.Status != StatusDisabled {
				t.Errorf("SNS status = %q, want disabled", rep.SNS.Status)
			}
			if tt.wantErr == nil {
				if err != nil || rep.Slack.Status != StatusSent {
					t.Fatalf("Send = %v (slack %q), want success", err, rep.Slack.Status)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if !errors.Is(err, ErrSlack) || errors.Is(err, ErrSNS) {
				t.Errorf("error %v: want ErrSlack only", err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "SECRETPATH") {
				t.Errorf("error %q reveals the webhook URL", err)
			}
			if rep.Slack.Status != StatusFailed || rep.Slack.Attempts != tt.wantRequests {
				t.Errorf("slack delivery %+v, want failed after %d attempts", rep.Slack, tt.wantRequests)
			}
		})
	}
}

// deadlineOnly keeps a context's deadline but never expires it: the test
// drives time with a fake clock, so the real timer must not fire.
type deadlineOnly struct{ context.Context }

func (d deadlineOnly) Done() <-chan struct{} { return nil }
func (d deadlineOnly) Err() error            { return nil }

func TestSlackDownStillPublishesSNS(t *testing.T) {
	slack := newSlack(t, response{status: 503, body: "service unavailable"})
	secrets, _ := secretFor(slack.URL + "/hook")
	clock := &fakeClock{t: time.Unix(0, 0)}
	var published []*sns.PublishInput
	n := New(WithSNS(okSNS(&published), topic), WithSlack(secrets, "slack-webhook"), WithHTTPClient(slack.Client()),
		WithClock(clock.now, clock.sleep), WithLogger(slog.New(slog.DiscardHandler)))

	rep, err := n.Send(t.Context(), testAlert())
	if len(published) != 1 {
		t.Fatalf("published %d times, want 1", len(published))
	}
	if !errors.Is(err, ErrSlack) || errors.Is(err, ErrSNS) {
		t.Fatalf("error %v: want ErrSlack only", err)
	}
	if !strings.Contains(err.Error(), "sns message msg-1 was sent") {
		t.Errorf("error %q does not say SNS was sent", err)
	}
	if rep.SNS.Status != StatusSent || rep.Slack.Status != StatusFailed || rep.Slack.Attempts != DefaultMaxAttempts {
		t.Errorf("report %+v, want SNS sent and Slack failed after %d attempts", rep, DefaultMaxAttempts)
	}

	// The retry contract: the caller recorded "sns sent" and retries Slack only.
	slack2 := newSlack(t, response{status: 200, body: "ok"})
	secrets2, _ := secretFor(slack2.URL + "/hook")
	n2 := New(WithSNS(okSNS(&published), topic), WithSlack(secrets2, "slack-webhook"), WithHTTPClient(slack2.Client()), WithLogger(slog.New(slog.DiscardHandler)))
	if err := n2.SendSlack(t.Context(), testAlert()); err != nil {
		t.Fatalf("SendSlack: %v", err)
	}
	if len(published) != 1 {
		t.Errorf("retrying Slack published to SNS again (%d publishes)", len(published))
	}
}

func TestSNSFailureStillPostsSlack(t *testing.T) {
	slack := newSlack(t, response{status: 200, body: "ok"})
	secrets, _ := secretFor(slack.URL + "/hook")
	failing := &fakeSNS{publish: func(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error) {
		return nil, errors.New("api error AuthorizationError: not authorized")
	}}
	n := New(WithSNS(failing, topic), WithSlack(secrets, "slack-webhook"), WithHTTPClient(slack.Client()), WithLogger(slog.New(slog.DiscardHandler)))
	rep, err := n.Send(t.Context(), testAlert())
	if !errors.Is(err, ErrSNS) || errors.Is(err, ErrSlack) {
		t.Fatalf("error %v: want ErrSNS only", err)
	}
	if rep.SNS.Status != StatusFailed || rep.Slack.Status != StatusSent {
		t.Errorf("report %+v, want SNS failed, Slack sent", rep)
	}
}

func TestWebhookSecretProblems(t *testing.T) {
	tests := []struct {
		name    string
		secrets *fakeSecrets
		wantErr string
	}{
		{"secret missing", &fakeSecrets{get: func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			return nil, errors.New("ResourceNotFoundException")
		}}, "get webhook secret slack-webhook: ResourceNotFoundException"},
		{"not a URL", &fakeSecrets{get: func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			return &secretsmanager.GetSecretValueOutput{SecretString: aws.String("xoxb-TOPSECRET")}, nil
		}}, "not an https URL"},
		{"plain http", &fakeSecrets{get: func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			return &secretsmanager.GetSecretValueOutput{SecretString: aws.String("http://hooks.slack.com/services/T0/B0/TOPSECRET")}, nil
		}}, "not an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := New(WithSlack(tt.secrets, "slack-webhook"), WithLogger(slog.New(slog.DiscardHandler)))
			err := n.SendSlack(t.Context(), testAlert())
			if !errors.Is(err, ErrSlack) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SendSlack = %v, want ErrSlack with %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "TOPSECRET") {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

func TestWebhookFetchedOnceConcurrently(t *testing.T) {
	slack := newSlack(t, response{status: 200, body: "ok"})
	secrets, calls := secretFor(slack.URL + "/hook")
	n := New(WithSlack(secrets, "slack-webhook"), WithHTTPClient(slack.Client()), WithLogger(slog.New(slog.DiscardHandler)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := n.SendSlack(t.Context(), testAlert()); err != nil {
				t.Errorf("SendSlack: %v", err)
			}
		})
	}
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("GetSecretValue called %d times, want 1", got)
	}
}

func TestNetworkErrorHidesURLAndCancellation(t *testing.T) {
	slack := newSlack(t, response{status: 200})
	hook := slack.URL + "/services/SECRETPATH"
	slack.Close() // connection refused from now on
	secrets, _ := secretFor(hook)
	clock := &fakeClock{t: time.Unix(0, 0)}
	n := New(WithSlack(secrets, "slack-webhook"), WithHTTPClient(slack.Client()), WithClock(clock.now, clock.sleep), WithRetry(2, time.Minute, time.Second),
		WithLogger(slog.New(slog.DiscardHandler)))
	err := n.SendSlack(t.Context(), testAlert())
	if !errors.Is(err, ErrSlack) || strings.Contains(err.Error(), "SECRETPATH") || strings.Contains(err.Error(), slack.URL) {
		t.Errorf("SendSlack = %v, want ErrSlack without the URL", err)
	}
	if diff := cmp.Diff([]time.Duration{time.Second}, clock.sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := n.SendSlack(ctx, testAlert()); !errors.Is(err, context.Canceled) {
		t.Errorf("SendSlack with a canceled context = %v, want context.Canceled", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"seconds", "12", 12 * time.Second},
		{"zero", "0", 0},
		{"absent", "", -1},
		{"negative", "-3", -1},
		{"garbage", "soon", -1},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"overflow", "99999999999999999999999", -1},
		{"capped", "9999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.in, now); got != tt.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDisabledChannels(t *testing.T) {
	rep, err := New(WithLogger(slog.New(slog.DiscardHandler))).Send(t.Context(), testAlert())
	if err != nil {
		t.Fatalf("Send with no channels: %v", err)
	}
	want := Report{SNS: Delivery{Status: StatusDisabled}, Slack: Delivery{Status: StatusDisabled}}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}
