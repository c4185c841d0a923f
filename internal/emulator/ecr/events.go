package ecr

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
)

// Events are built by internal/ecrevent's constructors, so the emulator emits
// exactly the shapes of testdata/events.

// envelope returns the envelope of a new event: a UUID drawn from the
// emulator's seeded generator, so runs are reproducible. The caller holds s.mu.
func (s *Server) envelope() ecrevent.EnvelopeInput {
	hi, lo := s.rng.Uint64(), s.rng.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
	return ecrevent.EnvelopeInput{ID: id, Account: s.account, Region: s.region, Time: s.now()}
}

func (s *Server) built(kind string, ev []byte, err error) []byte {
	if err != nil {
		// The emulator validates its inputs before it emits, so this is a
		// bug, not bad client input: log it and drop the event.
		slog.Error("build event", "kind", kind, "error", err)
		return nil
	}
	return ev
}

// imageActionEvent builds an "ECR Image Action" event of action PUSH or
// DELETE. The caller holds s.mu.
func (s *Server) imageActionEvent(repo, digest, tag, action string) []byte {
	in := ecrevent.ImageActionInput{EnvelopeInput: s.envelope(), Repository: repo, Digest: digest, Tag: tag}
	if action == "DELETE" {
		ev, err := ecrevent.NewDeleteEvent(in)
		return s.built("delete", ev, err)
	}
	ev, err := ecrevent.NewPushEvent(in)
	return s.built("push", ev, err)
}

// inspectorSeverity maps a basic-scan severity to Amazon Inspector's
// vocabulary, which says UNTRIAGED where ECR says UNDEFINED.
func inspectorSeverity(sev string) string {
	if sev == "UNDEFINED" {
		return "UNTRIAGED"
	}
	return sev
}

func counts64(sc *scan, sev func(string) string) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range severityCounts(sc.findings) {
		out[sev(k)] += int64(v)
	}
	return out
}

func same(s string) string { return s }

// basicScanEvent builds an "ECR Image Scan" event. The caller holds s.mu.
func (s *Server) basicScanEvent(repo string, im *image, sc *scan) []byte {
	ev, err := ecrevent.NewBasicScanEvent(ecrevent.ScanInput{
		EnvelopeInput:  s.envelope(),
		Repository:     repo,
		Digest:         im.digest,
		Tags:           slices.Clone(im.tags),
		Status:         sc.status,
		SeverityCounts: counts64(sc, same),
	})
	return s.built("basic scan", ev, err)
}

// inspectorScanEvent builds an "Inspector2 Scan" event. The caller holds s.mu.
func (s *Server) inspectorScanEvent(repo string, im *image, sc *scan) []byte {
	ev, err := ecrevent.NewInspectorScanEvent(ecrevent.ScanInput{
		EnvelopeInput:  s.envelope(),
		Repository:     repo,
		Digest:         im.digest,
		Tags:           slices.Clone(im.tags),
		Status:         "INITIAL_SCAN_COMPLETE",
		SeverityCounts: counts64(sc, inspectorSeverity),
	})
	return s.built("inspector scan", ev, err)
}

// inspectorFindingEvent builds an "Inspector2 Finding" event whose finding
// ARN matches the one DescribeImageScanFindings reports. The caller holds s.mu.
func (s *Server) inspectorFindingEvent(repo string, im *image, f Finding, firstObserved time.Time) []byte {
	arn := s.findingArn(repo, im.digest, f.Name)
	ev, err := ecrevent.NewInspectorFindingEvent(ecrevent.FindingInput{
		EnvelopeInput:   s.envelope(),
		Repository:      repo,
		Digest:          im.digest,
		Tags:            slices.Clone(im.tags),
		PushedAt:        im.pushedAt,
		FindingID:       arn[strings.LastIndex(arn, "/")+1:],
		VulnerabilityID: f.Name,
		Severity:        inspectorSeverity(f.Severity),
		Title:           title(f),
		Description:     f.Description,
		FirstObservedAt: firstObserved,
		Source:          "NVD",
		SourceURL:       f.URI,
		VendorSeverity:  f.Severity,
		Packages: []ecrevent.VulnerablePackage{{
			Name: f.PackageName, Version: f.PackageVersion, FixedInVersion: f.FixedInVersion, PackageManager: "OS",
		}},
		FixAvailable:     fixAvailable(f),
		ExploitAvailable: "NO",
		Remediation:      remediation(f),
	})
	return s.built("inspector finding", ev, err)
}
