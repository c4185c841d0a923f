package kinds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// verifyWait bounds the wait for one verification to end: the rules' verify timeout (60 s), and time for a
// loaded machine.
const verifyWait = 2 * time.Minute

// TestVerifyEveryKind: for each kind, through the compiled onpush (deploy rules with a 60 s verify timeout, checks
// every second on the verification queue, the deployer group's RBAC), a healthy push is rolled out and ends
// verified (the workload's ecrwarden.io/verify state, one RolloutVerified on the audit bus), and a push of an image
// whose Pods crash is rolled back by itself: the previous image restored (and its Pods run again), the workload
// held with the reason, the failed digest blocked, exactly one Slack alert and one SNS message naming
// CrashLoopBackOff, one RolloutFailed and one RolloutRolledBack on the bus. A CronJob is verified by its next Job,
// created after each push as `kubectl create job --from=cronjob/…` does.
func TestVerifyEveryKind(t *testing.T) {
	e := start(t)
	for _, kind := range kube.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			e.t = t
			repo := repos[kind]
			registry := e.sb.Registry + "/" + repo
			ref := e.create(kind, names[kind], registry+":v1.0.0", nil)
			e.waitRolledOut(ref, registry+":v1.0.0")
			e.push(repo, "v1.0.0")

			// A healthy push: rolled out, verified.
			d110 := e.push(repo, "v1.1.0")
			good := registry + "@" + d110
			if img, _ := e.image(ref); img != good {
				t.Fatalf("%s: v1.1.0 set %s, want %s", ref, img, good)
			}
			e.nextJob(ref)
			e.waitVerification(ref, d110, rollout.VerifyVerified)
			img, ann := e.image(ref)
			if img != good || ann[rollout.AnnotationHold] != "" || ann[rollout.AnnotationBlocked] != "" {
				t.Errorf("%s verified: image %s, hold %q, blocked %q; want %s, no hold, no block", ref, img, ann[rollout.AnnotationHold], ann[rollout.AnnotationBlocked], good)
			}
			if n := e.auditEvents(audit.RolloutVerified, d110); n != 1 {
				t.Errorf("%d RolloutVerified events for %s, want 1", n, d110)
			}

			// A push whose Pods crash: rolled back by itself.
			manifest, bad := e.sb.NewManifest()
			badImage := registry + "@" + bad
			e.fault(badImage, testenv.ImageCrashLoop)
			if err := e.sb.PutImage(context.Background(), repo, "v1.2.0", manifest); err != nil {
				t.Fatal(err)
			}
			e.deliverPush(repo, "v1.2.0")
			if img, _ := e.image(ref); img != badImage {
				t.Fatalf("%s: v1.2.0 set %s, want %s", ref, img, badImage)
			}
			e.nextJob(ref)
			e.waitVerification(ref, bad, rollout.VerifyRolledBack)
			img, ann = e.image(ref)
			if img != good {
				t.Errorf("%s rolled back to %s, want the previous image %s", ref, img, good)
			}
			if h := ann[rollout.AnnotationHold]; !strings.Contains(h, "CrashLoopBackOff") {
				t.Errorf("%s: hold %q, want one naming CrashLoopBackOff", ref, h)
			}
			if b := ann[rollout.AnnotationBlocked]; !strings.Contains(b, bad) {
				t.Errorf("%s: blocked digests %s, want %s", ref, b, bad)
			}
			if slack, sns := e.alerts(repo+":v1.2.0", "CrashLoopBackOff"); slack != 1 || sns != 1 {
				t.Errorf("%d Slack and %d SNS alerts about %s:v1.2.0 naming CrashLoopBackOff, want one of each", slack, sns, repo)
			}
			for _, dt := range []string{audit.RolloutFailed, audit.RolloutRolledBack} {
				if n := e.auditEvents(dt, bad); n != 1 {
					t.Errorf("%d %s events for %s, want 1", n, dt, bad)
				}
			}
			if n := e.auditEvents(audit.RolloutVerified, bad); n != 0 {
				t.Errorf("%d RolloutVerified events for the crashing %s, want none", n, bad)
			}
			// The restored template runs again (for a CronJob: its next Job starts cleanly).
			e.waitRolledOut(ref, good)
		})
	}
}

