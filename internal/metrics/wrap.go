package metrics

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
)

// Wrap returns h with the invocation's metrics flushed when it returns, a
// failed invocation counted in Errors first. lambda.Start takes the result.
func Wrap[T any](r *Recorder, h func(context.Context, json.RawMessage) (T, error)) func(context.Context, json.RawMessage) (T, error) {
	return func(ctx context.Context, raw json.RawMessage) (T, error) {
		out, err := h(ctx, raw)
		r.Error(err)
		r.Flush(ctx)
		return out, err
	}
}

// WrapError is Wrap for a handler that returns only an error.
func WrapError(r *Recorder, h func(context.Context, json.RawMessage) error) func(context.Context, json.RawMessage) error {
	return func(ctx context.Context, raw json.RawMessage) error {
		err := h(ctx, raw)
		r.Error(err)
		r.Flush(ctx)
		return err
	}
}

// throttleCodes are the AWS error codes that mean throttling: the SDK's
// own list and SNS's modelled "Throttled".
func throttled(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok || code == "Throttled"
}

// ErrorKind classifies err for the Errors metric. Where err joins several
// failures the first rule that matches any of them wins, in this order:
// timeout, malformed event, dedupe lease, throttling, other AWS API error
// (or an AWS call that got no answer), Kubernetes API error, other.
func ErrorKind(err error) Dim {
	var api smithy.APIError
	var op *smithy.OperationError
	var status *kube.StatusError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return KindTimeout
	case errors.Is(err, ecrevent.ErrMalformedEvent), errors.Is(err, ecrevent.ErrWrongKind):
		return KindEvent
	case errors.Is(err, dedupe.ErrInProgress), errors.Is(err, dedupe.ErrNoTime):
		return KindLease
	case errors.As(err, &api) && throttled(api.ErrorCode()):
		return KindThrottled
	case errors.As(err, &api), errors.As(err, &op): // an answer, or a call that got none
		return KindAWS
	case errors.As(err, &status):
		return KindKubernetes
	default:
		return KindOther
	}
}
