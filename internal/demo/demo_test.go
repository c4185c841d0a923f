package demo

import (
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, "retail-forecast", func(c *sandbox.Cluster) { cluster = c }))
}

// TestStory runs the demo end to end — emulators, the real kube-apiserver,
// the compiled functions behind the Lambda Runtime API — and asserts each
// outcome of the story, not the narration.
func TestStory(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
	}()
	var narration strings.Builder
	report, err := Run(ctx, sb, io.MultiWriter(&narration))
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, narration.String())
	}
	pinned := func(digest string) string { return sb.Registry + "/" + apiRepo + "@" + digest }
	step := func(title string) Step {
		t.Helper()
		s, ok := report.Step(title)
		if !ok {
			t.Fatalf("step %q missing", title)
		}
		for _, d := range s.Deliveries {
			if d.Err != nil {
				t.Errorf("%s: %s failed: %v", title, d.Function, d.Err)
			}
		}
		return s
	}

	v100 := step(StepInitial)
	if v100.Image != pinned(v100.Digest) {
		t.Errorf("after v1.0.0: image %s, want it pinned to %s", v100.Image, v100.Digest)
	}
	if len(v100.Slack)+len(v100.SNS) != 0 {
		t.Errorf("a clean, valid push alerted: %v %v", v100.Slack, v100.SNS)
	}

	bad := step(StepRejected)
	if len(bad.Slack) != 1 || !strings.Contains(bad.Slack[0], "Feature_X") || len(bad.SNS) != 1 {
		t.Errorf("Feature_X: Slack %q SNS %q, want one rejection each", bad.Slack, bad.SNS)
	}
	if bad.Image != v100.Image {
		t.Errorf("a rejected tag moved the Deployment to %s", bad.Image)
	}

	crit := step(StepCritical)
	if crit.Image != v100.Image {
		t.Errorf("v1.1.0 with a CRITICAL CVE rolled out: %s", crit.Image)
	}
	joined := strings.Join(crit.Slack, "\n")
	if !strings.Contains(joined, "CVE-2024-6119") || !strings.Contains(joined, "Rollout held") {
		t.Errorf("v1.1.0 alerts = %q, want the CVE and the held rollout", crit.Slack)
	}

	clean := step(StepClean)
	if clean.Image != pinned(clean.Digest) {
		t.Errorf("after v1.1.1: image %s, want %s", clean.Image, pinned(clean.Digest))
	}

	// The stack fans gc out per repository: one report per repository with deletions.
	gcStep := step(StepGC)
	if len(gcStep.Slack) == 0 || len(gcStep.Slack) > len(sb.Policy.Repositories) {
		t.Errorf("gc reports = %q, want one per repository with deletions", gcStep.Slack)
	}
	for _, m := range gcStep.Slack {
		if !strings.Contains(m, "gc deleted") {
			t.Errorf("gc report = %q", m)
		}
	}
	train := sb.Suite.ECR.Images(trainRepo)
	var tags []string
	for _, ts := range train {
		tags = append(tags, ts...)
	}
	all := strings.Join(tags, " ")
	if !strings.Contains(all, InUseTag) {
		t.Errorf("the in-use %s was deleted; left: %s", InUseTag, all)
	}
	for _, gone := range []string{"exp-lr-0.02", "exp-lr-0.03", "exp-lr-0.04"} {
		if strings.Contains(all, gone) {
			t.Errorf("%s is older than 30 days and not in use, but survived", gone)
		}
	}
	if !strings.Contains(all, ServedTag) {
		t.Errorf("%s, which SageMaker endpoint %s serves, was deleted; left: %s", ServedTag, EndpointName, all)
	}
	api := sb.Suite.ECR.Images(apiRepo)
	if _, ok := api[clean.Digest]; !ok {
		t.Error("gc deleted the running v1.1.1")
	}
	var apiTags []string
	for _, ts := range api {
		apiTags = append(apiTags, ts...)
	}
	if !slices.Contains(apiTags, ECSTag) {
		t.Errorf("%s, which ECS service %s/%s runs, was deleted; left: %v", ECSTag, ECSCluster, ECSService, apiTags)
	}
	for _, want := range []string{
		"in use: SageMaker endpoint " + EndpointName + " model " + EndpointName + "-v1 (tag " + ServedTag + ")",
		"in use: ECS service " + ECSCluster + "/" + ECSService + " task definition " + ECSService + ":1 (tag " + ECSTag + ")",
	} {
		if !strings.Contains(narration.String(), want) {
			t.Errorf("the plan does not say %q", want)
		}
	}
	if dlq := sb.DLQ(); len(dlq) != 0 {
		t.Errorf("DLQ: %+v", dlq)
	}
}
