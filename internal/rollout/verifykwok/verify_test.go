package verifykwok

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// The Deployment's own cases; kinds_test.go runs every kind.

func TestHealthyRolloutIsVerified(t *testing.T) {
	e := newEnv(t, "verify-healthy", 2, policy.Verify{NotifySuccess: true})
	d := e.roll("v1.1.0")
	armed := e.queue.msgs[0]
	rs := e.drive(60 * time.Second)
	if got := last(rs); got.Result != rollout.CheckVerified {
		t.Fatalf("result %+v, want verified", got)
	}
	st := e.state()
	if st.Verify.State != rollout.VerifyVerified || st.Verify.Digest != d || st.LastChange.Cause != rollout.CausePush ||
		st.LastChange.From != image("v1.0.0") || st.LastChange.To != registry+"/"+repo+"@"+d || st.Verify.PreviousImage != image("v1.0.0") {
		t.Errorf("state %+v %+v", st.LastChange, st.Verify)
	}
	if got := e.alerts.detailTypes(); !slices.Equal(got, []string{audit.DeploymentPatched, audit.RolloutVerified}) {
		t.Errorf("audit events %v, want DeploymentPatched, RolloutVerified", got)
	}
	if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Kind != alert.KindRolloutVerified {
		t.Errorf("alerts %+v, want one rollout-verified (notifySuccess)", e.alerts.alerts)
	}
	// The first check, delivered again late (SQS delivers at least once): stale.
	e.queue.take()
	res, err := e.verifier.Verify(context.Background(), armed)
	if err != nil || res.Result != rollout.CheckStale {
		t.Errorf("duplicate check: %+v %v, want stale", res, err)
	}
	if len(e.queue.take()) != 0 {
		t.Error("a duplicate check armed another")
	}
}

func TestCrashLoopIsRolledBack(t *testing.T) {
	for _, fault := range []testenv.ImageFault{testenv.ImageCrashLoop, testenv.ImagePullError} {
		t.Run(string(fault), func(t *testing.T) {
			e := newEnv(t, "verify-"+strings.ToLower(string(fault)), 1, policy.Verify{})
			if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.1.0"): fault}); err != nil {
				t.Fatal(err)
			}
			d := e.roll("v1.1.0")
			rs := e.drive(60 * time.Second)
			reason := string(fault)
			if fault == testenv.ImagePullError {
				reason = "ImagePull" // ErrImagePull, then ImagePullBackOff
			}
			if got := last(rs); got.Result != rollout.CheckRolledBack || !strings.Contains(got.Reason, reason) {
				t.Fatalf("result %+v, want rolled back naming %s", got, reason)
			}
			w := e.workload()
			if img, _, _ := w.ContainerImage("api"); img != image("v1.0.0") {
				t.Errorf("runs %s, want v1.0.0 back", img)
			}
			ann := w.Annotations()
			if !strings.Contains(ann[rollout.AnnotationHold], reason) || !strings.Contains(ann[rollout.AnnotationBlocked], d) {
				t.Errorf("hold %q blocked %q", ann[rollout.AnnotationHold], ann[rollout.AnnotationBlocked])
			}
			st := e.state()
			if st.Verify.State != rollout.VerifyRolledBack || st.LastChange.Cause != rollout.CauseRollback || len(st.Verify.Reasons) == 0 {
				t.Errorf("state %+v %+v", st.LastChange, st.Verify)
			}
			if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Verification.Action != alert.RolledBack || len(e.alerts.alerts[0].Verification.Events) == 0 {
				t.Fatalf("alerts %+v, want one rolled-back alert with the Pods' Events", e.alerts.alerts)
			}
			if got := e.alerts.detailTypes(); !slices.Equal(got, []string{audit.DeploymentPatched, audit.RolloutFailed, audit.RolloutRolledBack}) {
				t.Errorf("audit events %v", got)
			}
			// The blocked digest never rolls out again, even after a release.
			if _, err := rollout.Release(context.Background(), e.client, e.k.Namespace, e.name, false); err != nil {
				t.Fatal(err)
			}
			out, err := e.engine.Roll(context.Background(), rollout.Image{Registry: registry, Repository: repo, Tag: "v1.1.0", Digest: d, EventID: "ev-again"}, []rollout.Target{e.target})
			if err != nil || out[0].Patched || !strings.HasPrefix(out[0].Reason, "blocked") {
				t.Errorf("after release: %+v %v, want blocked", out, err)
			}
		})
	}
}

