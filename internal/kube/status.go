package kube

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// RolloutStatus is where the rollout of a workload's current template stands: kubectl's `rollout status` verdict
// for the kind, sharpened by what the new template's Pods say. At most one of Done, Failed and Idle is true; none
// means the rollout is in progress (ask again later).
type RolloutStatus struct {
	// Done: every Pod the workload wants runs the current template and is available (see each kind for what
	// that means; a workload scaled to zero is Done at once, with a Reason that says so).
	Done bool
	// Failed: the rollout cannot finish by itself: a Deployment's progress deadline passed, a Job of a CronJob
	// failed, or a Pod of the new template failed in a way that does not heal (Pods holds it, Fatal).
	Failed bool
	// Idle: nothing moves without someone outside the controller acting: a paused Deployment, an OnDelete
	// StatefulSet or DaemonSet whose Pods have not all been deleted, a CronJob whose next Job has not started.
	// Neither success nor failure: a verifier should stop waiting and say so, never roll back for it.
	Idle bool
	// Reason says in one line why, for logs, alerts and `ecrwarden status`.
	Reason string
	// Desired, Updated, Ready and Available count the workload's Pods (a DaemonSet's per node) as its status
	// reports them; for a CronJob, the Pods of the Job that runs the current template.
	Desired, Updated, Ready, Available int32
	// Pods lists what is wrong with Pods of the current template, one entry per container with a problem. It is
	// read only while the rollout is not Done.
	Pods []PodProblem
	// Events are the last Kubernetes Events (at most maxEvents, oldest first) about the Pods in Pods, read when
	// the rollout Failed.
	Events []PodEvent
}

// PodProblem is one container of a Pod of the new template that does not run as it should.
type PodProblem struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Init      bool   `json:"init,omitempty"`
	Image     string `json:"image,omitempty"`
	// Reason is what kubectl shows: ImagePullBackOff, ErrImagePull, CrashLoopBackOff, CreateContainerConfigError,
	// CreateContainerError, InvalidImageName, OOMKilled (the last termination was an OOM kill, whatever the
	// waiting reason), Error (exited non-zero and not restarted), or NotReady (running, readiness failing).
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// RestartCount and LastTermination ("OOMKilled, exit code 137") tell a crash loop.
	RestartCount    int32  `json:"restartCount,omitempty"`
	LastTermination string `json:"lastTermination,omitempty"`
	// Fatal: the problem does not heal by waiting (every reason but NotReady); it fails the rollout at once.
	Fatal bool `json:"fatal"`
}

// String is one line: "web-7d9c-x2x4 api: OOMKilled (restarts 3, last OOMKilled, exit code 137)".
func (p PodProblem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", p.Pod, p.Container, p.Reason)
	var detail []string
	if p.RestartCount > 0 {
		detail = append(detail, fmt.Sprintf("restarts %d", p.RestartCount))
	}
	if p.LastTermination != "" {
		detail = append(detail, "last "+p.LastTermination)
	}
	if p.Message != "" {
		detail = append(detail, p.Message)
	}
	if len(detail) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(detail, "; "))
	}
	return b.String()
}

// PodEvent is one Kubernetes Event about a Pod of the new template.
type PodEvent struct {
	Pod     string `json:"pod"`
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Count   int32  `json:"count,omitempty"`
	// Time is the Event's last timestamp (RFC 3339).
	Time string `json:"time,omitempty"`
}

const (
	// maxEventPods bounds the Pods whose Events a Status reads (one list call each).
	maxEventPods = 3
	// maxEvents bounds the Events a Status returns.
	maxEvents = 8
)

// fatalWaiting are the waiting reasons of a container that does not start by waiting longer.
var fatalWaiting = []string{
	"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName", "CrashLoopBackOff",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
}

// podScope says which Pods run a workload's current template: those in namespace matching selector whose
// containers have spec's images. An empty selector reads no Pods.
type podScope struct {
	namespace string
	selector  map[string]string
	spec      PodSpec
	// doneWhenReady makes the rollout Done when every such Pod is Ready and none has a problem (a CronJob's Job
	// that started cleanly).
	doneWhenReady bool
	what          string
}

