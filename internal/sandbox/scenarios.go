package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecrwarden/ecrwarden/internal/cfn"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// Scenario is one end-to-end story the compiled functions play in a sandbox deployed
// from the scenario policy's template. Together the scenarios exercise every AWS call
// the functions make, so the IAM mutation check (a grant removed from the template must
// make a scenario fail on it) covers the stack's grants; add a scenario here when a
// function learns a new call.
type Scenario struct {
	// Name names the scenario in test output.
	Name string
	// ScanType is the registry's scanning: basic or enhanced (Amazon Inspector).
	ScanType ecr.ScanType
	// Run plays the story and returns an error when its outcome is wrong.
	Run func(ctx context.Context, sb *Sandbox) error
	// Env adds function environment variables (Options.Env), such as a short
	// verification check interval.
	Env map[string]string
}

// ScenarioPolicy is the policy the scenarios run with, relative to the module root.
const ScenarioPolicy = "internal/sandbox/testdata/scenarios.yaml"

// Names from ScenarioPolicy.
const (
	scenarioRepo       = "mlops/retail-api"
	scenarioScratch    = "mlops/scratch"
	scenarioTrainRepo  = "mlops/train-model"
	scenarioNamespace  = "default"
	scenarioDeployment = "scenario-api"
)

// Scenarios are the stories, in the order they run.
var Scenarios = []Scenario{
	{Name: "clean push rolls out", Run: cleanPushRollsOut},
	{Name: "rejected tag alerts", Run: rejectedTagAlerts},
	{Name: "rejected tag deleted", Run: rejectedTagDeleted},
	{Name: "rejected tag kept: ECS and Lambda run it", Run: rejectedTagInUseElsewhere},
	{Name: "findings alert and hold the rollout", Run: findingsAlert},
	{Name: "enhanced scanning findings alert", ScanType: ecr.ScanEnhanced, Run: findingsAlert},
	{Name: "reconcile after lost events, enhanced scanning", ScanType: ecr.ScanEnhanced, Run: reconcileAfterLostEvents},
	{Name: "gc fans out and deletes", Run: gcDeletes},
	{Name: "gc keeps what ECS, Lambda, SageMaker and Batch run", Run: gcKeepsInUseElsewhere},
	{Name: "gc archives releases nobody pulls", Run: gcArchives},
	{Name: "alert retried, then dead-lettered", Run: alertDeadLettered},
	{Name: "poison fan-out message dead-lettered", Run: poisonMessage},
	{Name: "crash-looping rollout rolled back by itself", Run: crashLoopRolledBack, Env: map[string]string{"ECRWARDEN_VERIFY_INTERVAL": "1s"}},
}

// ScenarioResult is what one scenario run showed.
type ScenarioResult struct {
	// Err is set when the story's outcome was wrong or an invocation failed.
	Err error
	// Decisions are every authorization decision of the run, Denials the refused ones.
	Decisions, Denials []authz.Decision
}

// ScenarioOptions are how RunScenario deploys the stack.
type ScenarioOptions struct {
	// Template is deployed instead of the one the CDK app synthesizes from
	// ScenarioPolicy (a test that removed a grant passes its own).
	Template *cfn.Template
	// IAMOff turns authorization off, to measure what it costs.
	IAMOff bool
	// Logs receives the functions' logs; nil discards them.
	Logs io.Writer
}

// ScenarioTemplate returns the template the CDK app synthesizes from ScenarioPolicy.
func ScenarioTemplate(ctx context.Context, progress io.Writer) (*cfn.Template, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	return Template(ctx, filepath.Join(root, ScenarioPolicy), progress)
}

