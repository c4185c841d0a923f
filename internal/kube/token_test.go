package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
)

func staticCredentials() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "test"}, nil
	})
}

// TestEKSTokenFormat presigns with the real STS presign client (no request is sent) and checks the token the way
// the EKS authenticator reads it.
func TestEKSTokenFormat(t *testing.T) {
	presigner := sts.NewPresignClient(sts.New(sts.Options{Region: "eu-west-1", Credentials: staticCredentials()}))
	token, err := NewEKSTokenSource(presigner, "retail-forecast").Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	encoded, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		t.Fatalf("token %q lacks the k8s-aws-v1. prefix", token)
	}
	if strings.ContainsAny(encoded, "=+/") {
		t.Errorf("token %q is not unpadded base64url", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("decode token: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatalf("parse presigned URL %q: %v", raw, err)
	}
	q := u.Query()
	got := map[string]string{
		"scheme":              u.Scheme,
		"host":                u.Host,
		"Action":              q.Get("Action"),
		"Version":             q.Get("Version"),
		"X-Amz-Algorithm":     q.Get("X-Amz-Algorithm"),
		"X-Amz-Expires":       q.Get("X-Amz-Expires"),
		"X-Amz-SignedHeaders": q.Get("X-Amz-SignedHeaders"),
	}
	want := map[string]string{
		"scheme":              "https",
		"host":                "sts.eu-west-1.amazonaws.com",
		"Action":              "GetCallerIdentity",
		"Version":             "2011-06-15",
		"X-Amz-Algorithm":     "AWS4-HMAC-SHA256",
		"X-Amz-Expires":       "60",
		"X-Amz-SignedHeaders": "host;x-k8s-aws-id",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("presigned URL %s (-want +got):\n%s", raw, diff)
	}
	if cred := q.Get("X-Amz-Credential"); !strings.HasPrefix(cred, "AKIDEXAMPLE/") || !strings.HasSuffix(cred, "/eu-west-1/sts/aws4_request") {
		t.Errorf("X-Amz-Credential = %q, want the access key and an eu-west-1 sts scope", cred)
	}
	if len(q.Get("X-Amz-Signature")) != 64 || q.Get("X-Amz-Date") == "" {
		t.Errorf("URL %s lacks a signature or date", raw)
	}
}

func TestEKSTokenRenewal(t *testing.T) {
	p := &fakePresigner{}
	s := NewEKSTokenSource(p, "retail-forecast")
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	steps := []struct {
		advance   time.Duration
		wantCalls int
	}{
		{0, 1},
		{10 * time.Minute, 1},
		{2*time.Minute + 59*time.Second, 1},
		{time.Second, 2}, // 13 minutes after the first token: 2 minutes before EKS refuses it
		{12 * time.Minute, 2},
		{time.Minute, 3},
	}
	var tokens []string
	for i, st := range steps {
		now = now.Add(st.advance)
		tok, err := s.Token(ctx)
		if err != nil {
			t.Fatalf("step %d: Token: %v", i, err)
		}
		if p.calls != st.wantCalls {
			t.Errorf("step %d (+%v): %d presign calls, want %d", i, st.advance, p.calls, st.wantCalls)
		}
		tokens = append(tokens, tok)
	}
	if tokens[0] != tokens[2] || tokens[2] == tokens[3] {
		t.Errorf("tokens = %q, want the cached one until renewal and a new one after", tokens)
	}
}

// timeLayout mirrors the fields of time.Time (wall, ext, loc) so frozen can set a monotonic reading.
type timeLayout struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

// frozen returns t with its wall clock d later and its monotonic reading unchanged: what time.Now returns after a
// Lambda sandbox was frozen for d, during which the monotonic clock stood still. Go offers no constructor for
// such a time, so this writes the monotonic reading (the ext field when the wall field's hasMonotonic bit is set)
// directly, and checks that it did.
func frozen(tb testing.TB, t time.Time, d time.Duration) time.Time {
	tb.Helper()
	u := t.Add(d)
	(*timeLayout)(unsafe.Pointer(&u)).ext = (*timeLayout)(unsafe.Pointer(&t)).ext
	if u.Sub(t) != 0 || u.Round(0).Sub(t.Round(0)) != d {
		tb.Fatalf("frozen: time.Time's layout changed (monotonic difference %v, wall difference %v)", u.Sub(t), u.Round(0).Sub(t.Round(0)))
	}
	return u
}

// TestEKSTokenAfterFrozenSandbox: a token cached before the sandbox froze for 20 minutes is renewed after the
// thaw, although the monotonic clock says only an instant passed.
func TestEKSTokenAfterFrozenSandbox(t *testing.T) {
	p := &fakePresigner{}
	s := NewEKSTokenSource(p, "retail-forecast")
	start := time.Now() // with a monotonic reading, as in production
	now := start
	s.now = func() time.Time { return now }
	first, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now = frozen(t, start, 20*time.Minute)
	second, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if second == first || p.calls != 2 {
		t.Errorf("after a 20-minute freeze: %d presign calls, same token %v; want a new token", p.calls, second == first)
	}
}

// TestEKSTokenExpiryFromSigningTime: the cache follows the token's own signing time (X-Amz-Date), not the time
// it was fetched.
func TestEKSTokenExpiryFromSigningTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := &fakePresigner{signedAt: func() time.Time { return now.Add(-10 * time.Minute) }}
	s := NewEKSTokenSource(p, "retail-forecast")
	s.now = func() time.Time { return now }
	for _, step := range []struct {
		advance   time.Duration
		wantCalls int
	}{{0, 1}, {2*time.Minute + 59*time.Second, 1}, {time.Second, 2}} {
		now = now.Add(step.advance)
		if _, err := s.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p.calls != step.wantCalls {
			t.Errorf("+%v: %d presign calls, want %d (a token signed 10 minutes ago lasts 3 more)", step.advance, p.calls, step.wantCalls)
		}
	}
}

