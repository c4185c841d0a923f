package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

// scalePolicy is the seeds' retail-api rules plus pull-time and archive
// rules, over one repository; dry run, so every iteration plans the same
// history.
const scalePolicy = `version: 1
gc: { dryRun: true, maxDeletesPerRun: 100000 }
clusters:
  - { name: retail-forecast, namespaces: [default] }
repositories:
  - name: scale/app
    retention:
      - { match: "v*", keepNewest: 10 }
      - { match: ["dev-*", "feature-*", "main-*"], keepNewest: 5 }
      - { untagged: true, maxAge: 1d }
      - { match: "v*", keepNewest: 3, notPulledFor: 60d, action: archive }
      - { match: "*", archivedFor: 365d }
    protect: { tags: [latest, dev-latest] }
`

// seedHistory stores n images pushed over two years in the sandbox's ECR
// emulator: releases (a tenth of them multi-arch), develop, feature and main
// builds, untagged leftovers, a few archived, most with a recorded pull.
func seedHistory(tb testing.TB, e *env, n int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	for i := 0; i < n; {
		img := ecr.Image{
			PushedAt: now.Add(-time.Duration(rng.Int64N(int64(730 * day)))),
			Size:     50<<20 + rng.Int64N(200<<20),
			Manifest: fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":1000},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":%d}]}`,
				ecr.MediaTypeOCIManifest, i, i+1<<40, 50<<20),
		}
		if rng.IntN(4) > 0 {
			img.LastPulled = img.PushedAt.Add(time.Duration(rng.Int64N(int64(now.Sub(img.PushedAt)) + 1)))
		}
		switch k := rng.IntN(100); {
		case k < 15:
			img.Tags = []string{fmt.Sprintf("v%d.%d.%d", i%3, i%40, i)}
		case k < 35:
			img.Tags = []string{fmt.Sprintf("dev-%07x", i)}
		case k < 45:
			img.Tags = []string{fmt.Sprintf("feature-f%d-%07x", i%50, i)}
		case k < 50:
			img.Tags = []string{fmt.Sprintf("main-%07x", i)}
		case k < 52:
			img.Tags = []string{fmt.Sprintf("v0.%d.%d", i%40, i)}
			img.ArchivedAt = img.PushedAt.Add(24 * time.Hour)
		case k < 90:
			// untagged
		default:
			img.Tags = []string{fmt.Sprintf("v2.%d.%d", i%40, i)}
			img.Manifest = ""
			for arch := range 2 {
				img.Children = append(img.Children, ecr.Image{Size: img.Size, Platform: []string{"linux/amd64", "linux/arm64"}[arch],
					Manifest: fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"annotations":{"child":"%d-%d"}}`, ecr.MediaTypeOCIManifest, i, arch)})
			}
			i += 2
		}
		if i == 0 {
			img.Tags = append(img.Tags, "latest")
		}
		if _, err := e.sb.Suite.ECR.SeedImage("scale/app", img); err != nil {
			tb.Fatal(err)
		}
		i++
	}
}

// BenchmarkGC100k runs the compiled gc function, as the sandbox runs it
// (256 MB, the Lambda Runtime API, the real SDK against the ECR emulator
// over loopback, in-use discovery against the kube-apiserver), over a
// 100,000-image repository: listing (100 DescribeImages pages, the index
// manifests), planning, and output (the decision log lines and the report).
// fn-cpu-s and fn-peak-rss-MB are the function process's own, from /proc:
// CPU time of the invocation and peak resident set size during it (not
// heap), the figures Lambda bills and kills by. "limit" is the function as
// deployed (fnconfig's soft memory limit); "nolimit" sets GOMEMLIMIT=off,
// the Go runtime's own pacing alone, for comparison in the same run.
func BenchmarkGC100k(b *testing.B) {
	dir := b.TempDir()
	policyPath := filepath.Join(dir, "ecrwarden.yaml")
	if err := os.WriteFile(policyPath, []byte(scalePolicy), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		env  map[string]string
	}{{"limit", nil}, {"nolimit", map[string]string{"GOMEMLIMIT": "off"}}} {
		b.Run(bc.name, func(b *testing.B) {
			e := start(b, policyPath, bc.env)
			seedHistory(b, e, 100_000)
			fn := e.sb.Functions["gc"]
			e.invoke("warm-up") // the first invocation pays the process's init
			var cpu time.Duration
			var peak int64
			for b.Loop() {
				if err := fn.ResetPeakRSS(); err != nil {
					b.Fatal(err)
				}
				before, err := fn.ProcessStats()
				if err != nil {
					b.Fatal(err)
				}
				e.invoke("bench")
				after, err := fn.ProcessStats()
				if err != nil {
					b.Fatal(err)
				}
				cpu += after.CPU - before.CPU
				peak = max(peak, after.PeakRSS)
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "fn-cpu-s")
			b.ReportMetric(float64(peak)/(1<<20), "fn-peak-rss-MB")
			if c, ok := e.logWriter.(*counter); ok {
				b.ReportMetric(float64(c.n.Load())/float64(b.N+1)/(1<<20), "fn-log-MB")
			}
		})
	}
}
