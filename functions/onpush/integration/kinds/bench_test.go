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
// its metrics (ms-metric-push-to-patch: from the image's push time, as ECR tells it, to the patch).
func BenchmarkPushToPatch(b *testing.B) {
	e := start(b)
	repo := repos[kube.KindDeployment]
	registry := e.sb.Registry + "/" + repo
	ref := e.create(kube.KindDeployment, names[kube.KindDeployment], registry+":v1.0.0", nil)
	e.waitRolledOut(ref, registry+":v1.0.0")
	e.push(repo, "v1.0.0")
	before := len(pushToPatch(e))

	var visible, invoke []float64
	minor := 0
	for b.Loop() {
		minor++
		tag := fmt.Sprintf("v1.%d.0", minor)
		manifest, digest := e.sb.NewManifest()
		want := registry + "@" + digest
		seen := e.watchImage(ref, want)
		if err := e.sb.PutImage(context.Background(), repo, tag, manifest); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ds := e.deliverPush(repo, tag)
		var at time.Time
		select {
		case at = <-seen:
		case <-time.After(time.Minute):
			b.Fatalf("%s: no patch to %s seen on the API server", ref, want)
		}
		visible = append(visible, ms(at.Sub(start)))
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

// watchImage watches the workload on the API server from its current resourceVersion and sends the time at which
// its app container's image is first seen to be image.
func (e *env) watchImage(ref kube.WorkloadRef, image string) <-chan time.Time {
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
						Template struct {
							Spec kube.PodSpec `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				} `json:"object"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			for _, c := range ev.Object.Spec.Template.Spec.Containers {
				if c.Name == "app" && c.Image == image {
					seen <- at
					return
				}
			}
		}
	}()
	return seen
}
