package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// Names from the module's ecrwarden.yaml, which the sandbox loads by default.
const (
	apiRepo    = "mlops/retail-api"
	deployment = "retail-forecast-api"
)

type deploymentState struct {
	Metadata struct {
		Generation int64 `json:"generation"`
	} `json:"metadata"`
	Spec struct {
		Replicas int `json:"replicas"`
		Template struct {
			Spec struct {
				Containers []struct{ Name, Image string } `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration"`
		Replicas           int   `json:"replicas"`
		UpdatedReplicas    int   `json:"updatedReplicas"`
		AvailableReplicas  int   `json:"availableReplicas"`
		Conditions         []struct {
			Type, Status, Reason string
		} `json:"conditions"`
	} `json:"status"`
}

func (d deploymentState) progressing() string {
	for _, c := range d.Status.Conditions {
		if c.Type == "Progressing" {
			return c.Reason
		}
	}
	return ""
}

// TestFunctionsRolloutsReallyHappen drives the compiled functions against a cluster with
// controllers: a clean push is rolled out by onscan and the Deployment's Pods really run
// the new digest; a push whose image crashes (marked in kwok) is rolled out too, and the
// cluster shows what a verifier will have to notice: a crash-looping Pod and a rollout
// that exceeds its progress deadline while the old Pods keep serving.
func TestFunctionsRolloutsReallyHappen(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	ctx := context.Background()
	logs := &sandbox.LogBuffer{}
	sb, err := sandbox.Start(ctx, sandbox.Options{Cluster: cluster, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
		sb.Close()
	}()
	k := cluster.Kube
	deliver := func() {
		t.Helper()
		ds, err := sb.Deliver(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Err != nil {
				t.Fatalf("%s failed on %s: %v", d.Function, d.DetailType, d.Err)
			}
		}
	}
	path := "/apis/apps/v1/namespaces/default/deployments/" + deployment
	get := func() deploymentState {
		t.Helper()
		code, b, err := k.Request(ctx, k.Admin, http.MethodGet, path, "", nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("get deployment: %d %s %v", code, b, err)
		}
		var d deploymentState
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitFor := func(what string, done func(d deploymentState) bool) deploymentState {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			d := get()
			if d.Status.ObservedGeneration >= d.Metadata.Generation && done(d) {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute: %+v", what, d.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rolledOut := func(d deploymentState) bool {
		return d.progressing() == "NewReplicaSetAvailable" && d.Status.UpdatedReplicas == d.Spec.Replicas &&
			d.Status.Replicas == d.Spec.Replicas && d.Status.AvailableReplicas == d.Spec.Replicas
	}
	apiImage := func(d deploymentState) string {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "api" {
				return c.Image
			}
		}
		return ""
	}

	if _, err := sb.Push(ctx, apiRepo, "latest"); err != nil {
		t.Fatal(err)
	}
	deliver()
	obj, _ := json.Marshal(map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": deployment},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"matchLabels": map[string]any{"app": deployment}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": deployment}},
				"spec": map[string]any{"containers": []map[string]any{
					{"name": "api", "image": sb.Registry + "/" + apiRepo + ":latest"},
					{"name": "otel", "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"},
				}},
			},
		},
	})
	if code, b, err := k.Request(ctx, k.Admin, http.MethodPost, "/apis/apps/v1/namespaces/default/deployments", "application/json", obj); err != nil || code != http.StatusCreated {
		t.Fatalf("create deployment: %d %s %v", code, b, err)
	}
	defer k.Request(context.WithoutCancel(ctx), k.Admin, http.MethodDelete, path, "", nil)
	waitFor("initial rollout", rolledOut)

	good, err := sb.Push(ctx, apiRepo, "v1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	deliver()
	want := sb.Registry + "/" + apiRepo + "@" + good
	waitFor("rollout of v1.2.0", func(d deploymentState) bool { return apiImage(d) == want && rolledOut(d) })
	if ids := runningImageIDs(t, k); ids[want] != 2 || len(ids) != 1 {
		t.Errorf("ready pods by api imageID %v, want 2 on %s", ids, want)
	}

	// The next rollout must fail fast in the cluster: a short progress deadline.
	patch := []byte(`{"spec":{"progressDeadlineSeconds":3}}`)
	if code, b, err := k.Request(ctx, k.Admin, http.MethodPatch, path, "application/strategic-merge-patch+json", patch); err != nil || code != http.StatusOK {
		t.Fatalf("patch deployment: %d %s %v", code, b, err)
	}
	manifest, bad := sb.NewManifest()
	if err := k.SetImageFaults(ctx, map[string]testenv.ImageFault{bad: testenv.ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	if err := sb.PutImage(ctx, apiRepo, "v1.3.0", manifest); err != nil {
		t.Fatal(err)
	}
	deliver()
	badRef := sb.Registry + "/" + apiRepo + "@" + bad
	d := waitFor("v1.3.0 exceeds its progress deadline", func(d deploymentState) bool {
		return apiImage(d) == badRef && d.progressing() == "ProgressDeadlineExceeded"
	})
	if d.Status.AvailableReplicas != 2 {
		t.Errorf("available replicas %d, want the two v1.2.0 pods", d.Status.AvailableReplicas)
	}
	if ids := runningImageIDs(t, k); ids[want] != 2 {
		t.Errorf("ready pods by api imageID %v, want the 2 of v1.2.0 still serving", ids)
	}
	if got := crashLooping(t, k); !strings.HasSuffix(got, bad) {
		t.Errorf("crash-looping pod runs %q, want the v1.3.0 digest %s", got, bad)
	}
}

type podList struct {
	Items []struct {
		Status struct {
			Phase             string `json:"phase"`
			ContainerStatuses []struct {
				Name    string `json:"name"`
				ImageID string `json:"imageID"`
				Ready   bool   `json:"ready"`
				State   struct {
					Waiting *struct{ Reason string } `json:"waiting"`
				} `json:"state"`
			} `json:"containerStatuses"`
		} `json:"status"`
	} `json:"items"`
}

func listPods(t *testing.T, k *testenv.Kube) podList {
	t.Helper()
	code, b, err := k.Request(context.Background(), k.Admin, http.MethodGet, "/api/v1/namespaces/default/pods?labelSelector=app%3D"+deployment, "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("list pods: %d %s %v", code, b, err)
	}
	var l podList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// runningImageIDs counts the ready api containers by imageID.
func runningImageIDs(t *testing.T, k *testenv.Kube) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, p := range listPods(t, k).Items {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "api" && c.Ready && p.Status.Phase == "Running" {
				out[c.ImageID]++
			}
		}
	}
	return out
}

// crashLooping returns the imageID of the api container in CrashLoopBackOff.
func crashLooping(t *testing.T, k *testenv.Kube) string {
	t.Helper()
	var found []string
	for _, p := range listPods(t, k).Items {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "api" && c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff" {
				found = append(found, c.ImageID)
			}
		}
	}
	if len(found) != 1 {
		return fmt.Sprint(found)
	}
	return found[0]
}
