package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// annotationVerify is rollout.AnnotationVerify (the sandbox does not import
// internal/rollout: internal/kube's tests run on the sandbox).
const annotationVerify = "ecrwarden.io/verify"

// crashLoopRolledBack: a clean v1.0.0 whose Pods crash at start is rolled out by
// onscan (the rule requires a clean scan), onpush's delayed checks (the verification
// queue, polled as Lambda polls it) see CrashLoopBackOff and roll back by themselves to
// v0.9.0: the Deployment is held, the failed digest blocked, one alert reaches Slack
// and SNS with the Pods' reasons, and RolloutFailed and RolloutRolledBack are on the
// audit bus.
func crashLoopRolledBack(ctx context.Context, sb *Sandbox) error {
	if err := runningOld(ctx, sb); err != nil {
		return err
	}
	old := sb.Registry + "/" + scenarioRepo + ":v0.9.0"
	manifest, bad := sb.NewManifest()
	if err := sb.Cluster.Kube.SetImageFaults(ctx, map[string]testenv.ImageFault{bad: testenv.ImageCrashLoop}); err != nil {
		return err
	}
	if err := sb.PutImage(ctx, scenarioRepo, "v1.0.0", manifest); err != nil {
		return err
	}
	state, err := sb.DeliverUntil(ctx, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		d, err := sb.scenarioDeployment(ctx)
		if err != nil {
			return false, "", err
		}
		var st struct {
			State string `json:"state"`
		}
		v := d.Metadata.Annotations[annotationVerify]
		if v == "" {
			return false, "no verification yet", nil
		}
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			return false, v, fmt.Errorf("%s: %w", annotationVerify, err)
		}
		return st.State == "rolled-back", fmt.Sprintf("verification %s, image %s", st.State, d.image("api")), nil
	})
	if err != nil {
		return fmt.Errorf("rollback of the crash-looping v1.0.0 (%s): %w", state, err)
	}
	d, err := sb.scenarioDeployment(ctx)
	if err != nil {
		return err
	}
	var errs []string
	if got := d.image("api"); got != old {
		errs = append(errs, fmt.Sprintf("runs %s after the rollback, want %s", got, old))
	}
	if h := d.Metadata.Annotations["ecrwarden.io/hold"]; !strings.Contains(h, "CrashLoopBackOff") {
		errs = append(errs, fmt.Sprintf("hold %q, want the reason CrashLoopBackOff", h))
	}
	if b := d.Metadata.Annotations["ecrwarden.io/blocked-digests"]; !strings.Contains(b, bad) {
		errs = append(errs, fmt.Sprintf("blocked digests %s, want %s", b, bad))
	}
	slack := 0
	for _, p := range sb.Suite.Slack.Payloads() {
		if strings.Contains(string(p.Body), "rolled back") && strings.Contains(string(p.Body), "CrashLoopBackOff") {
			slack++
		}
	}
	sns := 0
	for _, m := range sb.Suite.SNS.Messages(sb.TopicARN) {
		if strings.Contains(m.Message, "CrashLoopBackOff") {
			sns++
		}
	}
	if slack != 1 || sns != 1 {
		errs = append(errs, fmt.Sprintf("%d Slack and %d SNS alerts naming CrashLoopBackOff, want one of each", slack, sns))
	}
	seen := map[string]int{}
	for _, ev := range sb.Suite.EventBridge.Events(sb.EventBus) {
		var head struct {
			DetailType string `json:"detail-type"`
		}
		if json.Unmarshal(ev, &head) == nil {
			seen[head.DetailType]++
		}
	}
	for _, dt := range []string{"RolloutFailed", "RolloutRolledBack"} {
		if seen[dt] != 1 {
			errs = append(errs, fmt.Sprintf("%d %s audit events, want 1", seen[dt], dt))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("after the rollback: %s", strings.Join(errs, "; "))
	}
	return nil
}

// scenarioDeploymentState is what the scenarios read of their Deployment.
type scenarioDeploymentState struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct{ Name, Image string } `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func (d scenarioDeploymentState) image(container string) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

func (sb *Sandbox) scenarioDeployment(ctx context.Context) (scenarioDeploymentState, error) {
	var d scenarioDeploymentState
	k := sb.Cluster.Kube
	code, body, err := k.Request(ctx, k.Admin, http.MethodGet, "/apis/apps/v1/namespaces/"+scenarioNamespace+"/deployments/"+scenarioDeployment, "", nil)
	if err != nil {
		return d, err
	}
	if code != http.StatusOK {
		return d, fmt.Errorf("get deployment: %d %s", code, body)
	}
	return d, json.Unmarshal(body, &d)
}

// DeliverUntil delivers queued events and polls the SQS event sources (delayed
// messages such as verification checks become visible over time) until done reports
// true, an invocation fails for good, or timeout passes. It returns done's last
// description of the state.
func (sb *Sandbox) DeliverUntil(ctx context.Context, timeout time.Duration, done func(context.Context) (bool, string, error)) (string, error) {
	deadline := time.Now().Add(timeout)
	state := ""
	for {
		if err := deliverAll(ctx, sb); err != nil {
			return state, err
		}
		ok, s, err := done(ctx)
		state = s
		if err != nil || ok {
			return state, err
		}
		if time.Now().After(deadline) {
			return state, fmt.Errorf("not done after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return state, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