// RunScenario starts a sandbox on c with ScenarioPolicy, plays s and closes the
// sandbox. The error is for a sandbox that could not start.
func RunScenario(ctx context.Context, c *Cluster, s Scenario, o ScenarioOptions) (ScenarioResult, error) {
	root, err := moduleRoot()
	if err != nil {
		return ScenarioResult{}, err
	}
	sb, err := Start(ctx, Options{Cluster: c, PolicyPath: filepath.Join(root, ScenarioPolicy), ScanType: s.ScanType, Template: o.Template, IAMOff: o.IAMOff, Logs: o.Logs, Env: s.Env})
	if err != nil {
		return ScenarioResult{}, err
	}
	// Scenarios share the control plane: start each without the Deployment a previous
	// one left (its image digests recur, and gc would keep them as in use).
	k := c.Kube
	if code, body, err := k.Request(ctx, k.Admin, http.MethodDelete, "/apis/apps/v1/namespaces/"+scenarioNamespace+"/deployments/"+scenarioDeployment, "", nil); err != nil || code != http.StatusOK && code != http.StatusNotFound {
		sb.Close()
		return ScenarioResult{}, fmt.Errorf("delete the previous scenario's deployment: %d %s %v", code, body, err)
	}
	runErr := s.Run(ctx, sb)
	res := ScenarioResult{Err: runErr, Decisions: sb.IAM.Decisions(), Denials: sb.IAM.Denials()}
	// Close would report the denials; they are in the result already.
	sb.mu.Lock()
	sb.expected = append(sb.expected, func(authz.Decision) bool { return true })
	sb.mu.Unlock()
	if err := sb.Close(); err != nil && res.Err == nil {
		res.Err = err
	}
	return res, nil
}

// deliverAll delivers what is queued and fails on any invocation that failed.
func deliverAll(ctx context.Context, sb *Sandbox) error {
	ds, err := sb.Deliver(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("%s failed on %s after %d attempts: %w", d.Function, d.DetailType, d.Attempts, d.Err))
		}
	}
	return errors.Join(errs...)
}

// runningOld seeds v0.9.0 (no events) and has the scenario's Deployment run it.
func runningOld(ctx context.Context, sb *Sandbox) error {
	m, _ := sb.NewManifest()
	if _, err := sb.Suite.ECR.SeedImage(scenarioRepo, ecr.Image{Tags: []string{"v0.9.0"}, PushedAt: time.Now().Add(-time.Hour), Size: 100 << 20, Manifest: m}); err != nil {
		return err
	}
	return sb.applyDeployment(ctx, sb.Registry+"/"+scenarioRepo+":v0.9.0")
}

func cleanPushRollsOut(ctx context.Context, sb *Sandbox) error {
	if err := runningOld(ctx, sb); err != nil {
		return err
	}
	v1, err := sb.Push(ctx, scenarioRepo, "v1.0.0")
	if err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	if err := sb.wantImage(ctx, v1); err != nil {
		return fmt.Errorf("after v1.0.0's clean scan: %w", err)
	}
	v2, err := sb.Push(ctx, scenarioRepo, "v1.1.0")
	if err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	return sb.wantImage(ctx, v2)
}

func rejectedTagAlerts(ctx context.Context, sb *Sandbox) error {
	if _, err := sb.Push(ctx, scenarioRepo, "Feature_X"); err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	return sb.wantAlert("Feature_X")
}

func rejectedTagDeleted(ctx context.Context, sb *Sandbox) error {
	digest, err := sb.Push(ctx, scenarioScratch, "not-semver")
	if err != nil {
		return err
	}
	ds, err := sb.Deliver(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		// The scan event of the image onpush deleted finds no image: onscan's
		// handling of that is not this scenario's subject.
		if d.Err != nil && d.Function == "onpush" {
			return fmt.Errorf("onpush failed after %d attempts: %w", d.Attempts, d.Err)
		}
	}
	if tags := sb.Suite.ECR.Images(scenarioScratch)[digest]; len(tags) != 0 {
		return fmt.Errorf("the rejected tag was not deleted: %s still has %v", digest, tags)
	}
	return sb.wantAlert("not-semver")
}

