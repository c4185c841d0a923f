package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

const (
	testRepo    = "mlops/retail-api"
	testDigest  = "sha256:1fe57ccde598e92184fb93d7f7861350b62df5254265d5e95936a809f9413c8a"
	testAccount = "123456789012"
	testRegion  = "ap-southeast-1"
	// testTarget names the gated deploy rule of testPolicy as the alert keys do.
	testTarget = "retail-forecast/default/retail-forecast-api/api"
)

// testNow is the handler's clock: CVE-2026-1000's ignore entry is active,
// CVE-2025-0001's expired.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const testPolicy = `version: 1
clusters:
  - name: retail-forecast
    namespaces: [default]
repositories:
  - name: mlops/retail-api
    scan:
      alertAt: HIGH
      ignore:
        - { id: CVE-2026-1000, until: 2026-12-31, reason: "not reachable" }
        - { id: CVE-2025-0001, until: 2026-01-31, reason: "vendor fix pending" }
    deploy:
      - { cluster: retail-forecast, namespace: default, deployment: retail-forecast-api, container: api, tags: "v{semver}", requireCleanScan: true }
      - { cluster: retail-forecast, namespace: default, deployment: retail-forecast-dev, container: api, tags: "dev-{sha}" }
  - name: mlops/train-model
    scan: { alertAt: CRITICAL }
