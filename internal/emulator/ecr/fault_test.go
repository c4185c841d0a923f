package ecr_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func faultsOf(calls []fault.Call) []fault.Kind {
	var out []fault.Kind
	for _, c := range calls {
		out = append(out, c.Fault)
	}
	return out
}

func describe(ctx context.Context, e *env) error {
	_, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("mlops/retail-api")})
	return err
}

// TestRetryerRecoversFromThrottling throttles the first two calls: the SDK's
// standard retryer succeeds on the third attempt.
func TestRetryerRecoversFromThrottling(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "mlops/retail-api")
	e.srv.Log().Reset()
	e.srv.Faults().Set("DescribeImages", fault.Rule{Throttle: 2})
	if err := describe(context.Background(), e); err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	got := faultsOf(e.srv.Log().Calls("DescribeImages"))
	if diff := cmp.Diff([]fault.Kind{fault.Throttle, fault.Throttle, fault.None}, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

// TestRetryerGivesUpOnPersistentServerErrors answers every call with a 5xx:
// the SDK gives up after exactly its MaxAttempts.
func TestRetryerGivesUpOnPersistentServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		status int
	}{
		{name: "default 3 attempts, 500", max: retry.DefaultMaxAttempts, status: 500},
		{name: "5 attempts, 503", max: 5, status: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *retry.StandardOptions) { o.MaxAttempts = tc.max })
			e.createRepo(t, "mlops/retail-api")
			e.srv.Log().Reset()
			e.srv.Faults().Set(fault.AnyOp, fault.Rule{ServerError: 1000, Status: tc.status})
			err := describe(context.Background(), e)
			var maxErr *retry.MaxAttemptsError
			if !errors.As(err, &maxErr) || maxErr.Attempt != tc.max {
				t.Fatalf("error = %v, want MaxAttemptsError after %d attempts", err, tc.max)
			}
			var server *types.ServerException
			if !errors.As(err, &server) {
				t.Errorf("error = %v, want it to wrap ServerException", err)
			}
			if n := e.srv.Log().Count("DescribeImages"); n != tc.max {
				t.Errorf("attempts = %d, want %d", n, tc.max)
			}
		})
	}
}

// TestRetryerRecoversFromDroppedConnection closes the connection of the
// first call without an answer: the SDK retries it.
func TestRetryerRecoversFromDroppedConnection(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "mlops/retail-api")
	e.srv.Log().Reset()
	e.srv.Faults().Set("DescribeImages", fault.Rule{Drop: 1})
	if err := describe(context.Background(), e); err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if diff := cmp.Diff([]fault.Kind{fault.Drop, fault.None}, faultsOf(e.srv.Log().Calls("DescribeImages"))); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

// TestLatencyHonoursDeadline injects latency beyond the caller's deadline.
func TestLatencyHonoursDeadline(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "mlops/retail-api")
	e.srv.Faults().Set("DescribeImages", fault.Rule{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := describe(ctx, e); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
}

// TestRateFaultsAreDeterministic runs the same calls against two emulators
// with the same seed and a 50% throttling rate: same faults, same order.
func TestRateFaultsAreDeterministic(t *testing.T) {
	run := func() []fault.Kind {
		e := newEnv(t, func(o *retry.StandardOptions) { o.MaxAttempts = 10 })
		e.createRepo(t, "mlops/retail-api")
		e.srv.Log().Reset()
		e.srv.Faults().Set("DescribeImages", fault.Rule{Rate: 0.5, Kind: fault.Throttle})
		for range 20 {
			if err := describe(context.Background(), e); err != nil {
				t.Fatalf("DescribeImages: %v", err)
			}
		}
		return faultsOf(e.srv.Log().Calls("DescribeImages"))
	}
	a, b := run(), run()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("fault sequences differ (-first +second):\n%s", diff)
	}
	if !strings.Contains(kindsString(a), "throttle") {
		t.Errorf("no call throttled at rate 0.5 over %d calls", len(a))
	}
}

func kindsString(ks []fault.Kind) string {
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k.String() + " ")
	}
	return b.String()
}
