package integration

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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// clusterName is the EKS cluster of the sandbox and of the test policies.
const clusterName = "retail-forecast"

// cluster is the package's control plane with its EKS token authenticator;
// nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, clusterName, func(c *sandbox.Cluster) { cluster = c }))
}

// env is one sandbox: the emulators, the compiled functions (onscan among
// them) behind the Lambda Runtime API, and an ECR client to push with.
type env struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	logs *sandbox.LogBuffer
	seq  int
}

// startSandbox starts a sandbox with the policy text and skips the test
// when there is no control plane (-short) or when the DynamoDB emulator
// cannot evaluate the dedupe store's condition.
func startSandbox(t *testing.T, policyText string, scan ecremu.ScanType) *env {
	t.Helper()
	testenv.RequireControlPlane(t, cluster != nil)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	if err := os.WriteFile(path, []byte(policyText), 0o600); err != nil {
		t.Fatalf("write policy: %v", err)
	}
	logs := &sandbox.LogBuffer{}
	sb, err := sandbox.Start(ctx, sandbox.Options{PolicyPath: path, Cluster: cluster, Logs: logs, ScanType: scan})
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
	e := &env{t: t, sb: sb, logs: logs}
	e.requireDedupeCondition(ctx)
	return e
}

// requireDedupeCondition claims one record through internal/dedupe against
// the DynamoDB emulator and fails the test, with a clear message, if the
// emulator refuses the store's condition expression: every alert goes
// through that write.
func (e *env) requireDedupeCondition(ctx context.Context) {
	e.t.Helper()
	client := dynamodb.NewFromConfig(e.sb.AWS, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(e.sb.Endpoint("DynamoDB"))
	})
	_, err := dedupe.New(client, e.sb.DedupeTable).Begin(ctx, "onscan-integration-preflight")
	if err != nil {
		e.t.Fatalf("dedupe preflight: the DynamoDB emulator must accept internal/dedupe's conditional write "+
			"(attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now), ALL_OLD): %v", err)
	}
}

// push stores an image whose scan reports fs and returns its digest; the
// emulator emits the push event and, scanning on push, the scan events.
func (e *env) push(repo, tag string, fs ...ecremu.Finding) string {
	e.t.Helper()
	manifest, digest := e.sb.NewManifest()
	if err := e.sb.Suite.ECR.SetFindings(repo, digest, fs); err != nil {
		e.t.Fatalf("seed findings: %v", err)
	}
	e.put(repo, tag, manifest)
	return digest
}

// pushFailingScan stores an image whose scan fails and returns its digest.
func (e *env) pushFailingScan(repo, tag string) string {
	e.t.Helper()
	manifest, digest := e.sb.NewManifest()
	if err := e.sb.Suite.ECR.SetScanFailure(repo, digest, "UnsupportedImageError: The operating system and/or package manager are not supported."); err != nil {
		e.t.Fatalf("seed scan failure: %v", err)
	}
	e.put(repo, tag, manifest)
	return digest
}

func (e *env) put(repo, tag, manifest string) {
	e.t.Helper()
	if err := e.sb.PutImage(context.Background(), repo, tag, manifest); err != nil {
		e.t.Fatal(err)
	}
}

// deliver routes the queued events to the functions and returns onscan's
// deliveries; a delivery that failed after its retries fails the test
// unless failOK.
func (e *env) deliver(failOK bool) []sandbox.Delivery {
	e.t.Helper()
	ds, err := e.sb.Deliver(context.Background())
	if err != nil {
		e.t.Fatalf("deliver: %v", err)
	}
	var out []sandbox.Delivery
	for _, d := range ds {
		if d.Function != "onscan" {
			continue
		}
		if d.Err != nil && !failOK {
			e.t.Fatalf("onscan failed on %s after %d attempts: %v", d.DetailType, d.Attempts, d.Err)
		}
		out = append(out, d)
	}
	return out
}