// Status reads the rollout status of the workload's current template: the kind's verdict over the object as read
// (a CronJob also lists its Jobs), then, unless that is Done, the Pods of the current template, whose fatal
// problems fail the rollout at once; for a failed rollout, the last Events of the failing Pods. It needs list on
// pods and events in the workload's namespace, and for a CronJob list on jobs. Read the workload again
// (GetWorkload) before each check: Status does not refresh it.
func (w *Workload) Status(ctx context.Context, c *Client) (RolloutStatus, error) {
	ref := w.Ref()
	st, scope, err := w.obj.rollout(ctx, c)
	if err != nil {
		return RolloutStatus{}, fmt.Errorf("rollout status of %s: %w", lower(ref), err)
	}
	if st.Done || len(scope.selector) == 0 {
		return st, nil
	}
	pods, err := c.listPods(ctx, scope.namespace, scope.selector)
	if err != nil {
		return RolloutStatus{}, fmt.Errorf("rollout status of %s: %w", lower(ref), err)
	}
	var current []Pod
	for _, p := range pods {
		if runsTemplate(p.Spec, scope.spec) {
			current = append(current, p)
		}
	}
	st.Pods = podProblems(current)
	if i := slices.IndexFunc(st.Pods, func(p PodProblem) bool { return p.Fatal }); i >= 0 && !st.Failed {
		st.Done, st.Idle, st.Failed = false, false, true
		st.Reason = "pod " + st.Pods[i].String()
	}
	if scope.doneWhenReady && !st.Failed && len(current) > 0 && len(st.Pods) == 0 &&
		!slices.ContainsFunc(current, func(p Pod) bool { return !podReady(p) }) {
		st.Done, st.Idle = true, false
		st.Reason = fmt.Sprintf("%s: its %d Pod(s) run the new template and are ready", scope.what, len(current))
	}
	if st.Failed {
		if st.Events, err = c.podEvents(ctx, scope.namespace, st.Pods); err != nil {
			return RolloutStatus{}, fmt.Errorf("rollout status of %s: %w", lower(ref), err)
		}
	}
	return st, nil
}