// rejectedTagInUseElsewhere: two rejected tags of the repository that deletes on
// violation are run outside Kubernetes, one by an ECS service, one by a Lambda
// function, while a SageMaker endpoint and a Batch job definition run other images.
// onpush reads every source gc reads, with its own role (the List and Describe calls
// of each, so the IAM mutation check covers onpush's in-use grants), and keeps both
// tags, each alert naming what runs it; every invocation succeeds.
func rejectedTagInUseElsewhere(ctx context.Context, sb *Sandbox) error {
	image := func(repo, tag string) string { return sb.Registry + "/" + repo + ":" + tag }
	byECS, err := sb.Push(ctx, scenarioScratch, "ecs-pinned")
	if err != nil {
		return err
	}
	byLambda, err := sb.Push(ctx, scenarioScratch, "lambda-pinned")
	if err != nil {
		return err
	}
	if _, err := sb.RunECSService(ctx, "retail", "scorer", "scorer", image(scenarioScratch, "ecs-pinned")); err != nil {
		return err
	}
	if err := sb.RunLambdaImage(ctx, "enricher", image(scenarioScratch, "lambda-pinned")); err != nil {
		return err
	}
	if err := sb.ServeSageMakerModel(ctx, "forecast", "forecast-v1", image(scenarioTrainRepo, "v1.0.0")); err != nil {
		return err
	}
	if err := sb.RegisterBatchJob(ctx, "backfill", image(scenarioTrainRepo, "v1.0.0")); err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	left := sb.Suite.ECR.Images(scenarioScratch)
	for tag, digest := range map[string]string{"ecs-pinned": byECS, "lambda-pinned": byLambda} {
		if !slices.Contains(left[digest], tag) {
			return fmt.Errorf("onpush deleted the rejected tag %s, whose image runs outside Kubernetes (%s has %v)", tag, digest, left[digest])
		}
	}
	if err := sb.wantAlert("in use: ECS service retail/scorer task definition scorer:1 (tag ecs-pinned)"); err != nil {
		return err
	}
	return sb.wantAlert("in use: Lambda function enricher")
}

func findingsAlert(ctx context.Context, sb *Sandbox) error {
	if err := runningOld(ctx, sb); err != nil {
		return err
	}
	v1, err := sb.Push(ctx, scenarioRepo, "v1.0.0")
	if err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	critical := ecr.Finding{Name: "CVE-2026-7777", Severity: "CRITICAL", Description: "scenario", URI: "https://www.cve.org/CVERecord?id=CVE-2026-7777",
		PackageName: "openssl", PackageVersion: "3.0.13", FixedInVersion: "3.0.14", CVSS2Score: "9.8", Score: 9.8}
	if _, err := sb.Push(ctx, scenarioRepo, "v1.1.0", critical); err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	if err := sb.wantAlert("CVE-2026-7777"); err != nil {
		return err
	}
	return sb.wantImage(ctx, v1)
}