// sns returns the alerts published to the topic, by kind.
func (e *env) sns() map[alert.Kind][]string {
	out := map[alert.Kind][]string{}
	for _, m := range e.sb.Suite.SNS.Messages(e.sb.TopicARN) {
		k := alert.Kind(m.Attributes[alert.AttrKind].StringValue)
		out[k] = append(out[k], m.Message)
	}
	return out
}

func (e *env) slackCount() int { return len(e.sb.Suite.Slack.Payloads()) }

// counts returns how many SNS messages of each kind and Slack messages there are.
func (e *env) counts() string {
	s := e.sns()
	return fmt.Sprintf("sns findings=%d scan-failed=%d rollout-blocked=%d, slack=%d",
		len(s[alert.KindFindings]), len(s[alert.KindScanFailed]), len(s[alert.KindRolloutBlocked]), e.slackCount())
}

func (e *env) wantCounts(step, want string) {
	e.t.Helper()
	if got := e.counts(); got != want {
		e.t.Fatalf("%s: %s, want %s", step, got, want)
	}
}

func finding(id, severity string) ecremu.Finding {
	return ecremu.Finding{Name: id, Severity: severity, Description: id + " in openssl", URI: "https://www.cve.org/CVERecord?id=" + id,
		PackageName: "openssl", PackageVersion: "3.0.13", FixedInVersion: "3.0.14", CVSS2Score: "7.5", Score: 7.5}
}

func basicPolicy(ignore string) string {
	return `version: 1
clusters:
  - name: ` + clusterName + `
    namespaces: [default]
notify: { slackSecret: ecrwarden/slack-webhook }
repositories:
  - name: mlops/retail-api
    scan:
      alertAt: HIGH
      ignore: [` + ignore + `]
`
}

// TestIntegrationOneAlertPerFindingSet: two identical scan events alert
// once; a rescan with the same results is silent; a new CVE alerts again.
func TestIntegrationOneAlertPerFindingSet(t *testing.T) {
	e := startSandbox(t, basicPolicy(""), ecremu.ScanBasic)
	const repo = "mlops/retail-api"
	fs := []ecremu.Finding{finding("CVE-2026-2000", "HIGH"), finding("CVE-2026-2001", "MEDIUM")}
	digest := e.push(repo, "v1.0.0", fs...)
	ds := e.deliver(false)
	if len(ds) != 1 || ds[0].DetailType != ecrevent.DetailTypeImageScan {
		t.Fatalf("onscan deliveries = %d (%v), want one ECR Image Scan", len(ds), ds)
	}
	e.wantCounts("first scan", "sns findings=1 scan-failed=0 rollout-blocked=0, slack=1")
	if body := e.sns()[alert.KindFindings][0]; !strings.Contains(body, "CVE-2026-2000") {
		t.Errorf("SNS body does not name CVE-2026-2000:\n%s", body)
	}

	// EventBridge redelivers the same event.
	d, err := e.sb.Invoke(context.Background(), "onscan", ds[0].Event)
	if err != nil || d.Err != nil {
		t.Fatalf("redeliver: %v %v", err, d.Err)
	}
	e.wantCounts("identical event", "sns findings=1 scan-failed=0 rollout-blocked=0, slack=1")

	// A rescan with the same results.
	if err := e.sb.Suite.ECR.Rescan(context.Background(), repo, digest, fs); err != nil {
		t.Fatalf("rescan: %v", err)
	}
	e.deliver(false)
	e.wantCounts("same rescan", "sns findings=1 scan-failed=0 rollout-blocked=0, slack=1")

	// A new CVE on the same image.
	if err := e.sb.Suite.ECR.Rescan(context.Background(), repo, digest, append(fs, finding("CVE-2026-2002", "CRITICAL"))); err != nil {
		t.Fatalf("rescan: %v", err)
	}
	e.deliver(false)
	e.wantCounts("new CVE", "sns findings=2 scan-failed=0 rollout-blocked=0, slack=2")
	if body := e.sns()[alert.KindFindings][1]; !strings.Contains(body, "CVE-2026-2002") || !strings.Contains(body, "CVE-2026-2000") {
		t.Errorf("second alert does not list the whole set:\n%s", body)
	}
}

