package kube

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	ecr     = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestC = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	digestD = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
)

func meta(ns, name string) map[string]any { return map[string]any{"namespace": ns, "name": name} }

func containers(images ...string) []any {
	var out []any
	for i, img := range images {
		out = append(out, map[string]any{"name": "c" + string(rune('0'+i)), "image": img})
	}
	return out
}

func template(spec map[string]any) map[string]any { return map[string]any{"spec": spec} }

// seedCluster fills f with one object of every kind the in-use scan reads.
func seedCluster(f *fakeAPI) {
	f.addDeployment("shop", "web", []Container{{Name: "api", Image: ecr + "/mlops/retail-api:v1.2.0"}}, []Container{{Name: "migrate", Image: ecr + "/mlops/retail-api@" + digestA}})
	f.addObject("pods", map[string]any{
		"metadata": meta("shop", "web-abc"),
		"spec": map[string]any{
			"containers":          containers(ecr + "/mlops/retail-api:v1.2.0"),
			"initContainers":      containers("busybox:1.36"),
			"ephemeralContainers": containers(ecr + "/debug/tools:dev-latest"),
		},
		"status": map[string]any{
			"containerStatuses": []any{map[string]any{"name": "c0", "image": ecr + "/mlops/retail-api:v1.2.0", "imageID": ecr + "/mlops/retail-api@" + digestB}},
			"initContainerStatuses": []any{
				map[string]any{"name": "c0", "image": "docker.io/library/busybox:1.36", "imageID": "docker-pullable://docker.io/library/busybox@" + digestC},
			},
			"ephemeralContainerStatuses": []any{map[string]any{"name": "c0", "image": "sha256:" + strings.Repeat("e", 64), "imageID": "sha256:" + strings.Repeat("e", 64)}},
		},
	})
	f.addObject("pods", map[string]any{"metadata": meta("ml", "train-1"), "spec": map[string]any{"containers": containers(ecr + "/mlops/train-model:exp-7")}})
	f.addObject("replicasets", map[string]any{"metadata": meta("shop", "web-old"), "spec": map[string]any{"replicas": 0, "template": template(map[string]any{"containers": containers(ecr + "/mlops/retail-api:v1.0.0")})}, "status": map[string]any{"replicas": 0}})
	f.addObject("replicasets", map[string]any{"metadata": meta("shop", "web-draining"), "spec": map[string]any{"replicas": 0, "template": template(map[string]any{"containers": containers(ecr + "/mlops/retail-api:v1.1.0")})}, "status": map[string]any{"replicas": 2}})
	f.addObject("replicasets", map[string]any{"metadata": meta("shop", "web-new"), "spec": map[string]any{"replicas": 3, "template": template(map[string]any{"containers": containers(ecr + "/mlops/retail-api:v1.2.0")})}, "status": map[string]any{"replicas": 3}})
	f.addObject("statefulsets", map[string]any{"metadata": meta("shop", "db"), "spec": map[string]any{"template": template(map[string]any{"containers": containers("postgres:16")})}})
	f.addObject("daemonsets", map[string]any{"metadata": meta("shop", "agent"), "spec": map[string]any{"template": template(map[string]any{"containers": containers(ecr + "/infra/agent:v3@" + digestD)})}})
	f.addObject("jobs", map[string]any{"metadata": meta("ml", "train-once"), "spec": map[string]any{"template": template(map[string]any{"containers": containers(ecr + "/mlops/train-model:exp-8")})}})
	f.addObject("cronjobs", map[string]any{"metadata": meta("ml", "nightly"), "spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": template(map[string]any{
		"containers": containers(ecr + "/mlops/train-model"), "initContainers": containers("localhost:5000/Bad/Name:1"),
	})}}}})
}

