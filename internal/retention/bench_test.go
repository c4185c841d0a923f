package retention

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// largeHistory is n images pushed over two years: releases (v{semver} and
// v{date}-{sha}), develop, feature and main builds, experiments, untagged
// leftovers, and multi-arch indexes with two untagged children each, plus
// what the clusters run. The same seed gives the same history.
func largeHistory(n int) ([]Image, InUse) {
	rng := rand.New(rand.NewPCG(1, 2))
	images := make([]Image, 0, n)
	inUse := InUse{Digests: map[string]struct{}{}, Tags: map[string]struct{}{}}
	span := 2 * 365 * day
	for i := 0; len(images) < n; i++ {
		digest := fmt.Sprintf("sha256:%062xff", i)
		pushed := now.Add(-time.Duration(rng.Int64N(int64(span))))
		img := Image{Digest: digest, PushedAt: pushed, Size: 50<<20 + rng.Int64N(200<<20), MediaType: manifestOCI}
		switch k := rng.IntN(100); {
		case k < 10:
			img.Tags = []string{fmt.Sprintf("v%d.%d.%d", i%3, i%40, i)}
		case k < 15:
			img.Tags = []string{fmt.Sprintf("v%s-%07x", pushed.Format("20060102"), i)}
		case k < 35:
			img.Tags = []string{fmt.Sprintf("dev-%07x", i)}
		case k < 45:
			img.Tags = []string{fmt.Sprintf("feature-f%d-%07x", i%50, i)}
		case k < 50:
			img.Tags = []string{fmt.Sprintf("main-%07x", i)}
		case k < 65:
			img.Tags = []string{fmt.Sprintf("exp-run%d", i)}
		case k < 90:
			// untagged
		default:
			// a multi-arch release: the index and two children
			img.Tags = []string{fmt.Sprintf("v2.%d.%d", i%40, i)}
			img.MediaType = indexOCI
			for arch := range 2 {
				c := Image{
					Digest:    fmt.Sprintf("sha256:%062x%02x", i, 0xa0+arch),
					PushedAt:  pushed.Add(-time.Minute),
					Size:      img.Size,
					MediaType: manifestOCI,
				}
				img.Manifests = append(img.Manifests, c.Digest)
				images = append(images, c)
			}
		}
		if i%2000 == 0 {
			inUse.Digests[digest] = struct{}{}
		}
		if i%5000 == 1 && len(img.Tags) > 0 {
			inUse.Tags[img.Tags[0]] = struct{}{}
		}
		images = append(images, img)
	}
	images[0].Tags = append(images[0].Tags, "latest")
	images[1].Tags = append(images[1].Tags, "dev-latest")
	return images[:n], inUse
}

// BenchmarkPlan plans 100k images under each of the seeds' repository
// policies.
func BenchmarkPlan(b *testing.B) {
	images, inUse := largeHistory(100_000)
	for _, bc := range []struct{ name, repo string }{
		{"retail-api", retailAPI},
		{"train-model", trainModel},
	} {
		repo := repository(b, bc.repo)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var res *Result
			start := cpuTime()
			for b.Loop() {
				res = Plan(repo, images, inUse, now)
			}
			// CPU time of the whole process (garbage collector included)
			// per plan: wall time is unreliable on a shared machine.
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(res.Deletes), "deletes")
		})
	}
}

// BenchmarkPlanHeap measures the heap one Plan of 100k images needs. With
// the collector off, the heap growth during Plan is everything it
// allocated, an upper bound of its peak live heap; retained-MB is what
// the Result keeps alive afterwards.
func BenchmarkPlanHeap(b *testing.B) {
	images, inUse := largeHistory(100_000)
	repo := repository(b, retailAPI)
	var peak, retained uint64
	for b.Loop() {
		runtime.GC()
		var before, during, after runtime.MemStats
		runtime.ReadMemStats(&before)
		old := debug.SetGCPercent(-1)
		res := Plan(repo, images, inUse, now)
		runtime.ReadMemStats(&during)
		debug.SetGCPercent(old)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(res)
		peak = max(peak, during.HeapAlloc-before.HeapAlloc)
		retained = max(retained, after.HeapAlloc-before.HeapAlloc)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
}

// BenchmarkDeleteIDs orders the deletions of a 100k-image plan.
func BenchmarkDeleteIDs(b *testing.B) {
	images, inUse := largeHistory(100_000)
	res := Plan(repository(b, retailAPI), images, inUse, now)
	b.ReportAllocs()
	var n int
	start := cpuTime()
	for b.Loop() {
		n = len(res.DeleteIDs())
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n), "digests")
}
