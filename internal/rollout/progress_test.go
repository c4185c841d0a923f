package rollout

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

func rolloutDeployment(t *testing.T, js string) *kube.RolloutDeployment {
	t.Helper()
	var d kube.RolloutDeployment
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func rolloutPod(t *testing.T, image, status string) kube.RolloutPod {
	t.Helper()
	var p kube.RolloutPod
	js := `{"metadata":{"name":"api-1"},"spec":{"containers":[{"name":"api","image":"` + image + `"}]},"status":` + status + `}`
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeploymentProgress(t *testing.T) {
	const img, old = "r/app@sha256:new", "r/app@sha256:old"
	spec := `"spec":{"replicas":2,"selector":{"matchLabels":{"app":"a"}}}`
	crash := `{"containerStatuses":[{"name":"api","restartCount":3,"state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s"}},"lastState":{"terminated":{"reason":"Error","exitCode":1}}}]}`
	oom := `{"containerStatuses":[{"name":"api","restartCount":1,"state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"reason":"OOMKilled","exitCode":137}}}]}`
	tests := []struct {
		name string
		dep  string
		pods []kube.RolloutPod
		want Progress
	}{
		{name: "spec not observed yet", dep: `{"metadata":{"generation":3},` + spec + `,"status":{"observedGeneration":2}}`,
			want: Progress{Waiting: "waiting for the deployment spec update to be observed"}},
		{name: "replicas not updated yet", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":1}}`,
			want: Progress{Waiting: "1 out of 2 new replicas have been updated"}},
		{name: "old replicas terminating", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":2}}`,
			want: Progress{Waiting: "1 old replicas are pending termination"}},
		{name: "not available yet", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":1}}`,
			want: Progress{Waiting: "1 of 2 updated replicas are available"}},
		{name: "done", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":2}}`,
			want: Progress{Done: true}},
		{name: "progress deadline exceeded", dep: `{"metadata":{"name":"api","generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":1,
			"conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded","message":"ReplicaSet \"api-7\" has timed out progressing."}]}}`,
			want: Progress{Failed: true, Waiting: "1 out of 2 new replicas have been updated",
				Reasons: []string{`deployment api exceeded its progress deadline: ReplicaSet "api-7" has timed out progressing.`}}},
		{name: "a new pod crash-loops", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":1}}`,
			pods: []kube.RolloutPod{rolloutPod(t, img, crash)},
			want: Progress{Failed: true, Waiting: "1 out of 2 new replicas have been updated", Pods: []string{"api-1"},
				Reasons: []string{"pod api-1 container api: CrashLoopBackOff (back-off 40s), 3 restarts"}}},
		{name: "an old pod's crash is not the rollout's", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":2}}`,
			pods: []kube.RolloutPod{rolloutPod(t, old, crash)}, want: Progress{Done: true}},
		{name: "OOMKilled restarts", dep: `{"metadata":{"generation":2},` + spec + `,"status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":1}}`,
			pods: []kube.RolloutPod{rolloutPod(t, img, oom)},
			want: Progress{Failed: true, Waiting: "1 of 2 updated replicas are available", Pods: []string{"api-1"},
				Reasons: []string{"pod api-1 container api: CrashLoopBackOff after OOMKilled, 1 restarts"}}},
		{name: "paused", dep: `{"metadata":{"generation":2},"spec":{"replicas":2,"paused":true},"status":{"observedGeneration":2,"replicas":2,"updatedReplicas":0,"availableReplicas":2}}`,
			want: Progress{Paused: true, Waiting: "the rollout is paused (spec.paused)"}},
		{name: "scaled to zero is not verified", dep: `{"metadata":{"generation":2},"spec":{"replicas":0},"status":{"observedGeneration":2}}`,
			want: Progress{ScaledToZero: true, Waiting: "scaled to zero replicas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DeploymentProgress(rolloutDeployment(t, tt.dep), "api", img, tt.pods)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadState(t *testing.T) {
	st, err := ReadState(map[string]string{
		AnnotationLastChange: `{"eventId":"e1","time":"2026-11-29T10:00:00Z","cause":"push","from":"r/a:v1","to":"r/a@sha256:b"}`,
		AnnotationVerify:     `{"state":"rolled-back","since":"2026-11-29T10:00:00Z","at":"2026-11-29T10:01:00Z","digest":"sha256:b","reasons":["x"],"previousImage":"r/a:v1"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.LastChange.Cause != CausePush || st.LastChange.To != "r/a@sha256:b" || st.Verify.State != VerifyRolledBack || st.Verify.PreviousImage != "r/a:v1" {
		t.Errorf("state %+v %+v", st.LastChange, st.Verify)
	}
	if st, err := ReadState(nil); err != nil || st.LastChange != nil || st.Verify != nil {
		t.Errorf("no annotations: %+v %v", st, err)
	}
	if _, err := ReadState(map[string]string{AnnotationVerify: "pending"}); err == nil {
		t.Error("a verify annotation that does not parse was read")
	}
}