func TestListImagesInUse(t *testing.T) {
	f := newFakeAPI(t)
	f.pageSize = 1 // every list takes several pages
	seedCluster(f)
	c, _ := f.start(t)
	got, err := c.ListImagesInUse(context.Background())
	if err != nil {
		t.Fatalf("ListImagesInUse: %v", err)
	}

	var refs []string
	for _, img := range got.Images {
		refs = append(refs, img.Kind+" "+img.Namespace+"/"+img.Name+" "+img.Ref.String())
	}
	want := []string{
		"Pod shop/web-abc " + ecr + "/mlops/retail-api:v1.2.0",
		"Pod shop/web-abc docker.io/library/busybox:1.36",
		"Pod shop/web-abc " + ecr + "/debug/tools:dev-latest",
		"Pod shop/web-abc " + ecr + "/mlops/retail-api:v1.2.0",
		"Pod shop/web-abc " + ecr + "/mlops/retail-api@" + digestB,
		"Pod shop/web-abc docker.io/library/busybox:1.36",
		"Pod shop/web-abc docker.io/library/busybox@" + digestC,
		"Pod ml/train-1 " + ecr + "/mlops/train-model:exp-7",
		"Deployment shop/web " + ecr + "/mlops/retail-api:v1.2.0",
		"Deployment shop/web " + ecr + "/mlops/retail-api@" + digestA,
		"ReplicaSet shop/web-draining " + ecr + "/mlops/retail-api:v1.1.0",
		"ReplicaSet shop/web-new " + ecr + "/mlops/retail-api:v1.2.0",
		"StatefulSet shop/db docker.io/library/postgres:16",
		"DaemonSet shop/agent " + ecr + "/infra/agent:v3@" + digestD,
		"Job ml/train-once " + ecr + "/mlops/train-model:exp-8",
		"CronJob ml/nightly " + ecr + "/mlops/train-model",
	}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("images in use (-want +got):\n%s", diff)
	}
	if len(got.Invalid) != 1 || got.Invalid[0].Image != "localhost:5000/Bad/Name:1" || got.Invalid[0].Kind != "CronJob" {
		t.Errorf("invalid = %+v, want the CronJob's uppercase reference", got.Invalid)
	}

	tests := []struct {
		name        string
		repository  string
		wantDigests map[string]struct{}
		wantTags    map[string]struct{}
	}{
		{name: "retail-api", repository: "mlops/retail-api",
			wantDigests: set(digestA, digestB), wantTags: set("v1.2.0", "v1.1.0")},
		{name: "train-model with implicit latest", repository: "mlops/train-model",
			wantDigests: set(), wantTags: set("exp-7", "exp-8", "latest")},
		{name: "tag and digest", repository: "infra/agent", wantDigests: set(digestD), wantTags: set("v3")},
		{name: "unused", repository: "mlops/other", wantDigests: set(), wantTags: set()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digests, tags := got.ForRepository(ecr, tt.repository)
			if diff := cmp.Diff(tt.wantDigests, digests); diff != "" {
				t.Errorf("digests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantTags, tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
	if digests, _ := got.ForRepository("docker.io", "library/busybox"); len(digests) != 1 {
		t.Errorf("busybox digests = %v, want the one from the docker-pullable imageID", digests)
	}
}

func contains(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

func set(keys ...string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// TestListImagesInUseReadsEveryNamespace: one cluster-wide list per kind, so a workload in a namespace no policy
// names is seen.
func TestListImagesInUseReadsEveryNamespace(t *testing.T) {
	f := newFakeAPI(t)
	f.pageSize = 100
	seedCluster(f)
	f.addObject("pods", map[string]any{"metadata": meta("forgotten", "cron-x"), "spec": map[string]any{"containers": containers(ecr + "/mlops/retail-api@" + digestC)}})
	c, _ := f.start(t)
	got, err := c.ListImagesInUse(context.Background())
	if err != nil {
		t.Fatalf("ListImagesInUse: %v", err)
	}
	if len(got.Images) != 17 {
		t.Errorf("got %d images from all namespaces, want 17", len(got.Images))
	}
	if digests, _ := got.ForRepository(ecr, "mlops/retail-api"); !contains(digests, digestC) {
		t.Errorf("the Pod in namespace forgotten is not in use: digests %v", digests)
	}
	if n := len(f.requestLog()); n != len(inUseKinds) {
		t.Errorf("%d requests, want one list per kind (%d)", n, len(inUseKinds))
	}
	for _, r := range f.requestLog() {
		if strings.Contains(r, "/namespaces/") {
			t.Errorf("request %q is namespaced, want cluster-wide lists", r)
		}
	}
}

func TestListImagesInUseFailures(t *testing.T) {
	tests := []struct {
		name     string
		fail     func(r *http.Request) int
		pageSize int
		tamper   func(f *fakeAPI)
		want     []string
	}{
		{
			name: "forbidden kind",
			fail: func(r *http.Request) int {
				if strings.HasSuffix(r.URL.Path, "/cronjobs") {
					return http.StatusForbidden
				}
				return 0
			},
			want: []string{"cronjobs", "all namespaces", "403"},
		},
		{
			name: "server error on a later page",
			fail: func(r *http.Request) int {
				if strings.HasSuffix(r.URL.Path, "/replicasets") && r.URL.Query().Get("continue") == "page-2" {
					return http.StatusInternalServerError
				}
				return 0
			},
			pageSize: 1,
			want:     []string{"replicasets", "all namespaces", "page 3", "500"},
		},
		{
			name: "expired continue token",
			fail: func(r *http.Request) int {
				if strings.HasSuffix(r.URL.Path, "/pods") && r.URL.Query().Get("continue") != "" {
					return http.StatusGone
				}
				return 0
			},
			pageSize: 1,
			want:     []string{"pods", "all namespaces", "410"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			if tt.pageSize != 0 {
				f.pageSize = tt.pageSize
			}
			seedCluster(f)
			f.addObject("pods", map[string]any{"metadata": meta("shop", "extra"), "spec": map[string]any{"containers": containers("nginx")}})
			f.fail = tt.fail
			c, _ := f.start(t)
			got, err := c.ListImagesInUse(context.Background())
			if err == nil {
				t.Fatalf("ListImagesInUse succeeded with %d images, want an error", len(got.Images))
			}
			if len(got.Images) != 0 {
				t.Errorf("got %d images with the error, want none", len(got.Images))
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// repeatingList answers every list with one item and the same continue token.
type repeatingList struct{ calls int }

func (h *repeatingList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	writeJSON(w, map[string]any{"metadata": map[string]any{"continue": "same"}, "items": []any{map[string]any{"metadata": meta("shop", "x")}}})
}

func TestListRepeatedContinueToken(t *testing.T) {
	h := &repeatingList{}
	srv := httptestTLS(t, h)
	c, err := New(Config{Host: srv.URL, CAData: serverCA(srv), Token: StaticToken("t")})
	if err != nil {
		t.Fatal(err)
	}
	err = listAll(context.Background(), c, "deployments", "shop", func(*Deployment) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeated continue token") {
		t.Fatalf("got %v, want a repeated continue token error", err)
	}
	if h.calls != 2 {
		t.Errorf("made %d requests, want 2", h.calls)
	}
}

func TestListPagination(t *testing.T) {
	f := newFakeAPI(t)
	f.pageSize = 2
	for i := range 5 {
		f.addDeployment("shop", "d"+string(rune('0'+i)), []Container{{Name: "app", Image: "app:1"}}, nil)
	}
	c, _ := f.start(t)
	var names []string
	err := listAll(context.Background(), c, "deployments", "shop", func(d *Deployment) error {
		names = append(names, d.Metadata.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("listAll: %v", err)
	}
	if diff := cmp.Diff([]string{"d0", "d1", "d2", "d3", "d4"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if got := len(f.requestLog()); got != 3 {
		t.Errorf("made %d list requests, want 3 pages", got)
	}
}

func TestCanceledContext(t *testing.T) {
	f := newFakeAPI(t)
	seedCluster(f)
	c, _ := f.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListImagesInUse(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ListImagesInUse with a canceled context: got %v, want context.Canceled", err)
	}
	_, err := c.UpdateImage(ctx, "shop", "web", "api", func(*Deployment) (string, map[string]string, bool, error) {
		return "reg/api:v2", nil, false, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("UpdateImage with a canceled context: got %v, want context.Canceled", err)
	}
	if len(f.patches) != 0 {
		t.Errorf("sent %d patches, want none", len(f.patches))
	}
}
