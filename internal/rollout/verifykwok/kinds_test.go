package verifykwok

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// Every kind is verified and rolled back the same way; what differs is how its
// controller rolls (kube.Workload.Status) and, for a CronJob, that the rollout is
// its next Job. Each kind's workload has images of its own (the tags' minor version
// is the kind's index), since faults follow the image's digest.

// kindName is a kind in a workload name: "statefulset".
func kindName(k kube.Kind) string { return strings.ToLower(string(k)) }

// TestEveryKindHealthyRolloutIsVerified: a healthy rollout of each kind ends
// verified, with RolloutVerified and the notifySuccess alert; a CronJob's waits for
// its next Job ("no job yet") and is verified by it.
func TestEveryKindHealthyRolloutIsVerified(t *testing.T) {
	for i, kind := range kube.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newKindEnv(t, kind, "ok-"+kindName(kind), 2, policy.Verify{NotifySuccess: true}, nil)
			tag := fmt.Sprintf("v6.%d.0", i)
			d := e.roll(tag)
			if c := e.queue.msgs[0]; c.Kind != kind || c.Deployment != e.name || c.Digest != d {
				t.Fatalf("armed check %+v, want one of %s %s at %s", c, kind, e.name, d)
			}
			e.nextJob()
			rs := e.drive(90 * time.Second)
			if got := last(rs); got.Result != rollout.CheckVerified {
				t.Fatalf("result %+v, want verified", got)
			}
			st := e.state()
			if st.Verify.State != rollout.VerifyVerified || st.Verify.Digest != d || st.LastChange.Cause != rollout.CausePush ||
				st.LastChange.From != image("v1.0.0") || st.LastChange.To != pinned(tag) || st.Verify.PreviousImage != image("v1.0.0") {
				t.Errorf("state %+v %+v", st.LastChange, st.Verify)
			}
			if img := e.image(); img != pinned(tag) {
				t.Errorf("runs %s, want %s", img, pinned(tag))
			}
			if got := e.alerts.detailTypes(); !slices.Equal(got, []string{audit.DeploymentPatched, audit.RolloutVerified}) {
				t.Errorf("audit events %v, want DeploymentPatched, RolloutVerified", got)
			}
			if a := e.alerts.sent(); len(a) != 1 || a[0].Kind != alert.KindRolloutVerified || a[0].Verification.Deployment != e.name || a[0].Verification.Kind != string(kind) {
				t.Errorf("alerts %+v, want one rollout-verified of %s %s (notifySuccess)", a, kind, e.name)
			}
			if got := e.alerts.detailKinds(); !slices.Equal(got, []string{string(kind), string(kind)}) {
				t.Errorf("audit events of kinds %v, want %s", got, kind)
			}
		})
	}
}

