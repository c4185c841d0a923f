package kinds

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

// BenchmarkPushToPatch measures, per iteration, the time from a push event on the bus (ECR's PutImage returned;
// the sandbox holds the event) to the moment the Deployment's patched template is visible on the API server (a
// watch of the control plane with controllers and kwok sees it), through the compiled onpush with the deployer
// group's RBAC: routing, onpush's invocation (event checks, ECR lookups, the patch) and the API server's commit.
// It reports the median and p90 (ms-push-to-patch, ms-push-to-patch-p90), the median of onpush's own invocation
// time as the runtime measured it (ms-onpush-invoke), and the median of the PushToPatchLatency onpush records in
// its metrics (ms-metric-push-to-patch: from the image's push time, as ECR tells it, to the patch). As the
// baseline of the same run, each iteration also patches the Deployment's Pod template directly as the admin (an
// annotation, one merge patch, timed the same way: ms-direct-patch) and reports the ratio
// (x-push-to-patch/direct): what routing and onpush add to the API server's own write.
func BenchmarkPushToPatch(b *testing.B) {
	e := start(b)
	repo := repos[kube.KindDeployment]
	registry := e.sb.Registry + "/" + repo
	ref := e.create(kube.KindDeployment, names[kube.KindDeployment], registry+":v1.0.0", nil)
	e.waitRolledOut(ref, registry+":v1.0.0")
	e.push(repo, "v1.0.0")
	before := len(pushToPatch(e))

	var visible, invoke, direct []float64
	minor := 0
	for b.Loop() {
		minor++
		mark := fmt.Sprint(minor)
		seen := e.watchTemplate(ref, func(t podTemplate) bool { return t.Metadata.Annotations[benchAnnotation] == mark })
		start := time.Now()
		e.request(http.MethodPatch, ref.Path(), map[string]any{"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{benchAnnotation: mark}}}}})
		direct = append(direct, ms(e.seen(seen, ref, benchAnnotation+"="+mark).Sub(start)))

		tag := fmt.Sprintf("v1.%d.0", minor)
		manifest, digest := e.sb.NewManifest()
		want := registry + "@" + digest
		seen = e.watchTemplate(ref, func(t podTemplate) bool { return t.image("app") == want })
		if err := e.sb.PutImage(context.Background(), repo, tag, manifest); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		ds := e.deliverPush(repo, tag)
		visible = append(visible, ms(e.seen(seen, ref, want).Sub(start)))
		for _, d := range ds {
			if d.Function == "onpush" && d.DetailType != sqsDelivery {
				invoke = append(invoke, ms(d.Result.Duration))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(quantile(visible, 0.5), "ms-push-to-patch")
	b.ReportMetric(quantile(visible, 0.9), "ms-push-to-patch-p90")
	b.ReportMetric(quantile(invoke, 0.5), "ms-onpush-invoke")
	b.ReportMetric(quantile(direct, 0.5), "ms-direct-patch")
	b.ReportMetric(quantile(visible, 0.5)/quantile(direct, 0.5), "x-push-to-patch/direct")
	if recorded := pushToPatch(e)[before:]; len(recorded) > 0 {
		b.ReportMetric(quantile(recorded, 0.5), "ms-metric-push-to-patch")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile returns the q-quantile of xs (nearest rank), 0 for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// pushToPatch returns the PushToPatchLatency values onpush has recorded so far (milliseconds), in order.
func pushToPatch(e *env) []float64 {
	var out []float64
	for _, s := range e.sb.Metrics.Series() {
		if s.Name == metrics.PushToPatch {
			out = append(out, s.Values...)
		}
	}
	return out
}

// benchAnnotation is the Pod template annotation the baseline's direct patches set.
const benchAnnotation = "bench.ecrwarden.io/iteration"

// podTemplate is what the benchmark reads of a workload's Pod template.
type podTemplate struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec kube.PodSpec `json:"spec"`
}

func (t podTemplate) image(container string) string {
	for _, c := range t.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

// seen waits for the time a watchTemplate sends, and fails the benchmark after a minute without it.
func (e *env) seen(ch <-chan time.Time, ref kube.WorkloadRef, what string) time.Time {
	e.t.Helper()
	select {
	case at := <-ch:
		return at
	case <-time.After(time.Minute):
		e.t.Fatalf("%s: %s not seen on the API server", ref, what)
		return time.Time{}
	}
}

// watchTemplate watches the workload on the API server from its current resourceVersion and sends the time at
// which its Pod template is first seen to satisfy cond.
func (e *env) watchTemplate(ref kube.WorkloadRef, cond func(podTemplate) bool) <-chan time.Time {
	e.t.Helper()
	w, err := e.admin.GetWorkload(context.Background(), ref)
	if err != nil {
		e.t.Fatal(err)
	}
	k := cluster.Kube
	q := url.Values{"watch": {"true"}, "fieldSelector": {"metadata.name=" + ref.Name}, "resourceVersion": {w.Meta().ResourceVersion},
		"timeoutSeconds": {"60"}}
	collection := ref.Path()[:len(ref.Path())-len(ref.Name)-1]
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.Admin.Host+collection+"?"+q.Encode(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.Admin.Token)
	resp, err := k.HTTPClient().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		e.t.Fatalf("watch %s: %s", ref, resp.Status)
	}
	seen := make(chan time.Time, 1)
	go func() {
		defer cancel()
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			at := time.Now()
			var ev struct {
				Object struct {
					Spec struct {
						Template podTemplate `json:"template"`
					} `json:"spec"`
				} `json:"object"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && cond(ev.Object.Spec.Template) {
				seen <- at
				return
			}
		}
	}()
	return seen
}
