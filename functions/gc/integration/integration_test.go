package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eventbridge"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// counter counts the bytes the functions log.
type counter struct {
	b *testing.B
	n atomic.Int64
}

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

type env struct {
	tb        testing.TB
	sb        *sandbox.Sandbox
	logs      *sandbox.LogBuffer
	logWriter io.Writer
}

// start runs a sandbox with testdata/ecrwarden.yaml (or policyPath), closed
// when the test ends; it skips without a control plane (-short).
func start(tb testing.TB, policyPath string, extra map[string]string) *env {
	tb.Helper()
	testenv.RequireControlPlane(tb, cluster != nil)
	if policyPath == "" {
		var err error
		if policyPath, err = filepath.Abs(filepath.Join("testdata", "ecrwarden.yaml")); err != nil {
			tb.Fatal(err)
		}
	}
	logs := &sandbox.LogBuffer{}
	var w io.Writer = logs
	if c, ok := tb.(*testing.B); ok {
		// A 100k-image plan logs tens of megabytes per run: count it instead.
		w = &counter{b: c}
	}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{PolicyPath: policyPath, Cluster: cluster, Logs: w, Env: extra})
	if err != nil {
		tb.Fatalf("sandbox: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("function logs:\n%s", logs.String())
		}
		if err := sb.Close(); err != nil {
			tb.Errorf("close sandbox: %v", err)
		}
	})
	return &env{tb: tb, sb: sb, logs: logs, logWriter: w}
}

// seed stores an image in repo through the emulator's Go API (no event).
func (e *env) seed(repo string, img ecr.Image) string {
	e.tb.Helper()
	if img.Manifest == "" && len(img.Children) == 0 {
		img.Manifest, _ = e.sb.NewManifest()
	}
	if img.Size == 0 {
		img.Size = 512 << 20
	}
	d, err := e.sb.Suite.ECR.SeedImage(repo, img)
	if err != nil {
		e.tb.Fatalf("seed %s %v: %v", repo, img.Tags, err)
	}
	return d
}

func (e *env) status(repo, digest string) string {
	st, ok := e.sb.Suite.ECR.State(repo, digest)
	if !ok {
		return "gone"
	}
	return st.Status
}

// deploy creates a Deployment running image, deleted when the test ends.
func (e *env) deploy(name, image string) {
	e.tb.Helper()
	k := cluster.Kube
	labels := map[string]any{"app": name}
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"replicas": 1, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []map[string]any{{"name": "main", "image": image}}}}},
	})
	path := "/apis/apps/v1/namespaces/" + k.Namespace + "/deployments"
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodPost, path, "application/json", body)
	if err != nil || code != http.StatusCreated {
		e.tb.Fatalf("create deployment %s: %d %s %v", name, code, out, err)
	}
	e.tb.Cleanup(func() {
		_, _, _ = k.Request(context.Background(), k.Admin, http.MethodDelete, path+"/"+name, "", nil)
	})
}

// invoke runs the gc function once as the schedule does, then delivers
// what that causes as the deployed stack would: the fan-out queue's message
// per repository (the SQS event source runs gc on each), and the events of
// gc's own work. It fails the test on any failed delivery and returns them all.
func (e *env) invoke(runID string) []sandbox.Delivery {
	e.tb.Helper()
	d, err := e.sb.Invoke(context.Background(), "gc", []byte(`{"trigger":"schedule","runId":"`+runID+`"}`))
	if err != nil {
		e.tb.Fatal(err)
	}
	if d.Err != nil {
		e.tb.Fatalf("gc failed: %v", d.Err)
	}
	more, err := e.sb.Deliver(context.Background())
	if err != nil {
		e.tb.Fatal(err)
	}
	for _, x := range more {
		if x.Err != nil {
			e.tb.Fatalf("%s failed on %s after %d attempts: %v", x.Function, x.Event, x.Attempts, x.Err)
		}
	}
	return append([]sandbox.Delivery{d}, more...)
}

