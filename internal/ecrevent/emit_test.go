package ecrevent

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// keyPaths lists every key path of a JSON document ("detail.resources[].id"). The
// contents of finding-severity-counts are values, not keys, and are not listed.
func keyPaths(t testing.TB, b []byte) []string {
	t.Helper()
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				set[p] = true
				if k != "finding-severity-counts" {
					walk(p, child)
				}
			}
		case []any:
			for _, child := range v {
				walk(prefix+"[]", child)
			}
		}
	}
	walk("", generic(t, b))
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

var exampleEnvelope = EnvelopeInput{
	ID:      "0d4736f2-e095-4fdc-ad64-c50c4848acd5",
	Account: exAccount,
	Region:  exRegion,
	Time:    time.Date(2026, 11, 20, 8, 15, 42, 0, time.UTC),
}

func TestEmitImageActions(t *testing.T) {
	in := ImageActionInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest, Tag: "v1.3.0"}
	tests := []struct {
		name    string
		emit    func(ImageActionInput) ([]byte, error)
		fixture string
		kind    Kind
		want    ImageAction
	}{
		{"push", NewPushEvent, "ecr-image-action-push.json", KindPush, ImageAction{ActionType: "PUSH", Result: "SUCCESS"}},
		{"push failure", NewPushFailureEvent, "ecr-image-action-push-failure.json", KindPushFailure, ImageAction{ActionType: "PUSH", Result: "FAILURE"}},
		{"delete", NewDeleteEvent, "ecr-image-action-delete.json", KindDelete, ImageAction{ActionType: "DELETE", Result: "SUCCESS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.emit(in)
			if err != nil {
				t.Fatal(err)
			}
			if k, err := Classify(raw); err != nil || k != tt.kind {
				t.Fatalf("Classify = %v, %v; want %v", k, err, tt.kind)
			}
			got, err := DecodeImageAction(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.EventID, want.Account, want.Region, want.Time = in.ID, exAccount, exRegion, in.Time
			want.Repository, want.Digest, want.Tag = exRepository, exDigest, "v1.3.0"
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(keyPaths(t, readFixture(t, tt.fixture)), keyPaths(t, raw)); diff != "" {
				t.Errorf("key paths (-fixture +emitted):\n%s", diff)
			}
		})
	}
}

