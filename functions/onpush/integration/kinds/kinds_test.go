package kinds

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// repos are the repositories of testdata/ecrwarden.yaml by the kind of their deploy rule's workload, and names
// the workloads the rules name.
var (
	repos = map[kube.Kind]string{
		kube.KindDeployment: "mlops/kinds-api", kube.KindStatefulSet: "mlops/kinds-db",
		kube.KindDaemonSet: "mlops/kinds-agent", kube.KindCronJob: "mlops/train-model",
	}
	names = map[kube.Kind]string{
		kube.KindDeployment: "kinds-api", kube.KindStatefulSet: "kinds-db", kube.KindDaemonSet: "kinds-agent", kube.KindCronJob: "train-model",
	}
)

// clusterName is the EKS cluster of the sandbox and of testdata/ecrwarden.yaml.
const clusterName = "retail-forecast"

// ns is the policy's namespace (testdata/ecrwarden.yaml).
const ns = "kinds"

const sidecar = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"

// cluster is the package's control plane with controllers and kwok nodes; nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTestsWith(m, clusterName, sandbox.ClusterOptions{Controllers: &testenv.ControllerOptions{}},
		func(c *sandbox.Cluster) { cluster = c }))
}

// verifyEnv makes the functions check a rollout every second (the check interval of the Deployment scenario of
// internal/sandbox), so the verification of testdata/ecrwarden.yaml's short verify timeout plays in seconds.
var verifyEnv = map[string]string{"ECRWARDEN_VERIFY_INTERVAL": "1s"}

// env is one sandbox and an admin client to read and set up workloads with.
type env struct {
	t     testing.TB
	sb    *sandbox.Sandbox
	admin *kube.Client
}

