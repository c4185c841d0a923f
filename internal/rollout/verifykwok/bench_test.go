package verifykwok

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// watch reads the workload and its rollout status (kube.Workload.Status) every 10 ms
// until stop, and records the first time cond held while container api ran image.
func watch(e *env, image string, cond func(st *kube.RolloutStatus) bool) (first func() time.Time, stop func()) {
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
			w, err := e.client.GetWorkload(context.Background(), e.ref())
			if err != nil {
				continue
			}
			st, err := w.Status(context.Background(), e.client)
			if err != nil {
				continue
			}
			if img, _, _ := w.ContainerImage("api"); img == image && cond(&st) {
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

// watchTemplate opens a watch on the workload (as the admin user, from the
// resourceVersion it has now) and returns a channel that receives the time the API
// server first sends an object whose container api runs want: when the patched
// template is visible to every client of the API server. The watch is open when it
// returns.
func watchTemplate(b *testing.B, e *env, want string) <-chan time.Time {
	b.Helper()
	ref := e.ref()
	collection := strings.TrimSuffix(ref.Path(), "/"+ref.Name)
	q := url.Values{"watch": {"1"}, "fieldSelector": {"metadata.name=" + ref.Name}, "resourceVersion": {e.workload().Meta().ResourceVersion}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.k.Admin.Host+collection+"?"+q.Encode(), nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.k.Admin.Token)
	resp, err := e.k.HTTPClient().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("watch %s: %s", ref, resp.Status)
	}
	seen := make(chan time.Time, 1)
	go func() {
		defer cancel()
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev struct {
				Type   string          `json:"type"`
				Object json.RawMessage `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				return
			}
			at := time.Now()
			if w, err := decodeWorkload(ref.Kind, ev.Object); err == nil {
				if img, _, _ := w.ContainerImage("api"); img == want {
					seen <- at
					return
				}
			}
		}
	}()
	return seen
}

// decodeWorkload decodes an object of kind as the API server sends it.
func decodeWorkload(kind kube.Kind, raw []byte) (*kube.Workload, error) {
	var obj any
	switch kind {
	case kube.KindDeployment:
		obj = &kube.Deployment{}
	case kube.KindStatefulSet:
		obj = &kube.StatefulSet{}
	case kube.KindDaemonSet:
		obj = &kube.DaemonSet{}
	case kube.KindCronJob:
		obj = &kube.CronJob{}
	default:
		return nil, fmt.Errorf("kind %q", kind)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	return kube.NewWorkload(obj), nil
}

// pushToPatch hands the push of tag to the engine, as onpush does, and returns the
// time from then until the API server shows the patched template.
func pushToPatch(b *testing.B, e *env, tag string) time.Duration {
	b.Helper()
	seen := watchTemplate(b, e, pinned(tag))
	start := time.Now()
	e.roll(tag)
	select {
	case at := <-seen:
		return at.Sub(start)
	case <-time.After(time.Minute):
		b.Fatalf("the patch to %s never showed on the watch", tag)
		return 0
	}
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
// control plane with kwok, per kind (Deployment, StatefulSet, DaemonSet; a CronJob's
// rollout waits for a Job someone starts, so it has no cluster time of its own to
// compare with), with 1 s check intervals delivered as SQS delays them: from handing a
// push to Engine.Roll until the patched template shows on a watch of the API server
// (both rolls of every iteration), from the rollout being done (every updated replica
// available) to RolloutVerified, and from the first new Pod reporting a failure to the
// rollback patch. Medians, in ms, beside the check interval; the goal is under one
// interval.
func BenchmarkVerificationLatency(b *testing.B) {
	testenv.RequireControlPlane(b, controlPlane != nil)
	for _, kind := range []kube.Kind{kube.KindDeployment, kube.KindStatefulSet, kube.KindDaemonSet} {
		b.Run(string(kind), func(b *testing.B) { benchVerification(b, kind) })
	}
}

func benchVerification(b *testing.B, kind kube.Kind) {
	var ready, failed, patched []float64
	name := strings.ToLower(string(kind))
	for i := 0; b.Loop(); i++ {
		e := newBenchEnv(b, kind, fmt.Sprintf("bench-%s-ok-%d", name, i))
		tag := fmt.Sprintf("v3.%d.0", i)
		firstReady, stop := watch(e, pinned(tag), func(st *kube.RolloutStatus) bool { return st.Done })
		patched = append(patched, float64(pushToPatch(b, e, tag).Microseconds())/1000)
		res, at := deliverDue(b, e)
		stop()
		if res.Result != rollout.CheckVerified {
			b.Fatalf("healthy rollout: %+v", res)
		}
		ready = append(ready, float64(at.Sub(firstReady()).Milliseconds()))

		e2 := newBenchEnv(b, kind, fmt.Sprintf("bench-%s-bad-%d", name, i))
		badTag := fmt.Sprintf("v4.%d.0", i)
		if err := e2.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest(badTag): testenv.ImageCrashLoop}); err != nil {
			b.Fatal(err)
		}
		firstFail, stop2 := watch(e2, pinned(badTag), func(st *kube.RolloutStatus) bool {
			return st.Failed || slices.ContainsFunc(st.Pods, func(p kube.PodProblem) bool { return p.Fatal })
		})
		patched = append(patched, float64(pushToPatch(b, e2, badTag).Microseconds())/1000)
		res, at = deliverDue(b, e2)
		stop2()
		if res.Result != rollout.CheckRolledBack {
			b.Fatalf("crash-looping rollout: %+v", res)
		}
		failed = append(failed, float64(at.Sub(firstFail()).Milliseconds()))
	}
	b.ReportMetric(median(patched), "ms-push-to-patch")
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
