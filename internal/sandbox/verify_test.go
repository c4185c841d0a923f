package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// TestCrashLoopRolledBackByItself plays the verification scenario through the compiled
// functions with the template's IAM: a clean image whose Pods crash is rolled out, fails
// its verification (delayed checks on the SQS queue, polled as Lambda polls it) and is
// rolled back, held and blocked, with one alert and the audit events.
func TestCrashLoopRolledBackByItself(t *testing.T) {
	requireCluster(t)
	res, err := sandbox.RunScenario(context.Background(), cluster, scenario(t, "crash-looping rollout rolled back by itself"), sandbox.ScenarioOptions{Template: scenarioTemplate(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, d := range res.Denials {
		t.Errorf("refused: %v", d)
	}
}

// TestVerificationNeedsItsGrants: without sqs:SendMessage, onscan cannot arm the check
// after its patch: the invocation fails on the denial, and the verification stays
// pending — never verified or rolled back by accident — until a check is armed (the
// sandbox retries at once, before a retry re-arms; the reconcile would re-arm it).
func TestVerificationNeedsItsGrants(t *testing.T) {
	requireCluster(t)
	mutated, err := sandbox.RemoveGrant(scenarioTemplate(t), "onscan", "sqs:SendMessage")
	if err != nil {
		t.Fatal(err)
	}
	res, err := sandbox.RunScenario(context.Background(), cluster, scenario(t, "crash-looping rollout rolled back by itself"), sandbox.ScenarioOptions{Template: mutated})
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Fatal("the scenario passed without onscan's sqs:SendMessage")
	}
	denied := false
	for _, d := range res.Denials {
		denied = denied || d.Principal == "onscan" && d.Action == "sqs:SendMessage" && strings.Contains(d.Resource, ":sqs:")
	}
	if !denied || !strings.Contains(res.Err.Error(), "verification pending") {
		t.Errorf("denials %v, error %v: want onscan's sqs:SendMessage refused and the scenario failing on it", res.Denials, res.Err)
	}
}
