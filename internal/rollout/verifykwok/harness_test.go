package verifykwok

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

var (
	controlPlane *testenv.Kube
	// controlPlaneErr is why the control plane is not usable (the deployer's RBAC
	// could not be bound); every test fails with it.
	controlPlaneErr error
)

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithKubeOptions(m, testenv.KubeOptions{Controllers: &testenv.ControllerOptions{}}, func(k *testenv.Kube) {
		controlPlane = k
		if k != nil {
			controlPlaneErr = bindDeployer(context.Background(), k)
		}
	}))
}

// bindDeployer grants the limited user, in its namespace, the Role onpush and onscan
// get in a real cluster (rbac.DeployerRules, the one definition): testenv's own
// limited Role patches Deployments only, and the verifier must read and patch every
// kind with exactly what the deployer group may do. It waits until the authorizer
// answers with the binding.
func bindDeployer(ctx context.Context, k *testenv.Kube) error {
	base := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + k.Namespace
	name := rbac.GroupDeployer + "-verifykwok"
	if err := k.Apply(ctx, base+"/roles", name, map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": map[string]any{"name": name, "namespace": k.Namespace}, "rules": rbac.DeployerRules(),
	}); err != nil {
		return fmt.Errorf("bind the deployer role: %w", err)
	}
	if err := k.Apply(ctx, base+"/rolebindings", name, map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": name, "namespace": k.Namespace},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
		"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": testenv.LimitedUser}},
	}); err != nil {
		return fmt.Errorf("bind the deployer role: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := k.Allowed(ctx, testenv.LimitedUser, nil, "patch", "batch", "cronjobs", k.Namespace, "x")
		if err != nil {
			return fmt.Errorf("bind the deployer role: %w", err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("bind the deployer role: the authorizer still refuses patch on cronjobs after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const (
	registry = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
	repo     = "mlops/retail-api"
)

func digest(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(s))) }

// staticClients resolves every cluster to one client.
type staticClients struct{ c *kube.Client }

func (s staticClients) Client(context.Context, string) (*kube.Client, error) { return s.c, nil }

// fakeLookup says which images (by tag or digest) exist.
type fakeLookup struct {
	mu     sync.Mutex
	exists map[string]bool
}

func (f *fakeLookup) Image(_ context.Context, _ string, ref kube.Ref) (rollout.ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := ref.Digest
	if key == "" {
		key = ref.Tag
	}
	if !f.exists[key] {
		return rollout.ImageInfo{}, nil
	}
	return rollout.ImageInfo{Found: true, Tags: []string{"v1.0.0"}}, nil
}

// fakeQueue keeps the messages sent, ignoring their delay (the test decides when a
// check is delivered).
type fakeQueue struct {
	mu   sync.Mutex
	msgs []rollout.Check
	sent int
	fail error
}

func (q *fakeQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return nil, q.fail
	}
	var c rollout.Check
	if err := json.Unmarshal([]byte(aws.ToString(in.MessageBody)), &c); err != nil {
		return nil, err
	}
	if in.DelaySeconds != 1 {
		return nil, fmt.Errorf("DelaySeconds %d, want the 1 s interval", in.DelaySeconds)
	}
	q.msgs = append(q.msgs, c)
	q.sent++
	return &sqs.SendMessageOutput{}, nil
}

func (q *fakeQueue) take() []rollout.Check {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs
	q.msgs = nil
	return m
}

func (q *fakeQueue) put(c rollout.Check) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, c)
}

func (q *fakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// fakeAlerts delivers once per key, as notify.Once does, and keeps the audit events.
type fakeAlerts struct {
	mu     sync.Mutex
	alerts []alert.Alert
	keys   map[string]bool
	events []audit.Event
}

func (f *fakeAlerts) DeliverAudited(_ context.Context, key string, a alert.Alert, events []audit.Event) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]bool{}
	}
	if f.keys[key] {
		return false, nil
	}
	f.keys[key] = true
	f.alerts = append(f.alerts, a)
	f.events = append(f.events, events...)
	return true, nil
}

func (f *fakeAlerts) Publish(_ context.Context, events ...audit.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, events...)
	return nil
}

func (f *fakeAlerts) detailTypes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, e.DetailType)
	}
	return out
}

