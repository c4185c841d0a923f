package gc

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"text/tabwriter"
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

// writeCounter counts Write calls and bytes.
type writeCounter struct{ calls, bytes int }

func (w *writeCounter) Write(p []byte) (int, error) { w.calls++; w.bytes += len(p); return len(p), nil }

// BenchmarkWritePlan100k writes the plan of a 100k-image repository as
// `ecrwarden gc plan` does, as a table and as JSON, counting the write
// calls that reach the output (a terminal or a pipe: one system call each).
// tabwriter is the table as gc wrote it before (text/tabwriter straight to
// the output), kept here as the baseline of the same run.
func BenchmarkWritePlan100k(b *testing.B) {
	f := largeRepository(100_000)
	p := mustPolicy(b, testPolicy)
	res := (&Runner{ECR: f, Sources: baseClusters().sources(b)}).Plan(context.Background(), p, []string{"app"}, now)
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"table", func(w io.Writer) error { return WriteTable(w, res, DefaultPrices) }},
		{"json", func(w io.Writer) error { return WriteJSON(w, res, DefaultPrices) }},
		{"tabwriter", func(w io.Writer) error { return tabwriterTable(w, res) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var w writeCounter
			start := cpuTime()
			for b.Loop() {
				w = writeCounter{}
				if err := bc.write(&w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(w.calls), "writes")
			b.ReportMetric(float64(w.bytes)/(1<<20), "MB")
		})
	}
}

// tabwriterTable is the table writer gc had before this round (text/tabwriter
// over the output), for BenchmarkWritePlan100k's baseline.
func tabwriterTable(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range res.Outcomes {
		fmt.Fprintf(tw, "%s\n", o.Repository)
		fmt.Fprintln(tw, "ACTION\tDIGEST\tTAGS\tPUSHED\tSIZE\tREASON")
		for _, d := range o.Plan.Decisions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", actionOf(&d), d.Digest[:19], tagsCell(&d),
				d.PushedAt.UTC().Format("2006-01-02 15:04"), HumanBytes(d.Size), d.Reason)
		}
	}
	return tw.Flush()
}

// cpuTime is the user and system CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
