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
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

var controlPlane *testenv.Kube

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithKubeOptions(m, testenv.KubeOptions{Controllers: &testenv.ControllerOptions{}}, func(k *testenv.Kube) { controlPlane = k }))
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

// env is one test's Deployment, engine and verifier.
type env struct {
	t        testing.TB
	k        *testenv.Kube
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

// newEnv creates a Deployment of replicas running v1.0.0 (which exists in the
// registry) and waits until it is available.
func newEnv(t testing.TB, name string, replicas int, vr policy.Verify) *env {
	t.Helper()
	k := controlPlane
	testenv.RequireControlPlane(t, k != nil)
	client, err := kube.New(kube.Config{Host: k.Limited.Host, CAData: k.Limited.CAData, Token: kube.StaticToken(k.Limited.Token)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, k: k, name: name, client: client, queue: &fakeQueue{}, alerts: &fakeAlerts{},
		lookup: &fakeLookup{exists: map[string]bool{"v1.0.0": true}}}
	log := slog.New(slog.DiscardHandler)
	e.verifier = &rollout.Verifier{Clients: staticClients{client}, Lookup: e.lookup, Queue: e.queue, QueueURL: "https://sqs.eu-west-1.amazonaws.com/111122223333/verify",
		Interval: time.Second, Alerts: e.alerts, Audit: e.alerts, Registry: registry, Region: "eu-west-1", Account: "111122223333", Log: log}
	e.engine = rollout.NewEngine(staticClients{client}, e.lookup, e.alerts, log).VerifyWith(e.verifier)
	pattern, err := policy.CompilePattern("v{semver}")
	if err != nil {
		t.Fatal(err)
	}
	e.target = rollout.Target{Cluster: "test", Namespace: k.Namespace, Deployment: name, Container: "api", Repository: repo,
		Tags: pattern, Order: policy.OrderSemver, Pin: policy.PinDigest, Verify: vr.Effective(), Source: "test"}
	labels := map[string]any{"app": name}
	e.request(http.MethodPost, "/apis/apps/v1/namespaces/"+k.Namespace+"/deployments", "application/json", map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"replicas": replicas, "progressDeadlineSeconds": 600, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "api", "image": image("v1.0.0")}}}}},
	}, http.StatusCreated)
	t.Cleanup(func() {
		k.Request(context.Background(), k.Admin, http.MethodDelete, e.path(), "", nil)
	})
	e.waitAvailable()
	return e
}

func (e *env) path() string {
	return "/apis/apps/v1/namespaces/" + e.k.Namespace + "/deployments/" + e.name
}

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