// TestEveryKindCrashLoopIsRolledBack: a crash-looping image of each kind is rolled
// back by itself: the previous image restored, the workload held, the digest
// blocked (also after a release), one alert with the Pods' reasons and Events, and
// the audit events of the patch, the failure and the rollback.
func TestEveryKindCrashLoopIsRolledBack(t *testing.T) {
	for i, kind := range kube.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newKindEnv(t, kind, "crash-"+kindName(kind), 2, policy.Verify{}, nil)
			tag := fmt.Sprintf("v7.%d.0", i)
			e.setFault(tag, testenv.ImageCrashLoop)
			d := e.roll(tag)
			e.nextJob()
			rs := e.drive(90 * time.Second)
			if got := last(rs); got.Result != rollout.CheckRolledBack || !strings.Contains(got.Reason, "CrashLoopBackOff") {
				t.Fatalf("result %+v, want rolled back naming CrashLoopBackOff", got)
			}
			w := e.workload()
			if img, _, _ := w.ContainerImage("api"); img != image("v1.0.0") {
				t.Errorf("runs %s, want v1.0.0 back", img)
			}
			ann := w.Annotations()
			if !strings.Contains(ann[rollout.AnnotationHold], "CrashLoopBackOff") || !strings.Contains(ann[rollout.AnnotationBlocked], d) {
				t.Errorf("hold %q blocked %q", ann[rollout.AnnotationHold], ann[rollout.AnnotationBlocked])
			}
			st := e.state()
			if st.Verify.State != rollout.VerifyRolledBack || st.LastChange.Cause != rollout.CauseRollback || len(st.Verify.Reasons) == 0 ||
				st.LastChange.From != pinned(tag) || st.LastChange.To != image("v1.0.0") {
				t.Errorf("state %+v %+v", st.LastChange, st.Verify)
			}
			a := e.alerts.sent()
			if len(a) != 1 || a[0].Verification.Action != alert.RolledBack {
				t.Fatalf("alerts %+v, want one rolled-back alert", a)
			}
			if v := a[0].Verification; v.Deployment != e.name || v.Kind != string(kind) || !slices.ContainsFunc(v.Reasons, func(r string) bool { return strings.Contains(r, "CrashLoopBackOff") }) || len(v.Events) == 0 {
				t.Errorf("alert %+v, want %s with the Pods' reasons (CrashLoopBackOff) and Events", v, e.name)
			}
			if got := e.alerts.detailTypes(); !slices.Equal(got, []string{audit.DeploymentPatched, audit.RolloutFailed, audit.RolloutRolledBack}) {
				t.Errorf("audit events %v", got)
			}
			if got := e.alerts.detailKinds(); !slices.Equal(got, []string{string(kind), string(kind), string(kind)}) {
				t.Errorf("audit events of kinds %v, want %s", got, kind)
			}
			// The blocked digest never rolls out again, even after a release.
			if res, err := rollout.ReleaseWorkload(context.Background(), e.client, e.ref(), false); err != nil || !res.Changed {
				t.Fatalf("release: %+v %v", res, err)
			}
			img := push(tag)
			img.EventID = "ev-again"
			out, err := e.engine.Roll(context.Background(), img, []rollout.Target{e.target})
			if err != nil || out[0].Patched || !strings.HasPrefix(out[0].Reason, "blocked") {
				t.Errorf("after release: %+v %v, want blocked", out, err)
			}
			if img := e.image(); img != image("v1.0.0") {
				t.Errorf("after release runs %s, want v1.0.0", img)
			}
			e.waitHealed()
		})
	}
}

