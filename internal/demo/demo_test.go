package demo

import (
	"context"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/status"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	// The demo's cluster runs controllers and kwok nodes, as `ecrwarden demo` does:
	// the rollout story needs rollouts that really happen.
	os.Exit(sandbox.RunTestsWith(m, "retail-forecast", sandbox.ClusterOptions{Controllers: &testenv.ControllerOptions{}},
		func(c *sandbox.Cluster) { cluster = c }))
}

// TestStory runs the demo end to end — emulators, the real kube-apiserver,
// the compiled functions behind the Lambda Runtime API — and asserts each
// outcome of the story, not the narration.
func TestStory(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Cluster: cluster, Env: Env})
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

	// The rollout story: a clean image whose Pods crash, its rollback and
	// hold, status, the release and the next good version.
	crash := step(StepCrash)
	if crash.Image != pinned(crash.Digest) {
		t.Errorf("after %s: image %s, want the clean image rolled out (%s)", CrashTag, crash.Image, pinned(crash.Digest))
	}
	if len(crash.PodReasons) == 0 || !strings.HasPrefix(crash.PodReasons[0], "CrashLoopBackOff") {
		t.Errorf("the Pods of %s say %q, want CrashLoopBackOff", CrashTag, crash.PodReasons)
	}
	rb := step(StepRollback)
	if rb.Image != pinned(clean.Digest) || !strings.Contains(rb.Hold, "CrashLoopBackOff") || rb.Blocked != crash.Digest {
		t.Errorf("rollback: image %s hold %q blocked %s; want %s, a hold naming CrashLoopBackOff, %s blocked", rb.Image, rb.Hold, rb.Blocked, clean.Tag, CrashTag)
	}
	if len(rb.Slack) != 1 || !strings.Contains(rb.Slack[0], "CrashLoopBackOff") || len(rb.SNS) != 1 {
		t.Errorf("rollback alerts: Slack %q SNS %q, want one of each, Slack naming CrashLoopBackOff", rb.Slack, rb.SNS)
	} else {
		// The step records SNS subjects; the body names the Pods' reasons.
		var bodies []string
		for _, m := range sb.Suite.SNS.Messages(sb.TopicARN) {
			if m.Subject == rb.SNS[0] {
				bodies = append(bodies, m.Message)
			}
		}
		if len(bodies) != 1 || !strings.Contains(bodies[0], "CrashLoopBackOff") {
			t.Errorf("rollback SNS messages %q: want one naming CrashLoopBackOff", bodies)
		}
	}
	held := step(StepHeld)
	// Two targets: the api Deployment and the nightly training CronJob (a
	// workload of another kind, listed and read as such).
	row := func(rows []status.Row, workload string) *status.Row {
		for i := range rows {
			if rows[i].Workload == workload {
				return &rows[i]
			}
		}
		t.Fatalf("status rows = %+v, want one for %s", rows, workload)
		return nil
	}
	if len(held.Status) != 2 {
		t.Fatalf("status rows = %+v, want the api Deployment and the training CronJob", held.Status)
	}
	if r := row(held.Status, "nightly-train"); r.Kind != "cronjob" || r.State == status.Unknown {
		t.Errorf("status of the training CronJob = %+v, want kind cronjob, read (not unknown)", r)
	}
	if r := row(held.Status, deployment); r.State != status.Failed || r.Running.Tag != clean.Tag || r.Candidate == nil || r.Candidate.Digest != crash.Digest ||
		!strings.Contains(r.Reason, CrashTag+" failed verification") || !strings.Contains(r.Reason, "CrashLoopBackOff") ||
		r.Verification == nil || r.Verification.State != rollout.VerifyRolledBack {
		t.Errorf("status after the rollback = %+v, want failed on %s: %s failed verification, rolled back", r, clean.Tag, CrashTag)
	}
	rel := step(StepRelease)
	if rel.Image != pinned(rel.Digest) || rel.Tag != FixedTag {
		t.Errorf("after the release and %s: image %s, want %s", FixedTag, rel.Image, pinned(rel.Digest))
	}
	if r := row(rel.Status, deployment); r.State != status.Current || r.Running.Tag != FixedTag ||
		r.Verification == nil || r.Verification.State != rollout.VerifyVerified {
		t.Errorf("status after %s = %+v, want current on it, verified", FixedTag, r)
	}
	for _, want := range []string{"-- `ecrwarden status`:", "failed verification", "current"} {
		if !strings.Contains(narration.String(), want) {
			t.Errorf("the narration does not say %q", want)
		}
	}
	if dlq := sb.DLQ(); len(dlq) != 0 {
		t.Errorf("DLQ: %+v", dlq)
	}

	checkMetrics(t, sb, report, []Step{v100, bad, crit, clean, gcStep})
	if !strings.Contains(narration.String(), "-- metrics the functions emitted") {
		t.Errorf("the demo does not end with its metrics summary:\n%s", narration.String())
	}
}