func (e *env) deployment() *kube.Workload {
	e.t.Helper()
	d, err := e.client.GetWorkload(context.Background(), e.target.Ref())
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// status reads the workload's rollout status.
func (e *env) status() (kube.RolloutStatus, error) {
	d, err := e.client.GetWorkload(context.Background(), e.target.Ref())
	if err != nil {
		return kube.RolloutStatus{}, err
	}
	return d.Status(context.Background(), e.client)
}

func (e *env) waitAvailable() {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := e.status()
		if err != nil {
			e.t.Fatal(err)
		}
		if st.Done {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("deployment %s not available: %s", e.name, st.Reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newBenchEnv is newEnv for benchmarks: two replicas, the default verify rule.
func newBenchEnv(b *testing.B, name string) *env {
	b.Helper()
	return newEnv(b, name, 2, policy.Verify{})
}

// rollB is roll for benchmarks.
func (e *env) rollB(b *testing.B, tag string) string { b.Helper(); return e.roll(tag) }

// roll rolls tag (digest of the tag's name) out through the engine, which arms the
// first check.
func (e *env) roll(tag string) string {
	e.t.Helper()
	d := digest(tag)
	out, err := e.engine.Roll(context.Background(), rollout.Image{Registry: registry, Repository: repo, Tag: tag, Digest: d,
		PushedAt: time.Now().Add(-time.Second), EventID: "ev-" + tag}, []rollout.Target{e.target})
	if err != nil || len(out) != 1 || !out[0].Patched {
		e.t.Fatalf("roll %s: %v %+v", tag, err, out)
	}
	return d
}

// drive delivers the armed checks (as SQS would after their delay) until one ends
// in a result other than rearmed, or timeout; it returns the results in order.
func (e *env) drive(timeout time.Duration) []rollout.CheckResult {
	e.t.Helper()
	var results []rollout.CheckResult
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		for _, c := range e.queue.take() {
			res, err := e.verifier.Verify(context.Background(), c)
			if kube.IsConflict(err) {
				// SQS redelivers a check that failed.
				e.t.Logf("check %s: %v; redelivered", c, err)
				e.queue.mu.Lock()
				e.queue.msgs = append(e.queue.msgs, c)
				e.queue.mu.Unlock()
				continue
			}
			if err != nil {
				e.t.Fatalf("check %s: %v", c, err)
			}
			results = append(results, res)
			// A stale check is one whose re-arm lost a conflict (or a duplicate): it
			// changed nothing, and the check that owns the verification goes on.
			if res.Result != rollout.CheckRearmed && res.Result != rollout.CheckStale {
				return results
			}
		}
	}
	e.t.Fatalf("no result after %s: %+v", timeout, results)
	return nil
}

func (e *env) state() rollout.State {
	e.t.Helper()
	st, err := rollout.ReadState(e.deployment().Annotations())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func last(rs []rollout.CheckResult) rollout.CheckResult { return rs[len(rs)-1] }

func TestHealthyRolloutIsVerified(t *testing.T) {
	e := newEnv(t, "verify-healthy", 2, policy.Verify{NotifySuccess: true})
	d := e.roll("v1.1.0")
	armed := e.queue.msgs[0]
	rs := e.drive(60 * time.Second)
	if got := last(rs); got.Result != rollout.CheckVerified {
		t.Fatalf("result %+v, want verified", got)
	}
	st := e.state()
	if st.Verify.State != rollout.VerifyVerified || st.Verify.Digest != d || st.LastChange.Cause != rollout.CausePush ||
		st.LastChange.From != image("v1.0.0") || st.LastChange.To != registry+"/"+repo+"@"+d || st.Verify.PreviousImage != image("v1.0.0") {
		t.Errorf("state %+v %+v", st.LastChange, st.Verify)
	}
	if got := e.alerts.detailTypes(); !slices.Equal(got, []string{audit.DeploymentPatched, audit.RolloutVerified}) {
		t.Errorf("audit events %v, want DeploymentPatched, RolloutVerified", got)
	}
	if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Kind != alert.KindRolloutVerified {
		t.Errorf("alerts %+v, want one rollout-verified (notifySuccess)", e.alerts.alerts)
	}
	// The first check, delivered again late (SQS delivers at least once): stale.
	e.queue.take()
	res, err := e.verifier.Verify(context.Background(), armed)
	if err != nil || res.Result != rollout.CheckStale {
		t.Errorf("duplicate check: %+v %v, want stale", res, err)
	}
	if len(e.queue.take()) != 0 {
		t.Error("a duplicate check armed another")
	}
}

func TestCrashLoopIsRolledBack(t *testing.T) {
	for _, fault := range []testenv.ImageFault{testenv.ImageCrashLoop, testenv.ImagePullError} {
		t.Run(string(fault), func(t *testing.T) {
			e := newEnv(t, "verify-"+strings.ToLower(string(fault)), 1, policy.Verify{})
			if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.1.0"): fault}); err != nil {
				t.Fatal(err)
			}
			d := e.roll("v1.1.0")
			rs := e.drive(60 * time.Second)
			reason := string(fault)
			if fault == testenv.ImagePullError {
				reason = "ImagePull" // ErrImagePull, then ImagePullBackOff
			}
			if got := last(rs); got.Result != rollout.CheckRolledBack || !strings.Contains(got.Reason, reason) {
				t.Fatalf("result %+v, want rolled back naming %s", got, reason)
			}
			dep := e.deployment()
			if img, _, _ := dep.ContainerImage("api"); img != image("v1.0.0") {
				t.Errorf("runs %s, want v1.0.0 back", img)
			}
			ann := dep.Annotations()
			if !strings.Contains(ann[rollout.AnnotationHold], reason) || !strings.Contains(ann[rollout.AnnotationBlocked], d) {
				t.Errorf("hold %q blocked %q", ann[rollout.AnnotationHold], ann[rollout.AnnotationBlocked])
			}
			st := e.state()
			if st.Verify.State != rollout.VerifyRolledBack || st.LastChange.Cause != rollout.CauseRollback || len(st.Verify.Reasons) == 0 {
				t.Errorf("state %+v %+v", st.LastChange, st.Verify)
			}
			if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Verification.Action != alert.RolledBack || len(e.alerts.alerts[0].Verification.Events) == 0 {
				t.Fatalf("alerts %+v, want one rolled-back alert with the Pods' Events", e.alerts.alerts)
			}
			if got := e.alerts.detailTypes(); !slices.Equal(got, []string{audit.DeploymentPatched, audit.RolloutFailed, audit.RolloutRolledBack}) {
				t.Errorf("audit events %v", got)
			}
			// The blocked digest never rolls out again, even after a release.
			if _, err := rollout.Release(context.Background(), e.client, e.k.Namespace, e.name, false); err != nil {
				t.Fatal(err)
			}
			out, err := e.engine.Roll(context.Background(), rollout.Image{Registry: registry, Repository: repo, Tag: "v1.1.0", Digest: d, EventID: "ev-again"}, []rollout.Target{e.target})
			if err != nil || out[0].Patched || !strings.HasPrefix(out[0].Reason, "blocked") {
				t.Errorf("after release: %+v %v, want blocked", out, err)
			}
		})
	}
}

func TestPreviousImageGoneIsNotRolledBack(t *testing.T) {
	e := newEnv(t, "verify-prev-gone", 1, policy.Verify{})
	if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.2.0"): testenv.ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	d := e.roll("v1.2.0")
	e.lookup.mu.Lock()
	e.lookup.exists = map[string]bool{} // v1.0.0 was deleted from ECR
	e.lookup.mu.Unlock()
	rs := e.drive(60 * time.Second)
	if got := last(rs); got.Result != rollout.CheckFailed || !strings.Contains(got.Reason, "no longer exists") {
		t.Fatalf("result %+v, want failed: previous image gone", got)
	}
	if img, _, _ := e.deployment().ContainerImage("api"); img != registry+"/"+repo+"@"+d {
		t.Errorf("runs %s: rolled back to nothing", img)
	}
	if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Verification.Action != alert.RollbackRefused {
		t.Errorf("alerts %+v, want one rollback-refused", e.alerts.alerts)
	}
	if st := e.state(); st.Verify.State != rollout.VerifyFailed {
		t.Errorf("state %+v", st.Verify)
	}
}

func TestOnFailureAlertOnly(t *testing.T) {
	e := newEnv(t, "verify-alert-only", 1, policy.Verify{OnFailure: policy.OnFailureAlert})
	if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.3.0"): testenv.ImageOOMKilled}); err != nil {
		t.Fatal(err)
	}
	d := e.roll("v1.3.0")
	if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckFailed || !strings.Contains(got.Reason, "OOMKilled") {
		t.Fatalf("result %+v, want failed with OOMKilled", got)
	}
	if img, _, _ := e.deployment().ContainerImage("api"); img != registry+"/"+repo+"@"+d {
		t.Errorf("runs %s, want the failed image left (onFailure: alert)", img)
	}
	if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Verification.Action != alert.AlertOnly {
		t.Errorf("alerts %+v", e.alerts.alerts)
	}
}

// TestBadInputMidVerification: what happens to a workload while it is verified
// never makes ecrwarden fight a person or call doubt a success.
func TestBadInputMidVerification(t *testing.T) {
	t.Run("edited by hand", func(t *testing.T) {
		e := newEnv(t, "verify-hand-edit", 1, policy.Verify{})
		if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.4.0"): testenv.ImageCrashLoop}); err != nil {
			t.Fatal(err)
		}
		e.roll("v1.4.0")
		e.request(http.MethodPatch, e.path(), "application/strategic-merge-patch+json", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "api", "image": image("v0.9.9")}}}}}}, http.StatusOK)
		if got := last(e.drive(30 * time.Second)); got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, "other hands") {
			t.Fatalf("result %+v, want abandoned", got)
		}
		if img, _, _ := e.deployment().ContainerImage("api"); img != image("v0.9.9") {
			t.Errorf("runs %s: ecrwarden fought the person", img)
		}
		if len(e.alerts.alerts) != 0 {
			t.Errorf("alerts %+v", e.alerts.alerts)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		e := newEnv(t, "verify-deleted", 1, policy.Verify{})
		e.roll("v1.5.0")
		e.request(http.MethodDelete, e.path(), "", nil, http.StatusOK)
		if got := last(e.drive(30 * time.Second)); got.Result != rollout.CheckAbandoned {
			t.Fatalf("result %+v, want abandoned", got)
		}
	})
	for _, tt := range []struct {
		name  string
		patch map[string]any
		want  string
	}{
		{"scaled to zero", map[string]any{"spec": map[string]any{"replicas": 0}}, "scaled to zero"},
		{"paused", map[string]any{"spec": map[string]any{"paused": true}}, "paused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "verify-"+strings.ReplaceAll(tt.name, " ", "-"), 1, policy.Verify{Timeout: policy.Duration(10 * time.Second)})
			// The image never becomes ready, so only the timeout ends the verification.
			if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.6.0"): testenv.ImageNeverReady}); err != nil {
				t.Fatal(err)
			}
			e.request(http.MethodPatch, e.path(), "application/strategic-merge-patch+json", tt.patch, http.StatusOK)
			d := e.roll("v1.6.0")
			got := last(e.drive(40 * time.Second))
			if got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, tt.want) {
				t.Fatalf("result %+v, want abandoned: %s", got, tt.want)
			}
			if img, _, _ := e.deployment().ContainerImage("api"); img != registry+"/"+repo+"@"+d {
				t.Errorf("runs %s, want the image left as the person left the workload", img)
			}
			if len(e.alerts.alerts) != 0 {
				t.Errorf("alerts %+v", e.alerts.alerts)
			}
		})
	}
	t.Run("never ready until the timeout", func(t *testing.T) {
		e := newEnv(t, "verify-timeout", 1, policy.Verify{Timeout: policy.Duration(10 * time.Second)})
		if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.6.1"): testenv.ImageNeverReady}); err != nil {
			t.Fatal(err)
		}
		e.roll("v1.6.1")
		if got := last(e.drive(40 * time.Second)); got.Result != rollout.CheckRolledBack || !strings.Contains(got.Reason, "verify timeout") {
			t.Fatalf("result %+v, want rolled back after the timeout", got)
		}
	})
	t.Run("check after the target moved on", func(t *testing.T) {
		e := newEnv(t, "verify-moved-on", 1, policy.Verify{})
		e.roll("v1.7.0")
		first := e.queue.take()
		e.roll("v1.8.0")
		res, err := e.verifier.Verify(context.Background(), first[0])
		if err != nil || res.Result != rollout.CheckStale {
			t.Fatalf("check of v1.7.0 after v1.8.0: %+v %v, want stale", res, err)
		}
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("v1.8.0: %+v", got)
		}
	})
	t.Run("Kubernetes API unreachable", func(t *testing.T) {
		e := newEnv(t, "verify-unreachable", 1, policy.Verify{})
		e.roll("v1.9.0")
		c := e.queue.take()[0]
		down, err := kube.New(kube.Config{Host: "https://127.0.0.1:1", Token: kube.StaticToken("t")})
		if err != nil {
			t.Fatal(err)
		}
		v := *e.verifier
		v.Clients = staticClients{down}
		if _, err := v.Verify(context.Background(), c); err == nil {
			t.Fatal("a check that could not reach the API server succeeded")
		}
		if st := e.state(); st.Verify.State != rollout.VerifyPending {
			t.Fatalf("state %s after an unreachable API, want pending", st.Verify.State)
		}
		// The redelivered message finds the API back and carries on.
		e.queue.mu.Lock()
		e.queue.msgs = append(e.queue.msgs, c)
		e.queue.mu.Unlock()
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("after the API came back: %+v", got)
		}
	})
	t.Run("lost check re-armed by the reconcile", func(t *testing.T) {
		e := newEnv(t, "verify-lost", 1, policy.Verify{})
		e.roll("v2.0.0")
		e.queue.take() // lost
		// Before staleChecks intervals nothing is re-armed; after, the engine's look
		// (the reconcile rolls the same newest image) re-arms.
		img := rollout.Image{Registry: registry, Repository: repo, Tag: "v2.0.0", Digest: digest("v2.0.0"), EventID: "reconcile:run-1", Cause: rollout.CauseReconcile}
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil {
			t.Fatal(err)
		}
		if n := len(e.queue.take()); n != 0 {
			t.Fatalf("re-armed %d checks of a fresh verification", n)
		}
		time.Sleep(3*time.Second + 100*time.Millisecond)
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil {
			t.Fatal(err)
		}
		e.queue.mu.Lock()
		n := len(e.queue.msgs)
		e.queue.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d checks re-armed, want 1", n)
		}
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("after the re-arm: %+v", got)
		}
	})
	t.Run("arm failed after the patch: the redelivered event re-arms", func(t *testing.T) {
		e := newEnv(t, "verify-arm-failed", 1, policy.Verify{})
		e.queue.fail = errors.New("throttled")
		img := rollout.Image{Registry: registry, Repository: repo, Tag: "v2.1.0", Digest: digest("v2.1.0"), EventID: "ev-v2.1.0"}
		if out, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err == nil || !out[0].Patched {
			t.Fatalf("roll with a failing queue: %+v %v, want patched and an error", out, err)
		}
		e.queue.fail = nil
		// Redelivered at once (a duplicate), the event leaves the verification to the
		// check that may still come; retried after two intervals (as Lambda retries,
		// a minute later), it re-arms.
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil || len(e.queue.take()) != 0 {
			t.Fatalf("an immediate redelivery: %v, or it re-armed", err)
		}
		time.Sleep(2*time.Second + 100*time.Millisecond)
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil {
			t.Fatal(err)
		}
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("after the retry: %+v", got)
		}
	})
}
