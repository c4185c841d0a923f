package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const (
	// TokenPrefix starts every EKS bearer token; the rest is the unpadded base64url presigned STS URL.
	TokenPrefix = "k8s-aws-v1."
	// ClusterIDHeader is the signed header that binds an EKS token to one cluster.
	ClusterIDHeader = "x-k8s-aws-id"
	// presignExpires is the X-Amz-Expires value aws-iam-authenticator requires in the presigned URL: without it
	// the EKS authenticator answers 401 (aws/aws-sdk-go-v2 issue 1922); `aws eks get-token` sends 60 too. The
	// authenticator accepts the URL for 15 minutes from X-Amz-Date regardless.
	presignExpires = "60"
	// tokenLifetime is how long EKS accepts a token from its signing time (X-Amz-Date).
	tokenLifetime = 15 * time.Minute
	// tokenRenewMargin is how long before it expires a cached token is renewed: more than one request's timeout,
	// so a token never expires in flight.
	tokenRenewMargin = 2 * time.Minute
	// amzDateFormat is the layout of X-Amz-Date.
	amzDateFormat = "20060102T150405Z"
)

// TokenSource supplies the bearer token for API server requests.
type TokenSource interface {
	// Token returns a token valid for at least the next request.
	Token(ctx context.Context) (string, error)
}

// TokenInvalidator is a TokenSource that can drop a token the API server refused (401 Unauthorized), so that the
// next Token call makes a new one. The Client retries a request once after invalidating its token.
type TokenInvalidator interface {
	TokenSource
	// Invalidate drops token if it is the one the source would hand out next.
	Invalidate(token string)
}

// StaticToken is a fixed bearer token, e.g. a token-auth-file entry of a test API server.
type StaticToken string

// Token returns the token itself.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", errors.New("empty static token")
	}
	return string(t), nil
}

// STSPresigner is the subset of *sts.PresignClient that EKSTokenSource uses.
type STSPresigner interface {
	PresignGetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// EKSTokenSource makes EKS bearer tokens the way aws-iam-authenticator and `aws eks get-token` do: a presigned STS
// GetCallerIdentity URL whose signed headers include x-k8s-aws-id: <cluster>, with X-Amz-Expires=60 in the query,
// encoded as "k8s-aws-v1." + unpadded base64url. EKS accepts a token for 15 minutes from its signing time
// (X-Amz-Date). A token is cached until 2 minutes before that, measured on the wall clock: a Lambda sandbox
// frozen between invocations does not advance the monotonic clock, so a token cached against it would look fresh
// after the thaw although EKS refuses it. A token the API server refused is dropped (Invalidate).
// It is safe for concurrent use.
type EKSTokenSource struct {
	presigner STSPresigner
	cluster   string
	now       func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time // wall clock, no monotonic reading
}

// NewEKSTokenSource returns a token source for the EKS cluster named cluster; presigner is usually
// sts.NewPresignClient(sts.NewFromConfig(cfg)) in the cluster's region.
func NewEKSTokenSource(presigner STSPresigner, cluster string) *EKSTokenSource {
	return &EKSTokenSource{presigner: presigner, cluster: cluster, now: time.Now}
}

// Token returns the cached token, or presigns a new one when none is cached or the cached one expires within
// 2 minutes on the wall clock.
func (s *EKSTokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Round(0) // strip the monotonic reading: compare wall clocks
	if s.token != "" && now.Before(s.renewAt) {
		return s.token, nil
	}
	token, signedAt, err := s.presign(ctx)
	if err != nil {
		return "", err
	}
	if signedAt.IsZero() || signedAt.After(now) {
		signedAt = now
	}
	s.token, s.renewAt = token, signedAt.Add(tokenLifetime-tokenRenewMargin)
	return token, nil
}

// Invalidate drops token from the cache if it is the cached token, so that the next Token presigns a new one.
func (s *EKSTokenSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token, s.renewAt = "", time.Time{}
	}
}

// presign returns a new token and its signing time (X-Amz-Date; zero when the URL has none).
func (s *EKSTokenSource) presign(ctx context.Context) (string, time.Time, error) {
	if s.cluster == "" {
		return "", time.Time{}, errors.New("presign eks token: empty cluster name")
	}
	out, err := s.presigner.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(func(stack *middleware.Stack) error {
			return stack.Build.Add(eksTokenMiddleware{cluster: s.cluster}, middleware.After)
		}))
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign sts GetCallerIdentity for eks cluster %s: %w", s.cluster, err)
	}
	var signedAt time.Time
	if u, err := url.Parse(out.URL); err == nil {
		signedAt, _ = time.Parse(amzDateFormat, u.Query().Get("X-Amz-Date"))
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(out.URL)), signedAt, nil
}

// eksTokenMiddleware adds the cluster header and X-Amz-Expires to the request before the presigner signs it, so
// both are part of the canonical request.
type eksTokenMiddleware struct{ cluster string }

func (eksTokenMiddleware) ID() string { return "ecrwarden.EKSToken" }

func (m eksTokenMiddleware) HandleBuild(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("eks token middleware: unexpected request type %T", in.Request)
	}
	req.Header.Set(ClusterIDHeader, m.cluster)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", presignExpires)
	req.URL.RawQuery = q.Encode()
	return next.HandleBuild(ctx, in)
}