// detailKinds returns the "kind" of each audit event's detail (a workload's kind).
func (f *fakeAlerts) detailKinds() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		b, _ := json.Marshal(e.Detail)
		var d struct {
			Kind string `json:"kind"`
		}
		json.Unmarshal(b, &d)
		out = append(out, d.Kind)
	}
	return out
}

// sent returns the alerts delivered so far.
func (f *fakeAlerts) sent() []alert.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.alerts)
}

// env is one test's workload (of any kind), engine and verifier.
type env struct {
	t        testing.TB
	k        *testenv.Kube
	kind     kube.Kind
	name     string
	client   *kube.Client
	queue    *fakeQueue
	alerts   *fakeAlerts
	lookup   *fakeLookup
	engine   *rollout.Engine
	verifier *rollout.Verifier
	target   rollout.Target
}

func image(tag string) string { return registry + "/" + repo + ":" + tag }

// pinned is the reference the engine sets for a tag (pin: digest).
func pinned(tag string) string { return registry + "/" + repo + "@" + digest(tag) }

// newEnv creates a Deployment of replicas running v1.0.0 (which exists in the
// registry) and waits until it is available.
func newEnv(t testing.TB, name string, replicas int, vr policy.Verify) *env {
	t.Helper()
	return newKindEnv(t, kube.KindDeployment, name, replicas, vr, nil)
}

