package ecrevent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecodeImageAction(t *testing.T) {
	tests := []struct {
		name string
		file string
		want ImageAction
	}{
		{"push", "ecr-image-action-push.json", ImageAction{
			EventID: "0d4736f2-e095-4fdc-ad64-c50c4848acd5", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:15:42Z"), ActionType: "PUSH", Result: "SUCCESS",
			Repository: exRepository, Digest: exDigest, Tag: "v1.3.0",
		}},
		{"push failure", "ecr-image-action-push-failure.json", ImageAction{
			EventID: "a41f25cf-e69f-4a94-a765-1e9d1af4d92f", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:21:07Z"), ActionType: "PUSH", Result: "FAILURE",
			Repository: exRepository, Digest: exDigestBad, Tag: "v1.3.1",
		}},
		{"delete", "ecr-image-action-delete.json", ImageAction{
			EventID: "d2b38c29-0e3d-4115-81fa-bdf22129c63b", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-21T02:00:13Z"), ActionType: "DELETE", Result: "SUCCESS",
			Repository: exRepository, Digest: exDigestOld, Tag: "v1.2.0",
		}},
		{"archive", "ecr-image-action-update-storage-class.json", ImageAction{
			EventID: "e25a13d5-361d-4ba3-9cb0-615188e37e48", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-22T03:30:00Z"), ActionType: "UPDATE_STORAGE_CLASS", Result: "SUCCESS",
			Repository: exRepository, Digest: exDigestOld,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeImageAction(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("DecodeImageAction: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// exRepositoryARN is the repository ARN of the enhanced-scanning fixtures.
var exRepositoryARN = RepositoryARN{Partition: "aws", Region: exRegion, Account: exAccount, Name: exRepository}

func TestDecodeScan(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Scan
	}{
		{"basic complete", "ecr-image-scan-complete.json", Scan{
			EventID: "e6ea5c2d-43ec-4764-8ff0-4ddd69df43a6", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:16:30Z"), Repository: exRepository, Digest: exDigest,
			Tags: []string{"v1.3.0"}, Status: "COMPLETE", SeverityCounts: map[string]int64{"HIGH": 2, "MEDIUM": 9},
		}},
		{"basic failed", "ecr-image-scan-failed.json", Scan{
			EventID: "14f73676-9b4f-469d-b614-0672cc67c7cb", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:22:10Z"), Repository: exRepository, Digest: exDigestBad,
			Tags: []string{}, Status: "FAILED", SeverityCounts: map[string]int64{},
		}},
		{"enhanced", "inspector2-scan-ecr.json", Scan{
			EventID: "5f0e2f1d-05a9-4ed9-9621-267a492659a1", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:17:05Z"), Repository: exRepository, Digest: exDigest,
			Tags: []string{"v1.3.0"}, Status: "INITIAL_SCAN_COMPLETE",
			SeverityCounts: map[string]int64{"CRITICAL": 1, "HIGH": 3, "MEDIUM": 7, "TOTAL": 14}, Enhanced: true,
			RepositoryARN: exRepositoryARN,
		}},
		{"enhanced clean", "inspector2-scan-ecr-clean.json", Scan{
			EventID: "50e04ec4-c6bc-4c5e-99d3-1e94d63046fa", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-24T10:41:52Z"), Repository: exRepository, Digest: exDigestOld,
			Tags: []string{"v1.2.0"}, Status: "INITIAL_SCAN_COMPLETE",
			SeverityCounts: map[string]int64{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "TOTAL": 0}, Enhanced: true,
			RepositoryARN: exRepositoryARN,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeScan(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("DecodeScan: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeFinding(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Finding
	}{
		{"current shape", "inspector2-finding-ecr.json", Finding{
			EventID: "8d8cfd38-0b93-4223-aac6-922dc738af6a", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:17:03Z"), Repository: exRepository, Digest: exDigest,
			Tags: []string{"v1.3.0"}, RepositoryARN: exRepositoryARN,
			FindingARN:      "arn:aws:inspector2:ap-southeast-1:123456789012:finding/8bf18252cb6dadd5f42fca108271e688",
			VulnerabilityID: "CVE-2024-6119", Severity: "MEDIUM", Status: "ACTIVE", Type: "PACKAGE_VULNERABILITY",
			Title: "CVE-2024-6119 - libssl3t64, openssl", FixAvailable: "YES",
			Packages: []Package{
				{Name: "libssl3t64", Version: "3.0.13", FixedInVersion: "0:3.0.13-0ubuntu3.4"},
				{Name: "openssl", Version: "3.0.13", FixedInVersion: "0:3.0.13-0ubuntu3.4"},
			},
			UpdatedAt: mustTime(t, "2026-11-20T08:17:02.411Z"),
		}},
		{"2021 shape", "inspector2-finding-ecr-2021.json", Finding{
			EventID: "a01c7c75-8582-4dde-a488-2b0188b15a46", Account: exAccount, Region: exRegion,
			Time: mustTime(t, "2026-11-20T08:17:04Z"), Repository: exRepository, Digest: exDigest,
			Tags: []string{"v1.3.0"}, RepositoryARN: exRepositoryARN,
			FindingARN:      "arn:aws:inspector2:ap-southeast-1:123456789012:finding/7cba824311e0d9e258de9bc30596f912",
			VulnerabilityID: "CVE-2019-17498", Severity: "MEDIUM", Status: "ACTIVE", Type: "PACKAGE_VULNERABILITY",
			Title: "CVE-2019-17498 - libssh2", InspectorScore: 6.5,
			Packages:  []Package{{Name: "libssh2", Version: "1.4.3"}},
			UpdatedAt: mustTime(t, "2026-11-20T08:17:03Z"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFinding(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("DecodeFinding: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// edit returns the fixture with old replaced by new, failing if old is absent.
func edit(t testing.TB, file, old, new string) []byte {
	t.Helper()
	s := string(readFixture(t, file))
	if !strings.Contains(s, old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	return []byte(strings.ReplaceAll(s, old, new))
}

func TestDecodeErrors(t *testing.T) {
	upperDigest := "sha256:" + strings.ToUpper(exDigest[len("sha256:"):])
	tests := []struct {
		name    string
		decode  func([]byte) error
		event   []byte
		wantIs  error
		wantErr string
	}{
		{"push on a scan event", decodePush, readFixture(t, "ecr-image-scan-complete.json"), ErrWrongKind, "want [push], got basic-scan"},
		{"push on a push failure", decodePush, readFixture(t, "ecr-image-action-push-failure.json"), ErrWrongKind, "got push-failure"},
		{"push on a replication", decodePush, readFixture(t, "ecr-replication-action.json"), ErrWrongKind, "ECR Replication Action from aws.ecr is not acted on"},
		{"scan on an EC2 scan", decodeScan, readFixture(t, "inspector2-scan-ec2.json"), ErrWrongKind, "EC2 instance"},
		{"finding on an EC2 finding", decodeFinding, readFixture(t, "inspector2-finding-ec2.json"), ErrWrongKind, "AWS_EC2_INSTANCE"},
		{"documentation's EXAMPLE digest", decodePush, edit(t, "ecr-image-action-push.json", exDigest, "sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77e5EXAMPLE"), ErrMalformedEvent, "64 hex digits"},
		{"upper-case digest", decodePush, edit(t, "ecr-image-action-push.json", exDigest, upperDigest), ErrMalformedEvent, "lowercase hex"},
		{"short digest", decodeScan, edit(t, "ecr-image-scan-complete.json", exDigest, "sha256:abc"), ErrMalformedEvent, "64 hex digits"},
		{"push without digest", decodePush, edit(t, "ecr-image-action-push.json", `"image-digest": "`+exDigest+`",`, ""), ErrMalformedEvent, `image digest ""`},
		{"upper-case repository", decodePush, edit(t, "ecr-image-action-push.json", `"mlops/retail-api"`, `"MLOps/retail-api"`), ErrMalformedEvent, "not a valid ECR repository name"},
		{"bad tag", decodePush, edit(t, "ecr-image-action-push.json", `"v1.3.0"`, `"-v1"`), ErrMalformedEvent, "not a valid tag"},
		{"time is a number", decodePush, edit(t, "ecr-image-action-push.json", `"2026-11-20T08:15:42Z"`, `1763626542`), ErrMalformedEvent, "decode ECR Image Action"},
		{"time is not RFC 3339", decodeScan, edit(t, "ecr-image-scan-complete.json", `"2026-11-20T08:16:30Z"`, `"Nov 20, 2026"`), ErrMalformedEvent, "decode basic-scan event"},
		{"count is a string", decodeScan, edit(t, "ecr-image-scan-complete.json", `"HIGH": 2`, `"HIGH": "2"`), ErrMalformedEvent, "decode basic-scan event"},
		{"negative count", decodeScan, edit(t, "inspector2-scan-ecr.json", `"HIGH": 3`, `"HIGH": -3`), ErrMalformedEvent, "negative HIGH count"},
		{"scan without status", decodeScan, edit(t, "ecr-image-scan-complete.json", `"scan-status": "COMPLETE",`, ""), ErrMalformedEvent, "no scan-status"},
		{"inspector scan ARN without name", decodeScan, edit(t, "inspector2-scan-ecr.json", `"arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api",`, `"arn:aws:ecr:ap-southeast-1:123456789012:repository/",`), ErrMalformedEvent, "not an ECR repository ARN"},
		{"finding id without digest", decodeFinding, edit(t, "inspector2-finding-ecr.json", `"id": "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api/`+exDigest+`"`, `"id": "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api"`), ErrMalformedEvent, "no /sha256: digest"},
		{"finding details disagree with id", decodeFinding, edit(t, "inspector2-finding-ecr.json", `"repositoryName": "mlops/retail-api"
                    },`, `"repositoryName": "mlops/train-model"
                    },`), ErrMalformedEvent, "details name mlops/train-model@"},
		{"finding without severity", decodeFinding, edit(t, "inspector2-finding-ecr.json", `"severity": "MEDIUM",`, ""), ErrMalformedEvent, "lacks findingArn, severity or status"},
		{"finding epss is a string", decodeFinding, edit(t, "inspector2-finding-ecr.json", `"score": 0.00045`, `"score": "low"`), ErrMalformedEvent, "decode Inspector2 Finding"},
		{"truncated", decodeFinding, readFixture(t, "inspector2-finding-ecr.json")[:900], ErrMalformedEvent, "decode envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(tt.event)
			if err == nil {
				t.Fatalf("decode succeeded, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want %v containing %q", err, tt.wantIs, tt.wantErr)
			}
		})
	}
}

func decodePush(b []byte) error    { _, err := DecodePush(b); return err }
func decodeScan(b []byte) error    { _, err := DecodeScan(b); return err }
func decodeFinding(b []byte) error { _, err := DecodeFinding(b); return err }

func TestParseImageResourceID(t *testing.T) {
	tests := []struct {
		name       string
		id         string
		wantRepo   RepositoryARN
		wantDigest string
		wantErr    bool
	}{
		{name: "nested name", id: "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api/" + exDigest,
			wantRepo: RepositoryARN{Partition: "aws", Region: exRegion, Account: exAccount, Name: exRepository}, wantDigest: exDigest},
		{name: "China partition", id: "arn:aws-cn:ecr:cn-north-1:123456789012:repository/a/b/c/" + exDigest,
			wantRepo: RepositoryARN{Partition: "aws-cn", Region: "cn-north-1", Account: exAccount, Name: "a/b/c"}, wantDigest: exDigest},
		{name: "not ECR", id: "arn:aws:lambda:ap-southeast-1:123456789012:function:f/" + exDigest, wantErr: true},
		{name: "EC2 instance", id: "i-0a1b2c3d4e5f67890", wantErr: true},
		{name: "bad digest", id: "arn:aws:ecr:ap-southeast-1:123456789012:repository/a/sha256:EXAMPLE", wantErr: true},
		{name: "missing account", id: "arn:aws:ecr:ap-southeast-1::repository/ab/" + exDigest, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, digest, err := ParseImageResourceID(tt.id)
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrMalformedEvent) {
					t.Fatalf("ParseImageResourceID = %+v, %q, %v; want ErrMalformedEvent", repo, digest, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantRepo, repo); diff != "" {
				t.Errorf("repository (-want +got):\n%s", diff)
			}
			if digest != tt.wantDigest {
				t.Errorf("digest = %q, want %q", digest, tt.wantDigest)
			}
			if got := repo.String() + "/" + digest; got != tt.id {
				t.Errorf("String round trip = %q, want %q", got, tt.id)
			}
		})
	}
}

func TestParseInspectorTime(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"Wed Sep 04 16:55:38.411 UTC 2024", "2024-09-04T16:55:38.411Z"},
		{"Dec 3, 2021, 6:02:30 PM", "2021-12-03T18:02:30Z"},
		{"2026-06-12T01:30:00.000Z", "2026-06-12T01:30:00Z"},
		{"yesterday", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseInspectorTime(tt.in)
			if tt.want == "" {
				if !got.IsZero() {
					t.Errorf("ParseInspectorTime = %v, want zero", got)
				}
				return
			}
			if want := mustTime(t, tt.want); !got.Equal(want) {
				t.Errorf("ParseInspectorTime = %v, want %v", got, want)
			}
		})
	}
}
