package metrics

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
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

// throttled reports whether an AWS error code means throttling: the SDK's
// own list and SNS's modelled "Throttled".
func throttled(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok || code == "Throttled"
}

// ErrorKind classifies err for the Errors metric by what this package can
// see without importing ecrwarden's own packages (which import it):
// timeout, throttling, other AWS errors (an answer, or a call that got
// none), other. A Recorder built WithClassifier asks its classifier after
// the timeout rule (fnconfig.ErrorKind knows malformed events, dedupe
// leases and Kubernetes errors). Where err joins several failures the first
// rule that matches any of them wins.
func ErrorKind(err error) Dim { return classify(err, nil) }

func classify(err error, c func(error) (Dim, bool)) Dim {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return KindTimeout
	}
	if c != nil {
		if d, ok := c(err); ok {
			return d
		}
	}
	var api smithy.APIError
	var op *smithy.OperationError
	switch {
	case errors.As(err, &api) && throttled(api.ErrorCode()):
		return KindThrottled
	case errors.As(err, &api), errors.As(err, &op):
		return KindAWS
	default:
		return KindOther
	}
}