func replicasOr1(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// rollout of a Deployment follows kubectl's DeploymentStatusViewer: the controller must have observed the
// generation; a Progressing condition with reason ProgressDeadlineExceeded fails it; then the updated replicas
// must reach spec.replicas, no old replica may remain, and every updated replica must be available. A paused
// Deployment that has not finished is Idle (the controller does not roll it until `kubectl rollout resume`); one
// scaled to zero is Done at once (no Pod runs, so nothing was verified: the Reason says so).
func (d *Deployment) rollout(context.Context, *Client) (RolloutStatus, podScope, error) {
	return deploymentRollout(d), podScope{namespace: d.Metadata.Namespace, selector: matchLabels(d.Spec.Selector), spec: d.Spec.Template.Spec}, nil
}

func deploymentRollout(d *Deployment) RolloutStatus {
	s := d.Status
	st := RolloutStatus{Desired: replicasOr1(d.Spec.Replicas), Updated: s.UpdatedReplicas, Ready: s.ReadyReplicas, Available: s.AvailableReplicas}
	switch c := findCondition(s.Conditions, "Progressing"); {
	case d.Metadata.Generation > s.ObservedGeneration:
		st.Reason = fmt.Sprintf("waiting for the deployment controller to observe generation %d (observed %d)", d.Metadata.Generation, s.ObservedGeneration)
	case c.Reason == "ProgressDeadlineExceeded":
		st.Failed = true
		st.Reason = "progress deadline exceeded: " + c.Message
	case s.UpdatedReplicas < st.Desired:
		st.Reason = fmt.Sprintf("%d of %d new replicas updated", s.UpdatedReplicas, st.Desired)
	case s.Replicas > s.UpdatedReplicas:
		st.Reason = fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas:
		st.Reason = fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	case st.Desired == 0:
		st.Done = true
		st.Reason = "scaled to zero: no Pod runs the new template, so nothing was verified"
	default:
		st.Done = true
		st.Reason = fmt.Sprintf("rolled out: %d of %d replicas updated and available", s.AvailableReplicas, st.Desired)
	}
	if d.Spec.Paused && !st.Done && !st.Failed {
		st.Idle = true
		st.Reason = "paused (spec.paused): the deployment controller rolls nothing until `kubectl rollout resume`; " + st.Reason
	}
	return st
}

// rollout of a StatefulSet follows kubectl's StatefulSetStatusViewer: the controller must have observed the
// generation; every replica must be ready; with a partition (a RollingUpdate's partition, 0 by default) the
// Pods at ordinals at or above it must be updated, and those below keep the old template by design; without one
// the current revision must reach the update revision. kubectl refuses OnDelete; here an OnDelete StatefulSet is
// Done when every Pod runs the update revision and is ready, and Idle until then (Pods take the template only
// when someone deletes them), while the Pods already updated are checked for failures.
func (s *StatefulSet) rollout(context.Context, *Client) (RolloutStatus, podScope, error) {
	return statefulSetRollout(s), podScope{namespace: s.Metadata.Namespace, selector: matchLabels(s.Spec.Selector), spec: s.Spec.Template.Spec}, nil
}

func statefulSetRollout(s *StatefulSet) RolloutStatus {
	ss := s.Status
	st := RolloutStatus{Desired: replicasOr1(s.Spec.Replicas), Updated: ss.UpdatedReplicas, Ready: ss.ReadyReplicas, Available: ss.AvailableReplicas}
	strategy := s.Spec.UpdateStrategy
	switch {
	case ss.ObservedGeneration == 0 || s.Metadata.Generation > ss.ObservedGeneration:
		st.Reason = fmt.Sprintf("waiting for the statefulset controller to observe generation %d (observed %d)", s.Metadata.Generation, ss.ObservedGeneration)
	case strategy.Type == OnDelete:
		if ss.UpdateRevision == ss.CurrentRevision && ss.ReadyReplicas >= st.Desired {
			st.Done = true
			st.Reason = fmt.Sprintf("rolled out: %d Pods at revision %s and ready", st.Desired, ss.UpdateRevision)
		} else {
			st.Idle = true
			st.Reason = fmt.Sprintf("update strategy OnDelete: %d of %d Pods run revision %s; the others take it only when deleted", ss.UpdatedReplicas, st.Desired, ss.UpdateRevision)
		}
	case ss.ReadyReplicas < st.Desired:
		st.Reason = fmt.Sprintf("%d of %d Pods ready", ss.ReadyReplicas, st.Desired)
	case strategy.RollingUpdate != nil && strategy.RollingUpdate.Partition != nil:
		p := *strategy.RollingUpdate.Partition
		if want := st.Desired - p; ss.UpdatedReplicas < want {
			st.Reason = fmt.Sprintf("partitioned rollout: %d of %d new Pods (ordinals ≥ %d) updated", ss.UpdatedReplicas, max(want, 0), p)
		} else {
			st.Done = true
			st.Reason = fmt.Sprintf("rolled out: %d Pods updated", ss.UpdatedReplicas)
			if p > 0 {
				st.Reason = fmt.Sprintf("partitioned rollout complete: %d new Pods at ordinals ≥ %d; the %d below the partition keep the old template", ss.UpdatedReplicas, p, min(p, st.Desired))
			}
		}
	case ss.UpdateRevision != ss.CurrentRevision:
		st.Reason = fmt.Sprintf("%d of %d Pods at revision %s", ss.UpdatedReplicas, st.Desired, ss.UpdateRevision)
	default:
		st.Done = true
		st.Reason = fmt.Sprintf("rolled out: %d Pods at revision %s", ss.Replicas, ss.CurrentRevision)
	}
	if st.Done && st.Desired == 0 {
		st.Reason = "scaled to zero: no Pod runs the new template, so nothing was verified"
	}
	return st
}

// rollout of a DaemonSet follows kubectl's DaemonSetStatusViewer: the controller must have observed the
// generation, then updatedNumberScheduled and numberAvailable must reach desiredNumberScheduled. kubectl refuses
// OnDelete; here an OnDelete DaemonSet is Done when every node's Pod is updated and available and Idle until
// then. A DaemonSet that no node runs is Done at once (the Reason says nothing was verified).
func (d *DaemonSet) rollout(context.Context, *Client) (RolloutStatus, podScope, error) {
	return daemonSetRollout(d), podScope{namespace: d.Metadata.Namespace, selector: matchLabels(d.Spec.Selector), spec: d.Spec.Template.Spec}, nil
}

func daemonSetRollout(d *DaemonSet) RolloutStatus {
	s := d.Status
	st := RolloutStatus{Desired: s.DesiredNumberScheduled, Updated: s.UpdatedNumberScheduled, Ready: s.NumberReady, Available: s.NumberAvailable}
	complete := s.UpdatedNumberScheduled >= s.DesiredNumberScheduled && s.NumberAvailable >= s.DesiredNumberScheduled
	switch {
	case d.Metadata.Generation > s.ObservedGeneration:
		st.Reason = fmt.Sprintf("waiting for the daemonset controller to observe generation %d (observed %d)", d.Metadata.Generation, s.ObservedGeneration)
	case d.Spec.UpdateStrategy.Type == OnDelete && !complete:
		st.Idle = true
		st.Reason = fmt.Sprintf("update strategy OnDelete: %d of %d Pods updated; the others take the new template only when deleted", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		st.Reason = fmt.Sprintf("%d of %d new Pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberAvailable < s.DesiredNumberScheduled:
		st.Reason = fmt.Sprintf("%d of %d updated Pods available (%d unavailable)", s.NumberAvailable, s.DesiredNumberScheduled, s.NumberUnavailable)
	case s.DesiredNumberScheduled == 0:
		st.Done = true
		st.Reason = "no node runs a Pod of it, so nothing was verified"
	default:
		st.Done = true
		st.Reason = fmt.Sprintf("rolled out: %d of %d Pods updated and available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return st
}

// rollout of a CronJob is the verdict on the newest Job the CronJob owns whose Pod template runs the CronJob's
// current job template (its "next Job"): Done when it completed, or when all its Pods run and are ready without a
// problem (the image started cleanly; how the work ends is the Job's own business); Failed when it failed (its
// Failed condition) or a Pod of it failed (Pods); in progress while its Pods start. Before such a Job exists the
// rollout is Idle ("no job yet": the template is in place and the next scheduled run, or `kubectl create job
// --from`, verifies it); Jobs of the previous template are never counted. It lists the namespace's Jobs.
func (cj *CronJob) rollout(ctx context.Context, c *Client) (RolloutStatus, podScope, error) {
	var jobs []Job
	err := listAll(ctx, c, "jobs", cj.Metadata.Namespace, func(j *Job) error {
		jobs = append(jobs, *j)
		return nil
	})
	if err != nil {
		return RolloutStatus{}, podScope{}, err
	}
	st, job := cronJobRollout(cj, jobs)
	if job == nil || st.Done || st.Failed {
		return st, podScope{}, nil
	}
	return st, podScope{namespace: cj.Metadata.Namespace, selector: matchLabels(job.Spec.Selector), spec: job.Spec.Template.Spec,
		doneWhenReady: true, what: "job " + job.Metadata.Name + " started"}, nil
}

// cronJobRollout picks the CronJob's next Job among jobs and judges it; job is nil when there is none yet.
func cronJobRollout(cj *CronJob, jobs []Job) (RolloutStatus, *Job) {
	tmpl := cj.Spec.JobTemplate.Spec.Template.Spec
	var next *Job
	for i := range jobs {
		j := &jobs[i]
		if !ownedBy(j.Metadata, cj.Metadata.UID) || !runsTemplate(j.Spec.Template.Spec, tmpl) {
			continue
		}
		if next == nil || cmp.Or(cmp.Compare(j.Metadata.CreationTimestamp, next.Metadata.CreationTimestamp), cmp.Compare(j.Metadata.Name, next.Metadata.Name)) > 0 {
			next = j
		}
	}
	if next == nil {
		st := RolloutStatus{Idle: true, Reason: fmt.Sprintf("no job yet: no Job has run the new template; the next one starts on schedule %q", cj.Spec.Schedule)}
		if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
			st.Reason += ", but the CronJob is suspended"
		}
		return st, nil
	}
	js := next.Status
	st := RolloutStatus{Desired: 1, Updated: js.Active + js.Succeeded + js.Failed, Available: js.Succeeded}
	if js.Ready != nil {
		st.Ready = *js.Ready
	}
	switch failed, complete := findCondition(js.Conditions, "Failed"), findCondition(js.Conditions, "Complete"); {
	case failed.Status == "True":
		st.Failed = true
		st.Reason = fmt.Sprintf("job %s failed: %s: %s", next.Metadata.Name, failed.Reason, failed.Message)
	case complete.Status == "True":
		st.Done = true
		st.Reason = fmt.Sprintf("job %s completed (%d succeeded)", next.Metadata.Name, js.Succeeded)
	default:
		st.Reason = fmt.Sprintf("job %s running: %d active, %d succeeded, %d failed", next.Metadata.Name, js.Active, js.Succeeded, js.Failed)
	}
	return st, next
}

func ownedBy(m ObjectMeta, uid string) bool {
	return uid != "" && slices.ContainsFunc(m.OwnerReferences, func(o OwnerReference) bool { return o.UID == uid })
}

func matchLabels(s *LabelSelector) map[string]string {
	if s == nil {
		return nil
	}
	return s.MatchLabels
}

// runsTemplate reports whether a Pod (or Job) spec has every container and init container of tmpl with the same
// image: it runs that template, not an older one.
func runsTemplate(spec, tmpl PodSpec) bool {
	for _, want := range tmpl.Containers {
		if img, init, ok := podSpecImage(spec, want.Name); !ok || init || img != want.Image {
			return false
		}
	}
	for _, want := range tmpl.InitContainers {
		if img, init, ok := podSpecImage(spec, want.Name); !ok || !init || img != want.Image {
			return false
		}
	}
	return true
}

func podReady(p Pod) bool { return findCondition(p.Status.Conditions, "Ready").Status == "True" }

// podProblems names what is wrong with each container of pods, init containers first, Pods by name.
func podProblems(pods []Pod) []PodProblem {
	var out []PodProblem
	slices.SortFunc(pods, func(a, b Pod) int { return cmp.Compare(a.Metadata.Name, b.Metadata.Name) })
	for _, p := range pods {
		for _, list := range []struct {
			statuses []ContainerStatus
			init     bool
		}{{p.Status.InitContainerStatuses, true}, {p.Status.ContainerStatuses, false}} {
			for _, cs := range list.statuses {
				if prob, ok := containerProblem(cs, list.init); ok {
					prob.Pod = p.Metadata.Name
					out = append(out, prob)
				}
			}
		}
	}
	return out
}

// containerProblem reads one container status the way kubectl describe does.
func containerProblem(cs ContainerStatus, init bool) (PodProblem, bool) {
	p := PodProblem{Container: cs.Name, Init: init, Image: cs.Image, RestartCount: cs.RestartCount}
	if t := cs.LastState.Terminated; t != nil {
		p.LastTermination = fmt.Sprintf("%s, exit code %d", cmp.Or(t.Reason, "Terminated"), t.ExitCode)
	}
	switch {
	case cs.State.Waiting != nil && slices.Contains(fatalWaiting, cs.State.Waiting.Reason):
		p.Reason, p.Message, p.Fatal = cs.State.Waiting.Reason, cs.State.Waiting.Message, true
		if t := cs.LastState.Terminated; t != nil && t.Reason == "OOMKilled" {
			p.Reason, p.Message = "OOMKilled", cs.State.Waiting.Reason
		}
	case cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled":
		p.Reason, p.Message, p.Fatal = "OOMKilled", cs.State.Terminated.Message, true
		p.LastTermination = fmt.Sprintf("OOMKilled, exit code %d", cs.State.Terminated.ExitCode)
	case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
		p.Reason, p.Message, p.Fatal = cmp.Or(cs.State.Terminated.Reason, "Error"), cs.State.Terminated.Message, true
		p.LastTermination = fmt.Sprintf("%s, exit code %d", p.Reason, cs.State.Terminated.ExitCode)
	case cs.State.Running != nil && !cs.Ready && !init:
		p.Reason = "NotReady"
		if cs.RestartCount > 0 && cs.LastState.Terminated != nil && cs.LastState.Terminated.Reason == "OOMKilled" {
			p.Reason, p.Fatal = "OOMKilled", true
		}
	default:
		return PodProblem{}, false
	}
	return p, true
}

// listPods lists the Pods of namespace that match selector.
func (c *Client) listPods(ctx context.Context, namespace string, selector map[string]string) ([]Pod, error) {
	var pods []Pod
	err := listSelected(ctx, c, "pods", namespace, url.Values{"labelSelector": {selectorString(selector)}}, func(p *Pod) error {
		pods = append(pods, *p)
		return nil
	})
	return pods, err
}

// selectorString is a label selector in its query form, keys sorted: "app=web,tier=api".
func selectorString(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// podEvents reads the Events about the first maxEventPods Pods of problems and returns the last maxEvents of
// them, oldest first.
func (c *Client) podEvents(ctx context.Context, namespace string, problems []PodProblem) ([]PodEvent, error) {
	var pods []string
	for _, p := range problems {
		if !slices.Contains(pods, p.Pod) && len(pods) < maxEventPods {
			pods = append(pods, p.Pod)
		}
	}
	var out []PodEvent
	for _, pod := range pods {
		q := url.Values{"fieldSelector": {"involvedObject.kind=Pod,involvedObject.name=" + pod}}
		err := listSelected(ctx, c, "events", namespace, q, func(e *Event) error {
			out = append(out, PodEvent{Pod: pod, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count,
				Time: cmp.Or(e.LastTimestamp, e.EventTime, e.FirstTimestamp, e.Metadata.CreationTimestamp)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read events of pod %s/%s: %w", namespace, pod, err)
		}
	}
	slices.SortStableFunc(out, func(a, b PodEvent) int { return cmp.Compare(a.Time, b.Time) })
	if len(out) > maxEvents {
		out = out[len(out)-maxEvents:]
	}
	return out, nil
}
