package gc

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// largeRepository fills a fake repository with n images pushed over two
// years: a third releases, a third dev builds, a third untagged.
func largeRepository(n int) *fakeECR {
	f := newFakeECR()
	for i := range n {
		pushed := now.Add(-time.Duration(i) * 10 * time.Minute)
		switch i % 3 {
		case 0:
			f.add("app", digest(i), pushed, 100<<20, fmt.Sprintf("v1.%d.%d", i/1000, i%1000))
		case 1:
			f.add("app", digest(i), pushed, 100<<20, fmt.Sprintf("dev-%07x", i))
		default:
			f.add("app", digest(i), pushed, 100<<20)
		}
	}
	return f
}

// BenchmarkPlan100k lists (100 pages from a fake ECR), converts and plans a
// repository of 100k images, as one gc message does. peak-heap-MB is the
// heap growth with the collector off (an upper bound of the peak live heap
// of the listing and the plan); retained-MB is what the Result keeps.
func BenchmarkPlan100k(b *testing.B) {
	f := largeRepository(100_000)
	p := mustPolicy(b, testPolicy)
	r := &Runner{ECR: f, Sources: baseClusters().sources(b)}
	var peak, retained uint64
	var deletes int
	for b.Loop() {
		runtime.GC()
		var before, during, after runtime.MemStats
		runtime.ReadMemStats(&before)
		old := debug.SetGCPercent(-1)
		res := r.Plan(context.Background(), p, []string{"app"}, now)
		runtime.ReadMemStats(&during)
		debug.SetGCPercent(old)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if err := res.Err(); err != nil {
			b.Fatal(err)
		}
		deletes = res.Planned
		runtime.KeepAlive(res)
		peak = max(peak, during.HeapAlloc-before.HeapAlloc)
		retained = max(retained, after.HeapAlloc-before.HeapAlloc)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
	b.ReportMetric(float64(deletes), "deletes")
}