// slack returns the Slack messages' text.
func (e *env) slack() string {
	var b strings.Builder
	for _, p := range e.sb.Suite.Slack.Payloads() {
		raw, _ := json.Marshal(p)
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// expired returns the detail of the ImagesExpired audit events by repository.
func (e *env) expired() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, raw := range e.sb.Suite.EventBridge.Events(e.sb.EventBus) {
		var ev struct {
			DetailType string         `json:"detail-type"`
			Detail     map[string]any `json:"detail"`
		}
		if json.Unmarshal(raw, &ev) == nil && ev.DetailType == "ImagesExpired" {
			out[fmt.Sprint(ev.Detail["repository"])] = ev.Detail
		}
	}
	return out
}

// TestRuleKindsEndToEnd runs the compiled gc function over a repository
// that exercises every new rule kind: pull time (an index judged by its
// children's pulls, a keepNewest floor), archive, archivedFor with and
// without the 90-day minimum, the untagged grace, a cosign signature kept
// with its running subject, an archived image a Deployment references, and
// a native lifecycle policy that would expire an image in use.
func TestRuleKindsEndToEnd(t *testing.T) {
	e := start(t, "", nil)
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	r := apiRepo
	v5 := e.seed(r, ecr.Image{Tags: []string{"v5"}, PushedAt: ago(1 * day), LastPulled: ago(1 * day)})
	v4 := e.seed(r, ecr.Image{Tags: []string{"v4"}, PushedAt: ago(10 * day)})
	v3 := e.seed(r, ecr.Image{Tags: []string{"v3"}, PushedAt: ago(100 * day), LastPulled: ago(2 * day)})
	sig := e.seed(r, ecr.Image{Tags: []string{"sha256-" + strings.TrimPrefix(v3, "sha256:") + ".sig"}, PushedAt: ago(100 * day)})
	v2 := e.seed(r, ecr.Image{Tags: []string{"v2"}, PushedAt: ago(120 * day), LastPulled: ago(50 * day)})
	v1 := e.seed(r, ecr.Image{Tags: []string{"v1"}, PushedAt: ago(200 * day)})
	v6 := e.seed(r, ecr.Image{Tags: []string{"v6"}, PushedAt: ago(150 * day), LastPulled: ago(time.Hour), // gc's own BatchGetImage
		Children: []ecr.Image{{Platform: "linux/amd64", LastPulled: ago(40 * day)}, {Platform: "linux/arm64"}}})
	v0 := e.seed(r, ecr.Image{Tags: []string{"v0"}, PushedAt: ago(400 * day), ArchivedAt: ago(200 * day)})
	v09 := e.seed(r, ecr.Image{Tags: []string{"v0.9"}, PushedAt: ago(400 * day), ArchivedAt: ago(100 * day)})
	early := e.seed(r, ecr.Image{PushedAt: ago(400 * day), ArchivedAt: ago(40 * day), Size: 3 << 30})
	devA := e.seed(r, ecr.Image{Tags: []string{"dev-a"}, PushedAt: ago(20 * day), LastPulled: ago(20 * day)})
	devB := e.seed(r, ecr.Image{Tags: []string{"dev-b"}, PushedAt: ago(20 * day), LastPulled: ago(3 * day)})
	fresh := e.seed(r, ecr.Image{PushedAt: ago(time.Hour)})
	seeded := map[string]bool{v5: true, v4: true, v3: true, sig: true, v2: true, v1: true, v6: true, v0: true, v09: true, early: true, devA: true, devB: true, fresh: true}
	children := map[string]bool{}
	for d := range e.sb.Suite.ECR.Images(r) {
		if !seeded[d] {
			children[d] = true // the platform images of v6
		}
	}
	if len(children) != 2 {
		t.Fatalf("v6 has %d children, want 2", len(children))
	}
	if err := e.sb.Suite.ECR.SetLifecyclePolicy(r, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["v1"],"countType":"sinceImagePushed","countUnit":"days","countNumber":90},"action":{"type":"expire"}}]}`); err != nil {
		t.Fatal(err)
	}
	e.deploy("legacy", e.sb.Registry+"/"+r+":v1")
	e.deploy("archived-ref", e.sb.Registry+"/"+r+":v0.9")
	e.deploy("signed", e.sb.Registry+"/"+r+"@"+v3)

	delivered := e.invoke("rules-1")

	want := map[string]string{
		v5: "ACTIVE", v4: "ACTIVE", // keepNewest 2 floor (v4 was never pulled)
		v3: "ACTIVE", sig: "ACTIVE", // pulled 2 days ago, and in use; its signature with it
		v2: "ARCHIVED",              // beyond 2, not pulled for 50 days
		v6: "ARCHIVED",              // its children last pulled 40 days ago
		v1: "ACTIVE",                // in use, though never pulled
		v0: "gone", v09: "ARCHIVED", // archived 200 days > 180; 100 days < 180
		early: "gone",                                  // accepted the minimum charge
		devA:  "gone", devB: "ACTIVE", fresh: "ACTIVE", // pull time; untagged grace
	}
	for d, w := range want {
		if got := e.status(r, d); got != w {
			t.Errorf("%s: %s, want %s", d, got, w)
		}
	}
	for d := range children {
		if got := e.status(r, d); got != "ARCHIVED" {
			t.Errorf("child %s of v6: %s, want ARCHIVED with its index", d, got)
		}
	}
	msg := e.slack()
	for _, s := range []string{
		"v0.9", "archived and cannot be pulled",
		"v1", "native lifecycle policy will expire it",
		"Storage cost", "gc.prices in the policy",
		"archive minimum",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("Slack report lacks %q:\n%s", s, msg)
		}
	}
	detail := e.expired()[r]
	if detail == nil {
		t.Fatalf("no ImagesExpired event for %s: %v", r, e.expired())
	}
	if detail["images"] != 3.0 || detail["archived"] != 4.0 || detail["minimumChargeUSD"] == nil || detail["monthlySavingsUSD"] == nil {
		t.Errorf("ImagesExpired detail = %v; want 3 deleted, 4 archived (v2, v6 and its 2 children), savings and the minimum charge", detail)
	}

	// The archive events reach no function: onpush acts on PUSH only.
	var archiveEvents int
	for _, raw := range e.sb.Suite.EventBridge.Events(eventbridge.DefaultBus) {
		if k, _ := ecrevent.Classify(raw); k == ecrevent.KindStorageClass {
			archiveEvents++
		}
	}
	if archiveEvents != 2 {
		t.Errorf("%d UPDATE_STORAGE_CLASS events, want 2 (v2, v6)", archiveEvents)
	}
	ds, err := e.sb.Deliver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append(delivered, ds...) {
		if d.DetailType == ecrevent.DetailTypeImageAction {
			t.Errorf("%s received an ECR Image Action event from gc's own work: %s", d.Function, d.Event)
		}
	}

	// Restore v0.9, as `ecrwarden restore` does: ACTIVATING, then ACTIVE.
	out, err := e.sb.ECR.UpdateImageStorageClass(context.Background(), &awsecr.UpdateImageStorageClassInput{
		RepositoryName: aws.String(r), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v0.9")}, TargetStorageClass: types.TargetStorageClassStandard})
	if err != nil || out.ImageStatus != types.ImageStatusActivating {
		t.Fatalf("restore: %+v, %v", out, err)
	}
	// A second run leaves the restoring image alone.
	e.invoke("rules-2")
	if got := e.status(r, v09); got != ecr.StatusActivating {
		t.Errorf("v0.9 after a run during its restore: %s, want ACTIVATING", got)
	}
}

// TestTagPushedWhileDeleting: a tag pushed after gc planned an image and
// before its BatchDeleteImage is processed keeps the image (gc deletes
// tagged images by their tags). Deleting by digest, as gc once did, lost it.
func TestTagPushedWhileDeleting(t *testing.T) {
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "ecrwarden.yaml")
	if err := os.WriteFile(policyPath, []byte("version: 1\ngc: { dryRun: false }\nclusters:\n  - { name: retail-forecast, namespaces: [default] }\n"+
		"repositories:\n  - name: mlops/retail-api\n    retention:\n      - { match: \"v*\", keepNewest: 1 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, policyPath, nil)
	now := time.Now()
	old := e.seed(apiRepo, ecr.Image{Tags: []string{"v1"}, PushedAt: now.Add(-2 * day)})
	e.seed(apiRepo, ecr.Image{Tags: []string{"v2"}, PushedAt: now.Add(-day)})
	// Hold BatchDeleteImage for a second after it is received: the tag
	// arrives inside that window.
	e.sb.Suite.ECR.Faults().Set("BatchDeleteImage", fault.Rule{Latency: time.Second})
	done := make(chan sandbox.Delivery, 1)
	go func() {
		d, _ := e.sb.Invoke(context.Background(), "gc", []byte(`{"trigger":"schedule","runId":"race"}`))
		// The scheduled run fans out: the queue's message runs the deletion.
		ds, err := e.sb.Deliver(context.Background())
		for _, x := range ds {
			if x.Err != nil && d.Err == nil {
				d = x
			}
		}
		if err != nil && d.Err == nil {
			d.Err = err
		}
		done <- d
	}()
	deadline := time.Now().Add(20 * time.Second)
	for e.sb.Suite.ECR.Log().Count("BatchDeleteImage") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("gc never called BatchDeleteImage")
		}
		time.Sleep(5 * time.Millisecond)
	}
	m, err := e.sb.ECR.BatchGetImage(context.Background(), &awsecr.BatchGetImageInput{RepositoryName: aws.String(apiRepo),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(old)}}})
	if err != nil || len(m.Images) != 1 {
		t.Fatalf("get manifest: %v", err)
	}
	if _, err := e.sb.ECR.PutImage(context.Background(), &awsecr.PutImageInput{RepositoryName: aws.String(apiRepo),
		ImageManifest: m.Images[0].ImageManifest, ImageTag: aws.String("hotfix")}); err != nil {
		t.Fatal(err)
	}
	if d := <-done; d.Err != nil {
		t.Fatalf("gc: %v", d.Err)
	}
	tags, ok := e.sb.Suite.ECR.Images(apiRepo)[old]
	if !ok || len(tags) != 1 || tags[0] != "hotfix" {
		t.Errorf("image tagged hotfix during the deletion: present %v, tags %v; want it kept with hotfix", ok, tags)
	}
}
