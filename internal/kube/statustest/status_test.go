package statustest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// ecr is the registry host of the test images.
const ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// cluster is the package's control plane with controllers; nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTestsWith(m, "retail-forecast", sandbox.ClusterOptions{Controllers: &testenv.ControllerOptions{}},
		func(c *sandbox.Cluster) { cluster = c }))
}

func requireKube(t *testing.T) *testenv.Kube {
	t.Helper()
	testenv.RequireControlPlane(t, cluster != nil)
	return cluster.Kube
}

// adminDo sends one request as the admin user and fails t unless the status is 2xx.
func adminDo(t *testing.T, k *testenv.Kube, method, path, contentType string, obj any) []byte {
	t.Helper()
	var body []byte
	if obj != nil {
		var err error
		if body, err = json.Marshal(obj); err != nil {
			t.Fatalf("encode %s %s: %v", method, path, err)
		}
	}
	code, out, err := k.Request(context.Background(), k.Admin, method, path, contentType, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if code < 200 || code > 299 {
		t.Fatalf("%s %s: %d %s", method, path, code, out)
	}
	return out
}

func named(name, image string) map[string]any { return map[string]any{"name": name, "image": image} }

// The tests below run on the package's control plane with kube-controller-manager, kube-scheduler and kwok
// nodes (TestMain): every workload really rolls, and testenv.SetImageFaults makes the new Pods fail the way a
// bad image does. Each test works in its own namespace with images of its own.

// statusImage is a reference by digest for one test image.
func statusImage(repo, version string) string {
	return fmt.Sprintf("%s/%s@sha256:%x", ecr, repo, sha256.Sum256([]byte(repo+":"+version)))
}

// statusNamespace creates a namespace for one test and deletes it afterwards.
func statusNamespace(t *testing.T, k *testenv.Kube, name string) string {
	t.Helper()
	adminDo(t, k, http.MethodPost, "/api/v1/namespaces", "application/json", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}})
	t.Cleanup(func() {
		k.Request(context.Background(), k.Admin, http.MethodDelete, "/api/v1/namespaces/"+name, "", nil)
	})
	return name
}

func adminClient(t *testing.T, k *testenv.Kube) *kube.Client {
	t.Helper()
	c, err := kube.New(kube.Config{Host: k.Admin.Host, CAData: k.Admin.CAData, Token: kube.StaticToken(k.Admin.Token)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func podTemplateOf(name, image string, extra map[string]any) map[string]any {
	spec := map[string]any{
		"terminationGracePeriodSeconds": 0,
		"containers":                    []any{named("app", image), named("envoy", "envoyproxy/envoy:v1.30.1")},
	}
	for k, v := range extra {
		spec[k] = v
	}
	return map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}}, "spec": spec}
}

// createWorkload creates a workload of kind named name whose container app runs image, with spec fields added.
func createWorkload(t *testing.T, k *testenv.Kube, kind kube.Kind, ns, name, image string, spec map[string]any) kube.WorkloadRef {
	t.Helper()
	apiVersion := kind.APIVersion()
	body := map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": name}}, "template": podTemplateOf(name, image, nil)}
	if kind == kube.KindCronJob {
		body = map[string]any{
			"schedule": "0 2 * * *",
			"jobTemplate": map[string]any{"spec": map[string]any{
				"backoffLimit": 0,
				"template":     podTemplateOf(name, image, map[string]any{"restartPolicy": "OnFailure"}),
			}},
		}
	}
	if kind == kube.KindStatefulSet {
		body["serviceName"] = name
	}
	for k, v := range spec {
		body[k] = v
	}
	group := "/apis/"
	if apiVersion == "v1" {
		group = "/api/"
	}
	adminDo(t, k, http.MethodPost, group+apiVersion+"/namespaces/"+ns+"/"+kind.Resource(), "application/json", map[string]any{
		"apiVersion": apiVersion, "kind": string(kind), "metadata": map[string]any{"name": name}, "spec": body,
	})
	return kube.WorkloadRef{Kind: kind, Namespace: ns, Name: name}
}

