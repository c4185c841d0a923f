package ecrevent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

const fixtureDir = "../../testdata/events"

// Values of the worked example that the fixtures use.
const (
	exAccount    = "123456789012"
	exRegion     = "ap-southeast-1"
	exRepository = "mlops/retail-api"
	exDigest     = "sha256:1fe57ccde598e92184fb93d7f7861350b62df5254265d5e95936a809f9413c8a"
	exDigestOld  = "sha256:d81575f1938df5096b9e552c6feb0bc4ee22396a73bb8590f09c7591cef205c0"
	exDigestBad  = "sha256:6bd24afc3597fd0fbff425f0a5be02c92c4b632df8ac277deb3d1831aa1c9d9f"
)

// fixture describes one file of testdata/events: the kind Classify must return and
// the Go type it round-trips through.
type fixture struct {
	file string
	kind Kind
	// newValue returns a pointer to the Go type the fixture round-trips through.
	newValue func() any
}

func ecrImageAction() any  { return new(events.ECRImageActionEvent) }
func cloudWatchEvent() any { return new(events.CloudWatchEvent) }
func scanEvent() any       { return new(ScanEvent) }
func findingEvent() any    { return new(FindingEvent) }

var fixtures = []fixture{
	{"ecr-image-action-push.json", KindPush, ecrImageAction},
	{"ecr-image-action-push-failure.json", KindPushFailure, ecrImageAction},
	{"ecr-image-action-delete.json", KindDelete, ecrImageAction},
	// events.ECRImageActionEvent has no storage-class fields and always writes
	// image-tag, so these round-trip through the generic envelope.
	{"ecr-image-action-update-storage-class.json", KindStorageClass, cloudWatchEvent},
	{"ecr-image-action-update-storage-class-restore.json", KindStorageClass, cloudWatchEvent},
	{"ecr-image-scan-complete.json", KindBasicScan, scanEvent},
	{"ecr-image-scan-failed.json", KindBasicScan, scanEvent},
	{"inspector2-scan-ecr.json", KindInspectorScan, scanEvent},
	{"inspector2-scan-ecr-clean.json", KindInspectorScan, scanEvent},
	{"inspector2-scan-ec2.json", KindIgnored, scanEvent},
	{"inspector2-finding-ecr.json", KindInspectorFinding, findingEvent},
	{"inspector2-finding-ecr-2021.json", KindInspectorFinding, findingEvent},
	{"inspector2-finding-ec2.json", KindIgnored, findingEvent},
	{"ecr-replication-action.json", KindIgnored, cloudWatchEvent},
	{"ecr-pull-through-cache-action.json", KindIgnored, cloudWatchEvent},
	{"ecr-referrer-action.json", KindIgnored, cloudWatchEvent},
	{"ecr-scan-resource-change.json", KindIgnored, cloudWatchEvent},
}

func readFixture(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// generic decodes JSON into maps, slices and float64s for comparison.
func generic(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestFixturesRoundTrip(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			raw := readFixture(t, fx.file)
			v := fx.newValue()
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("unmarshal into %T: %v", v, err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("marshal %T: %v", v, err)
			}
			if diff := cmp.Diff(generic(t, raw), generic(t, out)); diff != "" {
				t.Errorf("%T round trip (-fixture +marshalled):\n%s", v, diff)
			}
		})
	}
}

