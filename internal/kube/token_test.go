package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

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
		{3*time.Minute + 59*time.Second, 1},
		{time.Second, 2}, // 14 minutes after the first token
		{13 * time.Minute, 2},
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
