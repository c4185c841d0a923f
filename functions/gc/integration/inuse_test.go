package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/motoproxy"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// Repositories of the worked example (ecrwarden.yaml): train-model keeps
// the 5 newest tagged images, retail-api untagged images for a day.
const (
	trainRepo = "mlops/train-model"
	apiRepo   = "mlops/retail-api"
)

// startSandbox starts a sandbox with the worked example, closed (with the
// functions' logs shown on failure) when the test ends.
func startSandbox(t *testing.T) (*sandbox.Sandbox, *sandbox.LogBuffer) {
	t.Helper()
	testenv.RequireControlPlane(t, cluster != nil)
	logs := &sandbox.LogBuffer{}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Cluster: cluster, Logs: logs})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
		if err := sb.Close(); err != nil {
			t.Errorf("close sandbox: %v", err)
		}
	})
	return sb, logs
}

// seed stores an image pushed age ago and returns its digest.
func seed(t *testing.T, sb *sandbox.Sandbox, repo string, age time.Duration, tags ...string) string {
	t.Helper()
	d, err := sb.Suite.ECR.SeedImage(repo, ecr.Image{Tags: tags, PushedAt: time.Now().Add(-age), Size: 100 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// decisions reads the reasons of the gc decisions the function logged.
func decisions(t *testing.T, logs *sandbox.LogBuffer) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Digest string `json:"digest"`
			Reason string `json:"reason"`
			Action string `json:"action"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gc decision" {
			out[line.Digest] = line.Action + ": " + line.Reason
		}
	}
	return out
}

func present(sb *sandbox.Sandbox, repo, digest string) bool {
	_, ok := sb.Suite.ECR.Images(repo)[digest]
	return ok
}

const day = 24 * time.Hour

// TestInUseAcrossServices: the gc function reaches ECS, Lambda, SageMaker
// and Batch through moto with its own environment and its role's IAM; an image only a
// SageMaker endpoint or only an ECS service references is kept, the plan
// naming them, while its unused neighbours go; and when one source cannot
// be read, nothing is deleted and the report names the source.
func TestInUseAcrossServices(t *testing.T) {
	sb, logs := startSandbox(t)
	ctx := context.Background()
	served := seed(t, sb, trainRepo, 60*day, "v1.0.0") // rank 7 of keepNewest 5
	expired := seed(t, sb, trainRepo, 50*day, "v1.1.0")
	for i, tag := range []string{"v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0", "v1.6.0"} {
		seed(t, sb, trainRepo, time.Duration(40-5*i)*day, tag)
	}
	pinned := seed(t, sb, apiRepo, 3*day) // untagged, maxAge 1d
	unused := seed(t, sb, apiRepo, 3*day)

	if err := sb.ServeSageMakerModel(ctx, "retail-forecast", "retail-forecast-v1", sb.Registry+"/"+trainRepo+":v1.0.0"); err != nil {
		t.Fatal(err)
	}
	td, err := sb.RunECSService(ctx, "retail", "api", "retail-api", sb.Registry+"/"+apiRepo+"@"+pinned)
	if err != nil {
		t.Fatal(err)
	}

	if ds := runGC(t, sb, "inuse-1"); failed(ds) != nil {
		t.Fatalf("gc: %v", failed(ds))
	}
	for _, c := range []struct {
		repo, digest string
		keep         bool
		reason       string
	}{
		{trainRepo, served, true, "keep: in use: SageMaker endpoint retail-forecast model retail-forecast-v1 (tag v1.0.0); overrides retention[1]"},
		{trainRepo, expired, false, "delete: retention[1]: rank 6 beyond keepNewest 5"},
		{apiRepo, pinned, true, "keep: in use: ECS service retail/api task definition " + td + " (digest " + pinned + "); overrides retention[2]"},
		{apiRepo, unused, false, "delete: retention[2]: pushed 3d ago, maxAge 1d"},
	} {
		if got := present(sb, c.repo, c.digest); got != c.keep {
			t.Errorf("%s@%s present = %v, want %v", c.repo, c.digest, got, c.keep)
		}
		if got := decisions(t, logs)[c.digest]; !strings.HasPrefix(got, c.reason) {
			t.Errorf("decision on %s@%s = %q, want %q…", c.repo, c.digest, got, c.reason)
		}
	}
	// The function read every source through the proxies, with the calls
	// the stack grants it (the gc role in infra/stack.go): each call passed
	// IAM before the fault proxy counted it, and Close fails on any denial.
	for _, op := range []string{"ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:ListTasks",
		"lambda:ListFunctions", "sagemaker:ListModels", "sagemaker:DescribeModel", "sagemaker:ListEndpoints", "sagemaker:DescribeEndpoint",
		"sagemaker:DescribeEndpointConfig", "sagemaker:ListTrainingJobs", "sagemaker:ListProcessingJobs",
		"sagemaker:ListHyperParameterTuningJobs", "batch:DescribeJobDefinitions"} {
		if sb.InUse.Log().Count(op) == 0 {
			t.Errorf("gc never called %s", op)
		}
	}

	// One source unreadable: nothing is deleted anywhere, each repository's
	// fan-out message fails (received again up to the queue's
	// maxReceiveCount, then dead-lettered), and the report names the source.
	seed(t, sb, trainRepo, 1*day, "v1.7.0") // pushes v1.2.0 out of the 5 newest
	before := map[string]int{trainRepo: len(sb.Suite.ECR.Images(trainRepo)), apiRepo: len(sb.Suite.ECR.Images(apiRepo))}
	seed(t, sb, apiRepo, 3*day)
	before[apiRepo]++
	sb.InUse.Refuse(motoproxy.AccessDenied("sagemaker:ListEndpoints"))
	slackBefore := len(sb.Suite.Slack.Payloads())
	logged := len(logs.String())
	if ds := runGC(t, sb, "inuse-2"); failed(ds) == nil {
		t.Errorf("gc with SageMaker denied: every message succeeded, want each repository's to fail")
	}
	if out := logs.String()[logged:]; !strings.Contains(out, "list images in use: SageMaker: list endpoints") || !strings.Contains(out, "AccessDeniedException") {
		t.Errorf("gc with SageMaker denied logged no failure naming SageMaker's denied listing:\n%s", out)
	}
	// After maxReceiveCount receives each repository's message is dead-lettered.
	dead, err := sb.DeadLetters(ctx, "gc")
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != len(before) {
		t.Errorf("gc's dead-letter queue holds %d messages, want one per repository (%d)", len(dead), len(before))
	}
	for repo, n := range before {
		if got := len(sb.Suite.ECR.Images(repo)); got != n {
			t.Errorf("%s: %d images after a run with a source down, want %d (nothing deleted)", repo, got, n)
		}
	}
	var reports []string
	for _, p := range sb.Suite.Slack.Payloads()[slackBefore:] {
		reports = append(reports, string(p.Body))
	}
	if !slices.ContainsFunc(reports, func(s string) bool {
		return strings.Contains(s, "nothing deleted: list images in use: SageMaker: list endpoints")
	}) {
		t.Errorf("Slack reports %q, want one naming the SageMaker listing that was denied", reports)
	}
}

// runGC invokes gc as its schedule does and delivers what follows: the
// stack gives gc a fan-out queue, so the scheduled run sends one message per
// repository and the queue's event source runs each.
func runGC(t *testing.T, sb *sandbox.Sandbox, runID string) []sandbox.Delivery {
	t.Helper()
	ctx := context.Background()
	dl, err := sb.Invoke(ctx, "gc", []byte(`{"trigger":"test","runId":"`+runID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if dl.Err != nil {
		t.Fatalf("gc fan-out: %v", dl.Err)
	}
	ds, err := sb.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// failed joins the errors of the deliveries that failed.
func failed(ds []sandbox.Delivery) error {
	var errs []error
	for _, d := range ds {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("%s ← %s: %w", d.Function, d.DetailType, d.Err))
		}
	}
	return errors.Join(errs...)
}