// waitHealed waits until, after a rollback, the workload runs the previous image
// again: its rollout Done and every Pod of it on v1.0.0 (a CronJob's next Job runs
// the restored template by itself; the Job that failed is the Job controller's).
func (e *env) waitHealed() {
	e.t.Helper()
	if e.kind == kube.KindCronJob {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := e.status(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		pods := e.pods()
		healed := st.Done && len(pods) > 0
		for _, img := range pods {
			healed = healed && img == image("v1.0.0")
		}
		if healed {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("60 s after the rollback %s still does not run v1.0.0: status %+v, pods %v"+
				" (an OrderedReady StatefulSet does not replace a Pod of the failed revision until it is deleted:"+
				" kubernetes/kubernetes#67250, the StatefulSet docs' \"forced rollback\")", e.ref(), st, pods)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestKindBadInput: what only some kinds do never makes ecrwarden roll back for
// doubt or fight a person.
func TestKindBadInput(t *testing.T) {
	// A CronJob that runs no Job of the new template until the verify timeout: not
	// verified, never rolled back.
	// Jobs that are not its next Job do not verify it either: one of the previous
	// template, and one of the new template that the CronJob does not own.
	t.Run("CronJob without a job until the timeout", func(t *testing.T) {
		t.Parallel()
		e := newKindEnv(t, kube.KindCronJob, "nojob-cronjob", 1, policy.Verify{Timeout: policy.Duration(10 * time.Second)}, nil)
		if _, err := e.k.CreateJobFromCronJob(context.Background(), e.k.Namespace, e.name); err != nil {
			t.Fatal(err)
		}
		d := e.roll("v8.3.0")
		unowned := e.name + "-unowned"
		e.request(http.MethodPost, "/apis/batch/v1/namespaces/"+e.k.Namespace+"/jobs", "application/json", map[string]any{
			"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": unowned},
			"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": unowned}},
				"spec": map[string]any{"restartPolicy": "OnFailure", "terminationGracePeriodSeconds": 0,
					"containers": []any{map[string]any{"name": "api", "image": pinned("v8.3.0")}}}}},
		}, http.StatusCreated)
		t.Cleanup(func() {
			e.k.Request(context.Background(), e.k.Admin, http.MethodDelete, "/apis/batch/v1/namespaces/"+e.k.Namespace+"/jobs/"+unowned+"?propagationPolicy=Background", "", nil)
		})
		got := last(e.drive(60 * time.Second))
		if got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, "not verified") || !strings.Contains(got.Reason, "no job yet") {
			t.Fatalf("result %+v, want abandoned: no job yet, not verified", got)
		}
		if img := e.image(); img != pinned("v8.3.0") {
			t.Errorf("runs %s, want the new image left", img)
		}
		if st := e.state(); st.Verify.State != rollout.VerifyAbandoned || st.Verify.Digest != d {
			t.Errorf("state %+v", st.Verify)
		}
		if a := e.alerts.sent(); len(a) != 0 {
			t.Errorf("alerts %+v", a)
		}
	})
	// OnDelete: the controller leaves the Pods on the old template until someone
	// deletes them; nobody does, so the timeout ends it, not verified.
	for i, kind := range []kube.Kind{kube.KindStatefulSet, kube.KindDaemonSet} {
		t.Run(string(kind)+" OnDelete nobody deletes", func(t *testing.T) {
			t.Parallel()
			e := newKindEnv(t, kind, "ondelete-"+kindName(kind), 2, policy.Verify{Timeout: policy.Duration(10 * time.Second)},
				map[string]any{"updateStrategy": map[string]any{"type": "OnDelete"}})
			tag := fmt.Sprintf("v8.%d.0", i)
			d := e.roll(tag)
			got := last(e.drive(60 * time.Second))
			if got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, "not verified") || !strings.Contains(got.Reason, "OnDelete") {
				t.Fatalf("result %+v, want abandoned naming OnDelete, not verified", got)
			}
			if img := e.image(); img != pinned(tag) {
				t.Errorf("runs %s, want the image left as is", img)
			}
			if st := e.state(); st.Verify.State != rollout.VerifyAbandoned || st.Verify.Digest != d {
				t.Errorf("state %+v", st.Verify)
			}
			for pod, img := range e.pods() {
				if img != image("v1.0.0") {
					t.Errorf("pod %s runs %s: nobody deleted it, so it keeps v1.0.0", pod, img)
				}
			}
			if a := e.alerts.sent(); len(a) != 0 {
				t.Errorf("alerts %+v", a)
			}
		})
	}
	// No Pod to tell by: a StatefulSet scaled to zero, a DaemonSet whose nodeSelector
	// matches no node. The verification waits for the timeout and ends not verified.
	for _, tt := range []struct {
		name     string
		kind     kube.Kind
		tag      string
		replicas int
		patch    map[string]any
	}{
		{"StatefulSet scaled to zero", kube.KindStatefulSet, "v8.6.0", 0, nil},
		{"DaemonSet on no node", kube.KindDaemonSet, "v8.7.0", 0, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeSelector": map[string]any{"ecrwarden.io/no-such-node": "true"}}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newKindEnv(t, tt.kind, "nopod-"+kindName(tt.kind), tt.replicas, policy.Verify{Timeout: policy.Duration(10 * time.Second)}, nil)
			if tt.patch != nil {
				e.request(http.MethodPatch, e.path(), "application/strategic-merge-patch+json", tt.patch, http.StatusOK)
				e.waitRolledOut()
			}
			d := e.roll(tt.tag)
			got := last(e.drive(60 * time.Second))
			if got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, "not verified") {
				t.Fatalf("result %+v, want abandoned, not verified", got)
			}
			if img := e.image(); img != pinned(tt.tag) {
				t.Errorf("runs %s, want the image left as is", img)
			}
			if st := e.state(); st.Verify.State != rollout.VerifyAbandoned || st.Verify.Digest != d {
				t.Errorf("state %+v", st.Verify)
			}
			if a := e.alerts.sent(); len(a) != 0 {
				t.Errorf("alerts %+v", a)
			}
		})
	}
	t.Run("StatefulSet edited by hand", func(t *testing.T) {
		t.Parallel()
		e := newKindEnv(t, kube.KindStatefulSet, "handedit-statefulset", 2, policy.Verify{}, nil)
		e.setFault("v8.4.0", testenv.ImageCrashLoop)
		e.roll("v8.4.0")
		e.setImageByHand(image("v0.9.9"))
		if got := last(e.drive(60 * time.Second)); got.Result != rollout.CheckAbandoned || !strings.Contains(got.Reason, "other hands") {
			t.Fatalf("result %+v, want abandoned", got)
		}
		if img := e.image(); img != image("v0.9.9") {
			t.Errorf("runs %s: ecrwarden fought the person", img)
		}
		if a := e.alerts.sent(); len(a) != 0 {
			t.Errorf("alerts %+v", a)
		}
		if st := e.state(); st.Verify.State != rollout.VerifyAbandoned {
			t.Errorf("state %+v", st.Verify)
		}
	})
	// A partition rolls the Pods at ordinals at or above it only: ready, they verify
	// the rollout, and the Pods below keep the old template by design.
	t.Run("StatefulSet partitioned", func(t *testing.T) {
		t.Parallel()
		e := newKindEnv(t, kube.KindStatefulSet, "partition-statefulset", 3, policy.Verify{},
			map[string]any{"updateStrategy": map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"partition": 2}}})
		d := e.roll("v8.5.0")
		if got := last(e.drive(90 * time.Second)); got.Result != rollout.CheckVerified {
			t.Fatalf("result %+v, want verified", got)
		}
		if st := e.state(); st.Verify.State != rollout.VerifyVerified || st.Verify.Digest != d {
			t.Errorf("state %+v", st.Verify)
		}
		want := map[string]string{e.name + "-0": image("v1.0.0"), e.name + "-1": image("v1.0.0"), e.name + "-2": pinned("v8.5.0")}
		if got := e.pods(); !maps.Equal(got, want) {
			t.Errorf("pods run %v, want %v", got, want)
		}
	})
}

