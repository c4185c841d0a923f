package findings

import (
	"fmt"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

func benchFindings(n int) []Finding {
	sev := []policy.Severity{"CRITICAL", "HIGH", "HIGH", "MEDIUM", "LOW"}
	out := make([]Finding, n)
	for i := range out {
		id := fmt.Sprintf("CVE-2025-%05d", 10000+i*7)
		out[i] = Finding{ID: id, Severity: sev[i%len(sev)], Source: SourceEnhanced,
			Packages: []Package{{Name: fmt.Sprintf("lib%d", i%37), InstalledVersion: "1.0", FixedVersion: "1.1"}}}
	}
	return out
}

func BenchmarkEvaluate2000(b *testing.B) {
	fs := benchFindings(2000)
	now := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = Evaluate("mlops/train-model", policy.ScanPolicy{AlertAt: "MEDIUM"}, fs, now)
	}
}

func BenchmarkFingerprint2000(b *testing.B) {
	fs := benchFindings(2000)
	b.ReportAllocs()
	for b.Loop() {
		_ = Fingerprint("mlops/train-model", "sha256:0123", fs)
	}
}