func reconcileAfterLostEvents(ctx context.Context, sb *Sandbox) error {
	if err := runningOld(ctx, sb); err != nil {
		return err
	}
	v1, err := sb.Push(ctx, scenarioRepo, "v1.0.0")
	if err != nil {
		return err
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	if err := sb.wantImage(ctx, v1); err != nil {
		return err
	}
	v2, err := sb.Push(ctx, scenarioRepo, "v1.1.0")
	if err != nil {
		return err
	}
	sb.LoseEvents() // ECR delivers events best effort
	d, err := sb.Invoke(ctx, "onpush", []byte(`{"action":"reconcile","runId":"scenario"}`))
	if err != nil {
		return err
	}
	if d.Err != nil {
		return fmt.Errorf("reconcile failed after %d attempts: %w", d.Attempts, d.Err)
	}
	if err := deliverAll(ctx, sb); err != nil {
		return err
	}
	return sb.wantImage(ctx, v2)
}

func gcDeletes(ctx context.Context, sb *Sandbox) error {
	now := time.Now().UTC()
	var old []string
	for i := range 6 {
		m, _ := sb.NewManifest()
		d, err := sb.Suite.ECR.SeedImage(scenarioRepo, ecr.Image{Tags: []string{fmt.Sprintf("v0.%d.0", i)}, PushedAt: now.Add(-time.Duration(60-i) * 24 * time.Hour),
			Size: 100 << 20, Manifest: m})
		if err != nil {
			return err
		}
		old = append(old, d)
	}
	// The oldest release is multi-arch: gc reads the index to delete its children too.
	index, err := sb.Suite.ECR.SeedImage(scenarioRepo, ecr.Image{Tags: []string{"v0.0.1"}, PushedAt: now.Add(-90 * 24 * time.Hour), Size: 100 << 20,
		Children: []ecr.Image{{Platform: "linux/amd64", Size: 90 << 20, Manifest: manifest(sb), PushedAt: now.Add(-90 * 24 * time.Hour)},
			{Platform: "linux/arm64", Size: 91 << 20, Manifest: manifest(sb), PushedAt: now.Add(-90 * 24 * time.Hour)}}})
	if err != nil {
		return err
	}
	old = append([]string{index}, old...)
	m, _ := sb.NewManifest()
	untagged, err := sb.Suite.ECR.SeedImage(scenarioScratch, ecr.Image{PushedAt: now.Add(-72 * time.Hour), Size: 50 << 20, Manifest: m})
	if err != nil {
		return err
	}
	if err := runGC(ctx, sb, "scenario-gc"); err != nil {
		return err
	}
	left := sb.Suite.ECR.Images(scenarioRepo)
	if n := len(left); n != 3 {
		return fmt.Errorf("%d images left in %s, want the 3 newest releases (the index's children go with it)", n, scenarioRepo)
	}
	for _, gone := range old[:4] {
		if _, ok := left[gone]; ok {
			return fmt.Errorf("gc kept %s, which retention expires", gone)
		}
	}
	if _, ok := sb.Suite.ECR.Images(scenarioScratch)[untagged]; ok {
		return fmt.Errorf("gc kept the untagged %s", untagged)
	}
	return sb.wantAlert("gc deleted")
}

// gcArchives: of five releases in a repository whose rule archives what nobody
// pulled for 30 days beyond the 2 newest, the two unpulled old ones go to the
// archive storage class (UpdateImageStorageClass) and the one a team still pulls
// stays; gc reads the repository's native lifecycle policy beside its plan
// (GetLifecyclePolicy) and keeps its run-wide deletion budget in the dedupe table.
func gcArchives(ctx context.Context, sb *Sandbox) error {
	const repo = scenarioTrainRepo
	now := time.Now().UTC()
	day := 24 * time.Hour
	seed := func(tag string, pushed, pulled time.Duration) (string, error) {
		m, _ := sb.NewManifest()
		img := ecr.Image{Tags: []string{tag}, PushedAt: now.Add(-pushed), Size: 100 << 20, Manifest: m}
		if pulled > 0 {
			img.LastPulled = now.Add(-pulled)
		}
		return sb.Suite.ECR.SeedImage(repo, img)
	}
	want := map[string]string{}
	for _, s := range []struct {
		tag            string
		pushed, pulled time.Duration
		status         string
	}{
		{"v1.4.0", 2 * day, 0, ecr.StatusActive},
		{"v1.3.0", 40 * day, 0, ecr.StatusActive},
		{"v1.2.0", 80 * day, 3 * day, ecr.StatusActive},
		{"v1.1.0", 100 * day, 0, ecr.StatusArchived},
		{"v1.0.0", 120 * day, 90 * day, ecr.StatusArchived},
	} {
		d, err := seed(s.tag, s.pushed, s.pulled)
		if err != nil {
			return err
		}
		want[d] = s.status
	}
	if err := sb.Suite.ECR.SetLifecyclePolicy(repo, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`); err != nil {
		return err
	}
	if err := runGC(ctx, sb, "scenario-gc-archive"); err != nil {
		return err
	}
	for d, status := range want {
		st, ok := sb.Suite.ECR.State(repo, d)
		if !ok {
			return fmt.Errorf("gc deleted %s from %s, whose rule only archives", d, repo)
		}
		if st.Status != status {
			return fmt.Errorf("%s in %s is %s after gc, want %s", d, repo, st.Status, status)
		}
	}
	return sb.wantAlert("archived")
}

// gcKeepsInUseElsewhere: four expired releases are each still run by one AWS
// service outside the cluster (an ECS service, a SageMaker endpoint, a Lambda
// function, a Batch job definition): gc reads every source with its own role
// (the describe calls each needs: services, task definitions, models, endpoint
// configurations, functions, job definitions) and keeps them, deleting only the
// unused one.
func gcKeepsInUseElsewhere(ctx context.Context, sb *Sandbox) error {
	now := time.Now().UTC()
	digests := map[string]string{}
	for i := range 8 {
		tag := fmt.Sprintf("v0.%d.0", i)
		m, _ := sb.NewManifest()
		d, err := sb.Suite.ECR.SeedImage(scenarioRepo, ecr.Image{Tags: []string{tag}, PushedAt: now.Add(-time.Duration(60-i) * 24 * time.Hour),
			Size: 100 << 20, Manifest: m})
		if err != nil {
			return err
		}
		digests[tag] = d
	}
	image := func(tag string) string { return sb.Registry + "/" + scenarioRepo + ":" + tag }
	if _, err := sb.RunECSService(ctx, "retail", "scorer", "scorer", image("v0.0.0")); err != nil {
		return err
	}
	if err := sb.ServeSageMakerModel(ctx, "forecast", "forecast-v0", image("v0.1.0")); err != nil {
		return err
	}
	if err := sb.RunLambdaImage(ctx, "enricher", image("v0.2.0")); err != nil {
		return err
	}
	if err := sb.RegisterBatchJob(ctx, "backfill", image("v0.3.0")); err != nil {
		return err
	}
	if err := runGC(ctx, sb, "scenario-gc-inuse"); err != nil {
		return err
	}
	left := sb.Suite.ECR.Images(scenarioRepo)
	for _, tag := range []string{"v0.0.0", "v0.1.0", "v0.2.0", "v0.3.0", "v0.5.0", "v0.6.0", "v0.7.0"} {
		if _, ok := left[digests[tag]]; !ok {
			return fmt.Errorf("gc deleted %s, which is in use or among the 3 newest", tag)
		}
	}
	if _, ok := left[digests["v0.4.0"]]; ok {
		return errors.New("gc kept v0.4.0, which nothing runs and retention expires")
	}
	return sb.wantAlert("gc deleted")
}

// runGC invokes gc as its schedule does and delivers the fan-out it causes, failing
// on any invocation that failed.
func runGC(ctx context.Context, sb *Sandbox, runID string) error {
	d, err := sb.Invoke(ctx, "gc", []byte(`{"trigger":"scenario","runId":"`+runID+`"}`))
	if err != nil {
		return err
	}
	if d.Err != nil {
		return fmt.Errorf("gc failed after %d attempts: %w", d.Attempts, d.Err)
	}
	return deliverAll(ctx, sb)
}

func manifest(sb *Sandbox) string {
	m, _ := sb.NewManifest()
	return m
}

// alertDeadLettered: Slack is down for good; onpush's alert fails (its dedupe lease is
// given back for the retry), Lambda retries it, then sends it to the failure
// destination.
func alertDeadLettered(ctx context.Context, sb *Sandbox) error {
	sb.Suite.Slack.Faults().Set(fault.AnyOp, fault.Rule{ServerError: 1 << 20})
	if _, err := sb.Push(ctx, scenarioRepo, "Feature_Y"); err != nil {
		return err
	}
	ds, err := sb.Deliver(ctx)
	if err != nil {
		return err
	}
	failed := 0
	for _, d := range ds {
		if d.Function == "onpush" && d.Err != nil {
			failed++
		}
	}
	if failed != 1 {
		return fmt.Errorf("%d onpush deliveries failed, want the one whose Slack alert cannot be sent", failed)
	}
	dead, err := sb.DeadLetters(ctx, "onpush")
	if err != nil {
		return err
	}
	if len(dead) != 1 || !strings.Contains(dead[0], "Feature_Y") || !strings.Contains(dead[0], "RetriesExhausted") {
		return fmt.Errorf("onpush's failure destination holds %q, want the push of Feature_Y", dead)
	}
	return nil
}

// poisonMessage: a fan-out message gc cannot read is reported failed, received again,
// and after the queue's maxReceiveCount moved to gc's dead-letter queue.
func poisonMessage(ctx context.Context, sb *Sandbox) error {
	if len(sb.dep.sources) == 0 {
		return errors.New("the template gives gc no fan-out queue")
	}
	src := sb.dep.sources[0]
	admin := sb.sqsClient(adminKey, "admin")
	if _, err := admin.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(sb.queueURL[src.queueID]), MessageBody: aws.String("not a gc message")}); err != nil {
		return err
	}
	ds, err := sb.Deliver(ctx)
	if err != nil {
		return err
	}
	if len(ds) < 2 {
		return fmt.Errorf("gc received the poison message %d times, want it retried", len(ds))
	}
	dead, err := sb.DeadLetters(ctx, src.function)
	if err != nil {
		return err
	}
	if len(dead) != 1 || dead[0] != "not a gc message" {
		return fmt.Errorf("gc's dead-letter queue holds %q, want the poison message", dead)
	}
	return nil
}

// LoseEvents drops the events queued for delivery, as a best-effort source may lose
// them; it returns how many were lost.
func (sb *Sandbox) LoseEvents() int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	n := len(sb.queue)
	sb.queue = nil
	return n
}

// wantAlert checks that an alert mentioning text reached both Slack and SNS.
func (sb *Sandbox) wantAlert(text string) error {
	slack, sns := 0, 0
	for _, p := range sb.Suite.Slack.Payloads() {
		if strings.Contains(string(p.Body), text) {
			slack++
		}
	}
	for _, m := range sb.Suite.SNS.Messages(sb.TopicARN) {
		if strings.Contains(m.Message, text) || strings.Contains(m.Subject, text) {
			sns++
		}
	}
	if slack == 0 || sns == 0 {
		return fmt.Errorf("alert %q: %d Slack and %d SNS messages, want at least one of each", text, slack, sns)
	}
	return nil
}

// applyDeployment creates (or replaces) the scenario's Deployment running image.
func (sb *Sandbox) applyDeployment(ctx context.Context, image string) error {
	return sb.ApplyDeployment(ctx, scenarioNamespace, scenarioDeployment, image)
}

// ApplyDeployment creates (or replaces) the one-replica Deployment name in
// namespace whose one container, "api", runs image.
func (sb *Sandbox) ApplyDeployment(ctx context.Context, namespace, name, image string) error {
	labels := map[string]string{"app": name}
	d := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{
			"replicas": 1, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []map[string]any{{"name": "api", "image": image}}}},
		},
	}
	return sb.Cluster.Kube.Apply(ctx, "/apis/apps/v1/namespaces/"+namespace+"/deployments", name, d)
}

// wantImage checks that the scenario's Deployment runs the repository's image digest.
func (sb *Sandbox) wantImage(ctx context.Context, digest string) error {
	d, err := sb.scenarioDeployment(ctx)
	if err != nil {
		return err
	}
	if got, want := d.image("api"), sb.Registry+"/"+scenarioRepo+"@"+digest; got != want {
		return fmt.Errorf("deployment runs %s, want %s", got, want)
	}
	return nil
}
