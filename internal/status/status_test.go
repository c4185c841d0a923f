package status

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/emulator"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// controlPlane is the real kube-apiserver, nil in -short mode.
var controlPlane *testenv.Kube

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithKube(m, func(k *testenv.Kube) { controlPlane = k }))
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type clients struct{ c *kube.Client }

func (s clients) Client(context.Context, string) (*kube.Client, error) { return s.c, nil }

// world is the registry and the cluster of the status test: one target per
// state, each in its own Deployment.
type world struct {
	k       *testenv.Kube
	ecr     *ecremu.Server
	client  *ecr.Client
	host    string
	digests map[string]string // repository:tag → digest
}

func (w *world) seed(t *testing.T, repo, tag string, pushed time.Duration, findings ...ecremu.Finding) string {
	t.Helper()
	d, err := w.ecr.SeedImage(repo, ecremu.Image{Tags: []string{tag}, PushedAt: now.Add(-pushed), Size: 1 << 20, Findings: findings,
		Manifest: `{"schemaVersion":2,"mediaType":"` + ecremu.MediaTypeOCIManifest + `","annotations":{"image":"` + repo + ":" + tag + `"}}`})
	if err != nil {
		t.Fatalf("seed %s:%s: %v", repo, tag, err)
	}
	w.digests[repo+":"+tag] = d
	return d
}

func (w *world) image(repo, tag string) string {
	return w.host + "/" + repo + "@" + w.digests[repo+":"+tag]
}

func (w *world) deploy(t *testing.T, name, image string, ann map[string]string) {
	t.Helper()
	labels := map[string]any{"app": name}
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name, "annotations": ann},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": labels}, "template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{"containers": []any{
				map[string]any{"name": "api", "image": image},
				map[string]any{"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
			}},
		}},
	}
	body, _ := json.Marshal(obj)
	code, out, err := w.k.Request(context.Background(), w.k.Admin, http.MethodPost, "/apis/apps/v1/namespaces/"+w.k.Namespace+"/deployments", "application/json", body)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create deployment %s: %d %s %v", name, code, out, err)
	}
}

func startWorld(t *testing.T) *world {
	t.Helper()
	k := controlPlane
	testenv.RequireControlPlane(t, k != nil)
	s := ecremu.New(ecremu.Config{Seed: 1, Now: func() time.Time { return now }})
	url, stop, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	c := ecr.New(ecr.Options{BaseEndpoint: aws.String(url), Region: s.Region(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), HTTPClient: emulator.HTTPClient(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = retry.NewExponentialJitterBackoff(10 * time.Millisecond) })})
	return &world{k: k, ecr: s, client: c, host: s.Account() + ".dkr.ecr." + s.Region() + ".amazonaws.com", digests: map[string]string{}}
}

const statusPolicy = `version: 1
clusters: [{ name: prod, namespaces: [NS] }]
repositories:
  - name: mlops/retail-api
    tags: { allow: ["v{semver}", latest] }
    deploy:
      - { cluster: prod, namespace: NS, deployment: api-current, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-verifying, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-held, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-failed, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-blocked, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-foreign, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-gone, container: api, tags: "v{semver}" }
      - { cluster: prod, namespace: NS, deployment: api-alerted, container: api, tags: "v{semver}" }
  - name: team/scanning
    deploy:
      - { cluster: prod, namespace: NS, deployment: scan-wait, container: api, tags: "v{semver}", requireCleanScan: true }
  - name: team/vuln
    scan: { alertAt: HIGH }
    deploy:
      - { cluster: prod, namespace: NS, deployment: vuln, container: api, tags: "v{semver}", requireCleanScan: true }
  - name: team/empty
    deploy:
      - { cluster: prod, namespace: NS, deployment: no-image, container: api, tags: "v{semver}" }
  - name: team/missing
    deploy:
      - { cluster: prod, namespace: NS, deployment: unlisted, container: api, tags: "v{semver}" }
`

