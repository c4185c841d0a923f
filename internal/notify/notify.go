package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
)

// SNSPublisher is the part of the SNS client the Notifier uses.
type SNSPublisher interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SecretGetter is the part of the Secrets Manager client the Notifier uses.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Errors that Send's error matches with errors.Is, one per failed channel.
var (
	// ErrSNS: the SNS publish failed.
	ErrSNS = errors.New("sns publish failed")
	// ErrSlack: the Slack post failed (after the SNS publish, if any).
	ErrSlack = errors.New("slack delivery failed")
)

// Status is the outcome of one channel.
type Status string

// Channel outcomes.
const (
	// StatusSent: delivered.
	StatusSent Status = "sent"
	// StatusFailed: tried and failed; see Delivery.Err.
	StatusFailed Status = "failed"
	// StatusDisabled: the channel is not configured.
	StatusDisabled Status = "disabled"
)

// Delivery is what happened on one channel.
type Delivery struct {
	// Status is the outcome.
	Status Status
	// MessageID is the SNS message id, when sent to SNS.
	MessageID string
	// Attempts is how many HTTP requests were made (Slack).
	Attempts int
	// Err is the failure, when Status is StatusFailed.
	Err error
}

// Report is the per-channel outcome of Send.
type Report struct {
	// SNS is the SNS publish.
	SNS Delivery
	// Slack is the webhook post.
	Slack Delivery
}

// Defaults for the Slack retry policy.
const (
	DefaultMaxAttempts = 4
	DefaultMaxWait     = 30 * time.Second
	DefaultBackoff     = 500 * time.Millisecond
	defaultMaxBackoff  = 8 * time.Second
	defaultHTTPTimeout = 10 * time.Second
	// maxErrorBody bounds how much of Slack's error answer goes in an error.
	maxErrorBody = 512
)

// Notifier sends alerts to SNS and Slack. It is safe for concurrent use;
// create one per process (cold start) so the webhook URL is fetched once.
type Notifier struct {
	sns      SNSPublisher
	topicARN string

	secrets  SecretGetter
	secretID string

	http        *http.Client
	maxAttempts int
	maxWait     time.Duration
	backoff     time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
	log         *slog.Logger

	mu      sync.Mutex
	webhook string
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithSNS publishes alerts to topicARN. Without it (or with an empty ARN)
// the SNS channel is disabled.
func WithSNS(client SNSPublisher, topicARN string) Option {
	return func(n *Notifier) { n.sns, n.topicARN = client, topicARN }
}

// WithSlack posts alerts to the Slack incoming webhook whose URL is the
// SecretString of secretID. Without it (or with an empty id) the Slack
// channel is disabled.
func WithSlack(client SecretGetter, secretID string) Option {
	return func(n *Notifier) { n.secrets, n.secretID = client, secretID }
}

// WithHTTPClient sets the client for webhook posts (default: 10 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(n *Notifier) { n.http = c } }

// WithRetry bounds Slack retries: at most attempts requests and maxWait of
// waiting in all; backoff is the first wait after a 5xx or network error,
// doubled each time up to 8 s.
func WithRetry(attempts int, maxWait, backoff time.Duration) Option {
	return func(n *Notifier) { n.maxAttempts, n.maxWait, n.backoff = attempts, maxWait, backoff }
}

// WithClock replaces the clock and the sleeper (tests).
func WithClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(n *Notifier) { n.now, n.sleep = now, sleep }
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(n *Notifier) { n.log = l } }