// newKindEnv creates a workload of kind whose container "api" runs v1.0.0 (which
// exists in the registry): replicas Pods for a Deployment or StatefulSet, one per
// node for a DaemonSet, a CronJob (whose jobs restart on failure) that has not run.
// spec fields are set over the kind's defaults (an updateStrategy, say). It waits
// until the workload is rolled out (a CronJob: idle, no job yet) and returns the
// engine and verifier that follow it as the limited user.
func newKindEnv(t testing.TB, kind kube.Kind, name string, replicas int, vr policy.Verify, spec map[string]any) *env {
	t.Helper()
	k := controlPlane
	testenv.RequireControlPlane(t, k != nil)
	if controlPlaneErr != nil {
		t.Fatal(controlPlaneErr)
	}
	client, err := kube.New(kube.Config{Host: k.Limited.Host, CAData: k.Limited.CAData, Token: kube.StaticToken(k.Limited.Token)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, k: k, kind: kind, name: name, client: client, queue: &fakeQueue{}, alerts: &fakeAlerts{},
		lookup: &fakeLookup{exists: map[string]bool{"v1.0.0": true}}}
	log := slog.New(slog.DiscardHandler)
	e.verifier = &rollout.Verifier{Clients: staticClients{client}, Lookup: e.lookup, Queue: e.queue, QueueURL: "https://sqs.eu-west-1.amazonaws.com/111122223333/verify",
		Interval: time.Second, Alerts: e.alerts, Audit: e.alerts, Registry: registry, Region: "eu-west-1", Account: "111122223333", Log: log}
	e.engine = rollout.NewEngine(staticClients{client}, e.lookup, e.alerts, log).VerifyWith(e.verifier)
	pattern, err := policy.CompilePattern("v{semver}")
	if err != nil {
		t.Fatal(err)
	}
	e.target = rollout.Target{Cluster: "test", Kind: kind, Namespace: k.Namespace, Deployment: name, Container: "api", Repository: repo,
		Tags: pattern, Order: policy.OrderSemver, Pin: policy.PinDigest, Verify: vr.Effective(), Source: "test"}
	e.request(http.MethodPost, strings.TrimSuffix(e.path(), "/"+name), "application/json", workloadObject(kind, name, replicas, spec), http.StatusCreated)
	t.Cleanup(func() {
		// Background propagation: the Pods (and a CronJob's Jobs) go with it.
		k.Request(context.Background(), k.Admin, http.MethodDelete, e.path()+"?propagationPolicy=Background", "", nil)
	})
	e.waitRolledOut()
	return e
}

// workloadObject is the manifest of a workload of kind named name whose Pods' only
// container, api, runs v1.0.0.
func workloadObject(kind kube.Kind, name string, replicas int, extra map[string]any) map[string]any {
	labels := map[string]any{"app": name}
	podSpec := map[string]any{"terminationGracePeriodSeconds": 0, "containers": []any{map[string]any{"name": "api", "image": image("v1.0.0")}}}
	template := map[string]any{"metadata": map[string]any{"labels": labels}, "spec": podSpec}
	selector := map[string]any{"matchLabels": labels}
	var spec map[string]any
	switch kind {
	case kube.KindDeployment:
		spec = map[string]any{"replicas": replicas, "progressDeadlineSeconds": 600, "selector": selector, "template": template}
	case kube.KindStatefulSet:
		spec = map[string]any{"replicas": replicas, "serviceName": name, "selector": selector, "template": template}
	case kube.KindDaemonSet:
		spec = map[string]any{"selector": selector, "template": template}
	case kube.KindCronJob:
		// A crashing image restarts in its Pod (OnFailure) and its Job gives up only
		// after several restarts, as a training job's would: the verifier sees the
		// Pod's CrashLoopBackOff first.
		podSpec["restartPolicy"] = "OnFailure"
		spec = map[string]any{"schedule": "0 2 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"backoffLimit": 6, "template": template}}}
	}
	for k, v := range extra {
		spec[k] = v
	}
	return map[string]any{"apiVersion": kind.APIVersion(), "kind": string(kind), "metadata": map[string]any{"name": name}, "spec": spec}
}

// ref names the env's workload.
func (e *env) ref() kube.WorkloadRef {
	return kube.WorkloadRef{Kind: e.kind, Namespace: e.k.Namespace, Name: e.name}
}

func (e *env) path() string { return e.ref().Path() }

func (e *env) request(method, path, contentType string, obj any, want int) []byte {
	e.t.Helper()
	var body []byte
	if obj != nil {
		body, _ = json.Marshal(obj)
	}
	code, out, err := e.k.Request(context.Background(), e.k.Admin, method, path, contentType, body)
	if err != nil || code != want {
		e.t.Fatalf("%s %s: %d %s %v", method, path, code, out, err)
	}
	return out
}

// workload reads the env's workload as the limited user.
func (e *env) workload() *kube.Workload {
	e.t.Helper()
	w, err := e.client.GetWorkload(context.Background(), e.ref())
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// image is the image the workload's template runs in container api.
func (e *env) image() string {
	e.t.Helper()
	img, _, ok := e.workload().ContainerImage("api")
	if !ok {
		e.t.Fatalf("%s has no container api", e.ref())
	}
	return img
}

// status reads the workload and its rollout status (kube.Workload.Status).
func (e *env) status(ctx context.Context) (kube.RolloutStatus, error) {
	w, err := e.client.GetWorkload(ctx, e.ref())
	if err != nil {
		return kube.RolloutStatus{}, err
	}
	return w.Status(ctx, e.client)
}

// waitRolledOut waits until the workload's rollout is Done (a CronJob that has not
// run: Idle, no job yet), failing after two minutes (a bound on a loaded machine;
// rollouts take seconds).
func (e *env) waitRolledOut() {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := e.status(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if st.Done || (e.kind == kube.KindCronJob && st.Idle) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s not rolled out: %+v", e.ref(), st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newBenchEnv is newKindEnv for benchmarks: two replicas, the default verify rule.
func newBenchEnv(b *testing.B, kind kube.Kind, name string) *env {
	b.Helper()
	return newKindEnv(b, kind, name, 2, policy.Verify{}, nil)
}

// push is the image onpush hands the engine for a push of tag (digest of the
// tag's name): what ECR's event says.
func push(tag string) rollout.Image {
	return rollout.Image{Registry: registry, Repository: repo, Tag: tag, Digest: digest(tag),
		PushedAt: time.Now().Add(-time.Second), EventID: "ev-" + tag}
}

// roll rolls tag (digest of the tag's name) out through the engine, which must
// patch the workload and arm the first check (every kind is verified).
func (e *env) roll(tag string) string {
	e.t.Helper()
	img := push(tag)
	out, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target})
	if err != nil || len(out) != 1 || !out[0].Patched {
		e.t.Fatalf("roll %s: %v %+v", tag, err, out)
	}
	if e.queue.len() == 0 {
		e.t.Fatalf("roll %s of %s: patched, but no verification armed", tag, e.ref())
	}
	return img.Digest
}

// run delivers the armed checks (as SQS would after their delay) until one ends
// in a result other than rearmed or stale, or for d; it returns the results in
// order and whether the verification ended.
func (e *env) run(d time.Duration) ([]rollout.CheckResult, bool) {
	e.t.Helper()
	var results []rollout.CheckResult
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		for _, c := range e.queue.take() {
			res, err := e.verifier.Verify(context.Background(), c)
			if kube.IsConflict(err) {
				// SQS redelivers a check that failed.
				e.t.Logf("check %s: %v; redelivered", c, err)
				e.queue.put(c)
				continue
			}
			if err != nil {
				e.t.Fatalf("check %s: %v", c, err)
			}
			results = append(results, res)
			// A stale check is one whose re-arm lost a conflict (or a duplicate): it
			// changed nothing, and the check that owns the verification goes on.
			if res.Result != rollout.CheckRearmed && res.Result != rollout.CheckStale {
				return results, true
			}
		}
	}
	return results, false
}

// drive is run that fails the test when no check ended the verification within
// timeout.
func (e *env) drive(timeout time.Duration) []rollout.CheckResult {
	e.t.Helper()
	results, ended := e.run(timeout)
	if !ended {
		e.t.Fatalf("no result after %s: %+v", timeout, results)
	}
	return results
}

// nextJob, for a CronJob, shows that its verification waits for the next Job (the
// checks re-arm saying there is no job yet, the state stays pending), then starts
// that Job as `kubectl create job --from=cronjob/<name>` does. For other kinds it
// does nothing.
func (e *env) nextJob() {
	e.t.Helper()
	if e.kind != kube.KindCronJob {
		return
	}
	e.waitNoJob(3 * time.Second)
	if _, err := e.k.CreateJobFromCronJob(context.Background(), e.k.Namespace, e.name); err != nil {
		e.t.Fatal(err)
	}
}

// waitNoJob delivers a CronJob's checks for d and fails unless every one re-armed
// saying no job runs the new template yet.
func (e *env) waitNoJob(d time.Duration) {
	e.t.Helper()
	rs, ended := e.run(d)
	if ended || len(rs) == 0 {
		e.t.Fatalf("before any job: %+v, want the checks re-armed", rs)
	}
	for _, r := range rs {
		if r.Result != rollout.CheckRearmed || !strings.Contains(r.Reason, "no job yet") {
			e.t.Fatalf("before any job: check %+v, want rearmed: no job yet", r)
		}
	}
	if st := e.state(); st.Verify == nil || st.Verify.State != rollout.VerifyPending {
		e.t.Fatalf("before any job: state %+v, want pending", st.Verify)
	}
}

func (e *env) state() rollout.State {
	e.t.Helper()
	st, err := rollout.ReadState(e.workload().Annotations())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func last(rs []rollout.CheckResult) rollout.CheckResult { return rs[len(rs)-1] }

// setFault marks the image of tag (its digest, whatever the reference) with fault.
func (e *env) setFault(tag string, fault testenv.ImageFault) {
	e.t.Helper()
	if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest(tag): fault}); err != nil {
		e.t.Fatal(err)
	}
}

// setImageByHand sets container api's image as a person would (kubectl set image).
func (e *env) setImageByHand(img string) {
	e.t.Helper()
	template := map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "api", "image": img}}}}
	spec := map[string]any{"template": template}
	if e.kind == kube.KindCronJob {
		spec = map[string]any{"jobTemplate": map[string]any{"spec": spec}}
	}
	e.request(http.MethodPatch, e.path(), "application/strategic-merge-patch+json", map[string]any{"spec": spec}, http.StatusOK)
}

// pods returns the image of container api of each of the workload's Pods, by Pod
// name.
func (e *env) pods() map[string]string {
	e.t.Helper()
	out := e.request(http.MethodGet, "/api/v1/namespaces/"+e.k.Namespace+"/pods?labelSelector=app%3D"+e.name, "", nil, http.StatusOK)
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec kube.PodSpec `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		e.t.Fatal(err)
	}
	images := map[string]string{}
	for _, p := range list.Items {
		for _, c := range p.Spec.Containers {
			if c.Name == "api" {
				images[p.Metadata.Name] = c.Image
			}
		}
	}
	return images
}
