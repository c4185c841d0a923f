package rollout

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

func TestFailureReasons(t *testing.T) {
	sts := kube.WorkloadRef{Kind: kube.KindStatefulSet, Namespace: "ml", Name: "db"}
	crash := kube.PodProblem{Pod: "db-2", Container: "app", Reason: "CrashLoopBackOff", RestartCount: 3, LastTermination: "Error, exit code 1", Fatal: true}
	notReady := kube.PodProblem{Pod: "db-1", Container: "app", Reason: "NotReady"}
	many := make([]kube.PodProblem, 12)
	for i := range many {
		many[i] = kube.PodProblem{Pod: fmt.Sprintf("web-%02d", i), Container: "api", Reason: "ImagePullBackOff", Fatal: true}
	}
	tests := []struct {
		name string
		ref  kube.WorkloadRef
		st   kube.RolloutStatus
		want []string
	}{
		{name: "a Pod's problem is the verdict: said once", ref: sts,
			st:   kube.RolloutStatus{Failed: true, Reason: "pod " + crash.String(), Pods: []kube.PodProblem{notReady, crash}},
			want: []string{"pod db-1 app: NotReady", "pod db-2 app: CrashLoopBackOff (restarts 3; last Error, exit code 1)"}},
		{name: "the kind's verdict first", ref: kube.WorkloadRef{Kind: kube.KindDeployment, Namespace: "ml", Name: "api"},
			st:   kube.RolloutStatus{Failed: true, Reason: "progress deadline exceeded: ReplicaSet \"api-7d\" has timed out progressing."},
			want: []string{`deployment ml/api: progress deadline exceeded: ReplicaSet "api-7d" has timed out progressing.`}},
		{name: "in progress: only the Pods", ref: sts,
			st:   kube.RolloutStatus{Reason: "1 of 3 Pods ready", Pods: []kube.PodProblem{notReady}},
			want: []string{"pod db-1 app: NotReady"}},
		{name: "bounded", ref: sts, st: kube.RolloutStatus{Failed: true, Reason: "pod " + many[0].String(), Pods: many},
			want: []string{"pod web-00 api: ImagePullBackOff", "pod web-01 api: ImagePullBackOff", "pod web-02 api: ImagePullBackOff",
				"pod web-03 api: ImagePullBackOff", "pod web-04 api: ImagePullBackOff", "pod web-05 api: ImagePullBackOff",
				"pod web-06 api: ImagePullBackOff", "… and 5 more Pod problems"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, failureReasons(tt.ref, tt.st)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventLines(t *testing.T) {
	var evs []kube.PodEvent
	for i := range 7 {
		evs = append(evs, kube.PodEvent{Pod: "web-1", Type: "Warning", Reason: "BackOff", Message: fmt.Sprintf("back-off %d", i), Count: int32(i)})
	}
	want := []string{
		"pod web-1: Warning BackOff: back-off 2 (×2)", "pod web-1: Warning BackOff: back-off 3 (×3)", "pod web-1: Warning BackOff: back-off 4 (×4)",
		"pod web-1: Warning BackOff: back-off 5 (×5)", "pod web-1: Warning BackOff: back-off 6 (×6)",
	}
	if diff := cmp.Diff(want, eventLines(evs)); diff != "" {
		t.Errorf("the last %d events, oldest first (-want +got):\n%s", maxEvents, diff)
	}
}

func TestCheckNamesItsWorkload(t *testing.T) {
	dep := Check{Cluster: "c", Namespace: "ml", Deployment: "api", Container: "app", Digest: "sha256:aa"}
	if got := dep.String(); got != "c/ml/api[app]@sha256:aa" {
		t.Errorf("a Deployment's check reads %q (its alert keys must not change)", got)
	}
	cj := dep
	cj.Kind, cj.Deployment = kube.KindCronJob, "train"
	if got, ref := cj.String(), cj.Ref(); got != "c/ml/cronjob:train[app]@sha256:aa" || ref.Kind != kube.KindCronJob || ref.Name != "train" {
		t.Errorf("a CronJob's check: %q %+v", got, ref)
	}
	bad := dep
	bad.Kind = "Pod"
	if err := bad.Validate(); err == nil {
		t.Error("a check naming kind Pod validated")
	}
	if err := (Check{Cluster: "c"}).Validate(); err == nil {
		t.Error("a check without a workload validated")
	}
}