func TestEKSTokenInvalidate(t *testing.T) {
	p := &fakePresigner{}
	s := NewEKSTokenSource(p, "retail-forecast")
	ctx := context.Background()
	a, _ := s.Token(ctx)
	s.Invalidate("k8s-aws-v1.some-other-token")
	if b, _ := s.Token(ctx); b != a || p.calls != 1 {
		t.Fatalf("invalidating another token dropped the cached one")
	}
	s.Invalidate(a)
	if b, _ := s.Token(ctx); b == a || p.calls != 2 {
		t.Errorf("after Invalidate: same token %v, %d presign calls; want a new token", b == a, p.calls)
	}
}

// TestUnauthorizedRetriesWithNewToken: a 401 drops the EKS token and retries once with a new one; a static token
// is not retried; a second 401 is an error.
func TestUnauthorizedRetriesWithNewToken(t *testing.T) {
	var requests []string
	var refuse func(token string) bool
	srv := httptestTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		requests = append(requests, token)
		if refuse(token) {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
			return
		}
		writeJSON(w, map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "api", "namespace": "default"}})
	}))
	newClient := func(ts TokenSource) *Client {
		c, err := New(Config{Host: srv.URL, CAData: serverCA(srv), Token: ts})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name         string
		source       func() TokenSource
		refuse       func(token string) bool
		wantErr      bool
		wantRequests int
	}{
		{"expired eks token is renewed", func() TokenSource { return NewEKSTokenSource(&fakePresigner{}, "c") },
			func(tok string) bool { return decodeToken(tok) == "call=1" }, false, 2},
		{"refused twice", func() TokenSource { return NewEKSTokenSource(&fakePresigner{}, "c") },
			func(string) bool { return true }, true, 2},
		{"static token", func() TokenSource { return StaticToken("t") },
			func(string) bool { return true }, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests, refuse = nil, tt.refuse
			_, err := newClient(tt.source()).GetDeployment(context.Background(), "default", "api")
			if (err != nil) != tt.wantErr || len(requests) != tt.wantRequests {
				t.Errorf("GetDeployment = %v after %d requests; want error %v after %d", err, len(requests), tt.wantErr, tt.wantRequests)
			}
			if tt.wantErr && statusCode(err) != http.StatusUnauthorized {
				t.Errorf("error %v, want the 401", err)
			}
		})
	}
}

// decodeToken returns the "call=N" parameter of a fakePresigner token.
func decodeToken(token string) string {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, TokenPrefix))
	if err != nil {
		return ""
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return ""
	}
	return "call=" + u.Query().Get("call")
}

func TestEKSTokenPresignError(t *testing.T) {
	boom := errors.New("no credentials")
	p := &fakePresigner{err: boom}
	s := NewEKSTokenSource(p, "retail-forecast")
	_, err := s.Token(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "retail-forecast") {
		t.Fatalf("got %v, want the presign error naming the cluster", err)
	}
	p.err = nil
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatalf("Token after the error cleared: %v", err)
	}
	if p.calls != 2 {
		t.Errorf("%d presign calls, want 2 (errors are not cached)", p.calls)
	}
}

func TestStaticTokenEmpty(t *testing.T) {
	if _, err := StaticToken("").Token(context.Background()); err == nil {
		t.Fatal("empty static token: got no error")
	}
}