// waitStatus reads the workload and its rollout status every 100 ms until until accepts it, failing t with the
// last status after two minutes (a generous bound on a loaded machine; the rollouts take seconds).
func waitStatus(t *testing.T, c *kube.Client, ref kube.WorkloadRef, what string, until func(kube.RolloutStatus) bool) kube.RolloutStatus {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	var st kube.RolloutStatus
	for {
		w, err := c.GetWorkload(ctx, ref)
		if err != nil {
			t.Fatalf("GetWorkload %s: %v", ref, err)
		}
		if st, err = w.Status(ctx, c); err != nil {
			t.Fatalf("Status %s: %v", ref, err)
		}
		if until(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: still %+v", ref, what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func done(st kube.RolloutStatus) bool   { return st.Done }
func failed(st kube.RolloutStatus) bool { return st.Failed }
func idle(st kube.RolloutStatus) bool   { return st.Idle }

// settled is true once the verdict is no longer "in progress".
func settled(st kube.RolloutStatus) bool { return st.Done || st.Failed || st.Idle }

func setApp(t *testing.T, c *kube.Client, ref kube.WorkloadRef, image string) {
	t.Helper()
	// UpdateWorkloadImage re-reads on a conflict: the controllers write the object too.
	_, err := c.UpdateWorkloadImage(context.Background(), ref, "app", func(*kube.Workload) (string, map[string]string, bool, error) {
		return image, map[string]string{kube.AnnotationChangeCause: "test"}, false, nil
	})
	if err != nil {
		t.Fatalf("UpdateWorkloadImage %s: %v", ref, err)
	}
}

// checkFailure asserts a failed status names the fault on container app (one of reasons), and carries Events of
// the Pod.
func checkFailure(t *testing.T, st kube.RolloutStatus, reasons ...string) {
	t.Helper()
	if !st.Failed || st.Done || st.Idle {
		t.Fatalf("status %+v, want Failed only", st)
	}
	var found *kube.PodProblem
	for i, p := range st.Pods {
		if p.Container == "app" && slices.Contains(reasons, p.Reason) {
			found = &st.Pods[i]
		}
		if p.Container == "envoy" {
			t.Errorf("problem %v on the sidecar, which runs", p)
		}
	}
	if found == nil {
		t.Fatalf("pods %+v, want container app with reason %v", st.Pods, reasons)
	}
	if !strings.Contains(st.Reason, found.Reason) {
		t.Errorf("reason %q does not name %s", st.Reason, found.Reason)
	}
	if len(st.Events) == 0 {
		t.Errorf("no events for the failing pod %s", found.Pod)
	}
}

// TestStatusPerKindAndFault rolls each kind to a good image (Done), then to an image marked with each fault
// (Failed, naming the fault, with the Pods' Events).
func TestStatusPerKindAndFault(t *testing.T) {
	k := requireKube(t)
	c := adminClient(t, k)
	// A pull failure fails the rollout at its first ErrImagePull, before kubelet backs off (ImagePullBackOff).
	faults := []struct {
		fault   testenv.ImageFault
		reasons []string
	}{
		{testenv.ImageCrashLoop, []string{"CrashLoopBackOff"}},
		{testenv.ImageOOMKilled, []string{"OOMKilled"}},
		{testenv.ImagePullError, []string{"ErrImagePull", "ImagePullBackOff"}},
		{testenv.ImageConfigError, []string{"CreateContainerConfigError"}},
	}
	for _, kind := range []kube.Kind{kube.KindDeployment, kube.KindStatefulSet, kube.KindDaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ns := statusNamespace(t, k, "status-"+strings.ToLower(string(kind)))
			repo := "mlops/status-" + strings.ToLower(string(kind))
			marks := map[string]testenv.ImageFault{}
			for _, f := range faults {
				marks[statusImage(repo, string(f.fault))] = f.fault
			}
			if err := k.SetImageFaults(context.Background(), marks); err != nil {
				t.Fatal(err)
			}
			spec := map[string]any{"replicas": 2}
			if kind == kube.KindDaemonSet {
				spec = nil
			}
			for _, f := range faults {
				t.Run(string(f.fault), func(t *testing.T) {
					name := "w-" + strings.ToLower(string(f.fault))
					ref := createWorkload(t, k, kind, ns, name, statusImage(repo, "v1"), spec)
					st := waitStatus(t, c, ref, "first rollout", settled)
					if !st.Done || st.Desired == 0 || st.Available != st.Desired {
						t.Fatalf("first rollout: %+v, want Done with every replica available", st)
					}
					setApp(t, c, ref, statusImage(repo, "v2"))
					if st = waitStatus(t, c, ref, "good rollout", settled); !st.Done {
						t.Fatalf("good rollout: %+v, want Done", st)
					}
					setApp(t, c, ref, statusImage(repo, string(f.fault)))
					st = waitStatus(t, c, ref, "rollout to "+string(f.fault), settled)
					checkFailure(t, st, f.reasons...)
				})
			}
		})
	}
}

// TestStatusDeploymentDeadlineAndEdges: an image that never becomes ready fails a Deployment by its progress
// deadline (the Pods say NotReady, not fatal by themselves); a paused Deployment is Idle; one scaled to zero is
// Done with a Reason that says nothing ran.
func TestStatusDeploymentDeadlineAndEdges(t *testing.T) {
	k := requireKube(t)
	t.Parallel()
	c := adminClient(t, k)
	ctx := context.Background()
	ns := statusNamespace(t, k, "status-edges")
	repo := "mlops/status-edges"
	if err := k.SetImageFaults(ctx, map[string]testenv.ImageFault{statusImage(repo, "never"): testenv.ImageNeverReady}); err != nil {
		t.Fatal(err)
	}

	t.Run("never ready", func(t *testing.T) {
		ref := createWorkload(t, k, kube.KindDeployment, ns, "never", statusImage(repo, "v1"), map[string]any{"replicas": 1, "progressDeadlineSeconds": 3})
		waitStatus(t, c, ref, "first rollout", done)
		setApp(t, c, ref, statusImage(repo, "never"))
		mid := waitStatus(t, c, ref, "pods not ready", func(st kube.RolloutStatus) bool { return len(st.Pods) > 0 || st.Failed })
		if mid.Failed && !strings.Contains(mid.Reason, "deadline") {
			t.Fatalf("before the deadline: %+v, want in progress with a NotReady pod", mid)
		}
		st := waitStatus(t, c, ref, "deadline", settled)
		if !st.Failed || !strings.Contains(st.Reason, "progress deadline exceeded") {
			t.Fatalf("status %+v, want Failed by the progress deadline", st)
		}
		if len(st.Pods) == 0 || st.Pods[0].Reason != "NotReady" || st.Pods[0].Fatal {
			t.Errorf("pods %+v, want a NotReady (not fatal) app container", st.Pods)
		}
	})

	t.Run("paused", func(t *testing.T) {
		ref := createWorkload(t, k, kube.KindDeployment, ns, "paused", statusImage(repo, "v1"), map[string]any{"replicas": 1})
		waitStatus(t, c, ref, "first rollout", done)
		adminDo(t, k, http.MethodPatch, ref.Path(), "application/merge-patch+json", map[string]any{"spec": map[string]any{"paused": true}})
		setApp(t, c, ref, statusImage(repo, "v2"))
		st := waitStatus(t, c, ref, "paused", settled)
		if !st.Idle || !strings.Contains(st.Reason, "paused") {
			t.Fatalf("status %+v, want Idle naming the pause", st)
		}
		adminDo(t, k, http.MethodPatch, ref.Path(), "application/merge-patch+json", map[string]any{"spec": map[string]any{"paused": false}})
		if st = waitStatus(t, c, ref, "resumed", done); st.Available != 1 {
			t.Errorf("resumed: %+v, want one available replica", st)
		}
	})

	t.Run("scaled to zero", func(t *testing.T) {
		ref := createWorkload(t, k, kube.KindDeployment, ns, "zero", statusImage(repo, "v1"), map[string]any{"replicas": 0})
		setApp(t, c, ref, statusImage(repo, "v2"))
		st := waitStatus(t, c, ref, "scaled to zero", settled)
		if !st.Done || !strings.Contains(st.Reason, "scaled to zero") || st.Desired != 0 {
			t.Fatalf("status %+v, want Done saying it is scaled to zero", st)
		}
	})
}

// TestStatusStatefulSetPartitionAndOnDelete: a partition leaves the Pods below it on the old template and the
// rollout is Done once those at or above it are updated; OnDelete is Idle until the Pods are deleted, and a
// deleted Pod that comes back with a bad image fails it.
func TestStatusStatefulSetPartitionAndOnDelete(t *testing.T) {
	k := requireKube(t)
	t.Parallel()
	c := adminClient(t, k)
	ctx := context.Background()
	ns := statusNamespace(t, k, "status-sts")
	repo := "mlops/status-sts"
	bad := statusImage(repo, "bad")
	if err := k.SetImageFaults(ctx, map[string]testenv.ImageFault{bad: testenv.ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}

	t.Run("partition", func(t *testing.T) {
		ref := createWorkload(t, k, kube.KindStatefulSet, ns, "part", statusImage(repo, "v1"), map[string]any{
			"replicas": 3, "updateStrategy": map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"partition": 2}},
		})
		waitStatus(t, c, ref, "first rollout", done)
		setApp(t, c, ref, statusImage(repo, "v2"))
		st := waitStatus(t, c, ref, "partitioned rollout", settled)
		if !st.Done || st.Updated != 1 || !strings.Contains(st.Reason, "partition") {
			t.Fatalf("status %+v, want Done with one Pod updated above the partition", st)
		}
	})

	t.Run("ondelete", func(t *testing.T) {
		ref := createWorkload(t, k, kube.KindStatefulSet, ns, "ondel", statusImage(repo, "v1"), map[string]any{
			"replicas": 2, "updateStrategy": map[string]any{"type": "OnDelete"},
		})
		waitStatus(t, c, ref, "first rollout", done)
		setApp(t, c, ref, bad)
		st := waitStatus(t, c, ref, "ondelete", settled)
		if !st.Idle || !strings.Contains(st.Reason, "OnDelete") || len(st.Pods) != 0 {
			t.Fatalf("status %+v, want Idle with no Pod of the new template", st)
		}
		adminDo(t, k, http.MethodDelete, "/api/v1/namespaces/"+ns+"/pods/ondel-1", "", nil)
		st = waitStatus(t, c, ref, "deleted pod runs the bad image", func(st kube.RolloutStatus) bool { return st.Failed })
		checkFailure(t, st, "CrashLoopBackOff")
	})
}

