package verifykwok

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// watch polls the workload's rollout status (the workload and its Pods) every 10 ms
// until stop, and records the first time cond held.
func watch(e *env, cond func(image string, st kube.RolloutStatus) bool) (first func() time.Time, stop func()) {
	var mu sync.Mutex
	var at time.Time
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			w, err := e.client.GetWorkload(context.Background(), e.target.Ref())
			if err != nil {
				continue
			}
			img, _, _ := w.ContainerImage("api")
			st, err := w.Status(context.Background(), e.client)
			if err != nil {
				continue
			}
			if cond(img, st) {
				mu.Lock()
				if at.IsZero() {
					at = time.Now()
				}
				mu.Unlock()
			}
		}
	}()
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return at }, func() { close(done) }
}

// deliverDue delivers the armed checks as SQS does, each one check interval after it
// was sent, until a check ends the verification; it returns the result and when.
func deliverDue(b *testing.B, e *env) (rollout.CheckResult, time.Time) {
	b.Helper()
	type due struct {
		c  rollout.Check
		at time.Time
	}
	var pending []due
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for _, c := range e.queue.take() {
			pending = append(pending, due{c, time.Now().Add(e.verifier.Interval)})
		}
		slices.SortFunc(pending, func(a, b due) int { return a.at.Compare(b.at) })
		if len(pending) == 0 || time.Now().Before(pending[0].at) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		next := pending[0]
		pending = pending[1:]
		res, err := e.verifier.Verify(context.Background(), next.c)
		if err != nil {
			b.Fatalf("check: %v", err)
		}
		if res.Result != rollout.CheckRearmed && res.Result != rollout.CheckStale {
			return res, time.Now()
		}
	}
	b.Fatal("no result")
	return rollout.CheckResult{}, time.Time{}
}

// BenchmarkVerificationLatency measures ecrwarden's own share of a rollout on the real
// control plane with kwok, with 1 s check intervals delivered as SQS delays them:
// from the Deployment's updated replicas all available to RolloutVerified, and from
// the first new Pod reporting a failure to the rollback patch. Medians, in ms, beside
// the check interval; the goal is under one interval.
func BenchmarkVerificationLatency(b *testing.B) {
	testenv.RequireControlPlane(b, controlPlane != nil)
	var ready, failed []float64
	for i := 0; b.Loop(); i++ {
		e := newBenchEnv(b, fmt.Sprintf("bench-ok-%d", i))
		tag := fmt.Sprintf("v3.%d.0", i)
		firstReady, stop := watch(e, func(img string, st kube.RolloutStatus) bool { return st.Done && strings.HasSuffix(img, digest(tag)) })
		e.rollB(b, tag)
		res, at := deliverDue(b, e)
		stop()
		if res.Result != rollout.CheckVerified {
			b.Fatalf("healthy rollout: %+v", res)
		}
		ready = append(ready, float64(at.Sub(firstReady()).Milliseconds()))

		e2 := newBenchEnv(b, fmt.Sprintf("bench-bad-%d", i))
		badTag := fmt.Sprintf("v4.%d.0", i)
		if err := e2.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest(badTag): testenv.ImageCrashLoop}); err != nil {
			b.Fatal(err)
		}
		firstFail, stop2 := watch(e2, func(img string, st kube.RolloutStatus) bool {
			return strings.HasSuffix(img, digest(badTag)) && slices.ContainsFunc(st.Pods, func(p kube.PodProblem) bool { return p.Fatal })
		})
		e2.rollB(b, badTag)
		res, at = deliverDue(b, e2)
		stop2()
		if res.Result != rollout.CheckRolledBack {
			b.Fatalf("crash-looping rollout: %+v", res)
		}
		failed = append(failed, float64(at.Sub(firstFail()).Milliseconds()))
	}
	b.ReportMetric(median(ready), "ms-ready-to-verified")
	b.ReportMetric(median(failed), "ms-failing-to-rollback")
	b.ReportMetric(1000, "ms-check-interval")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