func start(t testing.TB) *env {
	t.Helper()
	testenv.RequireControlPlane(t, cluster != nil)
	policyPath, err := filepath.Abs(filepath.Join("testdata", "ecrwarden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &sandbox.LogBuffer{}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{PolicyPath: policyPath, Cluster: cluster, Logs: logs, Env: verifyEnv})
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
	k := cluster.Kube
	admin, err := kube.New(kube.Config{Host: k.Admin.Host, CAData: k.Admin.CAData, Token: kube.StaticToken(k.Admin.Token)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, sb: sb, admin: admin}
}

// request sends one admin request and fails the test unless it answers 2xx.
func (e *env) request(method, path string, obj any) []byte {
	e.t.Helper()
	var body []byte
	if obj != nil {
		var err error
		if body, err = json.Marshal(obj); err != nil {
			e.t.Fatal(err)
		}
	}
	contentType := "application/json"
	if method == http.MethodPatch {
		contentType = "application/merge-patch+json"
	}
	k := cluster.Kube
	code, out, err := k.Request(context.Background(), k.Admin, method, path, contentType, body)
	if err != nil || code < 200 || code > 299 {
		e.t.Fatalf("%s %s: %d %s %v", method, path, code, out, err)
	}
	return out
}

// create creates a workload of kind named name whose container app runs image (beside a sidecar), with
// annotations, and deletes it when the test ends.
func (e *env) create(kind kube.Kind, name, image string, annotations map[string]string) kube.WorkloadRef {
	e.t.Helper()
	template := map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": name}},
		"spec": map[string]any{
			"terminationGracePeriodSeconds": 0,
			"containers":                    []any{map[string]any{"name": "app", "image": image}, map[string]any{"name": "otel", "image": sidecar}},
		},
	}
	spec := map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": name}}, "template": template}
	switch kind {
	case kube.KindDeployment:
		spec["replicas"] = 2
	case kube.KindStatefulSet:
		spec["replicas"], spec["serviceName"] = 2, name
	case kube.KindCronJob:
		template["spec"].(map[string]any)["restartPolicy"] = "OnFailure"
		spec = map[string]any{"schedule": "0 2 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	}
	ref := kube.WorkloadRef{Kind: kind, Namespace: ns, Name: name}
	collection := strings.TrimSuffix(ref.Path(), "/"+name)
	e.request(http.MethodPost, collection, map[string]any{
		"apiVersion": kind.APIVersion(), "kind": string(kind),
		"metadata": map[string]any{"name": name, "annotations": annotations}, "spec": spec,
	})
	e.t.Cleanup(func() { e.remove(ref) })
	return ref
}

// remove deletes a workload with its Jobs and Pods and waits until they are gone, so that the next test's
// workload of the same name never sees the Pods (labelled app=name) of this one.
func (e *env) remove(ref kube.WorkloadRef) {
	ctx := context.Background()
	k := cluster.Kube
	if code, out, err := k.Request(ctx, k.Admin, http.MethodDelete, ref.Path()+"?propagationPolicy=Foreground", "", nil); err != nil || code != http.StatusOK && code != http.StatusAccepted && code != http.StatusNotFound {
		e.t.Errorf("delete %s: %d %s %v", ref, code, out, err)
		return
	}
	pods := "/api/v1/namespaces/" + ns + "/pods?labelSelector=app%3D" + ref.Name
	deadline := time.Now().Add(time.Minute)
	for {
		code, _, err := k.Request(ctx, k.Admin, http.MethodGet, ref.Path(), "", nil)
		gone := err == nil && code == http.StatusNotFound
		var list struct{ Items []json.RawMessage }
		if gone {
			code, out, err := k.Request(ctx, k.Admin, http.MethodGet, pods, "", nil)
			gone = err == nil && code == http.StatusOK && json.Unmarshal(out, &list) == nil && len(list.Items) == 0
		}
		if gone {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("%s: not deleted with its Pods after a minute (%d Pods left)", ref, len(list.Items))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// push stores repo:tag in the ECR emulator and delivers the queued events; onpush must take its push in one
// attempt. It returns the image's digest.
func (e *env) push(repo, tag string) string {
	e.t.Helper()
	digest, err := e.sb.Push(context.Background(), repo, tag)
	if err != nil {
		e.t.Fatal(err)
	}
	e.deliverPush(repo, tag)
	return digest
}

// sqsDelivery is the DetailType of a sandbox.Delivery of an SQS batch: onpush's verification checks.
const sqsDelivery = "SQS"

// deliverPush delivers the queued events of a push of repo:tag (and the verification checks due); onpush must
// take the push in one attempt, and no invocation may fail.
func (e *env) deliverPush(repo, tag string) []sandbox.Delivery {
	e.t.Helper()
	ds, err := e.sb.Deliver(context.Background())
	if err != nil {
		e.t.Fatalf("deliver: %v", err)
	}
	onpush := 0
	for _, d := range ds {
		if d.Err != nil {
			e.t.Fatalf("%s failed on %s after %d attempts: %v", d.Function, d.DetailType, d.Attempts, d.Err)
		}
		if d.Function == "onpush" && d.DetailType != sqsDelivery {
			onpush++
		}
	}
	if onpush != 1 {
		e.t.Fatalf("push %s:%s: %d onpush deliveries, want 1", repo, tag, onpush)
	}
	if err := e.sb.UnexpectedDenials(); err != nil {
		e.t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	return ds
}

func (e *env) image(ref kube.WorkloadRef) (string, map[string]string) {
	e.t.Helper()
	w, err := e.admin.GetWorkload(context.Background(), ref)
	if err != nil {
		e.t.Fatal(err)
	}
	img, _, _ := w.ContainerImage("app")
	if side, _, _ := w.ContainerImage("otel"); side != sidecar {
		e.t.Errorf("%s: sidecar runs %s, want it untouched", ref, side)
	}
	return img, w.Annotations()
}

// waitRolledOut waits until the workload's rollout status is Done (for a CronJob after a Job of its template
// ran) and every Pod of it runs image.
func (e *env) waitRolledOut(ref kube.WorkloadRef, image string) {
	e.t.Helper()
	ctx := context.Background()
	if ref.Kind == kube.KindCronJob {
		if _, err := cluster.Kube.CreateJobFromCronJob(ctx, ns, ref.Name); err != nil {
			e.t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		w, err := e.admin.GetWorkload(ctx, ref)
		if err != nil {
			e.t.Fatal(err)
		}
		st, err := w.Status(ctx, e.admin)
		if err != nil {
			e.t.Fatal(err)
		}
		if st.Failed {
			e.t.Fatalf("%s: rollout failed: %+v", ref, st)
		}
		if st.Done && e.runs(ref, image) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not rolled out to %s: %+v", ref, image, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runs reports whether the workload's Pods run image: a CronJob's template does (its Status is Done once the
// newest Job of the current template started cleanly; the Pods of an earlier Job, such as a crashing one rolled
// back, are the Job controller's to end), and every Pod of another kind does.
func (e *env) runs(ref kube.WorkloadRef, image string) bool {
	e.t.Helper()
	if ref.Kind == kube.KindCronJob {
		img, _ := e.image(ref)
		return img == image
	}
	return e.podsRun(ref.Name, image)
}

// podsRun reports whether Pods labelled app=name exist and all that are not finished run image in container app.
func (e *env) podsRun(name, image string) bool {
	e.t.Helper()
	var pods struct{ Items []kube.Pod }
	if err := json.Unmarshal(e.request(http.MethodGet, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app%3D"+name, nil), &pods); err != nil {
		e.t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			continue
		}
		for _, c := range p.Spec.Containers {
			if c.Name == "app" && c.Image != image {
				return false
			}
		}
		running++
	}
	return running > 0
}

// TestRollEveryKind: for each kind, a push of a newer version rolls the workload's app container to the pushed
// digest through the compiled onpush (with the deployer group's RBAC) and its Pods really change; an older
// version does not move it (forward only); a held workload is not moved; a DeploymentPatched audit event names
// the kind. The same holds for a workload of that kind opting in by annotation.
func TestRollEveryKind(t *testing.T) {
	e := start(t)
	for _, kind := range kube.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			e.t = t
			repo := repos[kind]
			registry := e.sb.Registry + "/" + repo
			rule := e.create(kind, names[kind], registry+":v1.0.0", nil)
			optIn := e.create(kind, names[kind]+"-optin", registry+":v1.0.0", map[string]string{kube.AnnotationTrack: repo + ":v{semver}"})
			e.waitRolledOut(rule, registry+":v1.0.0")

			e.push(repo, "v1.0.0")
			for _, ref := range []kube.WorkloadRef{rule, optIn} {
				if img, _ := e.image(ref); img != registry+":v1.0.0" {
					t.Fatalf("%s: the push of the running v1.0.0 set %s", ref, img)
				}
			}

			d110 := e.push(repo, "v1.1.0")
			for _, ref := range []kube.WorkloadRef{rule, optIn} {
				img, ann := e.image(ref)
				if img != registry+"@"+d110 || ann[kube.AnnotationTag] != "v1.1.0" || ann[kube.AnnotationPreviousImage] != registry+":v1.0.0" {
					t.Fatalf("%s after v1.1.0: image %s, annotations %v; want %s@%s with tag and previous image", ref, img, ann, registry, d110)
				}
			}
			e.waitRolledOut(rule, registry+"@"+d110)

			e.push(repo, "v1.0.5")
			if img, _ := e.image(rule); img != registry+"@"+d110 {
				t.Fatalf("%s: v1.0.5 moved it to %s; forward only", rule, img)
			}

			e.request(http.MethodPatch, rule.Path(), map[string]any{"metadata": map[string]any{"annotations": map[string]any{rollout.AnnotationHold: "test: held"}}})
			d120 := e.push(repo, "v1.2.0")
			if img, _ := e.image(rule); img != registry+"@"+d110 {
				t.Fatalf("%s: held, but v1.2.0 moved it to %s", rule, img)
			}
			if img, _ := e.image(optIn); img != registry+"@"+d120 {
				t.Fatalf("%s: the opt-in runs %s, want v1.2.0 (%s)", optIn, img, d120)
			}

			var patched []string
			for _, raw := range e.sb.Suite.EventBridge.Events(e.sb.EventBus) {
				var ev struct {
					DetailType string            `json:"detail-type"`
					Detail     map[string]string `json:"detail"`
				}
				if json.Unmarshal(raw, &ev) == nil && ev.DetailType == audit.DeploymentPatched && ev.Detail["repository"] == repo {
					patched = append(patched, fmt.Sprintf("%s %s %s", ev.Detail["kind"], ev.Detail["deployment"], ev.Detail["tag"]))
				}
			}
			want := fmt.Sprintf("[%[1]s %[2]s v1.1.0 %[1]s %[2]s-optin v1.1.0 %[1]s %[2]s-optin v1.2.0]", kind, names[kind])
			if got := fmt.Sprint(patched); got != want {
				t.Errorf("DeploymentPatched events %s, want %s", got, want)
			}
		})
	}
}