`

func loadPolicy(tb testing.TB, src string) *policy.File {
	tb.Helper()
	f, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		tb.Fatalf("policy: %v", err)
	}
	return f
}

// fakeFindings serves DescribeImageScanFindings from a fixed finding set in
// pages of pageSize, failing page failPage (1-based) with failErr.
type fakeFindings struct {
	// status is every page's scan status; COMPLETE when empty.
	status   ecrtypes.ScanStatus
	basic    []ecrtypes.ImageScanFinding
	enhanced []ecrtypes.EnhancedImageScanFinding
	pageSize int
	failPage int
	failErr  error
	calls    []*ecr.DescribeImageScanFindingsInput
}

func (f *fakeFindings) DescribeImageScanFindings(_ context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	f.calls = append(f.calls, in)
	page := len(f.calls)
	if page == f.failPage {
		return nil, f.failErr
	}
	size := f.pageSize
	if size == 0 {
		size = int(aws.ToInt32(in.MaxResults))
	}
	start := 0
	if in.NextToken != nil {
		var err error
		if start, err = strconv.Atoi(*in.NextToken); err != nil {
			return nil, fmt.Errorf("bad token %q", *in.NextToken)
		}
	}
	status := f.status
	if status == "" {
		status = ecrtypes.ScanStatusComplete
	}
	out := &ecr.DescribeImageScanFindingsOutput{ImageScanFindings: &ecrtypes.ImageScanFindings{},
		ImageScanStatus: &ecrtypes.ImageScanStatus{Status: status}}
	n := 0
	for i := start; i < len(f.basic)+len(f.enhanced) && n < size; i, n = i+1, n+1 {
		if i < len(f.basic) {
			out.ImageScanFindings.Findings = append(out.ImageScanFindings.Findings, f.basic[i])
		} else {
			out.ImageScanFindings.EnhancedFindings = append(out.ImageScanFindings.EnhancedFindings, f.enhanced[i-len(f.basic)])
		}
	}
	if next := start + n; next < len(f.basic)+len(f.enhanced) {
		out.NextToken = aws.String(strconv.Itoa(next))
	}
	return out, nil
}

// fakeImages answers DescribeImages with one image carrying tags.
type fakeImages struct {
	tags     []string
	pushedAt time.Time
	gone     bool
	calls    []*ecr.DescribeImagesInput
}

func (f *fakeImages) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	f.calls = append(f.calls, in)
	if f.gone {
		return nil, &ecrtypes.ImageNotFoundException{Message: aws.String("gone")}
	}
	return &ecr.DescribeImagesOutput{ImageDetails: []ecrtypes.ImageDetail{{
		RepositoryName: in.RepositoryName, ImageDigest: in.ImageIds[0].ImageDigest,
		ImageTags: f.tags, ImagePushedAt: aws.Time(f.pushedAt),
	}}}, nil
}

type delivery struct {
	key   string
	alert alert.Alert
}

// fakeAlerts delivers once per key, like notify.Once, then publishes the
// audit events to audit once per key; err fails every delivery without
// recording it.
type fakeAlerts struct {
	done       map[string]bool
	deliveries []delivery
	err        error
	audit      *fakeAudit
}

func (f *fakeAlerts) DeliverAudited(ctx context.Context, key string, a alert.Alert, events []audit.Event) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	if f.done == nil {
		f.done = map[string]bool{}
	}
	sent := !f.done[key]
	if sent {
		f.done[key] = true
		f.deliveries = append(f.deliveries, delivery{key, a})
	}
	if len(events) > 0 && !f.done[key+"#audit"] {
		f.done[key+"#audit"] = true
		_ = f.audit.Publish(ctx, events...)
	}
	return sent, nil
}

type fakeAudit struct{ events []audit.Event }

func (f *fakeAudit) Publish(_ context.Context, events ...audit.Event) error {
	f.events = append(f.events, events...)
	return nil
}

type fakeRoller struct{ rolls []string }

func (f *fakeRoller) Roll(_ context.Context, img rollout.Image, targets []rollout.Target) ([]rollout.Outcome, error) {
	for _, t := range targets {
		f.rolls = append(f.rolls, fmt.Sprintf("%s:%s@%s pushed %s -> %s", img.Repository, img.Tag, img.Digest, img.PushedAt.Format(time.RFC3339), t))
	}
	return nil, nil
}

// rig is a handler wired to fakes.
type rig struct {
	h        *handler
	findings *fakeFindings
	images   *fakeImages
	alerts   *fakeAlerts
	audit    *fakeAudit
	roller   *fakeRoller
	metrics  *metrics.Collector
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	r := &rig{findings: &fakeFindings{}, images: &fakeImages{pushedAt: testNow.Add(-time.Hour)}, audit: &fakeAudit{}, roller: &fakeRoller{},
		metrics: metrics.NewCollector()}
	r.alerts = &fakeAlerts{audit: r.audit}
	r.h = &handler{
		metrics: metrics.New(r.metrics.Writer(), metrics.FunctionOnscan),
		policy:  loadPolicy(tb, testPolicy), scans: r.findings, images: r.images, alerts: r.alerts, audit: r.audit, roll: r.roller,
		discover: func(_ context.Context, f *policy.File, repo string) ([]rollout.Target, []error, error) {
			return rollout.PolicyTargets(f, repo), nil, nil
		},
		region: testRegion,
		now:    func() time.Time { return testNow },
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return r
}

// testFunctionARN is the ARN the Lambda Runtime API hands onscan.
const testFunctionARN = "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:ecrwarden-onscan"

// invocation is the context of one Lambda invocation of onscan.
func invocation() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: "c6af9ac6-7b61-11e6-9a41-93e812345678", InvokedFunctionArn: testFunctionARN})
}

func (r *rig) keys() []string {
	var out []string
	for _, d := range r.alerts.deliveries {
		out = append(out, d.key)
	}
	return out
}

func (r *rig) auditTypes() []string {
	var out []string
	for _, e := range r.audit.events {
		out = append(out, e.DetailType)
	}
	return out
}

func basicFinding(id, severity string) ecrtypes.ImageScanFinding {
	return ecrtypes.ImageScanFinding{
		Name: aws.String(id), Severity: ecrtypes.FindingSeverity(severity), Uri: aws.String("https://security-tracker.debian.org/tracker/" + id),
		Attributes: []ecrtypes.Attribute{
			{Key: aws.String("package_name"), Value: aws.String("openssl")},
			{Key: aws.String("package_version"), Value: aws.String("3.0.13")},
			{Key: aws.String("CVSS2_SCORE"), Value: aws.String("7.5")},
		},
	}
}

func enhancedFinding(id, severity string) ecrtypes.EnhancedImageScanFinding {
	return ecrtypes.EnhancedImageScanFinding{
		FindingArn: aws.String("arn:aws:inspector2:ap-southeast-1:123456789012:finding/" + strings.ToLower(id)),
		Severity:   aws.String(severity), Status: aws.String("ACTIVE"), Title: aws.String(id + " - openssl"),
		PackageVulnerabilityDetails: &ecrtypes.PackageVulnerabilityDetails{
			VulnerabilityId: aws.String(id), SourceUrl: aws.String("https://www.cve.org/CVERecord?id=" + id),
			VulnerablePackages: []ecrtypes.VulnerablePackage{{Name: aws.String("openssl"), Version: aws.String("3.0.13"), FixedInVersion: aws.String("3.0.14")}},
		},
	}
}

func envelope(id string) ecrevent.EnvelopeInput {
	return ecrevent.EnvelopeInput{ID: id, Account: testAccount, Region: testRegion, Time: testNow}
}

// mustEvent returns a function that fails tb when building an event failed.
func mustEvent(tb testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		tb.Helper()
		if err != nil {
			tb.Fatalf("build event: %v", err)
		}
		return b
	}
}

func basicScan(tb testing.TB, repo, status string) []byte {
	tb.Helper()
	return mustEvent(tb)(ecrevent.NewBasicScanEvent(ecrevent.ScanInput{EnvelopeInput: envelope("11111111-1111-4111-8111-111111111111"),
		Repository: repo, Digest: testDigest, Tags: []string{"v1.3.0"}, Status: status, SeverityCounts: map[string]int64{"HIGH": 1}}))
}

func inspectorScan(tb testing.TB) []byte {
	tb.Helper()
	return mustEvent(tb)(ecrevent.NewInspectorScanEvent(ecrevent.ScanInput{EnvelopeInput: envelope("22222222-2222-4222-8222-222222222222"),
		Repository: testRepo, Digest: testDigest, Tags: []string{"v1.3.0"}, SeverityCounts: map[string]int64{"HIGH": 1}}))
}

func inspectorFinding(tb testing.TB, id, severity, status string) []byte {
	tb.Helper()
	return mustEvent(tb)(ecrevent.NewInspectorFindingEvent(ecrevent.FindingInput{EnvelopeInput: envelope("33333333-3333-4333-8333-333333333333"),
		Repository: testRepo, Digest: testDigest, Tags: []string{"v1.3.0"}, FindingID: strings.ToLower(id),
		VulnerabilityID: id, Severity: severity, Status: status,
		Packages: []ecrevent.VulnerablePackage{{Name: "openssl", Version: "3.0.13", PackageManager: "OS"}}}))
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		tb.Fatalf("fixture: %v", err)
	}
	return b
}

// fingerprintOf is the fingerprint of the alerting ids on the test image.
func fingerprintOf(ids ...string) string {
	fs := make([]findings.Finding, len(ids))
	for i, id := range ids {
		fs[i] = findings.Finding{ID: id}
	}
	return findings.Fingerprint(testRepo, testDigest, fs)
}

func alertingIDs(a alert.Alert) []string {
	if a.Findings == nil {
		return nil
	}
	return a.Findings.IDs()
}

func TestHandle(t *testing.T) {
	malformedDigest := `{"version":"0","id":"x","detail-type":"ECR Image Scan","source":"aws.ecr","account":"123456789012","time":"2026-11-20T08:16:30Z","region":"ap-southeast-1","resources":[],"detail":{"scan-status":"COMPLETE","repository-name":"mlops/retail-api","image-digest":"sha256:EXAMPLE","image-tags":[]}}`
	tests := []struct {
		name     string
		event    func(testing.TB) []byte
		basic    []ecrtypes.ImageScanFinding
		enhanced []ecrtypes.EnhancedImageScanFinding
		pageSize int
		failPage int
		failErr  error
		// registryTags are the image's tags in the registry; nil: untagged.
		registryTags []string
		alertErr     error
		// readStatus is the findings read's scan status; COMPLETE when empty.
		readStatus ecrtypes.ScanStatus

		wantErr       error // errors.Is target; errAny for any error
		wantKeys      []string
		wantIDs       [][]string // alerting ids per delivery
		wantAudit     []string
		wantRolls     []string
		wantFindCalls int
		// wantGates is the ScanGates metric by decision.
		wantGates map[string]float64
		check     func(t *testing.T, r *rig)
	}{
		{name: "EC2 finding ignored", event: func(tb testing.TB) []byte { return fixture(tb, "inspector2-finding-ec2.json") }},
		{name: "EC2 scan ignored", event: func(tb testing.TB) []byte { return fixture(tb, "inspector2-scan-ec2.json") }},
		{name: "replication ignored", event: func(tb testing.TB) []byte { return fixture(tb, "ecr-replication-action.json") }},
		{name: "push ignored", event: func(tb testing.TB) []byte { return fixture(tb, "ecr-image-action-push.json") }},
		{
			name:  "repository not in the policy",
			event: func(tb testing.TB) []byte { return basicScan(tb, "other/repo", "COMPLETE") },
			basic: []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "CRITICAL")},
		},
		{name: "invalid JSON", event: func(testing.TB) []byte { return []byte(`{"source":`) }, wantErr: ecrevent.ErrMalformedEvent},
		{
			name:    "malformed digest",
			event:   func(testing.TB) []byte { return []byte(malformedDigest) },
			basic:   []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "CRITICAL")},
			wantErr: errAny,
		},
		{
			name:          "basic complete with a HIGH finding alerts",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH"), basicFinding("CVE-2026-2001", "MEDIUM")},
			wantKeys:      []string{"findings#" + fingerprintOf("CVE-2026-2000")},
			wantIDs:       [][]string{{"CVE-2026-2000"}},
			wantAudit:     []string{audit.FindingsAlerted},
			wantFindCalls: 1,
		},
		{
			name:          "below the threshold is silent",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2001", "MEDIUM"), basicFinding("CVE-2026-2002", "LOW")},
			wantFindCalls: 1,
		},
		{
			name:          "per-repository threshold: HIGH under CRITICAL is silent",
			event:         func(tb testing.TB) []byte { return basicScan(tb, "mlops/train-model", "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")},
			wantFindCalls: 1,
		},
		{
			name:          "ignored CVE with an active entry is silent",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-1000", "CRITICAL")},
			wantFindCalls: 1,
		},
		{
			name:          "ignored CVE with an expired entry alerts and says so",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2025-0001", "HIGH"), basicFinding("CVE-2026-1000", "CRITICAL")},
			wantKeys:      []string{"findings#" + fingerprintOf("CVE-2025-0001")},
			wantIDs:       [][]string{{"CVE-2025-0001"}},
			wantAudit:     []string{audit.FindingsAlerted},
			wantFindCalls: 1,
			check: func(t *testing.T, r *rig) {
				a := r.alerts.deliveries[0].alert
				if len(a.Findings.Expired) != 1 || a.Findings.Expired[0].Finding.ID != "CVE-2025-0001" {
					t.Errorf("Expired = %+v, want CVE-2025-0001", a.Findings.Expired)
				}
				text, _ := json.Marshal(alert.Slack(a))
				if !strings.Contains(string(text), "CVE-2025-0001: ignore entry expired after 2026-01-31") {
					t.Errorf("Slack message does not say the ignore entry expired: %s", text)
				}
				_, body, _ := alert.SNS(a)
				if !strings.Contains(body, "expired") {
					t.Errorf("SNS body does not say the ignore entry expired:\n%s", body)
				}
			},
		},
		{
			name:      "FAILED scan alerts",
			event:     func(tb testing.TB) []byte { return basicScan(tb, testRepo, "FAILED") },
			wantKeys:  []string{"scan-failed#" + testRepo + "#" + testDigest},
			wantIDs:   [][]string{nil},
			wantAudit: nil,
			check: func(t *testing.T, r *rig) {
				a := r.alerts.deliveries[0].alert
				want := &alert.ScanFailure{Status: "FAILED", Scanner: findings.SourceBasic, Reason: "The basic scan ended with status FAILED."}
				if diff := cmp.Diff(want, a.ScanFailure); diff != "" {
					t.Errorf("ScanFailure (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:         "FAILED scan holds the gated rollout and says so",
			event:        func(tb testing.TB) []byte { return basicScan(tb, testRepo, "FAILED") },
			registryTags: []string{"v1.3.0"},
			wantKeys:     []string{"scan-failed#" + testRepo + "#" + testDigest},
			wantIDs:      [][]string{nil},
			wantAudit:    []string{audit.RolloutBlocked},
			wantGates:    map[string]float64{"held": 1},
			check: func(t *testing.T, r *rig) {
				reason := r.alerts.deliveries[0].alert.ScanFailure.Reason
				if !strings.Contains(reason, "Held until a scan of this image completes clean: v1.3.0 to retail-forecast/default/retail-forecast-api[api]") {
					t.Errorf("reason %q does not name the held rollout", reason)
				}
			},
		},
		{
			name:          "paging error on page 2: error and no alert",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH"), basicFinding("CVE-2026-2003", "CRITICAL")},
			registryTags:  []string{"v1.3.0"},
			pageSize:      1,
			failPage:      2,
			failErr:       &ecrtypes.ServerException{Message: aws.String("boom")},
			wantErr:       errAny,
			wantFindCalls: 2,
		},
		{
			name:          "scan not found after an Inspector scan: error so Lambda retries",
			event:         inspectorScan,
			failPage:      1,
			failErr:       &ecrtypes.ScanNotFoundException{Message: aws.String("no scan")},
			wantErr:       errAny,
			wantFindCalls: 1,
		},
		{
			name:          "gated rollout released by a clean scan",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2001", "MEDIUM"), basicFinding("CVE-2026-1000", "CRITICAL")},
			registryTags:  []string{"latest", "v1.2.9", "v1.3.0", "dev-abcdef1"},
			wantRolls:     []string{"mlops/retail-api:v1.3.0@" + testDigest + " pushed 2026-11-25T11:00:00Z -> retail-forecast/default/retail-forecast-api[api]"},
			wantFindCalls: 1,
			wantGates:     map[string]float64{"released": 1},
		},
		{
			name:          "gated rollout blocked by a dirty scan",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")},
			registryTags:  []string{"v1.3.0"},
			wantKeys:      []string{"findings#" + fingerprintOf("CVE-2026-2000"), "rollout-blocked#" + fingerprintOf("CVE-2026-2000") + "#" + testTarget},
			wantIDs:       [][]string{{"CVE-2026-2000"}, {"CVE-2026-2000"}},
			wantAudit:     []string{audit.FindingsAlerted, audit.RolloutBlocked},
			wantFindCalls: 1,
			wantGates:     map[string]float64{"held": 1},
			check: func(t *testing.T, r *rig) {
				want := &alert.Rollout{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api", Tag: "v1.3.0"}
				if diff := cmp.Diff(want, r.alerts.deliveries[1].alert.Rollout); diff != "" {
					t.Errorf("blocked rollout (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "ungated rule is onpush's: a clean scan of a dev tag rolls nothing",
			event: func(tb testing.TB) []byte {
				return scanEvent(tb, envelope("66666666-6666-4666-8666-666666666666"), nil)
			},
			registryTags:  []string{"dev-abcdef1"},
			wantFindCalls: 1,
		},
		{
			name:         "image not in our registry: refused, audited, nothing read or sent",
			event:        func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:        []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "CRITICAL")},
			registryTags: []string{"gone"},
			wantAudit:    []string{audit.EventRefused},
			check:        wantRefusal("is not in our registry"),
		},
		{
			name: "event of another account: refused, audited, nothing read or sent",
			event: func(tb testing.TB) []byte {
				return scanEvent(tb, ecrevent.EnvelopeInput{ID: "44444444-4444-4444-8444-444444444444", Account: "210987654321", Region: testRegion, Time: testNow},
					map[string]int64{"HIGH": 1})
			},
			basic:        []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "MEDIUM")},
			registryTags: []string{"v1.3.0"},
			wantAudit:    []string{audit.EventRefused},
			check:        wantRefusal(`account "210987654321"`),
		},
		{
			name: "event of another Region: refused, audited, nothing read or sent",
			event: func(tb testing.TB) []byte {
				return scanEvent(tb, ecrevent.EnvelopeInput{ID: "44444444-4444-4444-8444-444444444444", Account: testAccount, Region: "us-east-1", Time: testNow},
					map[string]int64{"HIGH": 1})
			},
			registryTags: []string{"v1.3.0"},
			wantAudit:    []string{audit.EventRefused},
			check:        wantRefusal(`Region "us-east-1"`),
		},
		{
			name: "Inspector scan naming another account's repository in our envelope: refused",
			event: func(tb testing.TB) []byte {
				return []byte(strings.ReplaceAll(string(inspectorScan(tb)), "arn:aws:ecr:"+testRegion+":"+testAccount, "arn:aws:ecr:"+testRegion+":210987654321"))
			},
			registryTags: []string{"v1.3.0"},
			wantAudit:    []string{audit.EventRefused},
			check:        wantRefusal(`account "210987654321"`),
		},
		{
			name: "Inspector finding about another account's image: refused",
			event: func(tb testing.TB) []byte {
				return []byte(strings.ReplaceAll(string(inspectorFinding(tb, "CVE-2026-3000", "HIGH", "ACTIVE")), "arn:aws:ecr:"+testRegion+":"+testAccount, "arn:aws:ecr:eu-west-1:"+testAccount))
			},
			enhanced:  []ecrtypes.EnhancedImageScanFinding{enhancedFinding("CVE-2026-3000", "HIGH")},
			wantAudit: []string{audit.EventRefused},
			check:     wantRefusal(`Region "eu-west-1"`),
		},
		{
			name:          "Inspector finding about an image our registry does not have: refused",
			event:         func(tb testing.TB) []byte { return inspectorFinding(tb, "CVE-2026-3000", "HIGH", "ACTIVE") },
			failPage:      1,
			failErr:       &ecrtypes.ImageNotFoundException{Message: aws.String("The image with imageId {imageDigest:'sha256:1fe5'} does not exist")},
			wantAudit:     []string{audit.EventRefused},
			wantFindCalls: 1,
			check:         wantRefusal("does not exist"),
		},
		{
			name: "findings read IN_PROGRESS: retryable error, the gate stays shut, nothing sent",
			event: func(tb testing.TB) []byte {
				return scanEvent(tb, envelope("55555555-5555-4555-8555-555555555555"), map[string]int64{"CRITICAL": 7, "HIGH": 61})
			},
			readStatus:    ecrtypes.ScanStatusInProgress,
			registryTags:  []string{"v1.3.0"},
			wantErr:       rollout.ErrScanIncomplete,
			wantFindCalls: 1,
		},
		{
			name:          "enhanced findings read PENDING: retryable error",
			event:         inspectorScan,
			readStatus:    ecrtypes.ScanStatusPending,
			registryTags:  []string{"v1.3.0"},
			wantErr:       rollout.ErrScanIncomplete,
			wantFindCalls: 1,
		},
		{
			name:          "findings read FINDINGS_UNAVAILABLE with a finding: retryable error, no alert on a partial set",
			event:         inspectorScan,
			enhanced:      []ecrtypes.EnhancedImageScanFinding{enhancedFinding("CVE-2026-3000", "CRITICAL")},
			readStatus:    ecrtypes.ScanStatusFindingsUnavailable,
			registryTags:  []string{"v1.3.0"},
			wantErr:       rollout.ErrScanIncomplete,
			wantFindCalls: 1,
		},
		{
			name: "event counts CRITICAL 7 and HIGH 61 but the complete read is empty: doubt, retryable error, the gate stays shut",
			event: func(tb testing.TB) []byte {
				return scanEvent(tb, envelope("55555555-5555-4555-8555-555555555555"), map[string]int64{"CRITICAL": 7, "HIGH": 61})
			},
			registryTags:  []string{"v1.3.0"},
			wantErr:       errAny,
			wantFindCalls: 1,
			check: func(t *testing.T, r *rig) {
				if err := r.h.Handle(invocation(), scanEvent(t, envelope("55555555-5555-4555-8555-555555555555"), map[string]int64{"CRITICAL": 7, "HIGH": 61})); err == nil ||
					!strings.Contains(err.Error(), "counts 68 findings (CRITICAL 7, HIGH 61)") {
					t.Errorf("err = %v, want one naming the event's counts", err)
				}
			},
		},
		{
			name: "an empty complete read with zero counts releases the gate",
			event: func(tb testing.TB) []byte {
				return scanEvent(tb, envelope("55555555-5555-4555-8555-555555555555"), map[string]int64{"HIGH": 0})
			},
			registryTags:  []string{"v1.3.0"},
			wantRolls:     []string{"mlops/retail-api:v1.3.0@" + testDigest + " pushed 2026-11-25T11:00:00Z -> retail-forecast/default/retail-forecast-api[api]"},
			wantFindCalls: 1,
			wantGates:     map[string]float64{"released": 1},
		},
		{
			name:          "UNTRIAGED and UNDEFINED findings hold the gated rollout and say so; no findings alert",
			event:         inspectorScan,
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-4001", "UNDEFINED")},
			enhanced:      []ecrtypes.EnhancedImageScanFinding{enhancedFinding("CVE-2026-4000", "UNTRIAGED"), enhancedFinding("CVE-2026-2001", "MEDIUM")},
			registryTags:  []string{"v1.3.0"},
			wantKeys:      []string{"rollout-blocked#" + fingerprintOf("CVE-2026-4000", "CVE-2026-4001") + "#" + testTarget},
			wantIDs:       [][]string{{}},
			wantAudit:     []string{audit.RolloutBlocked},
			wantFindCalls: 1,
			wantGates:     map[string]float64{"held": 1},
			check: func(t *testing.T, r *rig) {
				a := r.alerts.deliveries[0].alert
				var unknown []string
				for _, f := range a.Findings.Unknown {
					unknown = append(unknown, f.ID+" "+string(f.Severity))
				}
				if diff := cmp.Diff([]string{"CVE-2026-4000 UNTRIAGED", "CVE-2026-4001 UNDEFINED"}, unknown); diff != "" {
					t.Errorf("unknown-severity findings in the alert (-want +got):\n%s", diff)
				}
				detail := r.audit.events[0].Detail.(map[string]any)
				if detail["reason"] != "findings of unknown severity" || !slices.Equal(detail["findings"].([]string), []string{"CVE-2026-4000", "CVE-2026-4001"}) {
					t.Errorf("RolloutBlocked detail = %v, want the unknown-severity reason and ids", detail)
				}
			},
		},
		{
			name:          "Inspector finding event alerts with the full set",
			event:         func(tb testing.TB) []byte { return inspectorFinding(tb, "CVE-2026-3000", "HIGH", "ACTIVE") },
			enhanced:      []ecrtypes.EnhancedImageScanFinding{enhancedFinding("CVE-2026-3000", "HIGH"), enhancedFinding("CVE-2026-2000", "CRITICAL"), enhancedFinding("CVE-2026-2001", "MEDIUM")},
			registryTags:  []string{"v1.3.0"},
			wantKeys:      []string{"findings#" + fingerprintOf("CVE-2026-2000", "CVE-2026-3000")},
			wantIDs:       [][]string{{"CVE-2026-2000", "CVE-2026-3000"}},
			wantAudit:     []string{audit.FindingsAlerted},
			wantFindCalls: 1,
		},
		{
			name:     "closed Inspector finding is ignored",
			event:    func(tb testing.TB) []byte { return inspectorFinding(tb, "CVE-2026-3000", "HIGH", "CLOSED") },
			enhanced: []ecrtypes.EnhancedImageScanFinding{enhancedFinding("CVE-2026-2000", "CRITICAL")},
		},
		{
			name:          "Inspector scan with enhanced and basic findings on two pages",
			event:         inspectorScan,
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")},
			enhanced:      []ecrtypes.EnhancedImageScanFinding{enhancedFinding("CVE-2026-3000", "CRITICAL")},
			pageSize:      1,
			wantKeys:      []string{"findings#" + fingerprintOf("CVE-2026-2000", "CVE-2026-3000")},
			wantIDs:       [][]string{{"CVE-2026-2000", "CVE-2026-3000"}},
			wantAudit:     []string{audit.FindingsAlerted},
			wantFindCalls: 2,
		},
		{
			name:          "Slack or SNS down: error, no audit",
			event:         func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") },
			basic:         []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")},
			alertErr:      errors.New("slack delivery failed"),
			wantErr:       errAny,
			wantFindCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.findings.basic, r.findings.enhanced = tt.basic, tt.enhanced
			r.findings.pageSize, r.findings.failPage, r.findings.failErr = tt.pageSize, tt.failPage, tt.failErr
			r.findings.status = tt.readStatus
			r.images.tags = tt.registryTags
			r.images.gone = slices.Equal(tt.registryTags, []string{"gone"})
			r.alerts.err = tt.alertErr

			err := r.h.Handle(invocation(), tt.event(t))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Handle: %v, want no error", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("Handle: no error, want one")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Handle: %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantKeys, r.keys()); diff != "" {
				t.Errorf("alert keys (-want +got):\n%s", diff)
			}
			var ids [][]string
			for _, d := range r.alerts.deliveries {
				ids = append(ids, alertingIDs(d.alert))
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("alerting ids (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAudit, r.auditTypes()); diff != "" {
				t.Errorf("audit events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRolls, r.roller.rolls); diff != "" {
				t.Errorf("rollouts (-want +got):\n%s", diff)
			}
			if got := len(r.findings.calls); got != tt.wantFindCalls {
				t.Errorf("DescribeImageScanFindings calls = %d, want %d", got, tt.wantFindCalls)
			}
			for _, in := range r.findings.calls {
				if got := aws.ToInt32(in.MaxResults); got != registry.FindingsPageSize {
					t.Errorf("MaxResults = %d, want %d", got, registry.FindingsPageSize)
				}
				if got := aws.ToString(in.RegistryId); got != testAccount {
					t.Errorf("RegistryId = %q, want %q", got, testAccount)
				}
			}
			for _, in := range r.images.calls {
				if got := aws.ToString(in.RegistryId); got != testAccount {
					t.Errorf("DescribeImages RegistryId = %q, want our account %q", got, testAccount)
				}
			}
			if diff := cmp.Diff(tt.wantGates, r.gates(t), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ScanGates metric (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				t.Run("check", func(t *testing.T) { tt.check(t, r) })
			}
		})
	}
}

// gates returns the ScanGates metric the handler recorded, by decision.
func (r *rig) gates(t *testing.T) map[string]float64 {
	t.Helper()
	r.h.metrics.Flush(context.Background())
	out := map[string]float64{}
	for _, s := range r.metrics.Series() {
		if s.Name == metrics.ScanGates {
			out[s.Dims[0].Value] = s.Sum()
		}
	}
	return out
}

// errAny matches any error in TestHandle.
var errAny = errors.New("any error")

// scanEvent is a basic scan of the test image, COMPLETE, with the given
// envelope and severity counts.
func scanEvent(tb testing.TB, env ecrevent.EnvelopeInput, counts map[string]int64) []byte {
	tb.Helper()
	return mustEvent(tb)(ecrevent.NewBasicScanEvent(ecrevent.ScanInput{EnvelopeInput: env,
		Repository: testRepo, Digest: testDigest, Tags: []string{"v1.3.0"}, Status: "COMPLETE", SeverityCounts: counts}))
}

// wantRefusal checks that the one audit event is an EventRefused by onscan
// whose reason contains reason, and that nothing was sent or rolled out.
func wantRefusal(reason string) func(*testing.T, *rig) {
	return func(t *testing.T, r *rig) {
		t.Helper()
		if len(r.audit.events) != 1 {
			t.Fatalf("audit events = %v, want one EventRefused", r.auditTypes())
		}
		ref, ok := r.audit.events[0].Detail.(ecrevent.Refusal)
		if !ok || ref.Function != "onscan" || !strings.Contains(ref.Reason, reason) || ref.EventID == "" {
			t.Errorf("refusal = %+v, want onscan's, with a reason containing %q", r.audit.events[0].Detail, reason)
		}
		if len(r.alerts.deliveries) != 0 || len(r.roller.rolls) != 0 {
			t.Errorf("a refused event sent %v and rolled %v", r.keys(), r.roller.rolls)
		}
	}
}

func TestHandleWithoutLambdaContext(t *testing.T) {
	r := newRig(t)
	err := r.h.Handle(context.Background(), basicScan(t, testRepo, "COMPLETE"))
	if err == nil || !strings.Contains(err.Error(), "invoked function ARN") {
		t.Fatalf("Handle without the Lambda context = %v, want an error: the function's own account is unknown", err)
	}
	if len(r.findings.calls)+len(r.images.calls)+len(r.alerts.deliveries) != 0 {
		t.Errorf("calls made without knowing the account")
	}
}

func TestHandleDedupe(t *testing.T) {
	r := newRig(t)
	r.findings.basic = []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")}
	ctx := invocation()
	ev := basicScan(t, testRepo, "COMPLETE")
	for i := range 2 {
		r.findings.calls = nil
		if err := r.h.Handle(ctx, ev); err != nil {
			t.Fatalf("Handle #%d: %v", i+1, err)
		}
	}
	if diff := cmp.Diff([]string{"findings#" + fingerprintOf("CVE-2026-2000")}, r.keys()); diff != "" {
		t.Errorf("after two identical events (-want +got):\n%s", diff)
	}
	// An Inspector finding event for the same set: same fingerprint, silent.
	if err := r.h.Handle(ctx, inspectorFinding(t, "CVE-2026-2000", "HIGH", "ACTIVE")); err != nil {
		t.Fatalf("Handle finding: %v", err)
	}
	// A new CVE on the same image: a second alert.
	r.findings.basic = append(r.findings.basic, basicFinding("CVE-2026-2004", "CRITICAL"))
	if err := r.h.Handle(ctx, ev); err != nil {
		t.Fatalf("Handle new CVE: %v", err)
	}
	want := []string{"findings#" + fingerprintOf("CVE-2026-2000"), "findings#" + fingerprintOf("CVE-2026-2000", "CVE-2026-2004")}
	if diff := cmp.Diff(want, r.keys()); diff != "" {
		t.Errorf("after a new CVE (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{audit.FindingsAlerted, audit.FindingsAlerted}, r.auditTypes()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

func TestBestTag(t *testing.T) {
	semver := rollout.Target{Tags: policy.MustCompilePattern("v{semver}")}
	pre := rollout.Target{Tags: policy.MustCompilePattern("v{semver}"), Prerelease: true}
	dates := rollout.Target{Tags: policy.MustCompilePattern("v{date}-{sha}"), Order: policy.OrderDate}
	tests := []struct {
		name   string
		target rollout.Target
		tags   []string
		want   string
		wantOK bool
	}{
		{"highest semver wins", semver, []string{"v1.10.0", "latest", "v1.9.0", "v1.2.3"}, "v1.10.0", true},
		{"pre-release not selected", semver, []string{"v2.0.0-rc.1", "v1.9.0"}, "v1.9.0", true},
		{"pre-release selected when allowed", pre, []string{"v2.0.0-rc.1", "v1.9.0"}, "v2.0.0-rc.1", true},
		{"date order", dates, []string{"v20261101-abcdef1", "v20261120-1234567"}, "v20261120-1234567", true},
		{"nothing selected", semver, []string{"latest", "dev-abcdef1"}, "", false},
		{"no tags", semver, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.target.BestTag(tt.tags, testNow)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("BestTag = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestFixturesInvoke runs every event sample through the real Lambda decode
// path: none is an error, and only the scan samples of mlops/retail-api
// reach the findings API.
func TestFixturesInvoke(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "events", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			r := newRig(t)
			r.findings.basic = []ecrtypes.ImageScanFinding{basicFinding("CVE-2026-2000", "HIGH")}
			kind, _, err := ecrevent.ClassifyWithReason(raw)
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			out, err := lambda.NewHandler(r.h.Handle).Invoke(invocation(), raw)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if string(out) != "null" {
				t.Errorf("Invoke output = %s, want null", out)
			}
			acted := kind == ecrevent.KindBasicScan || kind == ecrevent.KindInspectorScan || kind == ecrevent.KindInspectorFinding
			if !acted && (len(r.findings.calls) > 0 || len(r.alerts.deliveries) > 0) {
				t.Errorf("%v event made %d findings calls and %d alerts, want none", kind, len(r.findings.calls), len(r.alerts.deliveries))
			}
			if acted && len(r.alerts.deliveries) != 1 {
				t.Errorf("%v event: %d alerts, want 1 (findings or scan failed): %v", kind, len(r.alerts.deliveries), r.keys())
			}
			if !acted {
				return
			}
			// The same sample in another account's envelope is refused.
			var ev map[string]any
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			ev["account"] = "210987654321"
			foreign, _ := json.Marshal(ev)
			r = newRig(t)
			if _, err := lambda.NewHandler(r.h.Handle).Invoke(invocation(), foreign); err != nil {
				t.Fatalf("Invoke in another account: %v, want nil (refused, not retried)", err)
			}
			if diff := cmp.Diff([]string{audit.EventRefused}, r.auditTypes()); diff != "" || len(r.alerts.deliveries)+len(r.findings.calls) != 0 {
				t.Errorf("in another account: audit (-want +got):\n%s; %d alerts, %d findings reads", diff, len(r.alerts.deliveries), len(r.findings.calls))
			}
		})
	}
}

func TestHandleCanceled(t *testing.T) {
	r := newRig(t)
	r.findings.failPage, r.findings.failErr = 1, context.Canceled
	ctx, cancel := context.WithCancel(invocation())
	cancel()
	err := r.h.Handle(ctx, basicScan(t, testRepo, "COMPLETE"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Handle = %v, want context.Canceled", err)
	}
	if len(r.alerts.deliveries) != 0 {
		t.Errorf("deliveries = %v, want none", r.keys())
	}
}
