package integration

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// BenchmarkWarmPush measures a warm onpush from a push event to the
// patched Deployment: each iteration pushes a higher semver (untimed),
// then invokes onpush with the push event the ECR emulator emitted. The
// invocation returns once the Deployment is patched on the kube-apiserver
// and the DeploymentPatched event is on the bus. Reported: p50/p90 of the
// invocation as the caller sees it (Runtime API round trip included) and
// p50 of the function's own duration.
func BenchmarkWarmPush(b *testing.B) {
	e := startSandbox(b)
	e.startAt()
	ctx := context.Background()
	var wall, fn []time.Duration
	gen := e.deployment(deployment).Metadata.Generation
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tag := fmt.Sprintf("v1.%d.0", 3+i)
		digest := e.push(apiRepo, tag)
		ev := e.lastPushEvent(apiRepo, tag)
		b.StartTimer()
		start := time.Now()
		d, err := e.sb.Invoke(ctx, "onpush", ev)
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil || d.Err != nil || d.Attempts != 1 {
			b.Fatalf("invoke %s: %v, function error %v after %d attempts", tag, err, d.Err, d.Attempts)
		}
		dep := e.deployment(deployment)
		if dep.images()["api"] != e.ref(digest) || dep.Metadata.Generation != gen+1 {
			b.Fatalf("after %s: generation %d, images %v; want %d and %s", tag, dep.Metadata.Generation, dep.images(), gen+1, e.ref(digest))
		}
		gen = dep.Metadata.Generation
		wall, fn = append(wall, elapsed), append(fn, d.Result.Duration)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(percentile(wall, 0.5), "p50-ms")
	b.ReportMetric(percentile(wall, 0.9), "p90-ms")
	b.ReportMetric(percentile(fn, 0.5), "fn-p50-ms")
}

// BenchmarkColdStart measures onpush's init: each iteration starts a fresh
// sandbox (untimed) and invokes onpush once with a push that rolls nothing
// out. Reported: p50/p90 of the Runtime API's InitDuration (process start
// to its first /invocation/next, that is ready for the first event,
// configuration loaded) and p50 of that first invocation's duration.
func BenchmarkColdStart(b *testing.B) {
	ctx := context.Background()
	var inits, first []time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		e, closeSandbox := openSandbox(b)
		e.push(scratchRepo, "v1.0.0")
		ev := e.lastPushEvent(scratchRepo, "v1.0.0")
		d, err := e.sb.Invoke(ctx, "onpush", ev)
		if err != nil || d.Err != nil {
			closeSandbox()
			b.Fatalf("invoke: %v, function error %v", err, d.Err)
		}
		if !d.Result.Cold || d.Result.InitDuration <= 0 {
			closeSandbox()
			b.Fatalf("first invocation: cold %v, init %v; want a cold start with its init duration", d.Result.Cold, d.Result.InitDuration)
		}
		inits, first = append(inits, d.Result.InitDuration), append(first, d.Result.Duration)
		closeSandbox()
	}
	b.ReportMetric(percentile(inits, 0.5), "init-p50-ms")
	b.ReportMetric(percentile(inits, 0.9), "init-p90-ms")
	b.ReportMetric(percentile(first, 0.5), "first-invoke-p50-ms")
}

// percentile returns the q-quantile (nearest rank) of ds in milliseconds.
func percentile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
	return float64(s[i]) / float64(time.Millisecond)
}
