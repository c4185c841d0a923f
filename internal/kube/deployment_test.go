package kube

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetImagePatchBody(t *testing.T) {
	tests := []struct {
		name           string
		container      string
		wantBody       string
		wantContainers []Container
		wantInit       []Container
	}{
		{
			name:      "container",
			container: "api",
			wantBody: `{"metadata":{"resourceVersion":"1","annotations":{"ecrwarden.io/digest":"sha256:bb","kubernetes.io/change-cause":"ecrwarden: v1.2.0@sha256:bb"}},` +
				`"spec":{"template":{"spec":{"containers":[{"name":"api","image":"reg/api:v1.2.0@sha256:bb"}]}}}}`,
			wantContainers: []Container{{Name: "api", Image: "reg/api:v1.2.0@sha256:bb"}, {Name: "sidecar", Image: "reg/envoy:1.30"}},
			wantInit:       []Container{{Name: "migrate", Image: "reg/api:v1.1.0"}},
		},
		{
			name:      "init container",
			container: "migrate",
			wantBody: `{"metadata":{"resourceVersion":"1","annotations":{"ecrwarden.io/digest":"sha256:bb","kubernetes.io/change-cause":"ecrwarden: v1.2.0@sha256:bb"}},` +
				`"spec":{"template":{"spec":{"initContainers":[{"name":"migrate","image":"reg/api:v1.2.0@sha256:bb"}]}}}}`,
			wantContainers: []Container{{Name: "api", Image: "reg/api:v1.1.0"}, {Name: "sidecar", Image: "reg/envoy:1.30"}},
			wantInit:       []Container{{Name: "migrate", Image: "reg/api:v1.2.0@sha256:bb"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.addDeployment("shop", "web",
				[]Container{{Name: "api", Image: "reg/api:v1.1.0"}, {Name: "sidecar", Image: "reg/envoy:1.30"}},
				[]Container{{Name: "migrate", Image: "reg/api:v1.1.0"}})
			c, _ := f.start(t)
			ann := map[string]string{AnnotationChangeCause: "ecrwarden: v1.2.0@sha256:bb", AnnotationDigest: "sha256:bb"}
			got, err := c.SetImage(context.Background(), "shop", "web", tt.container, "reg/api:v1.2.0@sha256:bb", ann, "1")
			if err != nil {
				t.Fatalf("SetImage: %v", err)
			}
			if len(f.patches) != 1 {
				t.Fatalf("got %d patches, want 1", len(f.patches))
			}
			if diff := cmp.Diff(tt.wantBody, f.patches[0]); diff != "" {
				t.Errorf("patch body (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantContainers, got.Spec.Template.Spec.Containers); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantInit, got.Spec.Template.Spec.InitContainers); diff != "" {
				t.Errorf("init containers (-want +got):\n%s", diff)
			}
			if got.Metadata.Annotations[AnnotationDigest] != "sha256:bb" {
				t.Errorf("annotations = %v, want %s set", got.Metadata.Annotations, AnnotationDigest)
			}
		})
	}
}

func TestSetImageStaleResourceVersion(t *testing.T) {
	f := newFakeAPI(t)
	f.addDeployment("shop", "web", []Container{{Name: "api", Image: "reg/api:v1"}}, nil)
	c, _ := f.start(t)
	_, err := c.SetImage(context.Background(), "shop", "web", "api", "reg/api:v2", nil, "0")
	if !IsConflict(err) {
		t.Fatalf("SetImage with stale resourceVersion: got %v, want a conflict", err)
	}
	if !strings.Contains(err.Error(), "shop/web") || !strings.Contains(err.Error(), "409") {
		t.Errorf("error %q does not name the deployment and the status", err)
	}
}

func TestSetImageUnknownContainer(t *testing.T) {
	f := newFakeAPI(t)
	f.addDeployment("shop", "web", []Container{{Name: "api", Image: "reg/api:v1"}}, nil)
	c, _ := f.start(t)
	_, err := c.SetImage(context.Background(), "shop", "web", "worker", "reg/api:v2", nil, "")
	if !errors.Is(err, ErrContainerNotFound) {
		t.Fatalf("got %v, want ErrContainerNotFound", err)
	}
	if len(f.patches) != 0 {
		t.Errorf("sent %d patches for a missing container, want none (it would add a container)", len(f.patches))
	}
}

func TestUpdateImage(t *testing.T) {
	const path = "/apis/apps/v1/namespaces/shop/deployments/web"
	tests := []struct {
		name         string
		image        string
		skip         bool
		beforePatch  func(f *fakeAPI, d *Deployment)
		wantResult   Result
		wantRequests []string
		wantPatchRVs []string
		wantImages   []Container
	}{
		{
			name:         "patches",
			image:        "reg/api:v2",
			wantResult:   Result{Patched: true, PreviousImage: "reg/api:v1", Image: "reg/api:v2", Attempts: 1},
			wantRequests: []string{"GET " + path, "PATCH " + path},
			wantPatchRVs: []string{"1"},
			wantImages:   []Container{{Name: "api", Image: "reg/api:v2"}, {Name: "sidecar", Image: "reg/envoy:1"}},
		},
		{
			name:  "conflict retried against the fresh object",
			image: "reg/api:v2",
			beforePatch: func(f *fakeAPI, d *Deployment) {
				// Another writer changes the sidecar between our GET and PATCH, once.
				if d.Spec.Template.Spec.Containers[1].Image == "reg/envoy:1" {
					d.Spec.Template.Spec.Containers[1].Image = "reg/envoy:2"
					f.bump(d)
				}
			},
			wantResult:   Result{Patched: true, PreviousImage: "reg/api:v1", Image: "reg/api:v2", Attempts: 2},
			wantRequests: []string{"GET " + path, "PATCH " + path, "GET " + path, "PATCH " + path},
			wantPatchRVs: []string{"1", "2"},
			wantImages:   []Container{{Name: "api", Image: "reg/api:v2"}, {Name: "sidecar", Image: "reg/envoy:2"}},
		},
		{
			name:         "already at the image",
			image:        "reg/api:v1",
			wantResult:   Result{PreviousImage: "reg/api:v1", Image: "reg/api:v1", Attempts: 1},
			wantRequests: []string{"GET " + path},
			wantImages:   []Container{{Name: "api", Image: "reg/api:v1"}, {Name: "sidecar", Image: "reg/envoy:1"}},
		},
		{
			name:         "decide skips",
			image:        "reg/api:v2",
			skip:         true,
			wantResult:   Result{PreviousImage: "reg/api:v1", Image: "reg/api:v1", Attempts: 1},
			wantRequests: []string{"GET " + path},
			wantImages:   []Container{{Name: "api", Image: "reg/api:v1"}, {Name: "sidecar", Image: "reg/envoy:1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.addDeployment("shop", "web", []Container{{Name: "api", Image: "reg/api:v1"}, {Name: "sidecar", Image: "reg/envoy:1"}}, nil)
			f.beforePatch = tt.beforePatch
			c, _ := f.start(t)
			var seen []string
			got, err := c.UpdateImage(context.Background(), "shop", "web", "api", func(d *Deployment) (string, map[string]string, bool, error) {
				seen = append(seen, d.Metadata.ResourceVersion)
				return tt.image, map[string]string{AnnotationEventID: "evt-1"}, tt.skip, nil
			})
			if err != nil {
				t.Fatalf("UpdateImage: %v", err)
			}
			d, ok := got.Workload.Object().(*Deployment)
			if !ok {
				t.Fatalf("Result.Workload holds %T, want the *Deployment", got.Workload.Object())
			}
			if diff := cmp.Diff(tt.wantImages, d.Spec.Template.Spec.Containers); diff != "" {
				t.Errorf("containers in result (-want +got):\n%s", diff)
			}
			got.Workload = nil
			if diff := cmp.Diff(tt.wantResult, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRequests, f.requestLog()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if len(seen) != tt.wantResult.Attempts {
				t.Errorf("decide called %d times, want %d", len(seen), tt.wantResult.Attempts)
			}
			var rvs []string
			for _, body := range f.patches {
				var p struct {
					Metadata imagePatchMeta `json:"metadata"`
				}
				if err := jsonUnmarshalString(body, &p); err != nil {
					t.Fatalf("patch body %s: %v", body, err)
				}
				rvs = append(rvs, p.Metadata.ResourceVersion)
				if p.Metadata.Annotations[AnnotationPreviousImage] != "reg/api:v1" || p.Metadata.Annotations[AnnotationEventID] != "evt-1" {
					t.Errorf("patch annotations = %v, want previous image and event id", p.Metadata.Annotations)
				}
			}
			if diff := cmp.Diff(tt.wantPatchRVs, rvs); diff != "" {
				t.Errorf("patch resourceVersions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateImageGivesUpAfterConflicts(t *testing.T) {
	f := newFakeAPI(t)
	f.addDeployment("shop", "web", []Container{{Name: "api", Image: "reg/api:v1"}}, nil)
	f.beforePatch = func(f *fakeAPI, d *Deployment) { f.bump(d) } // someone writes before every patch
	c, _ := f.start(t)
	res, err := c.UpdateImage(context.Background(), "shop", "web", "api", func(*Deployment) (string, map[string]string, bool, error) {
		return "reg/api:v2", nil, false, nil
	})
	if !IsConflict(err) {
		t.Fatalf("got %v, want a conflict after the last attempt", err)
	}
	if res.Attempts != maxUpdateAttempts || len(f.patches) != maxUpdateAttempts {
		t.Errorf("attempts = %d, patches = %d, want %d each", res.Attempts, len(f.patches), maxUpdateAttempts)
	}
}

func TestUpdateImageErrors(t *testing.T) {
	decideErr := errors.New("tag is older")
	tests := []struct {
		name      string
		ns        string
		container string
		fail      int
		decideErr error
		check     func(error) bool
		wantText  []string
	}{
		{name: "forbidden", ns: "shop", container: "api", fail: 403, check: IsForbidden, wantText: []string{"shop/web", "403", "Forbidden"}},
		{name: "not found", ns: "other", container: "api", check: IsNotFound, wantText: []string{"other/web", "404"}},
		{name: "missing container", ns: "shop", container: "worker", check: func(err error) bool { return errors.Is(err, ErrContainerNotFound) }, wantText: []string{"shop/web", "worker"}},
		{name: "decide fails", ns: "shop", container: "api", decideErr: decideErr, check: func(err error) bool { return errors.Is(err, decideErr) }, wantText: []string{"shop/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.addDeployment("shop", "web", []Container{{Name: "api", Image: "reg/api:v1"}}, nil)
			if tt.fail != 0 {
				f.fail = func(*http.Request) int { return tt.fail }
			}
			c, _ := f.start(t)
			_, err := c.UpdateImage(context.Background(), tt.ns, "web", tt.container, func(*Deployment) (string, map[string]string, bool, error) {
				return "reg/api:v2", nil, false, tt.decideErr
			})
			if err == nil || !tt.check(err) {
				t.Fatalf("got error %v, want it classified as %s", err, tt.name)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if len(f.patches) != 0 {
				t.Errorf("sent %d patches, want none", len(f.patches))
			}
		})
	}
}

func TestStatusErrorAs(t *testing.T) {
	f := newFakeAPI(t)
	f.fail = func(*http.Request) int { return 403 }
	c, _ := f.start(t)
	_, err := c.GetDeployment(context.Background(), "shop", "web")
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *StatusError", err)
	}
	want := StatusError{Method: "GET", Path: "/apis/apps/v1/namespaces/shop/deployments/web", Code: 403,
		Status: Status{Kind: "Status", Status: "Failure", Message: "injected failure", Reason: "Forbidden", Code: 403}}
	if diff := cmp.Diff(want, *se); diff != "" {
		t.Errorf("status error (-want +got):\n%s", diff)
	}
}

func TestListTrackedWorkloads(t *testing.T) {
	f := newFakeAPI(t)
	for _, d := range []struct{ ns, name, track string }{
		{"shop", "a", "mlops/retail-api:v{semver}"}, {"shop", "b", ""}, {"shop", "c", "mlops/x:{sha}"},
		{"ml", "d", "mlops/train:v{semver}"}, {"other", "e", "mlops/y:v{semver}"},
	} {
		dep := f.addDeployment(d.ns, d.name, []Container{{Name: "app", Image: "reg/app:1"}}, nil)
		if d.track != "" {
			dep.Metadata.Annotations = map[string]string{AnnotationTrack: d.track}
		}
	}
	c, _ := f.start(t)
	got, err := c.ListTrackedWorkloads(context.Background(), []string{"shop", "ml", "shop"})
	if err != nil {
		t.Fatalf("ListTrackedWorkloads: %v", err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Meta().Namespace+"/"+d.Meta().Name+"="+d.Annotations()[AnnotationTrack])
	}
	want := []string{"shop/a=mlops/retail-api:v{semver}", "shop/c=mlops/x:{sha}", "ml/d=mlops/train:v{semver}"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("tracked deployments (-want +got):\n%s", diff)
	}

	// A misspelt namespace lists as empty with a 200: it must be an error instead.
	got, err = c.ListTrackedWorkloads(context.Background(), []string{"shop", "sohp"})
	if !errors.Is(err, ErrNamespaceNotFound) || !strings.Contains(err.Error(), `"sohp"`) || got != nil {
		t.Errorf("ListTrackedWorkloads with a missing namespace = %d deployments, %v; want ErrNamespaceNotFound naming it", len(got), err)
	}
}

// TestGetDeploymentMissingNamespace: a Deployment in a namespace that does not exist is an error that says so.
func TestGetDeploymentMissingNamespace(t *testing.T) {
	f := newFakeAPI(t)
	f.addDeployment("shop", "web", []Container{{Name: "app", Image: "reg/app:1"}}, nil)
	c, _ := f.start(t)
	_, err := c.GetDeployment(context.Background(), "sohp", "web")
	if !errors.Is(err, ErrNamespaceNotFound) || !IsNotFound(err) {
		t.Errorf("GetDeployment in a missing namespace = %v, want ErrNamespaceNotFound and the 404", err)
	}
	_, err = c.GetDeployment(context.Background(), "shop", "api")
	if errors.Is(err, ErrNamespaceNotFound) || !IsNotFound(err) {
		t.Errorf("GetDeployment of a missing Deployment = %v, want only the 404", err)
	}
}
