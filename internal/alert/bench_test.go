package alert

import (
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// BenchmarkAlert2000 measures the whole onscan path for an image with 2,000
// findings: evaluate the policy, fingerprint the set, render Slack and SNS.
func BenchmarkAlert2000(b *testing.B) {
	fs := manyFindings(2000)
	sp := policy.ScanPolicy{AlertAt: "MEDIUM", Ignore: []policy.Ignore{
		{ID: "CVE-2025-10007", Until: date(b, "2026-01-31"), Reason: "expired"},
		{ID: "CVE-2025-10014", Until: date(b, "2027-01-31"), Reason: "active"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		r := findings.Evaluate("mlops/train-model", sp, fs, now)
		a := Alert{Kind: KindFindings, Repository: "mlops/train-model", Digest: digest, Region: region, Account: account,
			Findings: &r, Fingerprint: findings.Fingerprint("mlops/train-model", digest, r.Alerting)}
		_ = Slack(a)
		_, _, _ = SNS(a)
	}
}

// BenchmarkSlack2000 and BenchmarkSNS2000 measure each rendering alone.
func BenchmarkSlack2000(b *testing.B) {
	a := findingsAlert(b, "mlops/train-model", manyFindings(2000), policy.ScanPolicy{AlertAt: "LOW"})
	b.ReportAllocs()
	for b.Loop() {
		_ = Slack(a)
	}
}

func BenchmarkSNS2000(b *testing.B) {
	a := findingsAlert(b, "mlops/train-model", manyFindings(2000), policy.ScanPolicy{AlertAt: "LOW"})
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = SNS(a)
	}
}