// TestIntegrationInspectorBurst: with enhanced scanning the initial scan
// and its per-finding events make one alert; a CVE found later arrives as
// one "Inspector2 Finding" event and alerts with the whole set.
func TestIntegrationInspectorBurst(t *testing.T) {
	e := startSandbox(t, basicPolicy(""), ecremu.ScanEnhanced)
	const repo = "mlops/retail-api"
	fs := []ecremu.Finding{finding("CVE-2026-2000", "HIGH"), finding("CVE-2026-2003", "CRITICAL"), finding("CVE-2026-2001", "MEDIUM")}
	digest := e.push(repo, "v1.0.0", fs...)
	ds := e.deliver(false)
	kinds := map[string]int{}
	for _, d := range ds {
		kinds[d.DetailType]++
	}
	if kinds[ecrevent.DetailTypeInspectorScan] != 1 || kinds[ecrevent.DetailTypeInspectorFinding] != 3 {
		t.Fatalf("onscan deliveries by detail-type = %v, want 1 Inspector2 Scan and 3 Inspector2 Finding", kinds)
	}
	e.wantCounts("initial scan burst", "sns findings=1 scan-failed=0 rollout-blocked=0, slack=1")

	if err := e.sb.Suite.ECR.Rescan(context.Background(), repo, digest, append(fs, finding("CVE-2026-2004", "HIGH"))); err != nil {
		t.Fatalf("rescan: %v", err)
	}
	ds = e.deliver(false)
	if len(ds) != 1 || ds[0].DetailType != ecrevent.DetailTypeInspectorFinding {
		t.Fatalf("rescan deliveries = %d, want one Inspector2 Finding", len(ds))
	}
	e.wantCounts("new CVE after the push", "sns findings=2 scan-failed=0 rollout-blocked=0, slack=2")
}

// TestIntegrationIgnoreUntilExpiry: the same CVE is silent while its ignore
// entry applies and alerts, saying the entry expired, once it has.
func TestIntegrationIgnoreUntilExpiry(t *testing.T) {
	today := time.Now().UTC()
	for _, tt := range []struct {
		name  string
		until time.Time
		want  string
	}{
		{"entry applies through its last day", today, "sns findings=0 scan-failed=0 rollout-blocked=0, slack=0"},
		{"entry expired yesterday", today.AddDate(0, 0, -1), "sns findings=1 scan-failed=0 rollout-blocked=0, slack=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ignore := fmt.Sprintf(`{ id: CVE-2026-1000, until: %s, reason: "not reachable" }`, tt.until.Format(time.DateOnly))
			e := startSandbox(t, basicPolicy(ignore), ecremu.ScanBasic)
			e.push("mlops/retail-api", "v1.0.0", finding("CVE-2026-1000", "CRITICAL"), finding("CVE-2026-2001", "MEDIUM"))
			e.deliver(false)
			e.wantCounts("scan", tt.want)
			for _, body := range e.sns()[alert.KindFindings] {
				if !strings.Contains(body, "CVE-2026-1000") || !strings.Contains(body, "expired") {
					t.Errorf("alert does not say the ignore entry of CVE-2026-1000 expired:\n%s", body)
				}
			}
		})
	}
}

