package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// controlPlane is the real kube-apiserver, nil in -short mode.
var controlPlane *testenv.Kube

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithKube(m, func(k *testenv.Kube) { controlPlane = k }))
}

var holdAt = time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)

func TestRollback(t *testing.T) {
	api := testRegistry + "/mlops/retail-api"
	setByUs := map[string]string{kube.AnnotationPreviousImage: api + "@" + digest('a'), kube.AnnotationDigest: digest('b'), kube.AnnotationTag: "v1.3.0"}
	tests := []struct {
		name    string
		running string
		ann     map[string]string
		req     RollbackRequest
		want    HoldResult
		wantErr error
		errText string
		// wantBlocks is the block list after a rollback that changed it.
		wantBlocks []Block
	}{
		{
			name: "puts the previous image back and holds", running: api + "@" + digest('b'), ann: setByUs,
			req: RollbackRequest{Container: "api", By: "alice", At: holdAt, Reason: "p99 doubled"},
			want: HoldResult{Container: "api", From: api + "@" + digest('b'), To: api + "@" + digest('a'), Hold: "rollback by alice at 2026-11-25T11:00:00Z: p99 doubled",
				Blocked: digest('b'), Changed: true},
			wantBlocks: []Block{{Container: "api", Digest: digest('b'), Reason: "rollback by alice at 2026-11-25T11:00:00Z: p99 doubled"}},
		},
		{
			name: "dry run changes nothing", running: api + "@" + digest('b'), ann: setByUs,
			req:  RollbackRequest{Container: "api", By: "alice", At: holdAt, DryRun: true},
			want: HoldResult{Container: "api", From: api + "@" + digest('b'), To: api + "@" + digest('a'), Hold: "rollback by alice at 2026-11-25T11:00:00Z", Blocked: digest('b')},
		},
		{
			name: "tag pin is checked against the tag annotation and blocks the digest ecrwarden recorded", running: api + ":v1.3.0",
			ann:        map[string]string{kube.AnnotationPreviousImage: api + ":v1.2.0", kube.AnnotationDigest: digest('b'), kube.AnnotationTag: "v1.3.0"},
			req:        RollbackRequest{Container: "api", By: "bob", At: holdAt},
			want:       HoldResult{Container: "api", From: api + ":v1.3.0", To: api + ":v1.2.0", Hold: "rollback by bob at 2026-11-25T11:00:00Z", Blocked: digest('b'), Changed: true},
			wantBlocks: []Block{{Container: "api", Digest: digest('b'), Reason: "rollback by bob at 2026-11-25T11:00:00Z"}},
		},
		{
			name: "earlier blocks are kept; the block of the image put back goes", running: api + "@" + digest('b'),
			ann: map[string]string{kube.AnnotationPreviousImage: api + "@" + digest('a'), kube.AnnotationDigest: digest('b'), kube.AnnotationTag: "v1.3.0",
				AnnotationBlocked: `[{"container":"api","digest":"` + digest('a') + `","reason":"first"},{"container":"proxy","digest":"` + digest('e') + `","reason":"other"}]`},
			req: RollbackRequest{Container: "api", By: "carol", At: holdAt},
			want: HoldResult{Container: "api", From: api + "@" + digest('b'), To: api + "@" + digest('a'), Hold: "rollback by carol at 2026-11-25T11:00:00Z",
				Blocked: digest('b'), Changed: true},
			wantBlocks: []Block{{Container: "api", Digest: digest('b'), Reason: "rollback by carol at 2026-11-25T11:00:00Z"}, {Container: "proxy", Digest: digest('e'), Reason: "other"}},
		},
		{
			name: "a malformed block list is refused, not overwritten", running: api + "@" + digest('b'),
			ann: map[string]string{kube.AnnotationPreviousImage: api + "@" + digest('a'), kube.AnnotationDigest: digest('b'), AnnotationBlocked: "sha256:aa"},
			req: RollbackRequest{Container: "api"}, errText: "does not parse",
		},
		{
			name: "nothing recorded", running: api + "@" + digest('b'),
			req: RollbackRequest{Container: "api"}, wantErr: ErrNoPreviousImage,
		},
		{
			name: "someone else changed the image", running: api + "@" + digest('c'), ann: setByUs,
			req: RollbackRequest{Container: "api"}, wantErr: ErrChangedByOther, errText: `ecrwarden.io/digest says "` + digest('b'),
		},
		{
			name: "ambiguous container", running: api + "@" + digest('b'), ann: setByUs,
			req: RollbackRequest{}, errText: "name one",
		},
		{
			name: "unknown container", running: api + "@" + digest('b'), ann: setByUs,
			req: RollbackRequest{Container: "web"}, wantErr: kube.ErrContainerNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := setup(t, tt.running, maps.Clone(tt.ann)) // the fake server writes into it
			tt.req.Namespace, tt.req.Deployment = "default", "retail-forecast-api"
			got, err := Rollback(context.Background(), client, tt.req)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v %q", err, tt.wantErr, tt.errText)
				}
				if srv.patches != 0 {
					t.Error("patched on a refused rollback")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Kind, tt.want.Namespace, tt.want.Deployment = kube.KindDeployment, "default", "retail-forecast-api"
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			wantImage, wantPatches := tt.want.From, 0
			if tt.want.Changed {
				wantImage, wantPatches = tt.want.To, 1
			}
			if img := srv.image("default", "retail-forecast-api", "api"); img != wantImage || srv.patches != wantPatches {
				t.Errorf("image %s after %d patches, want %s after %d", img, srv.patches, wantImage, wantPatches)
			}
			if tt.want.Changed {
				ann := srv.deps["default/retail-forecast-api"].Metadata.Annotations
				if ann[AnnotationHold] != tt.want.Hold || ann[kube.AnnotationPreviousImage] != tt.want.From {
					t.Errorf("annotations %v, want the hold and the replaced image as previous", ann)
				}
				got, err := Blocks(kube.NewWorkload(srv.deps["default/retail-forecast-api"]))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantBlocks, got); diff != "" {
					t.Errorf("blocked digests (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRollSkipsHeldDeployment(t *testing.T) {
	srv, client := setup(t, testRegistry+"/mlops/retail-api:latest", map[string]string{AnnotationHold: "rollback by alice"})
	e := NewEngine(staticClients{client}, &fakeLookup{}, nil, slog.New(slog.DiscardHandler))
	out, err := e.Roll(context.Background(), Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: "v9.0.0", Digest: digest('f'), PushedAt: t0},
		[]Target{semverTarget()})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Patched || out[0].Reason != "held: rollback by alice" || srv.patches != 0 {
		t.Errorf("outcome %+v after %d patches, want held and untouched", out, srv.patches)
	}
}

// TestRollbackAndReleaseAgainstAPIServer runs the whole cycle with the
// limited user (get and patch on deployments, nothing else): roll forward,
// roll back and hold, the held Deployment refused by the engine, release,
// and roll forward again.
func TestRollbackAndReleaseAgainstAPIServer(t *testing.T) {
	k := controlPlane
	testenv.RequireControlPlane(t, k != nil)
	ctx := context.Background()
	ns, name := k.Namespace, "hold-web"
	api := testRegistry + "/mlops/retail-api"
	labels := map[string]any{"app": name}
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": labels}, "template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{"containers": []any{
				map[string]any{"name": "api", "image": api + ":v1.0.0"},
				map[string]any{"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
			}},
		}},
	}
	body, _ := json.Marshal(obj)
	if code, out, err := k.Request(ctx, k.Admin, http.MethodPost, "/apis/apps/v1/namespaces/"+ns+"/deployments", "application/json", body); err != nil || code != http.StatusCreated {
		t.Fatalf("create deployment: %d %s %v", code, out, err)
	}
	client, err := kube.New(kube.Config{Host: k.Limited.Host, CAData: k.Limited.CAData, Token: kube.StaticToken(k.Limited.Token)})
	if err != nil {
		t.Fatal(err)
	}
	target := semverTarget()
	target.Namespace, target.Deployment = ns, name
	lookup := &fakeLookup{images: map[string]ImageInfo{"v1.0.0": {Found: true, Tags: []string{"v1.0.0"}}}}
	e := NewEngine(staticClients{client}, lookup, nil, slog.New(slog.DiscardHandler))
	roll := func(tag string, d byte) Outcome {
		t.Helper()
		out, err := e.Roll(ctx, Image{Registry: testRegistry, Repository: "mlops/retail-api", Tag: tag, Digest: digest(d), PushedAt: t0, EventID: "ev-" + tag}, []Target{target})
		if err != nil || len(out) != 1 {
			t.Fatalf("roll %s: %v %+v", tag, err, out)
		}
		return out[0]
	}
	if o := roll("v1.1.0", 'b'); !o.Patched {
		t.Fatalf("first rollout not patched: %+v", o)
	}

	got, err := Rollback(ctx, client, RollbackRequest{Namespace: ns, Deployment: name, Container: "api", By: "alice", At: holdAt, Reason: "errors"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	want := HoldResult{Kind: kube.KindDeployment, Namespace: ns, Deployment: name, Container: "api", From: api + "@" + digest('b'), To: api + ":v1.0.0",
		Hold: "rollback by alice at 2026-11-25T11:00:00Z: errors", Blocked: digest('b'), Changed: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rollback (-want +got):\n%s", diff)
	}
	d, err := client.GetDeployment(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if img, _, _ := d.ContainerImage("api"); img != api+":v1.0.0" {
		t.Errorf("api runs %s after the rollback, want v1.0.0", img)
	}
	if img, _, _ := d.ContainerImage("proxy"); img != "envoyproxy/envoy:v1.31.0" {
		t.Errorf("the sidecar changed to %s", img)
	}
	ann := d.Metadata.Annotations
	if ann[AnnotationHold] != want.Hold || ann[kube.AnnotationPreviousImage] != want.From || !strings.HasPrefix(ann[kube.AnnotationChangeCause], "ecrwarden rollback: ") {
		t.Errorf("annotations after the rollback: %v", ann)
	}

	if o := roll("v1.2.0", 'c'); o.Patched || !strings.HasPrefix(o.Reason, "held: rollback by alice") {
		t.Errorf("held deployment: %+v, want skipped as held", o)
	}

	rel, err := Release(ctx, client, ns, name, false)
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	if !rel.Changed || rel.Hold != want.Hold {
		t.Errorf("release = %+v, want the hold removed", rel)
	}
	after, err := client.GetDeployment(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	// Any annotation change bumps a Deployment's generation; the Pod
	// template, and so the ReplicaSet the controller keeps, must not change.
	if diff := cmp.Diff(d.Spec.Template, after.Spec.Template); diff != "" {
		t.Errorf("release changed the Pod template (-before +after):\n%s", diff)
	}
	if h, ok := after.Metadata.Annotations[AnnotationHold]; ok {
		t.Errorf("hold after release = %q, want the annotation removed", h)
	}
	if again, err := Release(ctx, client, ns, name, false); err != nil || again.Changed {
		t.Errorf("second release = %+v, %v; want nothing to do", again, err)
	}
	// The rolled-back digest never comes back by itself: a push or the
	// reconcile offering it again is refused, though it is newer than
	// v1.0.0 and the hold is gone.
	if o := roll("v1.1.0", 'b'); o.Patched || !strings.HasPrefix(o.Reason, "blocked: "+digest('b')) {
		t.Errorf("the rolled-back digest after release: %+v, want blocked", o)
	}
	if o := roll("v1.2.0", 'c'); !o.Patched {
		t.Errorf("after release: %+v, want rolled forward", o)
	}
	if _, err := Unblock(ctx, client, UnblockRequest{Namespace: ns, Deployment: name, Digest: digest('c')}); !errors.Is(err, ErrNotBlocked) {
		t.Errorf("unblock of a digest never blocked: %v, want ErrNotBlocked", err)
	}
	before, err := client.GetDeployment(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Unblock(ctx, client, UnblockRequest{Namespace: ns, Deployment: name, Digest: digest('b')})
	if err != nil || b.Container != "api" || b.Reason != want.Hold {
		t.Fatalf("unblock = %+v, %v", b, err)
	}
	unblocked, err := client.GetDeployment(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := unblocked.Metadata.Annotations[AnnotationBlocked]; ok {
		t.Errorf("%s after the last unblock = %q, want it removed", AnnotationBlocked, v)
	}
	if diff := cmp.Diff(before.Spec.Template, unblocked.Spec.Template); diff != "" {
		t.Errorf("unblock changed the Pod template (-before +after):\n%s", diff)
	}
}

// TestUnblockKeepsOtherBlocks: unblocking one digest rewrites the list
// through the container's current image; nothing else changes.
func TestUnblockKeepsOtherBlocks(t *testing.T) {
	api := testRegistry + "/mlops/retail-api"
	list := `[{"container":"api","digest":"` + digest('b') + `","reason":"one"},{"container":"api","digest":"` + digest('c') + `","reason":"two"},` +
		`{"container":"gone","digest":"` + digest('c') + `","reason":"three"}]`
	srv, client := setup(t, api+"@"+digest('a'), map[string]string{AnnotationBlocked: list})
	if _, err := Unblock(context.Background(), client, UnblockRequest{Namespace: "default", Deployment: "retail-forecast-api", Digest: digest('c')}); err == nil ||
		!strings.Contains(err.Error(), "several containers") {
		t.Fatalf("ambiguous unblock: %v, want an error asking for the container", err)
	}
	if _, err := Unblock(context.Background(), client, UnblockRequest{Namespace: "default", Deployment: "retail-forecast-api", Container: "gone", Digest: digest('c'), DryRun: true}); err != nil || srv.patches != 0 {
		t.Fatalf("dry run: %v after %d patches", err, srv.patches)
	}
	b, err := Unblock(context.Background(), client, UnblockRequest{Namespace: "default", Deployment: "retail-forecast-api", Container: "api", Digest: digest('b')})
	if err != nil || b.Reason != "one" {
		t.Fatalf("unblock = %+v, %v", b, err)
	}
	got, err := Blocks(kube.NewWorkload(srv.deps["default/retail-forecast-api"]))
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{{Container: "api", Digest: digest('c'), Reason: "two"}, {Container: "gone", Digest: digest('c'), Reason: "three"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if img := srv.image("default", "retail-forecast-api", "api"); img != api+"@"+digest('a') || srv.patches != 1 {
		t.Errorf("image %s after %d patches, want it unchanged after one", img, srv.patches)
	}
}
