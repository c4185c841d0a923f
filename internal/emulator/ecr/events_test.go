package ecr_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

func kinds(t *testing.T, evs [][]byte) []ecrevent.Kind {
	t.Helper()
	var out []ecrevent.Kind
	for _, ev := range evs {
		k, err := ecrevent.Classify(ev)
		if err != nil {
			t.Fatalf("classify %s: %v", ev, err)
		}
		out = append(out, k)
	}
	return out
}

// keys returns the set of JSON key paths of a document (list elements
// collapse to "[]").
func keys(t *testing.T, raw []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	out := make(map[string]bool)
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				out[prefix+"."+k] = true
				walk(prefix+"."+k, vv)
			}
		case []any:
			for _, vv := range x {
				walk(prefix+"[]", vv)
			}
		}
	}
	walk("", v)
	return out
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// sameShape checks that an emitted event uses only key paths of the
// documented fixture and, when exact, all of them.
func sameShape(t *testing.T, ev []byte, fixtureName string, exact bool) {
	t.Helper()
	got, want := keys(t, ev), keys(t, fixture(t, fixtureName))
	var extra, missing []string
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra) > 0 {
		t.Errorf("event has keys the fixture %s lacks: %v", fixtureName, extra)
	}
	if exact && len(missing) > 0 {
		t.Errorf("event lacks keys of the fixture %s: %v", fixtureName, missing)
	}
}

func TestEventsBasicScanning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo, func(in *awsecr.CreateRepositoryInput) {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	})
	m := manifest(1, 100)
	seeded := []ecr.Finding{
		{Name: "CVE-1", Severity: "HIGH", PackageName: "a", PackageVersion: "1"},
		{Name: "CVE-2", Severity: "HIGH", PackageName: "b", PackageVersion: "1"},
		{Name: "CVE-3", Severity: "MEDIUM", PackageName: "c", PackageVersion: "1"},
	}
	if err := e.srv.SetFindings(repo, ecr.Digest([]byte(m)), seeded); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, repo, m, "v1.3.0")
	evs := e.events.Take()
	if diff := cmp.Diff([]ecrevent.Kind{ecrevent.KindPush, ecrevent.KindBasicScan}, kinds(t, evs)); diff != "" {
		t.Fatalf("event kinds (-want +got):\n%s", diff)
	}
	sameShape(t, evs[0], "ecr-image-action-push.json", true)
	sameShape(t, evs[1], "ecr-image-scan-complete.json", true)

	// The push event runs through aws-lambda-go's real decode path.
	var push events.ECRImageActionEvent
	h := lambda.NewHandler(func(_ context.Context, ev events.ECRImageActionEvent) error {
		push = ev
		return nil
	})
	if _, err := h.Invoke(ctx, evs[0]); err != nil {
		t.Fatalf("invoke with push event: %v", err)
	}
	wantPush := events.ECRImageActionEventDetailType{Result: "SUCCESS", RepositoryName: repo, ImageDigest: d, ActionType: "PUSH", ImageTag: "v1.3.0"}
	if diff := cmp.Diff(wantPush, push.Detail); diff != "" {
		t.Errorf("push detail (-want +got):\n%s", diff)
	}
	if push.Source != "aws.ecr" || push.DetailType != "ECR Image Action" || push.Account != "123456789012" ||
		push.Region != region || !push.Time.Equal(e.clock.Now()) {
		t.Errorf("push envelope = %+v", push)
	}

	var scan events.ECRScanEvent
	if err := json.Unmarshal(evs[1], &scan); err != nil {
		t.Fatal(err)
	}
	wantScan := events.ECRScanEventDetailType{ScanStatus: "COMPLETE", RepositoryName: repo, ImageDigest: d, ImageTags: []string{"v1.3.0"},
		FindingSeverityCounts: events.ECRScanEventFindingSeverityCounts{High: 2, Medium: 1}}
	if diff := cmp.Diff(wantScan, scan.Detail); diff != "" {
		t.Errorf("scan detail (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api"}, scan.Resources); diff != "" {
		t.Errorf("scan resources (-want +got):\n%s", diff)
	}

	// A failed scan emits scan-status FAILED.
	failing := manifest(2, 100)
	if err := e.srv.SetScanFailure(repo, ecr.Digest([]byte(failing)), "unsupported OS"); err != nil {
		t.Fatal(err)
	}
	e.push(t, repo, failing, "")
	evs = e.events.Take()
	if len(evs) != 2 {
		t.Fatalf("events = %d, want push and scan", len(evs))
	}
	sameShape(t, evs[1], "ecr-image-scan-failed.json", true)
	if err := json.Unmarshal(evs[1], &scan); err != nil || scan.Detail.ScanStatus != "FAILED" {
		t.Errorf("failed scan event = %s (%v)", evs[1], err)
	}

	// Deleting by digest emits one DELETE per tag.
	e.push(t, repo, m, "latest")
	e.events.Take()
	if _, err := e.client.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(d)}}}); err != nil {
		t.Fatal(err)
	}
	evs = e.events.Take()
	if diff := cmp.Diff([]ecrevent.Kind{ecrevent.KindDelete, ecrevent.KindDelete}, kinds(t, evs)); diff != "" {
		t.Fatalf("delete kinds (-want +got):\n%s", diff)
	}
	sameShape(t, evs[0], "ecr-image-action-delete.json", true)
	var tags []string
	for _, ev := range evs {
		var del events.ECRImageActionEvent
		if err := json.Unmarshal(ev, &del); err != nil {
			t.Fatal(err)
		}
		if del.Detail.ActionType != "DELETE" || del.Detail.ImageDigest != d {
			t.Errorf("delete detail = %+v", del.Detail)
		}
		tags = append(tags, del.Detail.ImageTag)
	}
	if diff := cmp.Diff([]string{"latest", "v1.3.0"}, tags); diff != "" {
		t.Errorf("deleted tags (-want +got):\n%s", diff)
	}
}

