package findings

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
)

func attrs(kv ...string) []ecrtypes.Attribute {
	var out []ecrtypes.Attribute
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, ecrtypes.Attribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func TestFromBasic(t *testing.T) {
	tests := []struct {
		name string
		in   []ecrtypes.ImageScanFinding
		want []Finding
	}{
		{
			name: "attributes, string score, description first line",
			in: []ecrtypes.ImageScanFinding{{
				Name:        aws.String("CVE-2019-5188"),
				Description: aws.String("A code execution vulnerability exists in ext2fs.\nMore text."),
				Uri:         aws.String("http://people.ubuntu.com/~ubuntu-security/cve/CVE-2019-5188"),
				Severity:    ecrtypes.FindingSeverityMedium,
				Attributes: attrs("package_version", "1.44.1-1ubuntu1.1", "package_name", "e2fsprogs",
					"CVSS2_VECTOR", "AV:L/AC:L/Au:N/C:P/I:P/A:P", "CVSS2_SCORE", "4.6"),
			}},
			want: []Finding{{
				ID: "CVE-2019-5188", Severity: "MEDIUM",
				Packages: []Package{{Name: "e2fsprogs", InstalledVersion: "1.44.1-1ubuntu1.1"}},
				Title:    "A code execution vulnerability exists in ext2fs.",
				URI:      "http://people.ubuntu.com/~ubuntu-security/cve/CVE-2019-5188",
				Score:    4.6, Source: SourceBasic,
			}},
		},
		{
			name: "CVSS3 preferred, bad scores are zero, undefined severity kept",
			in: []ecrtypes.ImageScanFinding{
				{Name: aws.String("CVE-1"), Severity: ecrtypes.FindingSeverityHigh, Attributes: attrs("CVSS2_SCORE", "5.0", "CVSS3_SCORE", "7.5")},
				{Name: aws.String("CVE-2"), Severity: ecrtypes.FindingSeverityUndefined, Attributes: attrs("CVSS2_SCORE", "n/a")},
				{Name: aws.String("CVE-3"), Severity: ecrtypes.FindingSeverityLow, Attributes: attrs("CVSS2_SCORE", "NaN")},
				{Name: aws.String("CVE-4"), Severity: ecrtypes.FindingSeverityLow, Attributes: attrs("CVSS2_SCORE", "11")},
			},
			want: []Finding{
				{ID: "CVE-1", Severity: "HIGH", Score: 7.5, Source: SourceBasic},
				{ID: "CVE-2", Severity: "UNDEFINED", Source: SourceBasic},
				{ID: "CVE-3", Severity: "LOW", Source: SourceBasic},
				{ID: "CVE-4", Severity: "LOW", Source: SourceBasic},
			},
		},
		{
			name: "same id for two packages merges, nameless finding kept as UNKNOWN",
			in: []ecrtypes.ImageScanFinding{
				{Name: aws.String("CVE-2022-1"), Severity: ecrtypes.FindingSeverityMedium, Attributes: attrs("package_name", "zlib", "package_version", "1.2"), Uri: aws.String("u-medium")},
				{Name: aws.String("cve-2022-1"), Severity: ecrtypes.FindingSeverityHigh, Attributes: attrs("package_name", "libz", "package_version", "1.2", "CVSS2_SCORE", "7.1"), Uri: aws.String("u-high")},
				{Name: aws.String("CVE-2022-1"), Severity: ecrtypes.FindingSeverityMedium, Attributes: attrs("package_name", "zlib", "package_version", "1.2")},
				{Severity: ecrtypes.FindingSeverityCritical},
			},
			want: []Finding{
				{ID: "CVE-2022-1", Severity: "HIGH", URI: "u-high", Score: 7.1, Source: SourceBasic, Packages: []Package{
					{Name: "libz", InstalledVersion: "1.2"}, {Name: "zlib", InstalledVersion: "1.2"},
				}},
				{ID: UnknownID, Severity: "CRITICAL", Source: SourceBasic},
			},
		},
		{name: "nothing", in: nil, want: []Finding{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromBasic(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromBasic (-want +got):\n%s", diff)
			}
		})
	}
}

func enhanced(id, severity, status string, pkgs ...ecrtypes.VulnerablePackage) ecrtypes.EnhancedImageScanFinding {
	f := ecrtypes.EnhancedImageScanFinding{
		Severity: aws.String(severity),
		Title:    aws.String(id + " - title"),
		PackageVulnerabilityDetails: &ecrtypes.PackageVulnerabilityDetails{
			VulnerabilityId:    aws.String(id),
			SourceUrl:          aws.String("https://nvd.nist.gov/vuln/detail/" + id),
			VulnerablePackages: pkgs,
		},
	}
	if status != "" {
		f.Status = aws.String(status)
	}
	return f
}

func vpkg(name, version, fixed string) ecrtypes.VulnerablePackage {
	p := ecrtypes.VulnerablePackage{Name: aws.String(name), Version: aws.String(version)}
	if fixed != "" {
		p.FixedInVersion = aws.String(fixed)
	}
	return p
}

func TestFromEnhanced(t *testing.T) {
	scored := enhanced("CVE-2023-5", "HIGH", "ACTIVE", vpkg("curl", "7.1", "7.2"))
	scored.Score = 8.1
	cvssOnly := enhanced("CVE-2023-6", "MEDIUM", "ACTIVE")
	cvssOnly.PackageVulnerabilityDetails.Cvss = []ecrtypes.CvssScore{{BaseScore: 5.3}, {BaseScore: 6.1}}
	detailsOnly := enhanced("CVE-2023-7", "LOW", "ACTIVE")
	detailsOnly.ScoreDetails = &ecrtypes.ScoreDetails{Cvss: &ecrtypes.CvssScoreDetails{Score: 3.3}}
	remediationURL := enhanced("GHSA-aaaa-bbbb-cccc", "high", "ACTIVE")
	remediationURL.PackageVulnerabilityDetails.SourceUrl = nil
	remediationURL.PackageVulnerabilityDetails.ReferenceUrls = []string{"https://ref"}
	remediationURL.Remediation = &ecrtypes.Remediation{Recommendation: &ecrtypes.Recommendation{Url: aws.String("https://fix")}}
	referenceURL := enhanced("GHSA-dddd-eeee-ffff", "LOW", "ACTIVE")
	referenceURL.PackageVulnerabilityDetails.SourceUrl = nil
	referenceURL.PackageVulnerabilityDetails.ReferenceUrls = []string{"https://ref"}
	noDetails := ecrtypes.EnhancedImageScanFinding{Severity: aws.String("CRITICAL"), Status: aws.String("ACTIVE")}

	tests := []struct {
		name string
		in   []ecrtypes.EnhancedImageScanFinding
		want []Finding
	}{
		{
			name: "only active findings alert; missing status counts as active",
			in: []ecrtypes.EnhancedImageScanFinding{
				enhanced("CVE-2023-1", "CRITICAL", "ACTIVE", vpkg("openssl", "3.0.1", "3.0.7")),
				enhanced("CVE-2023-2", "CRITICAL", "SUPPRESSED", vpkg("openssl", "3.0.1", "3.0.7")),
				enhanced("CVE-2023-3", "HIGH", "CLOSED", vpkg("glibc", "2.31", "")),
				enhanced("CVE-2023-4", "HIGH", "", vpkg("glibc", "2.31", "NotAvailable")),
			},
			want: []Finding{
				{ID: "CVE-2023-1", Severity: "CRITICAL", Title: "CVE-2023-1 - title", URI: "https://nvd.nist.gov/vuln/detail/CVE-2023-1", Source: SourceEnhanced,
					Packages: []Package{{Name: "openssl", InstalledVersion: "3.0.1", FixedVersion: "3.0.7"}}},
				{ID: "CVE-2023-4", Severity: "HIGH", Title: "CVE-2023-4 - title", URI: "https://nvd.nist.gov/vuln/detail/CVE-2023-4", Source: SourceEnhanced,
					Packages: []Package{{Name: "glibc", InstalledVersion: "2.31"}}},
			},
		},
		{
			name: "scores: inspector, else highest CVSS, else score details",
			in:   []ecrtypes.EnhancedImageScanFinding{scored, cvssOnly, detailsOnly},
			want: []Finding{
				{ID: "CVE-2023-5", Severity: "HIGH", Title: "CVE-2023-5 - title", URI: "https://nvd.nist.gov/vuln/detail/CVE-2023-5", Score: 8.1, Source: SourceEnhanced,
					Packages: []Package{{Name: "curl", InstalledVersion: "7.1", FixedVersion: "7.2"}}},
				{ID: "CVE-2023-6", Severity: "MEDIUM", Title: "CVE-2023-6 - title", URI: "https://nvd.nist.gov/vuln/detail/CVE-2023-6", Score: 6.1, Source: SourceEnhanced},
				{ID: "CVE-2023-7", Severity: "LOW", Title: "CVE-2023-7 - title", URI: "https://nvd.nist.gov/vuln/detail/CVE-2023-7", Score: 3.3, Source: SourceEnhanced},
			},
		},
		{
			name: "link falls back to remediation, then references; missing details is UNKNOWN",
			in:   []ecrtypes.EnhancedImageScanFinding{remediationURL, referenceURL, noDetails},
			want: []Finding{
				{ID: "GHSA-aaaa-bbbb-cccc", Severity: "HIGH", Title: "GHSA-aaaa-bbbb-cccc - title", URI: "https://fix", Source: SourceEnhanced},
				{ID: "GHSA-dddd-eeee-ffff", Severity: "LOW", Title: "GHSA-dddd-eeee-ffff - title", URI: "https://ref", Source: SourceEnhanced},
				{ID: UnknownID, Severity: "CRITICAL", Source: SourceEnhanced},
			},
		},
		{
			name: "one vulnerability in several findings and packages merges",
			in: []ecrtypes.EnhancedImageScanFinding{
				enhanced("CVE-2024-9", "MEDIUM", "ACTIVE", vpkg("libssl3", "3.0.1", "3.0.9"), vpkg("openssl", "3.0.1", "3.0.9")),
				enhanced("CVE-2024-9", "HIGH", "ACTIVE", vpkg("openssl", "3.0.1", "3.0.9"), vpkg("libcrypto3", "3.0.1", "")),
			},
			want: []Finding{
				{ID: "CVE-2024-9", Severity: "HIGH", Title: "CVE-2024-9 - title", URI: "https://nvd.nist.gov/vuln/detail/CVE-2024-9", Source: SourceEnhanced,
					Packages: []Package{
						{Name: "libcrypto3", InstalledVersion: "3.0.1"},
						{Name: "libssl3", InstalledVersion: "3.0.1", FixedVersion: "3.0.9"},
						{Name: "openssl", InstalledVersion: "3.0.1", FixedVersion: "3.0.9"},
					}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromEnhanced(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromEnhanced (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeDoesNotModifyInput(t *testing.T) {
	in := []Finding{
		{ID: "CVE-1", Severity: "LOW", Packages: []Package{{Name: "b"}}},
		{ID: "CVE-1", Severity: "HIGH", Packages: []Package{{Name: "a"}}},
	}
	before := []Finding{
		{ID: "CVE-1", Severity: "LOW", Packages: []Package{{Name: "b"}}},
		{ID: "CVE-1", Severity: "HIGH", Packages: []Package{{Name: "a"}}},
	}
	got := Merge(in)
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("input changed (-want +got):\n%s", diff)
	}
	want := []Finding{{ID: "CVE-1", Severity: "HIGH", Packages: []Package{{Name: "a"}, {Name: "b"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
}

func TestFixable(t *testing.T) {
	if (Finding{Packages: []Package{{Name: "a"}}}).Fixable() {
		t.Error("Fixable() = true for a finding without a fixed version")
	}
	if !(Finding{Packages: []Package{{Name: "a"}, {Name: "b", FixedVersion: "2"}}}).Fixable() {
		t.Error("Fixable() = false for a finding with a fixed version")
	}
}

func TestFirstLineBounded(t *testing.T) {
	long := ""
	for range 300 {
		long += "é"
	}
	got := firstLine(long)
	if n := len([]rune(got)); n != maxTitle {
		t.Errorf("firstLine of 300 runes has %d runes, want %d", n, maxTitle)
	}
}