// New returns a Notifier.
func New(opts ...Option) *Notifier {
	n := &Notifier{
		http:        &http.Client{Timeout: defaultHTTPTimeout},
		maxAttempts: DefaultMaxAttempts,
		maxWait:     DefaultMaxWait,
		backoff:     DefaultBackoff,
		sleep:       sleepCtx,
		now:         time.Now,
		log:         slog.Default(),
	}
	for _, o := range opts {
		o(n)
	}
	n.maxAttempts = max(n.maxAttempts, 1)
	return n
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Send delivers a to SNS, then to Slack, attempting both whatever the other's
// outcome. The error is nil only when every configured channel succeeded;
// otherwise it matches ErrSNS and/or ErrSlack, and the Report says which
// channel got the alert, so a retry can skip it (see the package doc).
func (n *Notifier) Send(ctx context.Context, a alert.Alert) (Report, error) {
	var rep Report
	var errs []error
	rep.SNS.Status = StatusDisabled
	if n.snsEnabled() {
		id, err := n.SendSNS(ctx, a)
		if err != nil {
			rep.SNS = Delivery{Status: StatusFailed, Err: err}
			errs = append(errs, err)
		} else {
			rep.SNS = Delivery{Status: StatusSent, MessageID: id}
		}
	}
	rep.Slack.Status = StatusDisabled
	if n.slackEnabled() {
		attempts, err := n.sendSlack(ctx, a)
		rep.Slack = Delivery{Status: StatusSent, Attempts: attempts}
		if err != nil {
			rep.Slack = Delivery{Status: StatusFailed, Attempts: attempts, Err: err}
			if rep.SNS.Status == StatusSent {
				err = fmt.Errorf("sns message %s was sent: %w", rep.SNS.MessageID, err)
			}
			errs = append(errs, err)
		}
	}
	n.log.InfoContext(ctx, "alert delivered",
		"kind", string(a.Kind), "repository", a.Repository, "digest", a.Digest,
		"sns", string(rep.SNS.Status), "slack", string(rep.Slack.Status), "slackAttempts", rep.Slack.Attempts)
	return rep, errors.Join(errs...)
}

func (n *Notifier) snsEnabled() bool   { return n.sns != nil && n.topicARN != "" }
func (n *Notifier) slackEnabled() bool { return n.secrets != nil && n.secretID != "" }

// SendSNS publishes a to the topic (the SDK's retryer handles throttling)
// and returns the message id. The error matches ErrSNS.
func (n *Notifier) SendSNS(ctx context.Context, a alert.Alert) (string, error) {
	if !n.snsEnabled() {
		return "", fmt.Errorf("%w: no topic configured", ErrSNS)
	}
	subject, body, attrs := alert.SNS(a)
	in := &sns.PublishInput{
		TopicArn:          aws.String(n.topicARN),
		Subject:           aws.String(subject),
		Message:           aws.String(body),
		MessageAttributes: make(map[string]snstypes.MessageAttributeValue, len(attrs)),
	}
	for k, v := range attrs {
		in.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	out, err := n.sns.Publish(ctx, in)
	if err != nil {
		return "", fmt.Errorf("%w: publish to %s: %w", ErrSNS, n.topicARN, err)
	}
	return aws.ToString(out.MessageId), nil
}

// SendSlack posts a to the Slack webhook, with the bounded retries described
// in the package doc. The error matches ErrSlack.
func (n *Notifier) SendSlack(ctx context.Context, a alert.Alert) error {
	_, err := n.sendSlack(ctx, a)
	return err
}

func (n *Notifier) sendSlack(ctx context.Context, a alert.Alert) (int, error) {
	if !n.slackEnabled() {
		return 0, fmt.Errorf("%w: no webhook secret configured", ErrSlack)
	}
	hook, err := n.webhookURL(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSlack, err)
	}
	payload, err := json.Marshal(alert.Slack(a))
	if err != nil {
		return 0, fmt.Errorf("%w: encode message: %w", ErrSlack, err)
	}
	attempts, err := n.post(ctx, hook, payload)
	if err != nil {
		return attempts, fmt.Errorf("%w: %w", ErrSlack, err)
	}
	return attempts, nil
}

// webhookURL returns the cached webhook URL, fetching it on first use. A
// failed fetch is not cached, so the next call tries again.
func (n *Notifier) webhookURL(ctx context.Context) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.webhook != "" {
		return n.webhook, nil
	}
	out, err := n.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(n.secretID)})
	if err != nil {
		return "", fmt.Errorf("get webhook secret %s: %w", n.secretID, err)
	}
	v := strings.TrimSpace(aws.ToString(out.SecretString))
	u, perr := url.Parse(v)
	if v == "" || perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Never echo the value: it is a credential.
		return "", fmt.Errorf("webhook secret %s: SecretString is not an http(s) URL", n.secretID)
	}
	n.webhook = v
	return v, nil
}

// post sends payload until Slack accepts it or the retry budget is spent.
func (n *Notifier) post(ctx context.Context, hook string, payload []byte) (int, error) {
	var waited time.Duration
	delay := n.backoff
	for attempt := 1; ; attempt++ {
		wait, retry, err := n.postOnce(ctx, hook, payload)
		if err == nil {
			return attempt, nil
		}
		if !retry {
			return attempt, err
		}
		if wait < 0 { // no Retry-After: back off exponentially
			wait = delay
			delay = min(delay*2, defaultMaxBackoff)
		}
		if attempt >= n.maxAttempts {
			return attempt, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		if waited+wait > n.maxWait {
			return attempt, fmt.Errorf("retry in %s would exceed the %s wait budget: %w", wait, n.maxWait, err)
		}
		if dl, ok := ctx.Deadline(); ok && !n.now().Add(wait).Before(dl) {
			return attempt, fmt.Errorf("retry in %s would end after the deadline (%s left): %w",
				wait, dl.Sub(n.now()).Round(time.Millisecond), err)
		}
		n.log.WarnContext(ctx, "slack webhook retry", "attempt", attempt, "wait", wait.String(), "error", err.Error())
		if serr := n.sleep(ctx, wait); serr != nil {
			return attempt, fmt.Errorf("waiting to retry: %w (last error: %w)", serr, err)
		}
		waited += wait
	}
}

// postOnce makes one request. wait is the Retry-After delay (negative when
// absent); retry says whether trying again may help.
func (n *Notifier) postOnce(ctx context.Context, hook string, payload []byte) (wait time.Duration, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(payload))
	if err != nil {
		// The error would quote the URL; say only what is wrong.
		return 0, false, errors.New("build webhook request: invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := n.http.Do(req)
	if err != nil {
		// *url.Error quotes the URL, a credential: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, false, fmt.Errorf("post webhook: %w", ctxErr)
		}
		return -1, true, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	answer := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, false, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return retryAfter(resp.Header.Get("Retry-After"), n.now()), true,
			fmt.Errorf("webhook answered %d %s", resp.StatusCode, answer)
	case resp.StatusCode >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), n.now()), true,
			fmt.Errorf("webhook answered %d %s", resp.StatusCode, answer)
	default:
		return 0, false, fmt.Errorf("webhook answered %d %s", resp.StatusCode, answer)
	}
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
// It returns -1 when the header is absent or unusable.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return -1
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 {
			return -1
		}
		// Anything beyond a day is past every wait budget anyway; capping
		// avoids overflow.
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}
