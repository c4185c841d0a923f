package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// fakeChecker records the checks it runs and fails those of the deployment "down".
type fakeChecker struct {
	origin ecrevent.Origin
	ran    []string
}

func (f *fakeChecker) Verify(_ context.Context, c rollout.Check) (rollout.CheckResult, error) {
	f.ran = append(f.ran, c.Deployment)
	if c.Deployment == "down" {
		return rollout.CheckResult{}, errors.New("kubernetes GET: connection refused")
	}
	return rollout.CheckResult{Result: rollout.CheckRearmed}, nil
}

// TestVerificationMessages runs an SQS batch of checks through the Lambda decode path:
// a check that fails and a message that does not decode are reported as batch item
// failures (SQS redelivers them, then the DLQ), as is one naming an unknown workload
// kind; the others are done, a StatefulSet's as a Deployment's.
func TestVerificationMessages(t *testing.T) {
	f := newFixture(t, policyWith("alert"))
	fc := &fakeChecker{}
	f.h.verifier = func(o ecrevent.Origin) checker { fc.origin = o; return fc }
	check := func(deployment string) string {
		b, _ := json.Marshal(rollout.Check{Cluster: "retail-forecast", Namespace: "default", Deployment: deployment, Container: "api", Digest: "sha256:aa"})
		return string(b)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", EventSource: "aws:sqs", Body: check("retail-forecast-api")},
		{MessageId: "m2", EventSource: "aws:sqs", Body: check("down")},
		{MessageId: "m3", EventSource: "aws:sqs", Body: `{"cluster":"retail-forecast"}`},
		{MessageId: "m4", EventSource: "aws:sqs", Body: "not json"},
		{MessageId: "m5", EventSource: "aws:sqs", Body: `{"cluster":"retail-forecast","kind":"StatefulSet","namespace":"default","deployment":"db","container":"api","digest":"sha256:aa"}`},
		{MessageId: "m6", EventSource: "aws:sqs", Body: `{"cluster":"retail-forecast","kind":"Pod","namespace":"default","deployment":"db","container":"api","digest":"sha256:aa"}`},
	}}
	raw, _ := json.Marshal(ev)
	out, err := lambda.NewHandler(f.h.Invoke).Invoke(invocation(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	want := []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}, {ItemIdentifier: "m3"}, {ItemIdentifier: "m4"}, {ItemIdentifier: "m6"}}
	if diff := cmp.Diff(want, resp.BatchItemFailures); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"retail-forecast-api", "down", "db"}, fc.ran); diff != "" {
		t.Errorf("checks run (-want +got):\n%s", diff)
	}
	if fc.origin != testOrigin {
		t.Errorf("origin %+v, want the function's own %+v", fc.origin, testOrigin)
	}

	// Without a verification queue a check is an error, not silently dropped.
	f.h.verifier = nil
	if _, err := lambda.NewHandler(f.h.Invoke).Invoke(invocation(), raw); err == nil {
		t.Error("a check without a verifier succeeded")
	}
}
