package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// The benchmark's fakes count calls so that each benchmark can check the
// path it timed was the one it meant to time.

type countingAlerts struct{ n int }

func (f *countingAlerts) Deliver(context.Context, string, alert.Alert) (bool, error) {
	f.n++
	return true, nil
}

type countingAudit struct{ n int }

func (f *countingAudit) Publish(_ context.Context, events ...audit.Event) error {
	f.n += len(events)
	return nil
}

type countingRoller struct{ n int }

func (f *countingRoller) Roll(_ context.Context, _ rollout.Image, targets []rollout.Target) ([]rollout.Outcome, error) {
	f.n++
	out := make([]rollout.Outcome, len(targets))
	for i, t := range targets {
		out[i] = rollout.Outcome{Target: t, Patched: true}
	}
	return out, nil
}

type countingECR struct{ n int }

func (f *countingECR) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	return &ecr.DescribeImagesOutput{ImageDetails: []types.ImageDetail{{ImageDigest: in.ImageIds[0].ImageDigest, ImageTags: benchTags}}}, nil
}

// benchTags are the tags of the pushed image: every tag the benchmarks push.
var benchTags = []string{"v1.3.0", "dev-1a2b3c4", "Feature_X"}

func (f *countingECR) BatchDeleteImage(_ context.Context, in *ecr.BatchDeleteImageInput, _ ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	f.n++
	return &ecr.BatchDeleteImageOutput{ImageIds: in.ImageIds}, nil
}

const benchPolicy = `
clusters: [{ name: retail-forecast, namespaces: [default] }]
repositories:
  - name: mlops/retail-api
    tags:
      allow: ["v{semver}", "v{date}-{sha}", "{sha}", "dev-{sha}", "feature-*-{sha}", "main-{sha}", latest, dev-latest]
      onViolation: %s
      dryRun: false
    deploy:
      - { cluster: retail-forecast, namespace: default, deployment: retail-forecast-api, container: api, tags: "v{semver}" }
      - { cluster: retail-forecast, namespace: default, deployment: retail-forecast-canary, container: api, tags: "v{semver}", requireCleanScan: true }
`

// benchEvent returns the push fixture with another tag.
func benchEvent(b *testing.B, tag string) []byte {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "ecr-image-action-push.json"))
	if err != nil {
		b.Fatalf("read fixture: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		b.Fatalf("decode fixture: %v", err)
	}
	ev["detail"].(map[string]any)["image-tag"] = tag
	out, err := json.Marshal(ev)
	if err != nil {
		b.Fatalf("encode fixture: %v", err)
	}
	return out
}

// BenchmarkHandle times Handle alone, from the raw event to the calls of
// its collaborators (all fakes): the decode, tag check and target
// selection that run before any network call.
func BenchmarkHandle(b *testing.B) {
	for _, bb := range []struct {
		name, tag, action string
		// want returns the calls per event the path makes: rolls, alerts, audit events, deletes.
		want [4]int
	}{
		{name: "accepted tag rolls out", tag: "v1.3.0", action: "alert", want: [4]int{1, 0, 0, 0}},
		{name: "accepted tag without target", tag: "dev-1a2b3c4", action: "alert", want: [4]int{0, 0, 0, 0}},
		{name: "rejected tag alerts", tag: "Feature_X", action: "alert", want: [4]int{0, 1, 1, 0}},

		{name: "rejected tag deleted", tag: "Feature_X", action: "delete", want: [4]int{0, 1, 1, 1}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			src := strings.Replace(benchPolicy, "%s", bb.action, 1)
			if bb.action != "delete" {
				src = strings.Replace(src, "      dryRun: false\n", "", 1)
			}
			p, err := policy.Parse("bench.yaml", []byte(src))
			if err != nil {
				b.Fatal(err)
			}
			roll, alerts, aud, reg := &countingRoller{}, &countingAlerts{}, &countingAudit{}, &countingECR{}
			h := &handler{policy: p, ecr: reg, alerts: alerts, audit: aud, roll: roll, log: slog.New(slog.DiscardHandler), region: testRegion,
				discover: func(_ context.Context, f *policy.File, repo string) ([]rollout.Target, []error, error) {
					return rollout.PolicyTargets(f, repo), nil, nil
				},
				// The cluster only, listed empty: the AWS sources' fakes are not the subject.
				inUse: inuse.Clusters(p, func(context.Context, string) (kube.InUse, error) { return kube.InUse{}, nil })}
			ev := benchEvent(b, bb.tag)
			ctx := invocation()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := h.Handle(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			got := [4]int{roll.n, alerts.n, aud.n, reg.n}
			want := bb.want
			for i := range want {
				want[i] *= b.N
			}
			if got != want {
				b.Fatalf("calls (rolls, alerts, audit events, deletes) = %v, want %v", got, want)
			}
		})
	}
}
