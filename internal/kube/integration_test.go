package kube

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// kube is the package's shared control plane; nil with -short. cluster is the same control plane with the EKS
// token authenticator in front of it (the sandbox's), so EKS tokens are checked for real.
var (
	kube    *testenv.Kube
	cluster *sandbox.Cluster
)

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, "retail-forecast", func(c *sandbox.Cluster) { cluster, kube = c, c.Kube }))
}

// requireKube skips t without a control plane and returns it.
func requireKube(t *testing.T) *testenv.Kube {
	t.Helper()
	testenv.RequireControlPlane(t, kube != nil)
	return kube
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

func adminCreate(t *testing.T, k *testenv.Kube, path string, obj any) {
	t.Helper()
	adminDo(t, k, http.MethodPost, path, "application/json", obj)
}

func ensureNamespace(t *testing.T, k *testenv.Kube, ns string) {
	t.Helper()
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodPost, "/api/v1/namespaces", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`))
	if err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
		t.Fatalf("create namespace %s: %d %s %v", ns, code, out, err)
	}
}

func limitedClient(t *testing.T, k *testenv.Kube) *Client {
	t.Helper()
	c, err := New(Config{Host: k.Limited.Host, CAData: k.Limited.CAData, Token: StaticToken(k.Limited.Token)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func deploymentObject(name string, annotations map[string]string, containers, initContainers []any) map[string]any {
	labels := map[string]any{"app": name}
	spec := map[string]any{"containers": containers}
	if initContainers != nil {
		spec["initContainers"] = initContainers
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "annotations": annotations},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels}, "spec": spec},
		},
	}
}

func named(name, image string) map[string]any { return map[string]any{"name": name, "image": image} }

func TestIntegrationRollout(t *testing.T) {
	k := requireKube(t)
	ctx := context.Background()
	ns := k.Namespace
	c := limitedClient(t, k)
	adminCreate(t, k, "/apis/apps/v1/namespaces/"+ns+"/deployments", deploymentObject("rollout-web", nil,
		[]any{named("api", ecr+"/mlops/retail-api:v1.0.0"), named("sidecar", "envoyproxy/envoy:v1.30.1")},
		[]any{named("migrate", ecr+"/mlops/retail-api:v1.0.0")}))

	t.Run("set image patches only the named container", func(t *testing.T) {
		before, err := c.GetDeployment(ctx, ns, "rollout-web")
		if err != nil {
			t.Fatalf("GetDeployment: %v", err)
		}
		image := ecr + "/mlops/retail-api:v1.1.0@" + digestA
		ann := map[string]string{AnnotationChangeCause: "ecrwarden: v1.1.0@" + digestA, AnnotationPreviousImage: ecr + "/mlops/retail-api:v1.0.0"}
		got, err := c.SetImage(ctx, ns, "rollout-web", "api", image, ann, before.Metadata.ResourceVersion)
		if err != nil {
			t.Fatalf("SetImage: %v", err)
		}
		want := PodSpec{
			Containers:     []Container{{Name: "api", Image: image}, {Name: "sidecar", Image: "envoyproxy/envoy:v1.30.1"}},
			InitContainers: []Container{{Name: "migrate", Image: ecr + "/mlops/retail-api:v1.0.0"}},
		}
		if diff := cmp.Diff(want, got.Spec.Template.Spec); diff != "" {
			t.Errorf("pod spec after SetImage (-want +got):\n%s", diff)
		}
		if got.Metadata.Generation != before.Metadata.Generation+1 {
			t.Errorf("generation %d → %d, want one rollout", before.Metadata.Generation, got.Metadata.Generation)
		}
		for k, v := range ann {
			if got.Metadata.Annotations[k] != v {
				t.Errorf("annotation %s = %q, want %q", k, got.Metadata.Annotations[k], v)
			}
		}
	})

	t.Run("set image of an init container", func(t *testing.T) {
		got, err := c.SetImage(ctx, ns, "rollout-web", "migrate", ecr+"/mlops/retail-api:v1.1.0", nil, "")
		if err != nil {
			t.Fatalf("SetImage: %v", err)
		}
		if img, init, _ := got.ContainerImage("migrate"); !init || img != ecr+"/mlops/retail-api:v1.1.0" {
			t.Errorf("migrate = %q (init %v), want the new image in initContainers", img, init)
		}
		if len(got.Spec.Template.Spec.Containers) != 2 {
			t.Errorf("containers = %+v, want the two untouched", got.Spec.Template.Spec.Containers)
		}
	})

	t.Run("stale resourceVersion conflicts", func(t *testing.T) {
		_, err := c.SetImage(ctx, ns, "rollout-web", "api", ecr+"/mlops/retail-api:v9", nil, "1")
		if !IsConflict(err) {
			t.Fatalf("got %v, want a 409 conflict", err)
		}
	})

	t.Run("update image retries a real conflict", func(t *testing.T) {
		calls := 0
		res, err := c.UpdateImage(ctx, ns, "rollout-web", "api", func(d *Deployment) (string, map[string]string, bool, error) {
			calls++
			if calls == 1 {
				// Another writer changes the Deployment between our GET and PATCH.
				adminDo(t, k, http.MethodPatch, "/apis/apps/v1/namespaces/"+ns+"/deployments/rollout-web", "application/merge-patch+json",
					map[string]any{"metadata": map[string]any{"labels": map[string]any{"touched": "yes"}}})
			}
			return ecr + "/mlops/retail-api:v1.2.0", map[string]string{AnnotationEventID: "evt-42"}, false, nil
		})
		if err != nil {
			t.Fatalf("UpdateImage: %v", err)
		}
		if res.Attempts != 2 || calls != 2 || !res.Patched {
			t.Errorf("result %+v after %d decide calls, want patched on the second attempt", res, calls)
		}
		meta := res.Workload.Meta()
		if got := meta.Annotations; got[AnnotationPreviousImage] != ecr+"/mlops/retail-api:v1.1.0@"+digestA || got[AnnotationEventID] != "evt-42" {
			t.Errorf("annotations = %v, want the previous image and the event id", got)
		}
		if meta.Labels["touched"] != "yes" {
			t.Errorf("labels = %v, want the other writer's change kept", meta.Labels)
		}
	})

	t.Run("already at the image is left alone", func(t *testing.T) {
		before, err := c.GetDeployment(ctx, ns, "rollout-web")
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.UpdateImage(ctx, ns, "rollout-web", "api", func(*Deployment) (string, map[string]string, bool, error) {
			return ecr + "/mlops/retail-api:v1.2.0", nil, false, nil
		})
		if err != nil || res.Patched {
			t.Fatalf("UpdateImage: %+v, %v; want no patch", res, err)
		}
		after, err := c.GetDeployment(ctx, ns, "rollout-web")
		if err != nil {
			t.Fatal(err)
		}
		if after.Metadata.ResourceVersion != before.Metadata.ResourceVersion {
			t.Errorf("resourceVersion %s → %s, want unchanged", before.Metadata.ResourceVersion, after.Metadata.ResourceVersion)
		}
	})

	t.Run("another namespace is forbidden", func(t *testing.T) {
		ensureNamespace(t, k, "kube-it-other")
		adminCreate(t, k, "/apis/apps/v1/namespaces/kube-it-other/deployments", deploymentObject("web", nil, []any{named("api", "nginx:1.25")}, nil))
		_, err := c.UpdateImage(ctx, "kube-it-other", "web", "api", func(*Deployment) (string, map[string]string, bool, error) {
			return "nginx:1.27", nil, false, nil
		})
		if !IsForbidden(err) || !strings.Contains(err.Error(), "kube-it-other/web") {
			t.Fatalf("got %v, want a 403 naming the deployment", err)
		}
	})
}

func TestIntegrationImagesInUse(t *testing.T) {
	k := requireKube(t)
	ctx := context.Background()
	ns := k.Namespace
	c := limitedClient(t, k)
	api, apps, batch := "/api/v1/namespaces/"+ns, "/apis/apps/v1/namespaces/"+ns, "/apis/batch/v1/namespaces/"+ns
	labels := func(app string) (map[string]any, map[string]any) {
		l := map[string]any{"app": app}
		return map[string]any{"matchLabels": l}, map[string]any{"labels": l}
	}

	adminCreate(t, k, api+"/pods", map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "inuse-pod"},
		"spec": map[string]any{
			"containers":     []any{named("app", ecr+"/inuse/app:v1")},
			"initContainers": []any{named("init", ecr+"/inuse/init@"+digestC)},
		},
	})
	// No kubelet runs: write the status a node would report, with the digest it resolved the tag to.
	adminDo(t, k, http.MethodPatch, api+"/pods/inuse-pod/status", "application/merge-patch+json", map[string]any{"status": map[string]any{
		"phase": "Running",
		"containerStatuses": []any{map[string]any{"name": "app", "ready": true, "restartCount": 0, "image": ecr + "/inuse/app:v1",
			"imageID": ecr + "/inuse/app@" + digestB, "state": map[string]any{"running": map[string]any{}}}},
	}})
	for _, rs := range []struct {
		name, image       string
		spec, statusCount int
	}{{"inuse-rs-live", ecr + "/inuse/app:v2", 1, 0}, {"inuse-rs-draining", ecr + "/inuse/app:v3", 0, 1}, {"inuse-rs-dead", ecr + "/inuse/app:v0", 0, 0}} {
		sel, md := labels(rs.name)
		adminCreate(t, k, apps+"/replicasets", map[string]any{
			"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": rs.name},
			"spec": map[string]any{"replicas": rs.spec, "selector": sel, "template": map[string]any{"metadata": md, "spec": map[string]any{"containers": []any{named("app", rs.image)}}}},
		})
		if rs.statusCount > 0 {
			adminDo(t, k, http.MethodPatch, apps+"/replicasets/"+rs.name+"/status", "application/merge-patch+json",
				map[string]any{"status": map[string]any{"replicas": rs.statusCount}})
		}
	}
	sel, md := labels("inuse-sts")
	adminCreate(t, k, apps+"/statefulsets", map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "inuse-sts"},
		"spec": map[string]any{"serviceName": "db", "selector": sel, "template": map[string]any{"metadata": md, "spec": map[string]any{"containers": []any{named("db", "postgres:16")}}}}})
	sel, md = labels("inuse-ds")
	adminCreate(t, k, apps+"/daemonsets", map[string]any{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": map[string]any{"name": "inuse-ds"},
		"spec": map[string]any{"selector": sel, "template": map[string]any{"metadata": md, "spec": map[string]any{"containers": []any{named("agent", ecr+"/inuse/agent:v5@"+digestD)}}}}})
	adminCreate(t, k, batch+"/jobs", map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": "inuse-job"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never", "containers": []any{named("run", ecr+"/inuse/job:exp-1")}}}}})
	adminCreate(t, k, batch+"/cronjobs", map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "inuse-cron"},
		"spec": map[string]any{"schedule": "0 3 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"restartPolicy": "OnFailure", "containers": []any{named("run", ecr+"/inuse/job")}}}}}}})
	adminCreate(t, k, apps+"/deployments", deploymentObject("inuse-deploy", map[string]string{AnnotationTrack: "inuse/app:v{semver}"},
		[]any{named("app", ecr+"/inuse/app:v4")}, nil))

	got, err := c.ListImagesInUse(ctx)
	if err != nil {
		t.Fatalf("ListImagesInUse as the limited user: %v", err)
	}
	tests := []struct {
		repository  string
		wantDigests map[string]struct{}
		wantTags    map[string]struct{}
	}{
		{"inuse/app", set(digestB), set("v1", "v2", "v3", "v4")},
		{"inuse/init", set(digestC), set()},
		{"inuse/agent", set(digestD), set("v5")},
		{"inuse/job", set(), set("exp-1", "latest")},
	}
	for _, tt := range tests {
		t.Run(tt.repository, func(t *testing.T) {
			digests, tags := got.ForRepository(ecr, tt.repository)
			if diff := cmp.Diff(tt.wantDigests, digests); diff != "" {
				t.Errorf("digests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantTags, tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
	if digests, tags := got.ForRepository("docker.io", "library/postgres"); len(tags) != 1 || len(digests) != 0 {
		t.Errorf("postgres: digests %v tags %v, want tag 16", digests, tags)
	}

	tracked, err := c.ListTrackedWorkloads(ctx, []string{ns})
	if err != nil {
		t.Fatalf("ListTrackedWorkloads: %v", err)
	}
	if len(tracked) != 1 || tracked[0].Meta().Name != "inuse-deploy" {
		t.Errorf("tracked = %+v, want inuse-deploy only", tracked)
	}

	// A namespace the policy does not name cannot hide an image: gc's reader lists every namespace, and matches
	// the registry through its dual-stack host.
	ensureNamespace(t, k, "inuse-elsewhere")
	adminCreate(t, k, "/api/v1/namespaces/inuse-elsewhere/pods", map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "hidden"},
		"spec": map[string]any{"containers": []any{named("app", "123456789012.dkr-ecr.us-east-1.on.aws/inuse/hidden@"+digestA)}},
	})
	got, err = c.ListImagesInUse(ctx)
	if err != nil {
		t.Fatalf("ListImagesInUse: %v", err)
	}
	if digests, _ := got.ForRepository(ecr, "inuse/hidden"); !contains(digests, digestA) {
		t.Errorf("the Pod in namespace inuse-elsewhere is not in use: %v", digests)
	}
	// Its rights stop at reading: it cannot read the Pod itself, nor a namespace the policy does not name.
	if err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/inuse-elsewhere/pods/hidden", nil, "", nil, nil); !IsForbidden(err) {
		t.Errorf("get a Pod outside its namespaces: %v, want 403", err)
	}
	if _, err := c.ListTrackedWorkloads(ctx, []string{"inuse-elsewhere"}); !IsForbidden(err) {
		t.Errorf("ListTrackedWorkloads outside the policy's namespaces: %v, want 403", err)
	}
}

// TestIntegrationMissingNamespace: a policy namespace that does not exist is an error, not an empty list, for
// opt-in discovery and for a rollout's Deployment.
func TestIntegrationMissingNamespace(t *testing.T) {
	k := requireKube(t)
	admin, err := New(Config{Host: k.Admin.Host, CAData: k.Admin.CAData, Token: StaticToken(k.Admin.Token)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.ListTrackedWorkloads(ctx, []string{k.Namespace, "defualt"}); !errors.Is(err, ErrNamespaceNotFound) {
		t.Errorf("ListTrackedWorkloads with a misspelt namespace: %v, want ErrNamespaceNotFound", err)
	}
	if _, err := admin.GetDeployment(ctx, "defualt", "retail-forecast-api"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Errorf("GetDeployment in a misspelt namespace: %v, want ErrNamespaceNotFound", err)
	}
	if err := limitedClient(t, k).RequireNamespaces(ctx, []string{k.Namespace}); err != nil {
		t.Errorf("the limited user cannot check its own namespace: %v", err)
	}
}
