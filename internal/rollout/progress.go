package rollout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

// failingWaits are the waiting reasons of a container that will not start
// by itself soon: the image cannot be pulled, its configuration is broken,
// or it crashes at start. A rollout whose new Pods say one fails at once,
// without waiting for the progress deadline.
var failingWaits = []string{
	"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
	"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
}

// Progress is what one look at a rollout found.
type Progress struct {
	// Done: every updated replica is available (kubectl rollout status).
	Done bool
	// Failed: the rollout will not finish: the progress deadline passed or
	// a new Pod says why it cannot run (Reasons).
	Failed bool
	// Paused is spec.paused: a person stopped the rollout.
	Paused bool
	// ScaledToZero: no replica is wanted, so nothing can be told.
	ScaledToZero bool
	// Waiting says what the rollout waits for when neither done nor failed.
	Waiting string
	// Reasons are the failure reasons, one per failing container of the new
	// Pods (and the progress deadline), sorted.
	Reasons []string
	// Pods names the new Pods that fail, for their Events.
	Pods []string
}

// DeploymentProgress applies kubectl's rollout-status logic for Deployments
// (observedGeneration, the Progressing condition's ProgressDeadlineExceeded,
// updated, total and available replicas) and reads the failure reasons of
// the new Pods: those whose container runs image. pods are the Pods the
// Deployment's selector lists.
func DeploymentProgress(d *kube.RolloutDeployment, container, image string, pods []kube.RolloutPod) Progress {
	var p Progress
	for _, pod := range pods {
		if !podRuns(pod, container, image) {
			continue
		}
		if rs := podReasons(pod); len(rs) > 0 {
			p.Reasons = append(p.Reasons, rs...)
			p.Pods = append(p.Pods, pod.Metadata.Name)
		}
	}
	slices.Sort(p.Reasons)
	p.Reasons = slices.Compact(p.Reasons)
	st := d.Status
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	switch {
	case d.Metadata.Generation > st.ObservedGeneration:
		p.Waiting = "waiting for the deployment spec update to be observed"
	default:
		for _, c := range st.Conditions {
			if c.Type == "Progressing" && c.Reason == "ProgressDeadlineExceeded" {
				p.Failed = true
				p.Reasons = append(p.Reasons, fmt.Sprintf("deployment %s exceeded its progress deadline: %s", d.Metadata.Name, c.Message))
			}
		}
		switch {
		case st.UpdatedReplicas < want:
			p.Waiting = fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, want)
		case st.Replicas > st.UpdatedReplicas:
			p.Waiting = fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
		case st.AvailableReplicas < st.UpdatedReplicas:
			p.Waiting = fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas)
		default:
			p.Done = !p.Failed
		}
	}
	if len(p.Reasons) > 0 {
		p.Failed, p.Done = true, false
	}
	if !p.Done && !p.Failed {
		if d.Spec.Paused {
			p.Paused, p.Waiting = true, "the rollout is paused (spec.paused)"
		}
		if want == 0 {
			p.ScaledToZero, p.Waiting = true, "scaled to zero replicas"
		}
	}
	if want == 0 && p.Done {
		// Nothing runs: done by kubectl's logic, but nothing was verified.
		p.Done, p.ScaledToZero, p.Waiting = false, true, "scaled to zero replicas"
	}
	return p
}

// podRuns reports whether the Pod's container runs image (a new Pod).
func podRuns(pod kube.RolloutPod, container, image string) bool {
	for _, list := range [][]kube.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == container {
				return c.Image == image
			}
		}
	}
	return false
}

// podReasons says why the Pod's containers cannot run, if they cannot.
func podReasons(pod kube.RolloutPod) []string {
	var out []string
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		where := fmt.Sprintf("pod %s container %s", pod.Metadata.Name, cs.Name)
		if w := cs.State.Waiting; w != nil && slices.Contains(failingWaits, w.Reason) {
			reason := w.Reason
			if t := cs.LastState.Terminated; t != nil && t.Reason == "OOMKilled" {
				reason += " after OOMKilled"
			}
			out = append(out, reasonText(where, reason, w.Message, cs))
			continue
		}
		if t := cs.LastState.Terminated; t != nil && t.Reason == "OOMKilled" && cs.RestartCount > 0 {
			out = append(out, reasonText(where, "OOMKilled", t.Message, cs))
			continue
		}
		if t := cs.State.Terminated; t != nil && t.Reason == "OOMKilled" {
			out = append(out, reasonText(where, "OOMKilled", t.Message, cs))
		}
	}
	return out
}

func reasonText(where, reason, message string, cs kube.PodContainerStatus) string {
	s := where + ": " + reason
	if m := strings.TrimSpace(message); m != "" {
		s += " (" + truncateText(m, 200) + ")"
	}
	if cs.RestartCount > 0 {
		s += fmt.Sprintf(", %d restarts", cs.RestartCount)
	}
	return s
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
