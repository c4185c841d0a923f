package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func i32(v int32) *int32 { return &v }

// verdict is the part of a RolloutStatus the pure per-kind functions decide.
type verdict struct{ Done, Failed, Idle bool }

func verdictOf(st RolloutStatus) verdict { return verdict{st.Done, st.Failed, st.Idle} }

func TestDeploymentRollout(t *testing.T) {
	progressing := func(reason string) []Condition {
		return []Condition{{Type: "Progressing", Status: "False", Reason: reason, Message: "ReplicaSet web-1 has timed out progressing."}}
	}
	tests := []struct {
		name   string
		d      Deployment
		want   verdict
		reason string
	}{
		{"generation not observed", Deployment{Metadata: ObjectMeta{Generation: 3}, Spec: DeploymentSpec{Replicas: i32(2)},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}}, verdict{}, "observe generation 3"},
		{"deadline exceeded", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(2)},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, Conditions: progressing("ProgressDeadlineExceeded")}}, verdict{Failed: true}, "progress deadline exceeded"},
		{"updating", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(3)},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1}}, verdict{}, "1 of 3 new replicas updated"},
		{"old replicas left", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(2)},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}}, verdict{}, "1 old replicas pending termination"},
		{"not available", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(2)},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}}, verdict{}, "1 of 2 updated replicas available"},
		{"done", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(2)},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}}, verdict{Done: true}, "rolled out: 2 of 2"},
		{"replicas default to one", Deployment{Metadata: ObjectMeta{Generation: 2},
			Status: DeploymentStatus{ObservedGeneration: 2}}, verdict{}, "0 of 1 new replicas updated"},
		{"scaled to zero", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(0)},
			Status: DeploymentStatus{ObservedGeneration: 2}}, verdict{Done: true}, "scaled to zero"},
		{"paused", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(2), Paused: true},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 2, AvailableReplicas: 2}}, verdict{Idle: true}, "paused"},
		{"paused but done", Deployment{Metadata: ObjectMeta{Generation: 2}, Spec: DeploymentSpec{Replicas: i32(1), Paused: true},
			Status: DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}, verdict{Done: true}, "rolled out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := deploymentRollout(&tt.d)
			if diff := cmp.Diff(tt.want, verdictOf(st)); diff != "" || !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("verdict (-want +got):\n%s\nreason %q, want it to contain %q", diff, st.Reason, tt.reason)
			}
		})
	}
}

func TestStatefulSetRollout(t *testing.T) {
	sts := func(strategy UpdateStrategy, s StatefulSetStatus) StatefulSet {
		s.ObservedGeneration = 2
		return StatefulSet{Metadata: ObjectMeta{Generation: 2}, Spec: StatefulSetSpec{Replicas: i32(3), UpdateStrategy: strategy}, Status: s}
	}
	rolling := UpdateStrategy{Type: RollingUpdate}
	partition := func(p int32) UpdateStrategy {
		return UpdateStrategy{Type: RollingUpdate, RollingUpdate: &RollingUpdateConfig{Partition: i32(p)}}
	}
	tests := []struct {
		name   string
		s      StatefulSet
		want   verdict
		reason string
	}{
		{"not observed", StatefulSet{Metadata: ObjectMeta{Generation: 1}}, verdict{}, "observe generation 1"},
		{"not ready", sts(rolling, StatefulSetStatus{ReadyReplicas: 2, UpdateRevision: "b", CurrentRevision: "a"}), verdict{}, "2 of 3 Pods ready"},
		{"revisions differ", sts(rolling, StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 2, UpdateRevision: "b", CurrentRevision: "a"}), verdict{}, "2 of 3 Pods at revision b"},
		{"done", sts(rolling, StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, UpdateRevision: "b", CurrentRevision: "b"}), verdict{Done: true}, "rolled out: 3 Pods at revision b"},
		{"partition waiting", sts(partition(1), StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1}), verdict{}, "1 of 2 new Pods (ordinals ≥ 1)"},
		{"partition done", sts(partition(1), StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 2}), verdict{Done: true}, "partitioned rollout complete"},
		{"partition zero", sts(partition(0), StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3}), verdict{Done: true}, "rolled out: 3 Pods updated"},
		{"ondelete waiting", sts(UpdateStrategy{Type: OnDelete}, StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, UpdateRevision: "b", CurrentRevision: "a"}), verdict{Idle: true}, "OnDelete: 1 of 3"},
		{"ondelete done", sts(UpdateStrategy{Type: OnDelete}, StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3, UpdateRevision: "b", CurrentRevision: "b"}), verdict{Done: true}, "rolled out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := statefulSetRollout(&tt.s)
			if diff := cmp.Diff(tt.want, verdictOf(st)); diff != "" || !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("verdict (-want +got):\n%s\nreason %q, want it to contain %q", diff, st.Reason, tt.reason)
			}
		})
	}
}