// TestIntegrationSlackDown: with Slack failing, SNS is still sent and the
// invocation fails (retried, then the DLQ); the retries do not publish to
// SNS again, and once Slack is back a redrive sends Slack only.
func TestIntegrationSlackDown(t *testing.T) {
	e := startSandbox(t, basicPolicy(""), ecremu.ScanBasic)
	e.sb.Suite.Slack.Faults().Set(fault.AnyOp, fault.Rule{ServerError: 1000})
	e.push("mlops/retail-api", "v1.0.0", finding("CVE-2026-2000", "HIGH"))
	ds := e.deliver(true)
	if len(ds) != 1 || ds[0].Err == nil || ds[0].Attempts < 2 {
		t.Fatalf("deliveries = %+v, want one failed after retries", ds)
	}
	if dlq := e.sb.DLQ(); len(dlq) != 1 {
		t.Fatalf("DLQ holds %d, want 1", len(dlq))
	}
	e.wantCounts("slack down", "sns findings=1 scan-failed=0 rollout-blocked=0, slack=0")

	e.sb.Suite.Slack.Faults().Clear()
	d, err := e.sb.Invoke(context.Background(), "onscan", e.sb.DLQ()[0].Event)
	if err != nil || d.Err != nil {
		t.Fatalf("redrive: %v %v", err, d.Err)
	}
	e.wantCounts("slack back", "sns findings=1 scan-failed=0 rollout-blocked=0, slack=1")
}

// TestIntegrationGatedRollout: a deploy rule with requireCleanScan is left
// alone by onpush, rolled forward by a clean scan and held by a dirty one
// and by a failed one.
func TestIntegrationGatedRollout(t *testing.T) {
	e, k, ns, base := startGated(t)

	clean := e.push("mlops/retail-api", "v1.1.0", finding("CVE-2026-2001", "MEDIUM"))
	e.deliver(false)
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+"@"+clean; got != want {
		t.Fatalf("after a clean scan the image is %s, want %s", got, want)
	}
	e.wantCounts("clean scan", "sns findings=0 scan-failed=0 rollout-blocked=0, slack=0")

	e.push("mlops/retail-api", "v1.2.0", finding("CVE-2026-2000", "HIGH"))
	e.deliver(false)
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+"@"+clean; got != want {
		t.Fatalf("after a dirty scan the image is %s, want it held at %s", got, want)
	}
	e.wantCounts("dirty scan", "sns findings=1 scan-failed=0 rollout-blocked=1, slack=2")
	if body := e.sns()[alert.KindRolloutBlocked][0]; !strings.Contains(body, "gated-api") || !strings.Contains(body, "v1.2.0") {
		t.Errorf("rollout-blocked alert does not name the deployment and tag:\n%s", body)
	}

	e.pushFailingScan("mlops/retail-api", "v1.3.0")
	e.deliver(false)
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+"@"+clean; got != want {
		t.Fatalf("after a failed scan the image is %s, want it held at %s", got, want)
	}
	e.wantCounts("failed scan", "sns findings=1 scan-failed=1 rollout-blocked=1, slack=3")
	if body := e.sns()[alert.KindScanFailed][0]; !strings.Contains(body, "FAILED") || !strings.Contains(body, "v1.3.0 to "+clusterName+"/"+ns+"/gated-api[api]") {
		t.Errorf("scan-failed alert does not say the rollout is held:\n%s", body)
	}
}

func createDeployment(t *testing.T, k *testenv.Kube, ns, name, image string) {
	t.Helper()
	labels := map[string]any{"app": name}
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": 1, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "api", "image": image}}}},
		},
	}
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encode deployment: %v", err)
	}
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodPost, "/apis/apps/v1/namespaces/"+ns+"/deployments", "application/json", body)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create deployment %s: %d %s %v", name, code, out, err)
	}
	t.Cleanup(func() {
		k.Request(context.Background(), k.Admin, http.MethodDelete, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, "", nil)
	})
}

func deploymentImage(t *testing.T, k *testenv.Kube, ns, name string) string {
	t.Helper()
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodGet, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("get deployment %s: %d %s %v", name, code, out, err)
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Name, Image string } `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &d); err != nil || len(d.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("decode deployment %s: %v %s", name, err, out)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// startGated starts a sandbox whose policy rolls gated-api (created here,
// running v1.0.0) only after a clean scan, and returns it with the control
// plane, its namespace and the repository's image base.
func startGated(t *testing.T) (e *env, k *testenv.Kube, ns, base string) {
	t.Helper()
	testenv.RequireControlPlane(t, cluster != nil)
	k, ns = cluster.Kube, cluster.Kube.Namespace
	e = startSandbox(t, gatedPolicy(ns), ecremu.ScanBasic)
	base = e.sb.Registry + "/mlops/retail-api"
	createDeployment(t, k, ns, "gated-api", base+":v1.0.0")
	return e, k, ns, base
}

// gatedPolicy is a policy whose deploy rule waits for a clean scan.
func gatedPolicy(ns string) string {
	return `version: 1