// TestStatus reads every state from a real API server (with the limited
// user, whose writes it must not use) and the ECR emulator, and compares
// the table and the JSON with golden files.
func TestStatus(t *testing.T) {
	w := startWorld(t)
	ctx := context.Background()
	ns := w.k.Namespace
	for _, r := range []string{"mlops/retail-api", "team/scanning", "team/vuln", "team/empty"} {
		if err := w.ecr.CreateRepository(r, ecremu.RepositoryOptions{ScanOnPush: true}); err != nil {
			t.Fatal(err)
		}
	}
	api := "mlops/retail-api"
	crit := ecremu.Finding{Name: "CVE-2024-6119", Severity: "CRITICAL", PackageName: "openssl", PackageVersion: "3.0.13"}
	w.seed(t, api, "v1.0.0", 120*time.Hour)
	w.seed(t, api, "v1.1.1", 72*time.Hour)
	w.seed(t, api, "v1.2.0", 48*time.Hour)
	w.seed(t, api, "v1.2.1", 24*time.Hour)
	w.seed(t, api, "v1.3.0-rc.1", time.Hour)
	w.seed(t, "team/scanning", "v1.0.0", 48*time.Hour)
	inProgress := w.seed(t, "team/scanning", "v1.1.0", time.Hour)
	if err := w.ecr.SetScanStatus("team/scanning", inProgress, "IN_PROGRESS", ""); err != nil {
		t.Fatal(err)
	}
	w.seed(t, "team/vuln", "v1.0.0", 72*time.Hour)
	w.seed(t, "team/vuln", "v1.0.1", 48*time.Hour)
	w.seed(t, "team/vuln", "v1.1.0", 24*time.Hour, crit)
	w.seed(t, "team/empty", "latest", 24*time.Hour)

	change := func(cause, event string, ago time.Duration, from, to string) string {
		b, _ := json.Marshal(Change{EventID: event, Time: now.Add(-ago), Cause: cause, From: from, To: to})
		return string(b)
	}
	v121 := w.digests[api+":v1.2.1"]
	v120 := w.digests[api+":v1.2.0"]
	w.deploy(t, "api-current", w.image(api, "v1.2.1"), map[string]string{
		rollout.AnnotationLastChange: change("push", "6f1c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f", 26*time.Hour, w.image(api, "v1.1.1"), w.image(api, "v1.2.1")),
		rollout.AnnotationVerify:     `{"state":"verified","since":"2026-11-28T09:58:00Z","at":"2026-11-28T10:00:00Z","digest":"` + v121 + `"}`,
	})
	w.deploy(t, "api-verifying", w.image(api, "v1.2.1"), map[string]string{
		rollout.AnnotationLastChange: change("reconcile", "reconcile:run-42", 2*time.Minute, w.image(api, "v1.1.1"), w.image(api, "v1.2.1")),
		rollout.AnnotationVerify:     `{"state":"pending","since":"2026-11-29T11:58:00Z","digest":"` + v121 + `"}`,
	})
	w.deploy(t, "api-alerted", w.image(api, "v1.2.1"), map[string]string{
		rollout.AnnotationVerify: `{"state":"failed","since":"2026-11-29T11:00:00Z","at":"2026-11-29T11:10:00Z","digest":"` + v121 + `","reasons":["ProgressDeadlineExceeded: 1 of 2 updated replicas available"]}`,
	})
	w.deploy(t, "api-held", w.image(api, "v1.1.1"), map[string]string{rollout.AnnotationHold: "rollback by alice at 2026-11-29T09:00:00Z: p99 doubled"})
	w.deploy(t, "api-failed", w.image(api, "v1.1.1"), map[string]string{
		rollout.AnnotationHold:       "ecrwarden at 2026-11-29T11:45:00Z: v1.2.0 failed verification",
		rollout.AnnotationBlocked:    `[{"container":"api","digest":"` + v120 + `","reason":"failed verification"}]`,
		rollout.AnnotationLastChange: change("rollback", "verify:0b7e", 15*time.Minute, w.image(api, "v1.2.0"), w.image(api, "v1.1.1")),
		rollout.AnnotationVerify: `{"state":"rolled-back","since":"2026-11-29T11:40:00Z","at":"2026-11-29T11:45:00Z","digest":"` + v120 +
			`","reasons":["CrashLoopBackOff (2/2 Pods)"],"previousImage":"` + w.image(api, "v1.1.1") + `"}`,
	})
	w.deploy(t, "api-blocked", w.image(api, "v1.1.1"), map[string]string{
		rollout.AnnotationBlocked: `[{"container":"api","digest":"` + v121 + `","reason":"rollback by bob at 2026-11-29T08:00:00Z"}]`,
	})
	w.deploy(t, "api-foreign", "docker.io/library/nginx:1.27", nil)
	w.deploy(t, "api-behind", w.image(api, "v1.0.0"), map[string]string{kube.AnnotationTrack: api + ":v{semver}", rollout.AnnotationContainer: "api",
		kube.AnnotationEventID: "d1c9e6a0-0000-4000-8000-000000000001", kube.AnnotationTag: "v1.0.0"})
	w.deploy(t, "bad-opt-in", w.image(api, "v1.0.0"), map[string]string{kube.AnnotationTrack: "mlops/retail-api"})
	w.deploy(t, "scan-wait", w.image("team/scanning", "v1.0.0"), nil)
	w.deploy(t, "vuln", w.image("team/vuln", "v1.0.0"), nil)
	w.deploy(t, "no-image", w.host+"/team/empty:latest", nil)
	w.deploy(t, "unlisted", w.host+"/team/missing:v1.0.0", nil)

	f, err := policy.Parse("status.yaml", []byte(strings.ReplaceAll(statusPolicy, "NS", ns)))
	if err != nil {
		t.Fatal(err)
	}
	client, err := kube.New(kube.Config{Host: w.k.Limited.Host, CAData: w.k.Limited.CAData, Token: kube.StaticToken(w.k.Limited.Token)})
	if err != nil {
		t.Fatal(err)
	}
	before := resourceVersions(t, w)
	r := &Reader{Policy: f, Clients: clients{client}, Images: w.client, Scans: w.client,
		Origin: ecrevent.Origin{Partition: "aws", Account: w.ecr.Account(), Region: w.ecr.Region()}, Now: func() time.Time { return now }}
	rep, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, resourceVersions(t, w)); diff != "" {
		t.Errorf("status changed Deployments (-before +after):\n%s", diff)
	}

	states := map[string]State{}
	for _, row := range rep.Rows {
		states[row.Workload] = row.State
	}
	want := map[string]State{
		"api-current": Current, "api-verifying": Verifying, "api-alerted": Failed, "api-held": Held, "api-failed": Failed, "api-blocked": Blocked,
		"api-foreign": Foreign, "api-gone": Unknown, "api-behind": Behind, "scan-wait": WaitingScan, "vuln": Findings, "no-image": NoCandidate,
		"unlisted": Unknown, // its repository does not exist: the listing fails
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}

	t.Run("the ecrwarden-reader group is enough", func(t *testing.T) {
		reader := impersonating(t, w.k, "operator", rbac.GroupReader)
		ro := *r
		ro.Clients = clients{reader}
		got, err := ro.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		requestID := regexp.MustCompile(`RequestID: [0-9a-f-]+`)
		strip := func(rows []Row) []Row {
			out := slices.Clone(rows)
			for i := range out {
				out[i].Reason = requestID.ReplaceAllString(out[i].Reason, "")
			}
			return out
		}
		if diff := cmp.Diff(strip(rep.Rows), strip(got.Rows)); diff != "" {
			t.Errorf("status as a member of %s differs (-limited user +reader):\n%s", rbac.GroupReader, diff)
		}
	})

	// The namespace and request ids vary between runs: NS and REQUEST in the golden files.
	requestID := regexp.MustCompile(`RequestID: [0-9a-f-]+`)
	for i := range rep.Rows {
		rep.Rows[i].Namespace = "NS"
		rep.Rows[i].Reason = requestID.ReplaceAllString(strings.ReplaceAll(rep.Rows[i].Reason, ns, "NS"), "RequestID: REQUEST")
	}
	for i := range rep.Problems {
		rep.Problems[i] = strings.ReplaceAll(rep.Problems[i], ns, "NS")
	}
	normalize := func(s string) string { return s }
	var table, js bytes.Buffer
	if err := WriteTable(&table, rep, now); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.txt", normalize(table.String()))
	golden(t, "status.json", normalize(js.String()))
}