func TestPreviousImageGoneIsNotRolledBack(t *testing.T) {
	e := newEnv(t, "verify-prev-gone", 1, policy.Verify{})
	if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.2.0"): testenv.ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	d := e.roll("v1.2.0")
	e.lookup.mu.Lock()
	e.lookup.exists = map[string]bool{} // v1.0.0 was deleted from ECR
	e.lookup.mu.Unlock()
	rs := e.drive(60 * time.Second)
	if got := last(rs); got.Result != rollout.CheckFailed || !strings.Contains(got.Reason, "no longer exists") {
		t.Fatalf("result %+v, want failed: previous image gone", got)
	}
	if img := e.image(); img != registry+"/"+repo+"@"+d {
		t.Errorf("runs %s: rolled back to nothing", img)
	}
	if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Verification.Action != alert.RollbackRefused {
		t.Errorf("alerts %+v, want one rollback-refused", e.alerts.alerts)
	}
	if st := e.state(); st.Verify.State != rollout.VerifyFailed {
		t.Errorf("state %+v", st.Verify)
	}
}

func TestOnFailureAlertOnly(t *testing.T) {
	e := newEnv(t, "verify-alert-only", 1, policy.Verify{OnFailure: policy.OnFailureAlert})
	if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.3.0"): testenv.ImageOOMKilled}); err != nil {
		t.Fatal(err)
	}
	d := e.roll("v1.3.0")
	if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckFailed || !strings.Contains(got.Reason, "OOMKilled") {
		t.Fatalf("result %+v, want failed with OOMKilled", got)
	}
	if img := e.image(); img != registry+"/"+repo+"@"+d {
		t.Errorf("runs %s, want the failed image left (onFailure: alert)", img)
	}
	if len(e.alerts.alerts) != 1 || e.alerts.alerts[0].Verification.Action != alert.AlertOnly {
		t.Errorf("alerts %+v", e.alerts.alerts)
	}
}