// TestCronJobWithoutJobAbandoned: a CronJob whose template ecrwarden moved but that runs no Job of it (its
// schedule is hours away) is neither verified nor failed: its verification stays pending ("no job yet") and ends
// abandoned at the verify timeout (10 s, by annotation on an opt-in), with no rollback, hold, block or alert.
func TestCronJobWithoutJobAbandoned(t *testing.T) {
	e := start(t)
	repo := repos[kube.KindCronJob]
	registry := e.sb.Registry + "/" + repo
	e.create(kube.KindCronJob, names[kube.KindCronJob], registry+":v1.0.0", nil) // the rule's, which the push also moves
	idle := e.create(kube.KindCronJob, "train-idle", registry+":v1.0.0",
		map[string]string{kube.AnnotationTrack: repo + ":v{semver}", rollout.AnnotationVerifyTimeout: "10s"})
	e.push(repo, "v1.0.0")
	d110 := e.push(repo, "v1.1.0")
	if img, _ := e.image(idle); img != registry+"@"+d110 {
		t.Fatalf("%s: v1.1.0 set %s, want %s@%s", idle, img, registry, d110)
	}
	v := e.waitVerification(idle, d110, rollout.VerifyAbandoned)
	if !strings.Contains(strings.Join(v.Reasons, "; "), "no job yet") {
		t.Errorf("%s abandoned for %q, want the reason no job yet", idle, v.Reasons)
	}
	img, ann := e.image(idle)
	if img != registry+"@"+d110 || ann[rollout.AnnotationHold] != "" || ann[rollout.AnnotationBlocked] != "" {
		t.Errorf("%s abandoned: image %s, hold %q, blocked %q; want v1.1.0 left in place, no hold, no block", idle, img, ann[rollout.AnnotationHold], ann[rollout.AnnotationBlocked])
	}
	for _, dt := range []string{audit.RolloutFailed, audit.RolloutRolledBack} {
		if n := e.auditEvents(dt, d110); n != 0 {
			t.Errorf("%d %s events for %s, want none", n, dt, d110)
		}
	}
	if n := len(e.sb.Suite.Slack.Payloads()); n != 0 {
		t.Errorf("%d Slack messages, want none", n)
	}
}

// nextJob creates the CronJob's next Job from its current job template, with an ownerReference to it, as
// `kubectl create job --from=cronjob/…` does; other kinds need nothing.
func (e *env) nextJob(ref kube.WorkloadRef) {
	e.t.Helper()
	if ref.Kind != kube.KindCronJob {
		return
	}
	if _, err := cluster.Kube.CreateJobFromCronJob(context.Background(), ref.Namespace, ref.Name); err != nil {
		e.t.Fatal(err)
	}
}

// fault marks image (a reference by digest of this test's own) with f in kwok's simulated kubelets until the test
// ends.
func (e *env) fault(image string, f testenv.ImageFault) {
	e.t.Helper()
	ctx := context.Background()
	if err := cluster.Kube.SetImageFaults(ctx, map[string]testenv.ImageFault{image: f}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := cluster.Kube.SetImageFaults(ctx, map[string]testenv.ImageFault{image: testenv.ImageRuns}); err != nil {
			e.t.Errorf("clear the fault of %s: %v", image, err)
		}
	})
}

// finalStates are the verification states that end it.
var finalStates = []string{rollout.VerifyVerified, rollout.VerifyFailed, rollout.VerifyRolledBack, rollout.VerifyAbandoned}

// waitVerification delivers the queued events and the verification checks as they fall due (the verification
// queue, polled as Lambda polls it) until the verification of digest on the workload ends, and fails the test
// unless it ends in state want. Every invocation must succeed.
func (e *env) waitVerification(ref kube.WorkloadRef, digest, want string) rollout.Verification {
	e.t.Helper()
	ctx := context.Background()
	var final rollout.Verification
	state, err := e.sb.DeliverUntil(ctx, verifyWait, func(ctx context.Context) (bool, string, error) {
		w, err := e.admin.GetWorkload(ctx, ref)
		if err != nil {
			return false, "", err
		}
		st, err := rollout.ReadState(w.Annotations())
		if err != nil {
			return false, "", err
		}
		img, _, _ := w.ContainerImage("app")
		if st.Verify == nil {
			return false, "no verification yet, image " + img, nil
		}
		desc := fmt.Sprintf("verification of %s %s %v, image %s", st.Verify.Digest, st.Verify.State, st.Verify.Reasons, img)
		if st.Verify.Digest == digest && slices.Contains(finalStates, st.Verify.State) {
			final = *st.Verify
			return true, desc, nil
		}
		return false, desc, nil
	})
	if err != nil {
		e.t.Fatalf("%s: the verification of %s did not end %s: %v (last: %s)", ref, digest, want, err, state)
	}
	if final.State != want {
		e.t.Fatalf("%s: the verification of %s ended %s, want %s (%s)", ref, digest, final.State, want, state)
	}
	if err := e.sb.UnexpectedDenials(); err != nil {
		e.t.Fatal(err)
	}
	return final
}

// auditEvents counts the events of detailType on the audit bus whose detail names digest.
func (e *env) auditEvents(detailType, digest string) int {
	n := 0
	for _, raw := range e.sb.Suite.EventBridge.Events(e.sb.EventBus) {
		var ev struct {
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(raw, &ev) == nil && ev.DetailType == detailType && strings.Contains(string(ev.Detail), digest) {
			n++
		}
	}
	return n
}

// alerts counts the Slack payloads and SNS messages that name subject and reason.
func (e *env) alerts(subject, reason string) (slack, sns int) {
	for _, p := range e.sb.Suite.Slack.Payloads() {
		if strings.Contains(string(p.Body), subject) && strings.Contains(string(p.Body), reason) {
			slack++
		}
	}
	for _, m := range e.sb.Suite.SNS.Messages(e.sb.TopicARN) {
		if strings.Contains(m.Message, subject) && strings.Contains(m.Message, reason) {
			sns++
		}
	}
	return slack, sns
}