func resourceVersions(t *testing.T, w *world) map[string]string {
	t.Helper()
	client, err := kube.New(kube.Config{Host: w.k.Admin.Host, CAData: w.k.Admin.CAData, Token: kube.StaticToken(w.k.Admin.Token)})
	if err != nil {
		t.Fatal(err)
	}
	all, err := client.ListWorkloads(context.Background(), []string{w.k.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, wl := range all {
		out[wl.Ref().String()] = wl.Meta().ResourceVersion
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		name string
		ago  time.Duration
		want string
	}{
		{"now", 300 * time.Millisecond, "just now"},
		{"seconds", 40 * time.Second, "40s ago"},
		{"minutes", 3*time.Minute + 59*time.Second, "3m ago"},
		{"hours", 26 * time.Hour, "26h ago"},
		{"days", 72 * time.Hour, "3d ago"},
		{"future", -3 * time.Minute, "in 3m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Age(now, now.Add(-tt.ago)); got != tt.want {
				t.Errorf("Age(%v) = %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
}

func TestWhyCell(t *testing.T) {
	long := strings.Repeat("x", maxWhy+10)
	tests := []struct{ name, in, want string }{
		{"empty", "", "-"},
		{"short", "held: p99 doubled", "held: p99 doubled"},
		{"exactly the width", long[:maxWhy], long[:maxWhy]},
		{"cut", long, long[:maxWhy-1] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := why(tt.in); got != tt.want {
				t.Errorf("why(%d chars) = %q, want %q", len(tt.in), got, tt.want)
			}
		})
	}
}

// impersonating returns a Kubernetes client that reaches k as user in
// group, through a proxy that impersonates them with the admin's token
// (as kubectl --as does), so that the API server's RBAC decides each
// request.
func impersonating(t *testing.T, k *testenv.Kube, user, group string) *kube.Client {
	t.Helper()
	ctx := context.Background()
	for _, o := range rbac.Objects([]string{k.Namespace}) {
		if err := k.Apply(ctx, o.Path(), o.Metadata.Name, o); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ok, err := k.Allowed(ctx, user, []string{group}, "get", "", "namespaces", "", k.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the RBAC of the ecrwarden groups did not take effect within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	target, err := url.Parse(k.Admin.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = k.HTTPClient().Transport
	director := proxy.Director
	proxy.Director = func(r *http.Request) {
		director(r)
		r.Header.Set("Authorization", "Bearer "+k.Admin.Token)
		r.Header.Set("Impersonate-User", user)
		r.Header.Set("Impersonate-Group", group)
	}
	srv := httptest.NewTLSServer(proxy)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := kube.New(kube.Config{Host: srv.URL, CAData: ca, Token: kube.StaticToken("unused")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