func TestEventsEnhancedScanning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	if err := e.srv.CreateRepository(repo, ecr.RepositoryOptions{ScanType: ecr.ScanEnhanced}); err != nil {
		t.Fatal(err)
	}
	m := manifest(1, 100)
	first := findings(3)
	if err := e.srv.SetFindings(repo, ecr.Digest([]byte(m)), first); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, repo, m, "v1.3.0")
	evs := e.events.Take()
	want := []ecrevent.Kind{ecrevent.KindPush, ecrevent.KindInspectorScan,
		ecrevent.KindInspectorFinding, ecrevent.KindInspectorFinding, ecrevent.KindInspectorFinding}
	if diff := cmp.Diff(want, kinds(t, evs)); diff != "" {
		t.Fatalf("event kinds (-want +got):\n%s", diff)
	}
	sameShape(t, evs[1], "inspector2-scan-ecr-clean.json", true)
	sameShape(t, evs[2], "inspector2-finding-ecr.json", false)

	scan, err := ecrevent.DecodeScan(evs[1])
	if err != nil {
		t.Fatal(err)
	}
	wantScan := ecrevent.Scan{Repository: repo, Digest: d, Tags: []string{"v1.3.0"}, Status: "INITIAL_SCAN_COMPLETE", Enhanced: true,
		SeverityCounts: map[string]int64{"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "TOTAL": 3},
		// The repository ARN names the emulator's own account and Region, as the functions require.
		RepositoryARN: ecrevent.RepositoryARN{Partition: "aws", Region: e.srv.Region(), Account: e.srv.Account(), Name: repo}}
	if diff := cmp.Diff(wantScan, scan, cmpIgnoreEnvelope()); diff != "" {
		t.Errorf("inspector scan (-want +got):\n%s", diff)
	}

	// The finding events carry the finding ARNs DescribeImageScanFindings reports.
	out, err := e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	if err != nil {
		t.Fatal(err)
	}
	apiArns := map[string]string{}
	for _, f := range out.ImageScanFindings.EnhancedFindings {
		apiArns[aws.ToString(f.PackageVulnerabilityDetails.VulnerabilityId)] = aws.ToString(f.FindingArn)
	}
	eventArns := map[string]string{}
	for _, ev := range evs[2:] {
		f, err := ecrevent.DecodeFinding(ev)
		if err != nil {
			t.Fatalf("decode finding: %v", err)
		}
		if f.Repository != repo || f.Digest != d || f.Status != "ACTIVE" {
			t.Errorf("finding = %+v", f)
		}
		eventArns[f.VulnerabilityID] = f.FindingARN
	}
	if diff := cmp.Diff(apiArns, eventArns); diff != "" {
		t.Errorf("finding ARNs API vs events (-api +events):\n%s", diff)
	}

	// A rescan that finds one new CVE emits exactly one Inspector2 Finding.
	e.clock.Advance(72 * time.Hour)
	newCVE := ecr.Finding{Name: "CVE-2026-9999", Severity: "CRITICAL", PackageName: "glibc", PackageVersion: "2.39", FixedInVersion: "2.39-1"}
	if err := e.srv.Rescan(ctx, repo, d, append(first[1:], newCVE)); err != nil {
		t.Fatal(err)
	}
	evs = e.events.Take()
	if diff := cmp.Diff([]ecrevent.Kind{ecrevent.KindInspectorFinding}, kinds(t, evs)); diff != "" {
		t.Fatalf("rescan kinds (-want +got):\n%s", diff)
	}
	f, err := ecrevent.DecodeFinding(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if f.VulnerabilityID != "CVE-2026-9999" || f.Severity != "CRITICAL" || f.FixAvailable != "YES" {
		t.Errorf("rescan finding = %+v", f)
	}
	out, err = e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	if err != nil || len(out.ImageScanFindings.EnhancedFindings) != 3 {
		t.Fatalf("findings after rescan = %+v, %v", out, err)
	}
}

func cmpIgnoreEnvelope() cmp.Option {
	return cmpopts.IgnoreFields(ecrevent.Scan{}, "EventID", "Account", "Region", "Time")
}