// TestBadInputMidVerification: what happens to a workload while it is verified
// never makes ecrwarden fight a person or call doubt a success.
func TestBadInputMidVerification(t *testing.T) {
	t.Run("edited by hand", func(t *testing.T) {
		e := newEnv(t, "verify-hand-edit", 1, policy.Verify{})
		if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.4.0"): testenv.ImageCrashLoop}); err != nil {
			t.Fatal(err)
		}
		e.roll("v1.4.0")
		e.request(http.MethodPatch, e.path(), "application/strategic-merge-patch+json", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "api", "image": image("v0.9.9")}}}}}}, http.StatusOK)
		if got := last(e.drive(30 * time.Second)); got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, "other hands") {
			t.Fatalf("result %+v, want abandoned", got)
		}
		if img := e.image(); img != image("v0.9.9") {
			t.Errorf("runs %s: ecrwarden fought the person", img)
		}
		if len(e.alerts.alerts) != 0 {
			t.Errorf("alerts %+v", e.alerts.alerts)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		e := newEnv(t, "verify-deleted", 1, policy.Verify{})
		e.roll("v1.5.0")
		e.request(http.MethodDelete, e.path(), "", nil, http.StatusOK)
		if got := last(e.drive(30 * time.Second)); got.Result != rollout.CheckAbandoned {
			t.Fatalf("result %+v, want abandoned", got)
		}
	})
	for _, tt := range []struct {
		name  string
		patch map[string]any
		want  string
	}{
		{"scaled to zero", map[string]any{"spec": map[string]any{"replicas": 0}}, "scaled to zero"},
		{"paused", map[string]any{"spec": map[string]any{"paused": true}}, "paused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "verify-"+strings.ReplaceAll(tt.name, " ", "-"), 1, policy.Verify{Timeout: policy.Duration(10 * time.Second)})
			// The image never becomes ready, so only the timeout ends the verification.
			if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.6.0"): testenv.ImageNeverReady}); err != nil {
				t.Fatal(err)
			}
			e.request(http.MethodPatch, e.path(), "application/strategic-merge-patch+json", tt.patch, http.StatusOK)
			d := e.roll("v1.6.0")
			got := last(e.drive(40 * time.Second))
			if got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, tt.want) {
				t.Fatalf("result %+v, want abandoned: %s", got, tt.want)
			}
			if img := e.image(); img != registry+"/"+repo+"@"+d {
				t.Errorf("runs %s, want the image left as the person left the workload", img)
			}
			if len(e.alerts.alerts) != 0 {
				t.Errorf("alerts %+v", e.alerts.alerts)
			}
		})
	}
	t.Run("never ready until the timeout", func(t *testing.T) {
		e := newEnv(t, "verify-timeout", 1, policy.Verify{Timeout: policy.Duration(10 * time.Second)})
		if err := e.k.SetImageFaults(context.Background(), map[string]testenv.ImageFault{digest("v1.6.1"): testenv.ImageNeverReady}); err != nil {
			t.Fatal(err)
		}
		e.roll("v1.6.1")
		if got := last(e.drive(40 * time.Second)); got.Result != rollout.CheckRolledBack || !strings.Contains(got.Reason, "verify timeout") {
			t.Fatalf("result %+v, want rolled back after the timeout", got)
		}
	})
	t.Run("check after the target moved on", func(t *testing.T) {
		e := newEnv(t, "verify-moved-on", 1, policy.Verify{})
		e.roll("v1.7.0")
		first := e.queue.take()
		e.roll("v1.8.0")
		res, err := e.verifier.Verify(context.Background(), first[0])
		if err != nil || res.Result != rollout.CheckStale {
			t.Fatalf("check of v1.7.0 after v1.8.0: %+v %v, want stale", res, err)
		}
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("v1.8.0: %+v", got)
		}
	})
	t.Run("Kubernetes API unreachable", func(t *testing.T) {
		e := newEnv(t, "verify-unreachable", 1, policy.Verify{})
		e.roll("v1.9.0")
		c := e.queue.take()[0]
		down, err := kube.New(kube.Config{Host: "https://127.0.0.1:1", Token: kube.StaticToken("t")})
		if err != nil {
			t.Fatal(err)
		}
		v := *e.verifier
		v.Clients = staticClients{down}
		if _, err := v.Verify(context.Background(), c); err == nil {
			t.Fatal("a check that could not reach the API server succeeded")
		}
		if st := e.state(); st.Verify.State != rollout.VerifyPending {
			t.Fatalf("state %s after an unreachable API, want pending", st.Verify.State)
		}
		// The redelivered message finds the API back and carries on.
		e.queue.mu.Lock()
		e.queue.msgs = append(e.queue.msgs, c)
		e.queue.mu.Unlock()
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("after the API came back: %+v", got)
		}
	})
	t.Run("lost check re-armed by the reconcile", func(t *testing.T) {
		e := newEnv(t, "verify-lost", 1, policy.Verify{})
		e.roll("v2.0.0")
		e.queue.take() // lost
		// Before staleChecks intervals nothing is re-armed; after, the engine's look
		// (the reconcile rolls the same newest image) re-arms.
		img := rollout.Image{Registry: registry, Repository: repo, Tag: "v2.0.0", Digest: digest("v2.0.0"), EventID: "reconcile:run-1", Cause: rollout.CauseReconcile}
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil {
			t.Fatal(err)
		}
		if n := len(e.queue.take()); n != 0 {
			t.Fatalf("re-armed %d checks of a fresh verification", n)
		}
		time.Sleep(3*time.Second + 100*time.Millisecond)
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil {
			t.Fatal(err)
		}
		e.queue.mu.Lock()
		n := len(e.queue.msgs)
		e.queue.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d checks re-armed, want 1", n)
		}
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("after the re-arm: %+v", got)
		}
	})
	t.Run("arm failed after the patch: the redelivered event re-arms", func(t *testing.T) {
		e := newEnv(t, "verify-arm-failed", 1, policy.Verify{})
		e.queue.fail = errors.New("throttled")
		img := rollout.Image{Registry: registry, Repository: repo, Tag: "v2.1.0", Digest: digest("v2.1.0"), EventID: "ev-v2.1.0"}
		if out, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err == nil || !out[0].Patched {
			t.Fatalf("roll with a failing queue: %+v %v, want patched and an error", out, err)
		}
		e.queue.fail = nil
		// Redelivered at once (a duplicate), the event leaves the verification to the
		// check that may still come; retried after two intervals (as Lambda retries,
		// a minute later), it re-arms.
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil || len(e.queue.take()) != 0 {
			t.Fatalf("an immediate redelivery: %v, or it re-armed", err)
		}
		time.Sleep(2*time.Second + 100*time.Millisecond)
		if _, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target}); err != nil {
			t.Fatal(err)
		}
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("after the retry: %+v", got)
		}
	})
}
