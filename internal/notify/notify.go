package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
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

// Defaults for the Slack retry policy and the webhook cache.
const (
	DefaultMaxAttempts = 4
	DefaultMaxWait     = 30 * time.Second
	DefaultBackoff     = 500 * time.Millisecond
	// DefaultWebhookTTL is how long a webhook URL read from Secrets Manager
	// is used before it is read again, so that a rotated secret reaches warm
	// functions (the AWS Parameters and Secrets Lambda Extension caches for
	// 300 s by default too). It is measured on the wall clock: a Lambda
	// sandbox frozen between invocations does not stretch it.
	DefaultWebhookTTL  = 5 * time.Minute
	defaultMaxBackoff  = 8 * time.Second
	defaultHTTPTimeout = 10 * time.Second
	// maxErrorBody bounds how much of Slack's error answer goes in an error.
	maxErrorBody = 512
)

// Notifier sends alerts to SNS and Slack. It is safe for concurrent use;
// create one per process (cold start): the webhook URL is cached for the
// webhook TTL.
type Notifier struct {
	sns      SNSPublisher
	topicARN string
	secrets  SecretGetter
	secretID string

	http        *http.Client
	maxAttempts int
	maxWait     time.Duration
	backoff     time.Duration
	webhookTTL  time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
	log         *slog.Logger

	mu      sync.Mutex
	webhook string
	fetched time.Time
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
// Whatever the client's redirect policy, redirects are never followed.
func WithHTTPClient(c *http.Client) Option { return func(n *Notifier) { n.http = c } }

// WithRetry bounds Slack retries: at most attempts requests and maxWait of
// waiting in all; backoff is the first wait after a 5xx or network error,
// doubled each time up to 8 s.
func WithRetry(attempts int, maxWait, backoff time.Duration) Option {
	return func(n *Notifier) { n.maxAttempts, n.maxWait, n.backoff = attempts, maxWait, backoff }
}

// WithWebhookTTL sets how long the webhook URL is cached (default
// DefaultWebhookTTL).
func WithWebhookTTL(d time.Duration) Option { return func(n *Notifier) { n.webhookTTL = d } }

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
		webhookTTL:  DefaultWebhookTTL,
		sleep:       sleepCtx,
		now:         time.Now,
		log:         slog.Default(),
	}
	for _, o := range opts {
		o(n)
	}
	n.maxAttempts = max(n.maxAttempts, 1)
	// The webhook URL is a credential: a redirect would send the message,
	// and with some clients the URL, elsewhere. Answer it as an error.
	c := *n.http
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n.http = &c
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
		if mayHaveSent(err) {
			// No answer came back: the message may have been published.
			return "", fmt.Errorf("%w: publish to %s: %w: %w", ErrSNS, n.topicARN, dedupe.ErrUncertain, err)
		}
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
	payload, err := json.Marshal(alert.Slack(a))
	if err != nil {
		return 0, fmt.Errorf("%w: encode message: %w", ErrSlack, err)
	}
	hook, err := n.webhookURL(ctx, false)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSlack, err)
	}
	attempts, err := n.post(ctx, hook, payload)
	if _, gone := errors.AsType[*goneError](err); gone {
		// The webhook was revoked or its channel archived: the secret may
		// have been rotated since it was cached. Read it again, and retry
		// once if it changed.
		fresh, ferr := n.webhookURL(ctx, true)
		switch {
		case ferr != nil:
			err = errors.Join(err, ferr)
		case fresh != hook:
			n.log.InfoContext(ctx, "slack webhook secret changed; posting to the new webhook", "secret", n.secretID)
			more, perr := n.post(ctx, fresh, payload)
			attempts, err = attempts+more, perr
		}
	}
	if err != nil {
		return attempts, fmt.Errorf("%w: %w", ErrSlack, err)
	}
	return attempts, nil
}

// webhookURL returns the webhook URL: the cached one while it is younger
// than the TTL (on the wall clock), else — or with refresh — read again from
// Secrets Manager. A failed read is not cached; a failed periodic re-read
// keeps using the cached URL (a revoked one fails at Slack, which forces a
// read), while a failed forced read is an error.
func (n *Notifier) webhookURL(ctx context.Context, refresh bool) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now().Round(0) // wall clock: a frozen sandbox's monotonic clock stands still
	fresh := n.webhook != "" && !now.Before(n.fetched) && now.Sub(n.fetched) < n.webhookTTL
	if fresh && !refresh {
		return n.webhook, nil
	}
	hook, err := n.readWebhook(ctx)
	if err != nil {
		if n.webhook != "" && !refresh {
			n.log.WarnContext(ctx, "slack webhook secret could not be read again; using the cached URL", "secret", n.secretID, "error", err.Error())
			return n.webhook, nil
		}
		return "", err
	}
	n.webhook, n.fetched = hook, now
	return hook, nil
}

