package ecr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

// findings returns n findings cycling through severities.
func findings(n int) []ecr.Finding {
	sev := []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"}
	var out []ecr.Finding
	for i := range n {
		out = append(out, ecr.Finding{
			Name:           fmt.Sprintf("CVE-2026-%04d", i),
			Severity:       sev[i%len(sev)],
			URI:            fmt.Sprintf("https://nvd.nist.gov/vuln/detail/CVE-2026-%04d", i),
			PackageName:    "openssl",
			PackageVersion: "3.0.13",
			FixedInVersion: map[bool]string{true: "3.0.14"}[i%2 == 0],
			CVSS2Score:     "7.5",
			Score:          8.1,
		})
	}
	return out
}

func TestBasicScanFindings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo, func(in *awsecr.CreateRepositoryInput) {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	})
	m := manifest(1, 100)
	if err := e.srv.SetFindings(repo, ecr.Digest([]byte(m)), findings(250)); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, repo, m, "v1")

	e.srv.Log().Reset()
	p := awsecr.NewDescribeImageScanFindingsPaginator(e.client, &awsecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}, MaxResults: aws.Int32(100),
	})
	var got []string
	var counts map[string]int32
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		if page.ImageScanStatus.Status != types.ScanStatusComplete {
			t.Fatalf("status = %s", page.ImageScanStatus.Status)
		}
		counts = page.ImageScanFindings.FindingSeverityCounts
		for _, f := range page.ImageScanFindings.Findings {
			got = append(got, aws.ToString(f.Name))
			attrs := map[string]string{}
			for _, a := range f.Attributes {
				attrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
			}
			if diff := cmp.Diff(map[string]string{"package_name": "openssl", "package_version": "3.0.13", "CVSS2_SCORE": "7.5"}, attrs); diff != "" {
				t.Fatalf("attributes (-want +got):\n%s", diff)
			}
		}
		if len(page.ImageScanFindings.EnhancedFindings) != 0 {
			t.Fatalf("basic scan returned enhanced findings")
		}
	}
	if len(got) != 250 || got[0] != "CVE-2026-0000" || got[249] != "CVE-2026-0249" {
		t.Errorf("findings = %d (%v … %v), want 250 in order", len(got), got[0], got[len(got)-1])
	}
	if n := e.srv.Log().Count("DescribeImageScanFindings"); n != 3 {
		t.Errorf("DescribeImageScanFindings calls = %d, want 3", n)
	}
	want := map[string]int32{"CRITICAL": 50, "HIGH": 50, "MEDIUM": 50, "LOW": 50, "INFORMATIONAL": 50}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("severity counts (-want +got):\n%s", diff)
	}

	// DescribeImages carries the scan status and summary.
	di, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	if s := di.ImageDetails[0].ImageScanStatus; s == nil || s.Status != types.ScanStatusComplete ||
		di.ImageDetails[0].ImageScanFindingsSummary.FindingSeverityCounts["HIGH"] != 50 {
		t.Errorf("image detail scan = %+v %+v", s, di.ImageDetails[0].ImageScanFindingsSummary)
	}

	// A basic scan can start once per 24 hours, the scan on push included.
	// The SDK treats LimitExceededException as throttling and retries it.
	e.srv.Log().Reset()
	_, err = e.client.StartImageScan(ctx, &awsecr.StartImageScanInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	var limit *types.LimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("StartImageScan within 24h error = %v, want LimitExceededException", err)
	}
	if n := e.srv.Log().Count("StartImageScan"); n != retry.DefaultMaxAttempts {
		t.Errorf("StartImageScan attempts = %d, want %d", n, retry.DefaultMaxAttempts)
	}
	e.clock.Advance(25 * time.Hour)
	if err := e.srv.SetFindings(repo, d, findings(3)); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.StartImageScan(ctx, &awsecr.StartImageScanInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	if err != nil {
		t.Fatalf("StartImageScan after 25h: %v", err)
	}
	if st.ImageScanStatus.Status != types.ScanStatusInProgress {
		t.Errorf("StartImageScan status = %s, want IN_PROGRESS", st.ImageScanStatus.Status)
	}
	out, err := e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	if err != nil || len(out.ImageScanFindings.Findings) != 3 || out.NextToken != nil {
		t.Fatalf("findings after rescan = %+v, %v", out, err)
	}
}

func TestScanErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	d := e.push(t, repo, manifest(1, 100), "v1")
	failed := manifest(2, 100)
	if err := e.srv.SetScanFailure(repo, ecr.Digest([]byte(failed)), "UnsupportedImageError: The operating system is not supported"); err != nil {
		t.Fatal(err)
	}
	fd := e.push(t, repo, failed, "v2")
	if _, err := e.client.StartImageScan(ctx, &awsecr.StartImageScanInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(fd)}}); err != nil {
		t.Fatalf("StartImageScan: %v", err)
	}
	out, err := e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(fd)}})
	if err != nil || out.ImageScanStatus.Status != types.ScanStatusFailed || out.ImageScanFindings != nil {
		t.Fatalf("failed scan = %+v, %v", out, err)
	}

	tests := []struct {
		name     string
		id       types.ImageIdentifier
		token    *string
		wantCode string
	}{
		{name: "never scanned", id: types.ImageIdentifier{ImageDigest: aws.String(d)}, wantCode: "ScanNotFoundException"},
		{name: "no such image", id: types.ImageIdentifier{ImageTag: aws.String("nope")}, wantCode: "ImageNotFoundException"},
		{name: "token of another image", id: types.ImageIdentifier{ImageDigest: aws.String(fd)}, token: aws.String("eyJvIjoiTGlzdEltYWdlcyJ9"), wantCode: "InvalidParameterException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{
				RepositoryName: aws.String(repo), ImageId: &tc.id, NextToken: tc.token})
			if got := errorCode(err); got != tc.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tc.wantCode)
			}
		})
	}
}

func TestEnhancedScanFindings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	if err := e.srv.CreateRepository(repo, ecr.RepositoryOptions{ScanType: ecr.ScanEnhanced}); err != nil {
		t.Fatal(err)
	}
	m := manifest(1, 100)
	if err := e.srv.SetFindings(repo, ecr.Digest([]byte(m)), findings(4)); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, repo, m, "v1.3.0")
	out, err := e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1.3.0")}})
	if err != nil {
		t.Fatal(err)
	}
	if out.ImageScanStatus.Status != types.ScanStatusActive {
		t.Errorf("status = %s, want ACTIVE", out.ImageScanStatus.Status)
	}
	type finding struct {
		ID, Severity, Fix, Status, Package, Version, FixedIn, Resource string
	}
	var got []finding
	for _, f := range out.ImageScanFindings.EnhancedFindings {
		pv := f.PackageVulnerabilityDetails
		got = append(got, finding{aws.ToString(pv.VulnerabilityId), aws.ToString(f.Severity), aws.ToString(f.FixAvailable),
			aws.ToString(f.Status), aws.ToString(pv.VulnerablePackages[0].Name), aws.ToString(pv.VulnerablePackages[0].Version),
			aws.ToString(pv.VulnerablePackages[0].FixedInVersion), aws.ToString(f.Resources[0].Details.AwsEcrContainerImage.ImageHash)})
		if f.FindingArn == nil || f.Remediation.Recommendation == nil {
			t.Errorf("finding lacks arn or remediation: %+v", f)
		}
	}
	want := []finding{
		{"CVE-2026-0000", "CRITICAL", "YES", "ACTIVE", "openssl", "3.0.13", "3.0.14", d},
		{"CVE-2026-0001", "HIGH", "NO", "ACTIVE", "openssl", "3.0.13", "", d},
		{"CVE-2026-0002", "MEDIUM", "YES", "ACTIVE", "openssl", "3.0.13", "3.0.14", d},
		{"CVE-2026-0003", "LOW", "NO", "ACTIVE", "openssl", "3.0.13", "", d},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enhanced findings (-want +got):\n%s", diff)
	}
	if len(out.ImageScanFindings.Findings) != 0 {
		t.Errorf("enhanced scan returned basic findings")
	}
	_, err = e.client.StartImageScan(ctx, &awsecr.StartImageScanInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	if got := errorCode(err); got != "ValidationException" {
		t.Errorf("StartImageScan on enhanced repository = %v, want ValidationException", err)
	}
}

// TestSetScanStatus: a status set after the scan is what the findings read
// and DescribeImages report, with the findings kept.
func TestSetScanStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo, func(in *awsecr.CreateRepositoryInput) {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	})
	m := manifest(1, 100)
	if err := e.srv.SetFindings(repo, ecr.Digest([]byte(m)), findings(2)); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, repo, m, "v1")
	if err := e.srv.SetScanStatus(repo, d, "IN_PROGRESS", "The scan is in progress."); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}})
	if err != nil || out.ImageScanStatus.Status != types.ScanStatusInProgress || len(out.ImageScanFindings.Findings) != 2 {
		t.Fatalf("findings read = %+v, %v; want IN_PROGRESS with the 2 findings", out, err)
	}
	di, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil || di.ImageDetails[0].ImageScanStatus.Status != types.ScanStatusInProgress {
		t.Fatalf("DescribeImages = %+v, %v; want IN_PROGRESS", di, err)
	}
	if err := e.srv.SetScanStatus(repo, d, "DONE", ""); err == nil {
		t.Error("an unknown status was accepted")
	}
	if err := e.srv.SetScanStatus(repo, "sha256:"+fmt.Sprintf("%064d", 0), "PENDING", ""); err == nil {
		t.Error("a status was set on an image never scanned")
	}
}
