package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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
	// tokenLifetime is how long EKS accepts a token; tokenRenewAfter leaves a minute of margin.
	tokenLifetime   = 15 * time.Minute
	tokenRenewAfter = tokenLifetime - time.Minute
)

// TokenSource supplies the bearer token for API server requests.
type TokenSource interface {
	// Token returns a token valid for at least the next request.
	Token(ctx context.Context) (string, error)
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
// encoded as "k8s-aws-v1." + unpadded base64url. A token is cached and renewed after 14 of its 15 minutes.
// It is safe for concurrent use.
type EKSTokenSource struct {
	presigner STSPresigner
	cluster   string
	now       func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// NewEKSTokenSource returns a token source for the EKS cluster named cluster; presigner is usually
// sts.NewPresignClient(sts.NewFromConfig(cfg)) in the cluster's region.
func NewEKSTokenSource(presigner STSPresigner, cluster string) *EKSTokenSource {
	return &EKSTokenSource{presigner: presigner, cluster: cluster, now: time.Now}
}

// Token returns the cached token, or presigns a new one when none is cached or the cached one is 14 minutes old.
func (s *EKSTokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Before(s.renewAt) {
		return s.token, nil
	}
	token, err := s.presign(ctx)
	if err != nil {
		return "", err
	}
	s.token, s.renewAt = token, now.Add(tokenRenewAfter)
	return token, nil
}

func (s *EKSTokenSource) presign(ctx context.Context) (string, error) {
	if s.cluster == "" {
		return "", errors.New("presign eks token: empty cluster name")
	}
	out, err := s.presigner.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(func(stack *middleware.Stack) error {
			return stack.Build.Add(eksTokenMiddleware{cluster: s.cluster}, middleware.After)
		}))
	})
	if err != nil {
		return "", fmt.Errorf("presign sts GetCallerIdentity for eks cluster %s: %w", s.cluster, err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(out.URL)), nil
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
