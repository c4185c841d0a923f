package rollout

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

const testRegistry = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"

// fakeAPIServer stores Deployments as JSON and applies strategic merge
// patches of containers by name, checking resourceVersion like the real
// server (409 on a stale one).
type fakeAPIServer struct {
	mu      sync.Mutex
	deps    map[string]*kube.Deployment // ns/name
	rv      int
	patches int
	// beforePatch runs before a PATCH is applied, to simulate a concurrent writer.
	beforePatch func(d *kube.Deployment)
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // apis apps v1 namespaces NS deployments NAME
	if len(parts) == 4 && parts[0] == "api" && parts[2] == "namespaces" && r.Method == http.MethodGet {
		// Discover checks that the namespace exists.
		json.NewEncoder(w).Encode(map[string]any{"kind": "Namespace", "metadata": map[string]any{"name": parts[3]}})
		return
	}
	if len(parts) == 6 && r.Method == http.MethodGet { // a list
		items := []kube.Deployment{} // only Deployments exist here
		for _, d := range f.deps {
			if d.Metadata.Namespace == parts[4] && parts[5] == "deployments" {
				items = append(items, *d)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"kind": "DeploymentList", "metadata": map[string]any{}, "items": items})
		return
	}
	if len(parts) != 7 || parts[5] != "deployments" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	d, ok := f.deps[parts[4]+"/"+parts[6]]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": 404, "reason": "NotFound", "message": "deployments not found"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		json.NewEncoder(w).Encode(d)
	case http.MethodPatch:
		if f.beforePatch != nil {
			f.beforePatch(d)
			f.beforePatch = nil
		}
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Metadata kube.ObjectMeta `json:"metadata"`
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []kube.Container `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if p.Metadata.ResourceVersion != d.Metadata.ResourceVersion {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": 409, "reason": "Conflict", "message": "the object has been modified"})
			return
		}
		for _, pc := range p.Spec.Template.Spec.Containers {
			for i := range d.Spec.Template.Spec.Containers {
				if d.Spec.Template.Spec.Containers[i].Name == pc.Name {
					d.Spec.Template.Spec.Containers[i].Image = pc.Image
				}
			}
		}
		if d.Metadata.Annotations == nil {
			d.Metadata.Annotations = map[string]string{}
		}
		for k, v := range p.Metadata.Annotations {
			d.Metadata.Annotations[k] = v
		}
		f.bump(d)
		f.patches++
		json.NewEncoder(w).Encode(d)
	}
}

func (f *fakeAPIServer) bump(d *kube.Deployment) {
	f.rv++
	d.Metadata.ResourceVersion = strconv.Itoa(f.rv)
}

func (f *fakeAPIServer) image(ns, name, container string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, _, _ := f.deps[ns+"/"+name].ContainerImage(container)
	return img
}

type staticClients struct{ c *kube.Client }

func (s staticClients) Client(context.Context, string) (*kube.Client, error) { return s.c, nil }

type fakeLookup struct {
	images map[string]ImageInfo // tag or digest → info
	err    error
	calls  int
}

func (f *fakeLookup) Image(_ context.Context, _ string, ref kube.Ref) (ImageInfo, error) {
	f.calls++
	if f.err != nil {
		return ImageInfo{}, f.err
	}
	key := ref.Digest
	if key == "" {
		key = ref.Tag
	}
	return f.images[key], nil
}

type recordingAuditor struct{ events []audit.Event }

func (r *recordingAuditor) Publish(_ context.Context, events ...audit.Event) error {
	r.events = append(r.events, events...)
	return nil
}

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func setup(t *testing.T, image string, ann map[string]string) (*fakeAPIServer, *kube.Client) {
	t.Helper()
	f := &fakeAPIServer{deps: map[string]*kube.Deployment{}}
	d := &kube.Deployment{}
	d.Metadata.Name, d.Metadata.Namespace, d.Metadata.Annotations = "retail-forecast-api", "default", ann
	d.Spec.Template.Spec.Containers = []kube.Container{{Name: "api", Image: image}, {Name: "proxy", Image: "envoyproxy/envoy:v1.31.0"}}
	f.bump(d)
	f.deps["default/retail-forecast-api"] = d
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := kube.New(kube.Config{Host: srv.URL, CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), Token: kube.StaticToken("t")})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func semverTarget() Target {
	return Target{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api",
		Repository: "mlops/retail-api", Tags: policy.MustCompilePattern("v{semver}"), Order: policy.OrderSemver, Pin: policy.PinDigest, Source: "test"}
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestRoll(t *testing.T) {
	withTag := func(tgt Target, f func(*Target)) Target { f(&tgt); return tgt }
	tests := []struct {
		name      string
		running   string
		ann       map[string]string
		lookup    map[string]ImageInfo
		target    Target
		push      Image
		wantPatch bool
		wantImage string
		reason    string
	}{
		{
			name:    "first rollout from the seeds' :latest",
			running: testRegistry + "/mlops/retail-api:latest",
			lookup:  map[string]ImageInfo{"latest": {Found: true, Tags: []string{"latest"}, PushedAt: t0.Add(-time.Hour)}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.0.0", Digest: digest('a'), PushedAt: t0},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('a'),
		},
		{
			name:    "forward by semver",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			lookup:  map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.9"}, PushedAt: t0}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c'), PushedAt: t0.Add(-time.Hour)},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('c'),
		},
		{
			name:    "never a downgrade, even pushed later",
			running: testRegistry + "/mlops/retail-api@" + digest('c'),
			lookup:  map[string]ImageInfo{digest('c'): {Found: true, Tags: []string{"v1.3.0", "latest"}}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.2.9", Digest: digest('b'), PushedAt: t0.Add(time.Hour)},
			reason: "v1.2.9 is not newer than the running v1.3.0",
		},
		{
			name:    "version read from ecrwarden's annotations without a lookup",
			running: testRegistry + "/mlops/retail-api@" + digest('c'),
			ann:     map[string]string{kube.AnnotationDigest: digest('c'), kube.AnnotationTag: "v1.3.0"},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0-rc.1", Digest: digest('d')},
			reason: "is a pre-release",
		},
		{
			name:    "already at the digest",
			running: testRegistry + "/mlops/retail-api@" + digest('c'),
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			reason: "already at " + digest('c'),
		},
		{
			name:      "pre-release allowed by the rule",
			running:   testRegistry + "/mlops/retail-api@" + digest('b'),
			lookup:    map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.9"}}},
			target:    withTag(semverTarget(), func(t *Target) { t.Prerelease = true }),
			push:      Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0-rc.1", Digest: digest('d')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('d'),
		},
		{
			name:      "tag pin",
			running:   testRegistry + "/mlops/retail-api:v1.2.9",
			lookup:    map[string]ImageInfo{"v1.2.9": {Found: true, Tags: []string{"v1.2.9"}}},
			target:    withTag(semverTarget(), func(t *Target) { t.Pin = policy.PinTag }),
			push:      Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api:v1.3.0",
		},
		{
			name:    "image of another repository of ours is replaced",
			running: testRegistry + "/mlops/placeholder:v9.0.0",
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v0.1.0", Digest: digest('e')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('e'),
		},
		{
			name:    "a blocked digest is never rolled out, even forward",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			ann:     map[string]string{AnnotationBlocked: `[{"container":"api","digest":"` + digest('c') + `","reason":"rollback by alice"}]`},
			lookup:  map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.9"}}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			reason: "blocked: " + digest('c') + " is blocked for container api (rollback by alice)",
		},
		{
			name:    "a digest blocked for another container does not count",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			ann:     map[string]string{AnnotationBlocked: `[{"container":"proxy","digest":"` + digest('c') + `","reason":"x"}]`},
			lookup:  map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.9"}}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('c'),
		},
		{
			name:    "the tag annotation of an image the registry no longer has is not trusted",
			running: testRegistry + "/mlops/retail-api@" + digest('f'),
			ann:     map[string]string{kube.AnnotationDigest: digest('f'), kube.AnnotationTag: "v9.0.0"},
			lookup:  map[string]ImageInfo{},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('c'),
		},
		{
			name:    "the registry's tags win over the tag annotation",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			ann:     map[string]string{kube.AnnotationDigest: digest('b'), kube.AnnotationTag: "v9.0.0"},
			lookup:  map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.9"}}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('c'),
		},
		{
			name:    "the tag annotation still names an image whose tag was deleted",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			ann:     map[string]string{kube.AnnotationDigest: digest('b'), kube.AnnotationTag: "v1.4.0"},
			lookup:  map[string]ImageInfo{digest('b'): {Found: true}},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')},
			reason: "v1.3.0 is not newer than the running v1.4.0 (from ecrwarden.io/tag)",
		},
		{
			name:    "running image gone from the testRegistry",
			running: testRegistry + "/mlops/retail-api@" + digest('f'),
			lookup:  map[string]ImageInfo{},
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v0.0.1", Digest: digest('e')},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('e'),
		},
		{
			name:    "tag outside the rule",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			target:  semverTarget(), push: Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "dev-0a1b2c3", Digest: digest('e')},
			reason: "does not match",
		},
		{
			name:    "date order: same day, later push",
			running: testRegistry + "/mlops/retail-api@" + digest('b'),
			lookup:  map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v20241009-aaaaaaa"}, PushedAt: t0}},
			target: withTag(semverTarget(), func(t *Target) {
				t.Tags, t.Order = policy.MustCompilePattern("v{date}-{sha}"), policy.OrderDate
			}),
			push:      Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v20241009-bbbbbbb", Digest: digest('c'), PushedAt: t0.Add(time.Minute)},
			wantPatch: true, wantImage: testRegistry + "/mlops/retail-api@" + digest('c'),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := setup(t, tt.running, tt.ann)
			lookup := &fakeLookup{images: tt.lookup}
			aud := &recordingAuditor{}
			e := NewEngine(staticClients{client}, lookup, aud, slog.New(slog.DiscardHandler))
			tt.push.EventID = "evt-1"
			outs, err := e.Roll(context.Background(), tt.push, []Target{tt.target})
			if err != nil {
				t.Fatalf("Roll: %v", err)
			}
			o := outs[0]
			if o.Patched != tt.wantPatch {
				t.Fatalf("patched = %v (%s), want %v", o.Patched, o.Reason, tt.wantPatch)
			}
			got := srv.image("default", "retail-forecast-api", "api")
			if tt.wantPatch {
				if got != tt.wantImage {
					t.Errorf("image = %q, want %q", got, tt.wantImage)
				}
				if len(aud.events) != 1 || aud.events[0].DetailType != audit.DeploymentPatched {
					t.Errorf("audit events = %+v, want one DeploymentPatched", aud.events)
				}
				ann := srv.deps["default/retail-forecast-api"].Metadata.Annotations
				if ann[kube.AnnotationTag] != tt.push.Tag || ann[kube.AnnotationDigest] != tt.push.Digest || ann[kube.AnnotationEventID] != "evt-1" ||
					!strings.Contains(ann[kube.AnnotationChangeCause], tt.push.Tag) || ann[kube.AnnotationPreviousImage] != tt.running {
					t.Errorf("annotations = %v", ann)
				}
			} else {
				if got != tt.running {
					t.Errorf("image changed to %q without a patch", got)
				}
				if !strings.Contains(o.Reason, tt.reason) {
					t.Errorf("reason = %q, want it to contain %q", o.Reason, tt.reason)
				}
				if len(aud.events) != 0 {
					t.Errorf("audit events for no rollout: %+v", aud.events)
				}
			}
			if proxy := srv.image("default", "retail-forecast-api", "proxy"); proxy != "envoyproxy/envoy:v1.31.0" {
				t.Errorf("sidecar image changed to %q", proxy)
			}
		})
	}
}

// TestRollRefusesToSwitchRegistries: a container that runs an image from
// another registry (another account, Region or host) is never moved to
// ours: the outcome is an error, so the invocation fails and is reported.
func TestRollRefusesToSwitchRegistries(t *testing.T) {
	for _, running := range []string{
		"210987654321.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/retail-api@" + digest('b'),
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops/retail-api:v9.9.9",
		"public.ecr.aws/nginx/nginx:1.27",
	} {
		t.Run(running, func(t *testing.T) {
			srv, client := setup(t, running, nil)
			e := NewEngine(staticClients{client}, &fakeLookup{}, nil, slog.New(slog.DiscardHandler))
			out, err := e.Roll(context.Background(), Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v0.0.1", Digest: digest('c')}, []Target{semverTarget()})
			if !errors.Is(err, ErrForeignRegistry) || len(out) != 1 || out[0].Patched || srv.patches != 0 {
				t.Fatalf("Roll = %+v, %v after %d patches; want ErrForeignRegistry and nothing patched", out, err, srv.patches)
			}
		})
	}
}

func TestRollTwiceIsOneRollout(t *testing.T) {
	srv, client := setup(t, testRegistry+"/mlops/retail-api:latest", nil)
	lookup := &fakeLookup{images: map[string]ImageInfo{"latest": {Found: true, Tags: []string{"latest"}}}}
	e := NewEngine(staticClients{client}, lookup, nil, slog.New(slog.DiscardHandler))
	img := Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c'), EventID: "evt"}
	for range 2 {
		if _, err := e.Roll(context.Background(), img, []Target{semverTarget()}); err != nil {
			t.Fatal(err)
		}
	}
	if srv.patches != 1 {
		t.Errorf("patches = %d, want 1 for the same event twice", srv.patches)
	}
}

func TestRollConflictRereads(t *testing.T) {
	srv, client := setup(t, testRegistry+"/mlops/retail-api@"+digest('b'), nil)
	// A concurrent invocation rolls v1.4.0 out between our GET and PATCH:
	// after the 409 we must re-read and not move it back to v1.3.0.
	srv.beforePatch = func(d *kube.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = testRegistry + "/mlops/retail-api@" + digest('d')
		d.Metadata.Annotations = map[string]string{kube.AnnotationDigest: digest('d'), kube.AnnotationTag: "v1.4.0"}
		srv.bump(d)
	}
	lookup := &fakeLookup{images: map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.0"}}, digest('d'): {Found: true, Tags: []string{"v1.4.0"}}}}
	e := NewEngine(staticClients{client}, lookup, nil, slog.New(slog.DiscardHandler))
	outs, err := e.Roll(context.Background(), Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')}, []Target{semverTarget()})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Patched || srv.image("default", "retail-forecast-api", "api") != testRegistry+"/mlops/retail-api@"+digest('d') {
		t.Errorf("outcome %+v: a conflict must re-read and keep the newer v1.4.0", outs[0])
	}
}

func TestRollLookupErrorIsNotAGuess(t *testing.T) {
	srv, client := setup(t, testRegistry+"/mlops/retail-api@"+digest('b'), nil)
	boom := errors.New("ThrottlingException")
	e := NewEngine(staticClients{client}, &fakeLookup{err: boom}, nil, slog.New(slog.DiscardHandler))
	_, err := e.Roll(context.Background(), Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c')}, []Target{semverTarget()})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the lookup error", err)
	}
	if srv.patches != 0 {
		t.Error("patched without knowing the running version")
	}
}

func TestAnnotationTarget(t *testing.T) {
	mk := func(ann map[string]string, images ...string) *kube.Deployment {
		d := &kube.Deployment{}
		d.Metadata.Name, d.Metadata.Namespace, d.Metadata.Annotations = "web", "default", ann
		for i, img := range images {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, kube.Container{Name: "c" + strconv.Itoa(i), Image: img})
		}
		return d
	}
	api := testRegistry + "/mlops/retail-api:latest"
	tests := []struct {
		name    string
		d       *kube.Deployment
		want    Target
		wantOK  bool
		wantErr string
	}{
		{name: "no annotation", d: mk(nil, api)},
		{name: "track picks the container", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}"}, "envoy:1", api), wantOK: true,
			want: Target{Container: "c1", Repository: "mlops/retail-api", Order: policy.OrderSemver, Pin: policy.PinDigest}},
		{name: "pin tag and pre-releases", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationPin: "tag", AnnotationPrerelease: "true", AnnotationContainer: "c0"}, api), wantOK: true,
			want: Target{Container: "c0", Repository: "mlops/retail-api", Order: policy.OrderSemver, Pin: policy.PinTag, Prerelease: true}},
		{name: "bad value", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api"}, api), wantOK: true, wantErr: "want <repository>:<tag pattern>"},
		{name: "bad pattern", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{version}"}, api), wantOK: true, wantErr: "unknown placeholder"},
		{name: "ambiguous container", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}"}, api, api), wantOK: true, wantErr: "name one with"},
		{name: "bad pin", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationPin: "sha"}, api), wantOK: true, wantErr: "want digest or tag"},
		{name: "verify defaults", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}"}, api), wantOK: true,
			want: Target{Container: "c0", Repository: "mlops/retail-api", Order: policy.OrderSemver, Pin: policy.PinDigest,
				Verify: policy.Verify{Timeout: policy.DefaultVerifyTimeout, OnFailure: policy.OnFailureRollback}}},
		{name: "verify by annotations", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationVerifyTimeout: "3m",
			AnnotationVerifyOnFailure: "alert", AnnotationVerifyNotifySuccess: "true"}, api), wantOK: true,
			want: Target{Container: "c0", Repository: "mlops/retail-api", Order: policy.OrderSemver, Pin: policy.PinDigest,
				Verify: policy.Verify{Timeout: policy.Duration(3 * time.Minute), OnFailure: policy.OnFailureAlert, NotifySuccess: true}}},
		{name: "bad verify timeout", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationVerifyTimeout: "1s"}, api), wantOK: true, wantErr: "between 10s and 24h"},
		{name: "bad onFailure", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationVerifyOnFailure: "ignore"}, api), wantOK: true, wantErr: "want rollback or alert"},
		{name: "bad notify", d: mk(map[string]string{kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationVerifyNotifySuccess: "yes"}, api), wantOK: true, wantErr: "want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := AnnotationTarget("c", kube.NewWorkload(tt.d))
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if got.Container != tt.want.Container || got.Repository != tt.want.Repository || got.Order != tt.want.Order || got.Pin != tt.want.Pin || got.Prerelease != tt.want.Prerelease {
				t.Errorf("target = %+v, want %+v", got, tt.want)
			}
			if tt.want.Verify != (policy.Verify{}) && got.Verify != tt.want.Verify {
				t.Errorf("verify = %+v, want %+v", got.Verify, tt.want.Verify)
			}
		})
	}
}

// TestDiscoverRefusesUnsafeTagPins: an annotation opt-in asking for
// ecrwarden.io/pin: tag on a repository the policy cannot keep immutable is
// reported and skipped, as the policy check refuses such a deploy rule.
func TestDiscoverRefusesUnsafeTagPins(t *testing.T) {
	for _, tt := range []struct {
		name, repo string
		wantBad    string
	}{
		{"unmanaged repository", "version: 1\nclusters: [{ name: c, namespaces: [default] }]\nrepositories: [{ name: mlops/retail-api }]\n", "manages it (manage: true)"},
		{"mutable filter overlaps", "version: 1\nclusters: [{ name: c, namespaces: [default] }]\nrepositories: [{ name: mlops/retail-api, manage: true, mutableTags: [\"v*\"] }]\n", `mutableTags "v*"`},
		{"immutable managed repository", "version: 1\nclusters: [{ name: c, namespaces: [default] }]\nrepositories: [{ name: mlops/retail-api, manage: true, mutableTags: [latest] }]\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := policy.Parse("p.yaml", []byte(tt.repo))
			if err != nil {
				t.Fatal(err)
			}
			_, client := setup(t, testRegistry+"/mlops/retail-api:v1.0.0", map[string]string{
				kube.AnnotationTrack: "mlops/retail-api:v{semver}", AnnotationPin: "tag", AnnotationContainer: "api"})
			targets, bad, err := Discover(context.Background(), staticClients{client}, f, "mlops/retail-api")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantBad == "" {
				if len(bad) != 0 || len(targets) != 1 || targets[0].Pin != policy.PinTag {
					t.Fatalf("targets %+v, bad %v; want the tag-pinned opt-in", targets, bad)
				}
				return
			}
			if len(targets) != 0 || len(bad) != 1 || !strings.Contains(bad[0].Error(), tt.wantBad) {
				t.Fatalf("targets %+v, bad %v; want it skipped and reported (%q)", targets, bad, tt.wantBad)
			}
		})
	}
}

func TestPolicyTargets(t *testing.T) {
	f, err := policy.Load("../../ecrwarden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := PolicyTargets(f, "mlops/retail-api")
	if len(got) != 1 || got[0].Deployment != "retail-forecast-api" || !got[0].RequireCleanScan || got[0].Source != "repositories[0].deploy[0]" {
		t.Errorf("targets = %+v", got)
	}
	train := PolicyTargets(f, "mlops/train-model")
	want := kube.WorkloadRef{Kind: kube.KindCronJob, Namespace: "default", Name: "nightly-train"}
	if len(train) != 1 || train[0].Ref() != want || train[0].Container != "train" || !train[0].RequireCleanScan {
		t.Errorf("train-model targets = %+v, want the CronJob nightly-train's container train, scan-gated", train)
	}
}

// slowQueue is a verification queue whose SendMessage takes time (advance).
type slowQueue struct{ advance func() }

func (q slowQueue) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.advance()
	return &sqs.SendMessageOutput{}, nil
}

// TestRollMetrics: every target's outcome is counted in Rollouts, and every
// patch's push-to-patch latency is observed from the image's push time to
// the patch.
func TestRollMetrics(t *testing.T) {
	c := metrics.NewCollector()
	rec := metrics.New(c.Writer(), metrics.FunctionOnpush)
	lookup := &fakeLookup{images: map[string]ImageInfo{"latest": {Found: true, Tags: []string{"latest"}}}}
	img := Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v1.3.0", Digest: digest('c'), PushedAt: t0}

	_, client := setup(t, testRegistry+"/mlops/retail-api:latest", nil)
	now := t0.Add(90 * time.Second)
	// Arming the verification after the patch takes 5 s here: the latency
	// ends at the patch, not after the arm.
	queue := slowQueue{advance: func() { now = now.Add(5 * time.Second) }}
	e := NewEngine(staticClients{client}, lookup, nil, slog.New(slog.DiscardHandler)).WithMetrics(rec).
		VerifyWith(&Verifier{Queue: queue, QueueURL: "https://sqs.eu-west-1.amazonaws.com/111122223333/verify", Log: slog.New(slog.DiscardHandler)})
	e.now = func() time.Time { return now }
	for range 2 { // patched, then unchanged
		if _, err := e.Roll(context.Background(), img, []Target{semverTarget()}); err != nil {
			t.Fatal(err)
		}
	}
	_, heldClient := setup(t, testRegistry+"/mlops/retail-api:latest", map[string]string{AnnotationHold: "rolled back by ops"})
	NewEngine(staticClients{heldClient}, lookup, nil, slog.New(slog.DiscardHandler)).WithMetrics(rec).
		Roll(context.Background(), img, []Target{semverTarget()})
	blocked, err := encodeBlocks([]Block{{Container: "api", Digest: img.Digest, Reason: "rolled back"}})
	if err != nil {
		t.Fatal(err)
	}
	_, blockedClient := setup(t, testRegistry+"/mlops/retail-api:latest", map[string]string{AnnotationBlocked: blocked})
	NewEngine(staticClients{blockedClient}, lookup, nil, slog.New(slog.DiscardHandler)).WithMetrics(rec).
		Roll(context.Background(), img, []Target{semverTarget()})
	_, failing := setup(t, testRegistry+"/mlops/retail-api@"+digest('b'), nil)
	NewEngine(staticClients{failing}, &fakeLookup{err: errors.New("ThrottlingException")}, nil, slog.New(slog.DiscardHandler)).WithMetrics(rec).
		Roll(context.Background(), img, []Target{semverTarget()})
	rec.Flush(context.Background())

	got := c.Sums()
	want := map[string]float64{
		"Rollouts Outcome=patched": 1, "Rollouts Outcome=unchanged": 1, "Rollouts Outcome=held": 2, "Rollouts Outcome=failed": 1,
		"PushToPatchLatency ": 90000,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// TestAnnotationTargetOfEveryKind: the opt-in annotations of a StatefulSet, DaemonSet or CronJob give a target of
// that kind, whose container is found in its Pod template (a CronJob's job template).
func TestAnnotationTargetOfEveryKind(t *testing.T) {
	ann := map[string]string{kube.AnnotationTrack: "mlops/train-model:v{semver}"}
	tmpl := kube.PodTemplateSpec{Spec: kube.PodSpec{Containers: []kube.Container{
		{Name: "sidecar", Image: "envoy:1"}, {Name: "train", Image: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/train-model:v1.0.0"},
	}}}
	meta := kube.ObjectMeta{Name: "nightly-train", Namespace: "default", Annotations: ann}
	for _, w := range []*kube.Workload{
		kube.NewWorkload(&kube.StatefulSet{Metadata: meta, Spec: kube.StatefulSetSpec{Template: tmpl}}),
		kube.NewWorkload(&kube.DaemonSet{Metadata: meta, Spec: kube.DaemonSetSpec{Template: tmpl}}),
		kube.NewWorkload(&kube.CronJob{Metadata: meta, Spec: kube.CronJobSpec{JobTemplate: kube.JobTemplateSpec{Spec: kube.WorkloadSpec{Template: tmpl}}}}),
	} {
		got, ok, err := AnnotationTarget("c", w)
		if err != nil || !ok {
			t.Fatalf("%s: %v, %v", w.Kind(), ok, err)
		}
		want := kube.WorkloadRef{Kind: w.Kind(), Namespace: "default", Name: "nightly-train"}
		if got.Ref() != want || got.Container != "train" || got.Repository != "mlops/train-model" {
			t.Errorf("%s: target %+v, want %v container train", w.Kind(), got, want)
		}
	}
}