// TestStatefulSetRepairIsRetried: when deleting a rolled-back StatefulSet's stuck
// Pod fails (the API server answers 503 once), the check that rolled back fails, so
// SQS redelivers it; the redelivered check finds the rollback standing, deletes the
// Pod, and the StatefulSet runs the previous image again.
func TestStatefulSetRepairIsRetried(t *testing.T) {
	e := newKindEnv(t, kube.KindStatefulSet, "verify-sts-repair", 2, policy.Verify{}, nil)
	proxy, err := sandbox.StartKubeFaults(e.k.Limited.Host, e.k.Limited.CAData, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Faults().Set("delete pods", fault.Rule{ServerError: 1, Status: http.StatusServiceUnavailable})
	client, err := kube.New(kube.Config{Host: proxy.URL(), CAData: proxy.CAPEM(), Token: kube.StaticToken(e.k.Limited.Token)})
	if err != nil {
		t.Fatal(err)
	}
	v := *e.verifier
	v.Clients = staticClients{client}
	ctx := context.Background()

	e.setFault("v1.9.5", testenv.ImageCrashLoop)
	e.roll("v1.9.5")
	var retried *rollout.Check
	for deadline := time.Now().Add(60 * time.Second); retried == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no check rolled back within 60 s")
		}
		time.Sleep(200 * time.Millisecond)
		for _, c := range e.queue.take() {
			res, err := v.Verify(ctx, c)
			switch {
			case kube.IsConflict(err):
				e.queue.put(c)
			case err != nil && strings.Contains(err.Error(), "rolled back, but"):
				retried = &c
			case err != nil:
				t.Fatalf("check %s: %v", c, err)
			case res.Result != rollout.CheckRearmed && res.Result != rollout.CheckStale:
				t.Fatalf("check ended %+v, want the rollback's repair to fail once", res)
			}
		}
	}
	if st := e.state(); st.Verify.State != rollout.VerifyRolledBack || st.LastChange.To != image("v1.0.0") {
		t.Fatalf("after the failed repair: %+v %+v, want rolled back to v1.0.0", st.Verify, st.LastChange)
	}
	res, err := v.Verify(ctx, *retried)
	if err != nil || res.Result != rollout.CheckStale {
		t.Fatalf("redelivered check: %+v %v, want stale after deleting the stuck Pod", res, err)
	}
	if n := e.queue.len(); n != 0 {
		t.Errorf("the redelivered check armed %d more", n)
	}
	e.waitHealed()
}
