package eksauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

const (
	akid   = "AKIDECRWARDENTEST"
	secret = "ecrwarden-test-secret"
)

func presigner(key, sec string) *sts.PresignClient {
	cfg := aws.Config{Region: "ap-southeast-1", Credentials: credentials.NewStaticCredentialsProvider(key, sec, "")}
	return sts.NewPresignClient(sts.NewFromConfig(cfg))
}

func server() *Server {
	return New("retail-forecast", map[string]Identity{akid: {SecretAccessKey: secret, ARN: "arn:aws:iam::123456789012:role/ecrwarden-onpush", Username: "ecrwarden"}})
}

func token(t *testing.T, cluster string) string {
	t.Helper()
	tok, err := kube.NewEKSTokenSource(presigner(akid, secret), cluster).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rewrite decodes a token, lets f change its URL, and encodes it again.
func rewrite(t *testing.T, tok string, f func(q url.Values)) string {
	t.Helper()
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, tokenPrefix))
	u, _ := url.Parse(string(raw))
	q := u.Query()
	f(q)
	u.RawQuery = q.Encode()
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(u.String()))
}

func TestVerify(t *testing.T) {
	good := token(t, "retail-forecast")
	tests := []struct {
		name    string
		token   string
		now     time.Time
		wantErr string
	}{
		{name: "token from kube.EKSTokenSource", token: good},
		{name: "another cluster", token: token(t, "other-cluster"), wantErr: "signature does not match"},
		{name: "not an EKS token", token: "abc", wantErr: "prefix"},
		{name: "no X-Amz-Expires (aws-sdk-go-v2 issue 1922)", token: rewrite(t, good, func(q url.Values) { q.Del("X-Amz-Expires") }), wantErr: "X-Amz-Expires"},
		{name: "expires too long", token: rewrite(t, good, func(q url.Values) { q.Set("X-Amz-Expires", "900") }), wantErr: "X-Amz-Expires"},
		{name: "tampered action", token: rewrite(t, good, func(q url.Values) { q.Set("Action", "AssumeRole") }), wantErr: "Action"},
		{name: "cluster header unsigned", token: rewrite(t, good, func(q url.Values) { q.Set("X-Amz-SignedHeaders", "host") }), wantErr: "SignedHeaders"},
		{name: "old token", token: good, now: time.Now().Add(16 * time.Minute), wantErr: "expired"},
		{name: "unknown key", token: func() string {
			tok, _ := kube.NewEKSTokenSource(presigner("AKIDOTHER", secret), "retail-forecast").Token(context.Background())
			return tok
		}(), wantErr: "not mapped"},
		{name: "wrong secret", token: func() string {
			tok, _ := kube.NewEKSTokenSource(presigner(akid, "nope"), "retail-forecast").Token(context.Background())
			return tok
		}(), wantErr: "signature does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := server()
			if !tt.now.IsZero() {
				s.now = func() time.Time { return tt.now }
			}
			id, err := s.Verify(context.Background(), tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Username != "ecrwarden" {
				t.Errorf("username = %q", id.Username)
			}
		})
	}
}

func TestTokenReviewWebhook(t *testing.T) {
	srv := httptest.NewServer(server())
	defer srv.Close()
	review := func(tok string) map[string]any {
		body, _ := json.Marshal(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]string{"token": tok}})
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := review(token(t, "retail-forecast"))
	status := out["status"].(map[string]any)
	if status["authenticated"] != true || status["user"].(map[string]any)["username"] != "ecrwarden" {
		t.Errorf("review = %v", out)
	}
	if spec, _ := out["spec"].(map[string]any); spec["token"] != "" {
		t.Error("the webhook must not echo the token")
	}
	out = review("k8s-aws-v1.bogus")
	if out["status"].(map[string]any)["authenticated"] == true {
		t.Error("a bogus token was authenticated")
	}
}
