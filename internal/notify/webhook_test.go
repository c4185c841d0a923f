package notify

import (
	"context"
	"errors"
	"log/slog"
	"net"
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
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ecrwarden/ecrwarden/internal/dedupe"
)

// rotatingSecret is a Secrets Manager whose value a test can rotate.
type rotatingSecret struct {
	mu    sync.Mutex
	value string
	reads int
}

func (r *rotatingSecret) set(v string) { r.mu.Lock(); r.value = v; r.mu.Unlock() }

func (r *rotatingSecret) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(r.value)}, nil
}

// hookServer serves two webhook paths: /old answers with oldStatus once
// revoked, /new accepts.
type hookServer struct {
	*httptest.Server
	revoked        atomic.Bool
	oldStatus      int
	oldHits, fresh atomic.Int32
}

func newHookServer(t *testing.T, oldStatus int) *hookServer {
	h := &hookServer{oldStatus: oldStatus}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			h.oldHits.Add(1)
			if h.revoked.Load() {
				w.WriteHeader(h.oldStatus)
				w.Write([]byte("invalid_token"))
				return
			}
		case "/new":
			h.fresh.Add(1)
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(h.Close)
	return h
}

// TestWebhookSecretRotation: a warm Notifier picks up a rotated webhook
// secret after the TTL on the wall clock, and at once when Slack answers
// that the cached webhook no longer posts.
func TestWebhookSecretRotation(t *testing.T) {
	t.Run("after the TTL", func(t *testing.T) {
		h := newHookServer(t, http.StatusNotFound)
		secret := &rotatingSecret{value: h.URL + "/old"}
		clock := &fakeClock{t: time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC)}
		n := New(WithSlack(secret, "slack-webhook"), WithHTTPClient(h.Client()), WithClock(clock.now, clock.sleep),
			WithLogger(slog.New(slog.DiscardHandler)))
		if err := n.SendSlack(t.Context(), testAlert()); err != nil {
			t.Fatal(err)
		}
		secret.set(h.URL + "/new")
		clock.t = clock.t.Add(DefaultWebhookTTL - time.Second)
		if err := n.SendSlack(t.Context(), testAlert()); err != nil {
			t.Fatal(err)
		}
		clock.t = clock.t.Add(2 * time.Second)
		if err := n.SendSlack(t.Context(), testAlert()); err != nil {
			t.Fatal(err)
		}
		if got := [2]int32{h.oldHits.Load(), h.fresh.Load()}; got != [2]int32{2, 1} {
			t.Errorf("posts to the old, new webhook = %v, want [2 1]: the rotated secret is used once the TTL has passed", got)
		}
	})
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusGone} {
		t.Run("revoked webhook answers "+http.StatusText(status), func(t *testing.T) {
			h := newHookServer(t, status)
			secret := &rotatingSecret{value: h.URL + "/old"}
			n := New(WithSlack(secret, "slack-webhook"), WithHTTPClient(h.Client()), WithLogger(slog.New(slog.DiscardHandler)))
			if err := n.SendSlack(t.Context(), testAlert()); err != nil {
				t.Fatal(err)
			}
			h.revoked.Store(true)
			secret.set(h.URL + "/new")
			if err := n.SendSlack(t.Context(), testAlert()); err != nil {
				t.Fatalf("SendSlack after rotation: %v", err)
			}
			if got := [3]int{int(h.oldHits.Load()), int(h.fresh.Load()), secret.reads}; got != [3]int{2, 1, 2} {
				t.Errorf("old posts, new posts, secret reads = %v, want [2 1 2]", got)
			}
		})
	}
	t.Run("revoked and not rotated fails", func(t *testing.T) {
		h := newHookServer(t, http.StatusForbidden)
		h.revoked.Store(true)
		secret := &rotatingSecret{value: h.URL + "/old"}
		n := New(WithSlack(secret, "slack-webhook"), WithHTTPClient(h.Client()), WithLogger(slog.New(slog.DiscardHandler)))
		err := n.SendSlack(t.Context(), testAlert())
		if !errors.Is(err, ErrSlack) || !strings.Contains(err.Error(), "403") || h.oldHits.Load() != 1 {
			t.Errorf("SendSlack = %v after %d posts, want one post and the 403", err, h.oldHits.Load())
		}
	})
}

// TestWebhookRefusesRedirects: a redirect is an error, and the target of the
// redirect never receives the message.
func TestWebhookRefusesRedirects(t *testing.T) {
	var stolen atomic.Int32
	thief := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer thief.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, thief.URL+r.URL.Path, code)
			}))
			defer hook.Close()
			secrets, _ := secretFor(hook.URL + "/services/T0/B0/SECRETPATH")
			// Even a client that would follow redirects does not.
			client := hook.Client()
			client.CheckRedirect = nil
			n := New(WithSlack(secrets, "slack-webhook"), WithHTTPClient(client), WithLogger(slog.New(slog.DiscardHandler)))
			err := n.SendSlack(t.Context(), testAlert())
			if !errors.Is(err, ErrSlack) || !strings.Contains(err.Error(), "redirects are not followed") || strings.Contains(err.Error(), "SECRETPATH") {
				t.Errorf("SendSlack = %v, want a redirect error without the URL", err)
			}
		})
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("the redirect target received %d posts", n)
	}
}

// TestSlackUncertainOutcome: a post that times out after it was sent wraps
// dedupe.ErrUncertain; a refused connection does not.
func TestSlackUncertainOutcome(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	secrets, _ := secretFor(hang.URL + "/hook")
	n := New(WithSlack(secrets, "slack-webhook"), WithHTTPClient(hang.Client()), WithLogger(slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := n.SendSlack(ctx, testAlert()); !errors.Is(err, dedupe.ErrUncertain) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SendSlack to a hanging webhook = %v, want ErrUncertain and the deadline", err)
	}

	closed := httptest.NewTLSServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	secrets, _ = secretFor(url + "/hook")
	n = New(WithSlack(secrets, "slack-webhook"), WithRetry(1, time.Second, time.Millisecond), WithLogger(slog.New(slog.DiscardHandler)))
	if err := n.SendSlack(t.Context(), testAlert()); err == nil || errors.Is(err, dedupe.ErrUncertain) {
		t.Errorf("SendSlack to a closed port = %v, want a definite failure", err)
	}
}

// TestSNSUncertainOutcome: a publish that got no answer may have been
// published (ErrUncertain); one SNS answered with an error was not.
func TestSNSUncertainOutcome(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		wantUncertain bool
	}{
		{"timeout", context.DeadlineExceeded, true},
		{"connection reset", errors.New("read tcp: connection reset by peer"), true},
		{"refused connection", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, false},
		{"answered", &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 403}}, Err: errors.New("AuthorizationError")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failing := &fakeSNS{publish: func(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error) {
				return nil, tt.err
			}}
			_, err := New(WithSNS(failing, topic), WithLogger(slog.New(slog.DiscardHandler))).SendSNS(t.Context(), testAlert())
			if !errors.Is(err, ErrSNS) || errors.Is(err, dedupe.ErrUncertain) != tt.wantUncertain {
				t.Errorf("SendSNS = %v, want ErrSNS, uncertain %v", err, tt.wantUncertain)
			}
		})
	}
}
