package main

import (
	"context"
	"fmt"
	"testing"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
)

// alwaysSends is an alerter without memory: every delivery is new, so each
// benchmark iteration renders nothing but does all of the handler's work.
type alwaysSends struct{ n int }

func (a *alwaysSends) DeliverAudited(context.Context, string, alert.Alert, []audit.Event) (bool, error) {
	a.n++
	return true, nil
}

// BenchmarkHandle runs the warm handler on an image with 2,000 findings
// (two DescribeImageScanFindings pages of 1,000) against fakes.
func BenchmarkHandle(b *testing.B) {
	severities := []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"}
	var basic []ecrtypes.ImageScanFinding
	var enhanced []ecrtypes.EnhancedImageScanFinding
	for i := range 2000 {
		id := fmt.Sprintf("CVE-2026-%05d", i)
		basic = append(basic, basicFinding(id, severities[i%len(severities)]))
		f := enhancedFinding(id, severities[i%len(severities)])
		f.Score = float64(i%100) / 10
		enhanced = append(enhanced, f)
	}
	for _, bb := range []struct {
		name  string
		event func(testing.TB) []byte
		basic bool
		tags  []string
	}{
		{"basic scan, gated rollout blocked", func(tb testing.TB) []byte { return basicScan(tb, testRepo, "COMPLETE") }, true, []string{"v1.3.0"}},
		{"inspector finding", func(tb testing.TB) []byte { return inspectorFinding(tb, "CVE-2026-00001", "HIGH", "ACTIVE") }, false, nil},
	} {
		b.Run(bb.name, func(b *testing.B) {
			r := newRig(b)
			if bb.basic {
				r.findings.basic = basic
			} else {
				r.findings.enhanced = enhanced
			}
			r.images.tags = bb.tags
			alerts := &alwaysSends{}
			r.h.alerts = alerts
			ev := bb.event(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r.findings.calls = r.findings.calls[:0]
				r.audit.events = r.audit.events[:0]
				if err := r.h.Handle(ctx, ev); err != nil {
					b.Fatalf("Handle: %v", err)
				}
			}
			if alerts.n == 0 || len(r.findings.calls) != 2 {
				b.Fatalf("alerts %d, findings calls %d per run; want alerts and 2 pages", alerts.n, len(r.findings.calls))
			}
		})
	}
}