// readWebhook reads the webhook URL from Secrets Manager and checks that it
// is an https URL. Neither the value nor the URL appears in an error.
func (n *Notifier) readWebhook(ctx context.Context) (string, error) {
	out, err := n.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(n.secretID)})
	if err != nil {
		return "", fmt.Errorf("get webhook secret %s: %w", n.secretID, err)
	}
	v := strings.TrimSpace(aws.ToString(out.SecretString))
	u, perr := url.Parse(v)
	if v == "" || perr != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		// Never echo the value: it is a credential. Plain http would send it
		// (and the message) in clear text.
		return "", fmt.Errorf("webhook secret %s: SecretString is not an https URL", n.secretID)
	}
	return v, nil
}

// post sends payload until Slack accepts it or the retry budget is spent.
// The error wraps dedupe.ErrUncertain when any attempt may have reached
// Slack without its answer reaching us.
func (n *Notifier) post(ctx context.Context, hook string, payload []byte) (int, error) {
	var waited time.Duration
	delay := n.backoff
	uncertain := false
	fail := func(err error) error {
		if uncertain && !errors.Is(err, dedupe.ErrUncertain) {
			return fmt.Errorf("%w: %w", dedupe.ErrUncertain, err)
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		wait, retry, err := n.postOnce(ctx, hook, payload)
		if err == nil {
			return attempt, nil
		}
		uncertain = uncertain || errors.Is(err, dedupe.ErrUncertain)
		if !retry {
			return attempt, fail(err)
		}
		if wait < 0 { // no Retry-After: back off exponentially
			wait = delay
			delay = min(delay*2, defaultMaxBackoff)
		}
		if attempt >= n.maxAttempts {
			return attempt, fail(fmt.Errorf("gave up after %d attempts: %w", attempt, err))
		}
		if waited+wait > n.maxWait {
			return attempt, fail(fmt.Errorf("retry in %s would exceed the %s wait budget: %w", wait, n.maxWait, err))
		}
		if dl, ok := ctx.Deadline(); ok && !n.now().Add(wait).Before(dl) {
			return attempt, fail(fmt.Errorf("retry in %s would end after the deadline (%s left): %w",
				wait, dl.Sub(n.now()).Round(time.Millisecond), err))
		}
		n.log.WarnContext(ctx, "slack webhook retry", "attempt", attempt, "wait", wait.String(), "error", err.Error())
		if serr := n.sleep(ctx, wait); serr != nil {
			return attempt, fail(fmt.Errorf("waiting to retry: %w (last error: %w)", serr, err))
		}
		waited += wait
	}
}

// goneError is Slack's answer that the webhook no longer posts: 403
// (invalid_token, action_prohibited), 404 (no_service, channel_not_found)
// or 410 (channel_is_archived).
type goneError struct {
	status int
	answer string
}

func (e *goneError) Error() string { return fmt.Sprintf("webhook answered %d %s", e.status, e.answer) }

// postOnce makes one request. wait is the Retry-After delay (negative when
// absent); retry says whether trying again may help.
func (n *Notifier) postOnce(ctx context.Context, hook string, payload []byte) (wait time.Duration, retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, fmt.Errorf("post webhook: %w", err)
	}
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
		if mayHaveSent(err) {
			err = fmt.Errorf("%w: %w", dedupe.ErrUncertain, err)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, false, fmt.Errorf("post webhook: %w (%w)", ctxErr, err)
		}
		return -1, true, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	answer := strings.TrimSpace(string(body))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, false, nil
	case code >= 300 && code < 400:
		// Never quote Location: it may carry the secret path.
		return 0, false, fmt.Errorf("webhook answered %d: redirects are not followed (the webhook URL is a secret)", code)
	case code == http.StatusTooManyRequests, code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), n.now()), true,
			fmt.Errorf("webhook answered %d %s", code, answer)
	case code == http.StatusForbidden, code == http.StatusNotFound, code == http.StatusGone:
		return 0, false, &goneError{status: code, answer: answer}
	default:
		return 0, false, fmt.Errorf("webhook answered %d %s", code, answer)
	}
}

// mayHaveSent reports whether a request that failed without an answer may
// still have reached the server: anything but a failure to connect (dial,
// TLS handshake, certificate) or a refusal by the SDK before sending.
func mayHaveSent(err error) bool {
	if _, ok := errors.AsType[*smithyhttp.ResponseError](err); ok {
		return false // an answer came back
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return false
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return false
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return false
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return false
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return false
	}
	return true
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