func TestDaemonSetRollout(t *testing.T) {
	ds := func(strategy string, s DaemonSetStatus) DaemonSet {
		s.ObservedGeneration = 2
		return DaemonSet{Metadata: ObjectMeta{Generation: 2}, Spec: DaemonSetSpec{UpdateStrategy: UpdateStrategy{Type: strategy}}, Status: s}
	}
	tests := []struct {
		name   string
		d      DaemonSet
		want   verdict
		reason string
	}{
		{"not observed", DaemonSet{Metadata: ObjectMeta{Generation: 2}, Status: DaemonSetStatus{ObservedGeneration: 1}}, verdict{}, "observe generation 2"},
		{"updating", ds(RollingUpdate, DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1}), verdict{}, "1 of 3 new Pods updated"},
		{"unavailable", ds(RollingUpdate, DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberUnavailable: 1}), verdict{}, "2 of 3 updated Pods available (1 unavailable)"},
		{"done", ds(RollingUpdate, DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}), verdict{Done: true}, "rolled out"},
		{"no nodes", ds(RollingUpdate, DaemonSetStatus{}), verdict{Done: true}, "no node runs"},
		{"ondelete", ds(OnDelete, DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3}), verdict{Idle: true}, "OnDelete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := daemonSetRollout(&tt.d)
			if diff := cmp.Diff(tt.want, verdictOf(st)); diff != "" || !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("verdict (-want +got):\n%s\nreason %q, want it to contain %q", diff, st.Reason, tt.reason)
			}
		})
	}
}

func TestCronJobRollout(t *testing.T) {
	tmpl := func(image string) WorkloadSpec {
		return WorkloadSpec{Template: PodTemplateSpec{Spec: PodSpec{Containers: []Container{{Name: "train", Image: image}}}}}
	}
	cj := CronJob{Metadata: ObjectMeta{UID: "cj-uid"}, Spec: CronJobSpec{Schedule: "0 2 * * *", JobTemplate: JobTemplateSpec{Spec: tmpl("train:v2")}}}
	owned := []OwnerReference{{Kind: "CronJob", Name: "train", UID: "cj-uid"}}
	job := func(name, created, image string, owners []OwnerReference, conds ...Condition) Job {
		return Job{Metadata: ObjectMeta{Name: name, CreationTimestamp: created, OwnerReferences: owners}, Spec: tmpl(image), Status: JobStatus{Conditions: conds}}
	}
	complete := Condition{Type: "Complete", Status: "True"}
	failedCond := Condition{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}
	tests := []struct {
		name    string
		jobs    []Job
		want    verdict
		reason  string
		wantJob string
	}{
		{"no job", nil, verdict{Idle: true}, `no job yet: no Job has run the new template; the next one starts on schedule "0 2 * * *"`, ""},
		{"only jobs of the old template or of others", []Job{job("train-1", "2026-11-29T02:00:00Z", "train:v1", owned, complete), job("other", "2026-11-29T03:00:00Z", "train:v2", nil, complete)},
			verdict{Idle: true}, "no job yet", ""},
		{"running", []Job{job("train-2", "2026-11-30T02:00:00Z", "train:v2", owned)}, verdict{}, "job train-2 running", "train-2"},
		{"newest counts", []Job{job("train-2", "2026-11-30T02:00:00Z", "train:v2", owned, failedCond), job("train-3", "2026-12-01T02:00:00Z", "train:v2", owned, complete)},
			verdict{Done: true}, "job train-3 completed", "train-3"},
		{"failed", []Job{job("train-2", "2026-11-30T02:00:00Z", "train:v2", owned, failedCond)}, verdict{Failed: true}, "job train-2 failed: BackoffLimitExceeded", "train-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, j := cronJobRollout(&cj, tt.jobs)
			if diff := cmp.Diff(tt.want, verdictOf(st)); diff != "" || !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("verdict (-want +got):\n%s\nreason %q, want it to contain %q", diff, st.Reason, tt.reason)
			}
			if got := ""; j != nil {
				got = j.Metadata.Name
				if got != tt.wantJob {
					t.Errorf("job %q, want %q", got, tt.wantJob)
				}
			} else if tt.wantJob != "" {
				t.Errorf("no job, want %q", tt.wantJob)
			}
		})
	}
}

func TestContainerProblem(t *testing.T) {
	waiting := func(reason string) ContainerState {
		return ContainerState{Waiting: &ContainerStateWaiting{Reason: reason, Message: "back-off"}}
	}
	oom := ContainerState{Terminated: &ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	running := ContainerState{Running: &ContainerStateRunning{}}
	tests := []struct {
		name string
		cs   ContainerStatus
		want *PodProblem
	}{
		{"running and ready", ContainerStatus{Name: "app", Ready: true, State: running}, nil},
		{"creating", ContainerStatus{Name: "app", State: waiting("ContainerCreating")}, nil},
		{"pull backoff", ContainerStatus{Name: "app", State: waiting("ImagePullBackOff")},
			&PodProblem{Container: "app", Reason: "ImagePullBackOff", Message: "back-off", Fatal: true}},
		{"crash loop after an OOM kill", ContainerStatus{Name: "app", RestartCount: 3, State: waiting("CrashLoopBackOff"), LastState: oom},
			&PodProblem{Container: "app", Reason: "OOMKilled", Message: "CrashLoopBackOff", RestartCount: 3, LastTermination: "OOMKilled, exit code 137", Fatal: true}},
		{"running again after an OOM kill", ContainerStatus{Name: "app", RestartCount: 1, State: running, LastState: oom},
			&PodProblem{Container: "app", Reason: "OOMKilled", RestartCount: 1, LastTermination: "OOMKilled, exit code 137", Fatal: true}},
		{"exited", ContainerStatus{Name: "app", State: ContainerState{Terminated: &ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}},
			&PodProblem{Container: "app", Reason: "Error", LastTermination: "Error, exit code 2", Fatal: true}},
		{"not ready", ContainerStatus{Name: "app", State: running}, &PodProblem{Container: "app", Reason: "NotReady"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := containerProblem(tt.cs, false)
			var gotp *PodProblem
			if ok {
				gotp = &got
			}
			if diff := cmp.Diff(tt.want, gotp); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
		})
	}
}
