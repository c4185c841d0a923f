package ecr_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// TestRequestID checks that every answer carries x-amzn-RequestId, as
// ECR's do, so that the SDK (ResultMetadata, ResponseError.ServiceRequestID)
// and the AWS CLI (--debug) can report it: successes, service errors,
// injected faults and requests the emulator cannot route.
func TestRequestID(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createRepo(t, "mlops/retail-api")

	out, err := e.client.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatalf("DescribeRepositories: %v", err)
	}
	ok, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if len(ok) != 36 {
		t.Errorf("success request id = %q, want a UUID", ok)
	}

	_, err = e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("nope")})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || len(re.ServiceRequestID()) != 36 {
		t.Errorf("RepositoryNotFoundException: error %v, want a request id", err)
	}

	e.srv.Faults().Set("ListImages", fault.Rule{Throttle: 10})
	_, err = e.client.ListImages(ctx, &awsecr.ListImagesInput{RepositoryName: aws.String("mlops/retail-api")})
	if !errors.As(err, &re) || len(re.ServiceRequestID()) != 36 || errorCode(err) != "ThrottlingException" {
		t.Errorf("injected throttling: error %v, want ThrottlingException with a request id", err)
	}

	ids := map[string]bool{ok: true, re.ServiceRequestID(): true}
	for _, r := range []*http.Request{
		mustRequest(t, http.MethodGet, e.url, "", ""),
		mustRequest(t, http.MethodPost, e.url, "AmazonEC2ContainerRegistry_V20150921.Frobnicate", "{}"),
	} {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("x-amzn-RequestId")
		if len(id) != 36 || ids[id] {
			t.Errorf("%s %s: x-amzn-RequestId = %q, want a fresh UUID", r.Method, r.Header.Get("X-Amz-Target"), id)
		}
		ids[id] = true
	}
}

func mustRequest(t *testing.T, method, url, target, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	return r
}