clusters:
  - name: ` + clusterName + `
    namespaces: [` + ns + `]
notify: { slackSecret: ecrwarden/slack-webhook }
repositories:
  - name: mlops/retail-api
    scan: { alertAt: HIGH }
    deploy:
      - { cluster: ` + clusterName + `, namespace: ` + ns + `, deployment: gated-api, container: api, tags: "v{semver}", requireCleanScan: true }
`
}

// scanEvent returns the last "ECR Image Scan" event of digest on the default bus.
func (e *env) scanEvent(digest string) []byte {
	e.t.Helper()
	evs := e.sb.Suite.EventBridge.Events("default")
	for i := len(evs) - 1; i >= 0; i-- {
		if k, err := ecrevent.Classify(evs[i]); err != nil || k != ecrevent.KindBasicScan {
			continue
		}
		if s, err := ecrevent.DecodeScan(evs[i]); err == nil && s.Digest == digest {
			return evs[i]
		}
	}
	e.t.Fatalf("no scan event of %s", digest)
	return nil
}

// TestIntegrationIncompleteScanKeepsTheGateShut: a findings read that is
// not complete (IN_PROGRESS after the scan event went out) is an error the
// compiled function fails on, retried and sent to the DLQ; the gated
// Deployment does not move. Once the read completes clean, the redriven
// event releases it.
func TestIntegrationIncompleteScanKeepsTheGateShut(t *testing.T) {
	e, k, ns, base := startGated(t)

	digest := e.push("mlops/retail-api", "v1.1.0")
	if err := e.sb.Suite.ECR.SetScanStatus("mlops/retail-api", digest, "IN_PROGRESS", "The scan is in progress."); err != nil {
		t.Fatal(err)
	}
	ds := e.deliver(true)
	if len(ds) != 1 || ds[0].Err == nil || ds[0].Attempts != 3 || !strings.Contains(ds[0].Err.Error(), "scan not complete (IN_PROGRESS") {
		t.Fatalf("deliveries = %+v, want one failing 3 times on the incomplete scan", ds)
	}
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+":v1.0.0"; got != want {
		t.Fatalf("an incomplete scan moved the gated Deployment to %s, want it at %s", got, want)
	}
	e.wantCounts("incomplete scan", "sns findings=0 scan-failed=0 rollout-blocked=0, slack=0")

	if err := e.sb.Suite.ECR.SetScanStatus("mlops/retail-api", digest, "COMPLETE", "The scan was completed successfully."); err != nil {
		t.Fatal(err)
	}
	d, err := e.sb.Invoke(context.Background(), "onscan", e.sb.DLQ()[0].Event)
	if err != nil || d.Err != nil {
		t.Fatalf("redrive: %v %v", err, d.Err)
	}
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+"@"+digest; got != want {
		t.Fatalf("after the scan completed clean the image is %s, want %s", got, want)
	}
}

// TestIntegrationUnknownSeverityHoldsTheGate: a finding of UNDEFINED
// severity does not alert by itself, but it holds the gated rollout and
// the rollout-blocked alert names it.
func TestIntegrationUnknownSeverityHoldsTheGate(t *testing.T) {
	e, k, ns, base := startGated(t)

	e.push("mlops/retail-api", "v1.1.0", finding("CVE-2026-2001", "MEDIUM"), finding("CVE-2026-4242", "UNDEFINED"))
	e.deliver(false)
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+":v1.0.0"; got != want {
		t.Fatalf("a finding of unknown severity let the gated Deployment move to %s", got)
	}
	e.wantCounts("unknown severity", "sns findings=0 scan-failed=0 rollout-blocked=1, slack=1")
	body := e.sns()[alert.KindRolloutBlocked][0]
	if !strings.Contains(body, "CVE-2026-4242") || !strings.Contains(body, "unknown severity") {
		t.Errorf("rollout-blocked alert does not name the finding of unknown severity:\n%s", body)
	}
}

// TestIntegrationEventCountsDisagreeWithAnEmptyRead: a scan event that
// counts CRITICAL 7 and HIGH 61 while the complete findings read is empty
// is doubt: the invocation fails (retried, then the DLQ) and releases
// nothing. The genuine event of the same clean scan then releases the gate.
func TestIntegrationEventCountsDisagreeWithAnEmptyRead(t *testing.T) {
	e, k, ns, base := startGated(t)

	digest := e.push("mlops/retail-api", "v1.1.0")
	crafted, err := sandbox.WithField(e.scanEvent(digest), "detail.finding-severity-counts", map[string]any{"CRITICAL": 7, "HIGH": 61})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.sb.Invoke(context.Background(), "onscan", crafted)
	if err != nil || d.Err == nil || d.Attempts != 3 || !strings.Contains(d.Err.Error(), "counts 68 findings (CRITICAL 7, HIGH 61)") {
		t.Fatalf("crafted event: %v, function error %v after %d attempts; want it failed on the disagreement", err, d.Err, d.Attempts)
	}
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+":v1.0.0"; got != want {
		t.Fatalf("the disagreeing event moved the gated Deployment to %s", got)
	}
	e.deliver(false) // the genuine push and scan events
	if got, want := deploymentImage(t, k, ns, "gated-api"), base+"@"+digest; got != want {
		t.Fatalf("the genuine clean scan left the image at %s, want %s", got, want)
	}
}

// TestIntegrationRefusedScanEvents: scan events of another account or
// Region, and of an image our registry does not have, are refused by the
// compiled function: one attempt, EventRefused on the bus, nothing sent.
func TestIntegrationRefusedScanEvents(t *testing.T) {
	e := startSandbox(t, basicPolicy(""), ecremu.ScanBasic)
	digest := e.push("mlops/retail-api", "v1.0.0", finding("CVE-2026-2000", "CRITICAL"))
	genuine := e.scanEvent(digest)
	craft := func(key string, v any) []byte {
		b, err := sandbox.WithField(genuine, key, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, tt := range []struct {
		name, reason string
		event        []byte
	}{
		{"another account", `account "210987654321"`, craft("account", "210987654321")},
		{"another Region", `Region "eu-west-1"`, craft("region", "eu-west-1")},
		{"an image our registry does not have", "is not in our registry", craft("detail.image-digest", "sha256:"+strings.Repeat("cd", 32))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.sb.Invoke(context.Background(), "onscan", tt.event)
			if err != nil || d.Err != nil || d.Attempts != 1 {
				t.Fatalf("invoke: %v, function error %v after %d attempts; want success at once", err, d.Err, d.Attempts)
			}
			var refused []map[string]any
			for _, raw := range e.sb.Suite.EventBridge.Events(e.sb.EventBus) {
				var a struct {
					DetailType string         `json:"detail-type"`
					Detail     map[string]any `json:"detail"`
				}
				if json.Unmarshal(raw, &a) == nil && a.DetailType == audit.EventRefused {
					refused = append(refused, a.Detail)
				}
			}
			if len(refused) != i+1 || refused[i]["function"] != "onscan" || !strings.Contains(fmt.Sprint(refused[i]["reason"]), tt.reason) {
				t.Fatalf("EventRefused = %v, want %d, the last onscan's with a reason containing %q", refused, i+1, tt.reason)
			}
			e.wantCounts(tt.name, "sns findings=0 scan-failed=0 rollout-blocked=0, slack=0")
		})
	}
	if dlq := e.sb.DLQ(); len(dlq) != 0 {
		t.Errorf("DLQ holds %d, want none", len(dlq))
	}
}