func TestEmitScans(t *testing.T) {
	in := ScanInput{
		EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest, Tags: []string{"v1.3.0"},
		SeverityCounts: map[string]int64{"CRITICAL": 0, "HIGH": 2, "MEDIUM": 9, "LOW": 3},
	}
	tests := []struct {
		name    string
		emit    func(ScanInput) ([]byte, error)
		fixture string
		kind    Kind
		counts  map[string]int64
	}{
		{"basic", NewBasicScanEvent, "ecr-image-scan-complete.json", KindBasicScan,
			map[string]int64{"HIGH": 2, "MEDIUM": 9, "LOW": 3}},
		{"inspector", NewInspectorScanEvent, "inspector2-scan-ecr-clean.json", KindInspectorScan,
			map[string]int64{"CRITICAL": 0, "HIGH": 2, "MEDIUM": 9, "TOTAL": 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.emit(in)
			if err != nil {
				t.Fatal(err)
			}
			if k, err := Classify(raw); err != nil || k != tt.kind {
				t.Fatalf("Classify = %v, %v; want %v", k, err, tt.kind)
			}
			got, err := DecodeScan(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := Scan{
				EventID: in.ID, Account: exAccount, Region: exRegion, Time: in.Time, Repository: exRepository,
				Digest: exDigest, Tags: []string{"v1.3.0"}, SeverityCounts: tt.counts, Enhanced: tt.kind == KindInspectorScan,
				Status: map[Kind]string{KindBasicScan: "COMPLETE", KindInspectorScan: "INITIAL_SCAN_COMPLETE"}[tt.kind],
			}
			if tt.kind == KindInspectorScan {
				want.RepositoryARN = exRepositoryARN
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(keyPaths(t, readFixture(t, tt.fixture)), keyPaths(t, raw)); diff != "" {
				t.Errorf("key paths (-fixture +emitted):\n%s", diff)
			}
		})
	}
}

func TestEmitInspectorScanTotal(t *testing.T) {
	in := ScanInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest,
		SeverityCounts: map[string]int64{"HIGH": 1, "TOTAL": 40}}
	raw, err := NewInspectorScanEvent(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeScan(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "TOTAL": 40}
	if diff := cmp.Diff(want, got.SeverityCounts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if got.Tags == nil {
		t.Error("nil tags: image-tags must be sent as []")
	}
}

func TestEmitFinding(t *testing.T) {
	layer := "sha256:29474c783a4b39b371106e1739346b151cecb14dcbcd3e0cd9d594d139b9cfc2"
	pkg := func(name string) VulnerablePackage {
		return VulnerablePackage{Arch: "AMD64", Name: name, FixedInVersion: "0:3.0.13-0ubuntu3.4", PackageManager: "OS",
			Release: "0ubuntu3.2", Remediation: "apt-get update && apt-get upgrade", SourceLayerHash: layer, Version: "3.0.13"}
	}
	in := FindingInput{
		EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest, Tags: []string{"v1.3.0"},
		Architecture: "amd64", Platform: "UBUNTU_24_04", FindingID: "8bf18252cb6dadd5f42fca108271e688",
		VulnerabilityID: "CVE-2024-6119", Severity: "HIGH", Description: "Possible denial of service in X.509 name checks",
		Source: "UBUNTU_CVE", SourceURL: "https://people.canonical.com/~ubuntu-security/cve/2024/CVE-2024-6119.html",
		VendorSeverity: "medium", VendorCreatedAt: time.Date(2024, 9, 3, 0, 0, 0, 0, time.UTC),
		ReferenceURLs: []string{"https://www.cve.org/CVERecord?id=CVE-2024-6119"}, RelatedVulnerabilities: []string{"USN-6986-1"},
		Packages: []VulnerablePackage{pkg("libssl3t64"), pkg("openssl")}, FixAvailable: "YES", ExploitAvailable: "NO", EPSSScore: 0.00045,
	}
	raw, err := NewInspectorFindingEvent(in)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := Classify(raw); err != nil || k != KindInspectorFinding {
		t.Fatalf("Classify = %v, %v; want %v", k, err, KindInspectorFinding)
	}
	got, err := DecodeFinding(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Finding{
		EventID: in.ID, Account: exAccount, Region: exRegion, Time: in.Time, Repository: exRepository, Digest: exDigest,
		Tags: []string{"v1.3.0"}, RepositoryARN: exRepositoryARN,
		FindingARN:      "arn:aws:inspector2:ap-southeast-1:123456789012:finding/8bf18252cb6dadd5f42fca108271e688",
		VulnerabilityID: "CVE-2024-6119", Severity: "HIGH", Status: "ACTIVE", Type: "PACKAGE_VULNERABILITY",
		Title: "CVE-2024-6119 - libssl3t64, openssl", FixAvailable: "YES",
		Packages: []Package{
			{Name: "libssl3t64", Version: "3.0.13", FixedInVersion: "0:3.0.13-0ubuntu3.4"},
			{Name: "openssl", Version: "3.0.13", FixedInVersion: "0:3.0.13-0ubuntu3.4"},
		},
		UpdatedAt: in.Time,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(keyPaths(t, readFixture(t, "inspector2-finding-ecr.json")), keyPaths(t, raw)); diff != "" {
		t.Errorf("key paths (-fixture +emitted):\n%s", diff)
	}
	var ev FindingEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if got, want := ev.Detail.UpdatedAt, "Fri Nov 20 08:15:42.000 UTC 2026"; got != want {
		t.Errorf("updatedAt = %q, want %q", got, want)
	}
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestEmitDefaults(t *testing.T) {
	raw, err := NewPushEvent(ImageActionInput{
		EnvelopeInput: EnvelopeInput{Account: exAccount, Region: exRegion},
		Repository:    exRepository, Digest: exDigest,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ID   string `json:"id"`
		Time string `json:"time"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if !uuidShape.MatchString(ev.ID) {
		t.Errorf("id = %q, want a UUID", ev.ID)
	}
	if _, err := time.Parse(time.RFC3339, ev.Time); err != nil || !strings.HasSuffix(ev.Time, "Z") || strings.Contains(ev.Time, ".") {
		t.Errorf("time = %q (%v), want RFC 3339 in UTC at second precision", ev.Time, err)
	}
	other, err := NewPushEvent(ImageActionInput{EnvelopeInput: EnvelopeInput{Account: exAccount, Region: exRegion}, Repository: exRepository, Digest: exDigest})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(raw, other) {
		t.Error("two events share an id")
	}
}

func TestEmitRejectsBadInput(t *testing.T) {
	good := ImageActionInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest, Tag: "v1.3.0"}
	tests := []struct {
		name    string
		mutate  func(*ImageActionInput)
		wantErr string
	}{
		{"short account", func(in *ImageActionInput) { in.Account = "1234" }, "12-digit"},
		{"no region", func(in *ImageActionInput) { in.Region = "" }, "region is empty"},
		{"bad digest", func(in *ImageActionInput) { in.Digest = "sha256:EXAMPLE" }, "64 hex digits"},
		{"bad repository", func(in *ImageActionInput) { in.Repository = "Retail API" }, "repository name"},
		{"bad tag", func(in *ImageActionInput) { in.Tag = "v1 3" }, "not a valid tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good
			tt.mutate(&in)
			_, err := NewPushEvent(in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewPushEvent error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := NewBasicScanEvent(ScanInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest,
		SeverityCounts: map[string]int64{"HIGH": -1}}); err == nil {
		t.Error("NewBasicScanEvent accepted a negative count")
	}
	if _, err := NewInspectorFindingEvent(FindingInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest}); err == nil {
		t.Error("NewInspectorFindingEvent accepted a finding without vulnerability id and severity")
	}
}