// TestFixturesSpotCheck checks that decoding fills the fields that matter, per type.
func TestFixturesSpotCheck(t *testing.T) {
	t.Run("push", func(t *testing.T) {
		var ev events.ECRImageActionEvent
		if err := json.Unmarshal(readFixture(t, "ecr-image-action-push.json"), &ev); err != nil {
			t.Fatal(err)
		}
		got := []string{ev.Source, ev.DetailType, ev.Account, ev.Region, ev.Time.Format("2006-01-02T15:04:05Z07:00"),
			ev.Detail.ActionType, ev.Detail.Result, ev.Detail.RepositoryName, ev.Detail.ImageDigest, ev.Detail.ImageTag}
		want := []string{"aws.ecr", "ECR Image Action", exAccount, exRegion, "2026-11-20T08:15:42Z",
			"PUSH", "SUCCESS", exRepository, exDigest, "v1.3.0"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if ev.Resources == nil || len(ev.Resources) != 0 {
			t.Errorf("resources = %#v, want empty non-nil", ev.Resources)
		}
	})
	t.Run("inspector scan", func(t *testing.T) {
		var ev ScanEvent
		if err := json.Unmarshal(readFixture(t, "inspector2-scan-ecr.json"), &ev); err != nil {
			t.Fatal(err)
		}
		want := ScanDetail{
			ScanStatus:            "INITIAL_SCAN_COMPLETE",
			RepositoryName:        "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api",
			FindingSeverityCounts: map[string]int64{"CRITICAL": 1, "HIGH": 3, "MEDIUM": 7, "TOTAL": 14},
			ImageDigest:           exDigest,
			ImageTags:             []string{"v1.3.0"},
		}
		if diff := cmp.Diff(want, ev.Detail); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("finding", func(t *testing.T) {
		var ev FindingEvent
		if err := json.Unmarshal(readFixture(t, "inspector2-finding-ecr.json"), &ev); err != nil {
			t.Fatal(err)
		}
		d := ev.Detail
		if len(d.Resources) != 1 || d.Resources[0].Details.AWSECRContainerImage == nil || d.Resources[0].Details.Image == nil {
			t.Fatalf("resources = %+v, want one ECR image with both detail forms", d.Resources)
		}
		got := []string{d.Severity, d.Status, d.PackageVulnerabilityDetails.VulnerabilityID,
			d.Resources[0].Details.AWSECRContainerImage.RepositoryName, d.Resources[0].Details.Image.ImageDigest}
		want := []string{"MEDIUM", "ACTIVE", "CVE-2024-6119", exRepository, exDigest}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if d.EPSS == nil || d.EPSS.Score != 0.00045 {
			t.Errorf("epss = %+v, want score 0.00045", d.EPSS)
		}
		if d.InspectorScore != nil {
			t.Errorf("inspectorScore = %v, want absent as in the documented ECR sample", *d.InspectorScore)
		}
	})
}

// TestLibraryScanTypeInventsCounts documents why ScanEvent exists: events.ECRScanEvent
// decodes a basic scan, but marshals counts AWS never sent.
func TestLibraryScanTypeInventsCounts(t *testing.T) {
	raw := readFixture(t, "ecr-image-scan-complete.json")
	var ev events.ECRScanEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Detail.FindingSeverityCounts.High != 2 || ev.Detail.FindingSeverityCounts.Medium != 9 {
		t.Fatalf("counts = %+v, want HIGH 2 MEDIUM 9", ev.Detail.FindingSeverityCounts)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	counts := generic(t, out).(map[string]any)["detail"].(map[string]any)["finding-severity-counts"]
	want := map[string]any{"CRITICAL": 0.0, "HIGH": 2.0, "MEDIUM": 9.0, "LOW": 0.0, "INFORMATIONAL": 0.0, "UNDEFINED": 0.0}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("events.ECRScanEvent counts (-want +got):\n%s\nif the library now omits zero counts, ScanEvent may be replaced by it", diff)
	}
}

// TestFixturesListed keeps the fixture table, the directory and its README in step.
func TestFixturesListed(t *testing.T) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			onDisk = append(onDisk, e.Name())
		}
	}
	var inTable []string
	for _, fx := range fixtures {
		inTable = append(inTable, fx.file)
	}
	slices.Sort(inTable)
	if diff := cmp.Diff(onDisk, inTable); diff != "" {
		t.Errorf("fixture files (-on disk +in table):\n%s", diff)
	}
	readme := string(readFixture(t, "README.md"))
	for _, f := range onDisk {
		if !strings.Contains(readme, "`"+f+"`") {
			t.Errorf("README.md does not describe %s", f)
		}
	}
}
