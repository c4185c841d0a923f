package sandbox_test

import (
	"context"
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