// TestStatusDaemonSetOnDelete: an OnDelete DaemonSet is Idle after the patch and Done once its Pods are replaced.
func TestStatusDaemonSetOnDelete(t *testing.T) {
	k := requireKube(t)
	t.Parallel()
	c := adminClient(t, k)
	ns := statusNamespace(t, k, "status-ds")
	repo := "mlops/status-ds"
	ref := createWorkload(t, k, kube.KindDaemonSet, ns, "agent", statusImage(repo, "v1"), map[string]any{"updateStrategy": map[string]any{"type": "OnDelete"}})
	waitStatus(t, c, ref, "first rollout", done)
	setApp(t, c, ref, statusImage(repo, "v2"))
	if st := waitStatus(t, c, ref, "ondelete", settled); !st.Idle {
		t.Fatalf("status %+v, want Idle", st)
	}
	adminDo(t, k, http.MethodDelete, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app%3Dagent", "", nil)
	if st := waitStatus(t, c, ref, "pods replaced", done); st.Updated != st.Desired {
		t.Fatalf("status %+v, want Done with every Pod updated", st)
	}
}

// TestStatusCronJob: the job template's rollout is Idle ("no job yet") until a Job of the new template runs;
// that Job's clean start or completion makes it Done, and a crashing image fails it. Jobs of the previous
// template do not count.
func TestStatusCronJob(t *testing.T) {
	k := requireKube(t)
	t.Parallel()
	c := adminClient(t, k)
	ctx := context.Background()
	ns := statusNamespace(t, k, "status-cronjob")
	repo := "mlops/status-train"
	bad := statusImage(repo, "bad")
	if err := k.SetImageFaults(ctx, map[string]testenv.ImageFault{bad: testenv.ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	ref := createWorkload(t, k, kube.KindCronJob, ns, "train", statusImage(repo, "v1"), nil)
	if st := waitStatus(t, c, ref, "no job yet", settled); !st.Idle || !strings.Contains(st.Reason, "no job yet") {
		t.Fatalf("before any job: %+v, want Idle, no job yet", st)
	}
	if _, err := k.CreateJobFromCronJob(ctx, ns, "train"); err != nil {
		t.Fatal(err)
	}
	if st := waitStatus(t, c, ref, "job of v1", settled); !st.Done {
		t.Fatalf("after a job of v1: %+v, want Done", st)
	}

	setApp(t, c, ref, statusImage(repo, "v2"))
	if st := waitStatus(t, c, ref, "v2 no job yet", settled); !st.Idle {
		t.Fatalf("after the patch to v2: %+v, want Idle: the v1 job does not count", st)
	}
	if err := k.TriggerCronJob(ctx, ns, "train", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := waitStatus(t, c, ref, "scheduled job of v2", settled); !st.Done || !strings.Contains(st.Reason, "job train-") {
		t.Fatalf("after the scheduled job of v2: %+v, want Done naming the job", st)
	}

	setApp(t, c, ref, bad)
	if _, err := k.CreateJobFromCronJob(ctx, ns, "train"); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, c, ref, "job of the bad image", settled)
	checkFailure(t, st, "CrashLoopBackOff")
}

// TestStatefulSetForcedRollback: a StatefulSet whose template is reverted from a crashing image stays stuck on the
// crashing Pod (kubernetes/kubernetes#67250: its controller waits for the Pod to become Ready first);
// DeleteStuckPods deletes exactly that Pod, and the StatefulSet rolls out the restored template.
func TestStatefulSetForcedRollback(t *testing.T) {
	k := requireKube(t)
	t.Parallel()
	c := adminClient(t, k)
	ctx := context.Background()
	ns := statusNamespace(t, k, "status-sts-rollback")
	repo := "mlops/status-sts-rollback"
	good, bad := statusImage(repo, "v1"), statusImage(repo, "bad")
	if err := k.SetImageFaults(ctx, map[string]testenv.ImageFault{bad: testenv.ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	ref := createWorkload(t, k, kube.KindStatefulSet, ns, "db", good, map[string]any{"replicas": 3})
	waitStatus(t, c, ref, "first rollout", done)
	setApp(t, c, ref, bad)
	checkFailure(t, waitStatus(t, c, ref, "bad rollout", failed), "CrashLoopBackOff")

	setApp(t, c, ref, good) // the rollback of the template
	w, err := c.GetWorkload(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if deleted, err := c.DeleteStuckPods(ctx, w, "app", good); err != nil || len(deleted) != 0 {
		t.Fatalf("DeleteStuckPods of the running image: %v %v, want nothing deleted", deleted, err)
	}
	// Stuck: the reverted template does not reach the crashing Pod by itself.
	time.Sleep(5 * time.Second)
	if st := waitStatus(t, c, ref, "reverted", func(kube.RolloutStatus) bool { return true }); st.Done {
		t.Fatalf("status %+v: the StatefulSet recovered by itself; the forced rollback is not needed", st)
	}
	deleted, err := c.DeleteStuckPods(ctx, w, "app", bad)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"db-2"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	waitStatus(t, c, ref, "restored after the forced rollback", done)
	again, err := c.DeleteStuckPods(ctx, w, "app", bad)
	if err != nil || len(again) != 0 {
		t.Errorf("a second DeleteStuckPods: %v %v, want nothing left to delete", again, err)
	}
}
