package kube

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// lateSigner is the SDK's v4 presigner, except that its first presign is dated 20 minutes ago: a token that was
// valid when it was cached, before the Lambda sandbox froze.
type lateSigner struct {
	calls atomic.Int32
	v4    *v4.Signer
}

func (l *lateSigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, signingTime time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	if l.calls.Add(1) == 1 {
		signingTime = signingTime.Add(-20 * time.Minute)
	}
	return l.v4.PresignHTTP(ctx, creds, r, payloadHash, service, region, signingTime, optFns...)
}

// TestIntegrationExpiredEKSTokenRenewedOn401: the real kube-apiserver, through the EKS token authenticator,
// answers 401 to an expired token; the client drops it, presigns a new one and the request succeeds.
func TestIntegrationExpiredEKSTokenRenewedOn401(t *testing.T) {
	k := requireKube(t)
	adminCreate(t, k, "/apis/apps/v1/namespaces/"+k.Namespace+"/deployments",
		deploymentObject("token-probe", nil, []any{named("app", ecr+"/mlops/retail-api:v1")}, nil))
	signer := &lateSigner{v4: v4.NewSigner()}
	presigner := sts.NewPresignClient(sts.New(sts.Options{
		Region:      "ap-southeast-1",
		Credentials: credentials.NewStaticCredentialsProvider(sandbox.AccessKeyID, sandbox.SecretAccessKey, ""),
	}), func(o *sts.PresignOptions) { o.Presigner = signer })
	c, err := New(Config{Host: k.Admin.Host, CAData: k.Admin.CAData, Token: NewEKSTokenSource(presigner, cluster.Name)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.GetDeployment(context.Background(), k.Namespace, "token-probe")
	if err != nil {
		t.Fatalf("GetDeployment with an expired cached token: %v", err)
	}
	if d.Metadata.Name != "token-probe" || signer.calls.Load() != 2 {
		t.Errorf("got %q after %d presigns, want token-probe after 2 (the expired token, then a new one)", d.Metadata.Name, signer.calls.Load())
	}
}