// checkMetrics asserts the demo's metrics summary — the series the
// dashboard plots, read back from the functions' EMF log lines — against
// what the story did, step by step.
func checkMetrics(t *testing.T, sb *sandbox.Sandbox, report *Report, steps []Step) {
	t.Helper()
	got := map[string]float64{}
	var latencies []float64
	for _, s := range report.Metrics {
		got[string(s.Name)+" "+s.DimString()] = s.Sum()
		if s.Name == metrics.PushToPatch {
			latencies = s.Values
		}
	}
	want := map[string]float64{}
	add := func(v float64, name metrics.Name, dims ...metrics.Dim) {
		if v == 0 {
			return
		}
		parts := make([]string, len(dims))
		for i, d := range dims {
			parts[i] = d.String()
		}
		want[string(name)+" "+strings.Join(parts, ",")] += v
	}
	// Every push, the initial latest included, judged by the policy's tag rules.
	repo, _ := sb.Policy.Repository(apiRepo)
	for _, tag := range []string{"latest", "v1.0.0", "Feature_X", "v1.1.0", "v1.1.1"} {
		if _, ok := repo.Tags.Allowed(tag); ok {
			add(1, metrics.Pushes, metrics.VerdictAccepted)
		} else {
			add(1, metrics.Pushes, metrics.VerdictRejected)
		}
	}
	// Every rollout is a gate a clean scan released, and patched the
	// Deployment: one per change of the api container's image.
	image, patched := sb.Registry+"/"+apiRepo+":latest", 0
	var slack, sns, held int
	for _, st := range steps {
		if st.Image != "" && st.Image != image {
			patched++
			image = st.Image
		}
		slack, sns = slack+len(st.Slack), sns+len(st.SNS)
		for _, m := range st.Slack {
			held += strings.Count(m, "Rollout held")
		}
	}
	add(float64(patched), metrics.Rollouts, metrics.OutcomePatched)
	add(float64(patched), metrics.ScanGates, metrics.DecisionReleased)
	add(float64(held), metrics.ScanGates, metrics.DecisionHeld)
	add(float64(sns), metrics.Alerts, metrics.ChannelSNS, metrics.ResultSent)
	add(float64(slack), metrics.Alerts, metrics.ChannelSlack, metrics.ResultSent)
	gcStep := steps[len(steps)-1]
	add(float64(gcStep.Removed), metrics.GCImages, metrics.ActionDeleted)
	add(float64(gcStep.PlannedBytes), metrics.GCBytes, metrics.ActionDeleted)
	add(float64(gcStep.Archived), metrics.GCImages, metrics.ActionArchived)
	add(float64(gcStep.PlannedArchiveBytes), metrics.GCBytes, metrics.ActionArchived)
	add(gcStep.PlannedSavings, metrics.GCMonthlyCostSaved)
	if patched != 2 || held != 1 || gcStep.Removed == 0 || gcStep.Archived == 0 {
		t.Errorf("the story changed: %d rollouts, %d held, %d images removed, %d archived", patched, held, gcStep.Removed, gcStep.Archived)
	}
	lat := "PushToPatchLatency "
	if len(latencies) != patched {
		t.Errorf("%d push-to-patch observations, want one per rollout (%d)", len(latencies), patched)
	}
	for _, v := range latencies {
		if v <= 0 {
			t.Errorf("push-to-patch latency %v ms, want > 0", v)
		}
	}
	delete(got, lat)
	// The cost saved is a sum of per-repository float sums, in the order the
	// fan-out ran them: compare to the cent's millionth.
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-6 })
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("metrics summary (-want +got):\n%s", diff)
	}
}
