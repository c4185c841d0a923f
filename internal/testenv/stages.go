package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ImageFault is how kwok's simulated kubelets run the containers of one image. Every
// image runs (ImageRuns) until SetImageFaults marks it otherwise. The fault follows the
// image, not the workload: mark the reference a rollout patches in (e.g.
// "…/mlops/retail-api@sha256:…") and every Pod that runs it, of any workload, fails so.
type ImageFault string

// The faults. Their values are the reasons kubectl shows.
const (
	// ImageRuns: the container starts and is ready (the default of every image).
	ImageRuns ImageFault = ""
	// ImageCrashLoop: the container exits 1 ("Error") at start. With restartPolicy
	// Always or OnFailure it waits in CrashLoopBackOff with lastState.terminated and a
	// restartCount that rises (one more after 1 s, 2 s, … then every 5 s); with Never the
	// container stays terminated and the Pod fails.
	ImageCrashLoop ImageFault = "CrashLoopBackOff"
	// ImageOOMKilled: like ImageCrashLoop, but killed with exit code 137, reason
	// "OOMKilled".
	ImageOOMKilled ImageFault = "OOMKilled"
	// ImagePullError: the image cannot be pulled: the container waits with reason
	// ErrImagePull, and one second later ImagePullBackOff (where it stays). The Pod
	// stays Pending.
	ImagePullError ImageFault = "ImagePullBackOff"
	// ImageConfigError: the container cannot be created (a missing Secret): it waits
	// with reason CreateContainerConfigError. The Pod stays Pending.
	ImageConfigError ImageFault = "CreateContainerConfigError"
	// ImageNeverReady: the container runs but its readiness probe never passes.
	ImageNeverReady ImageFault = "NeverReady"
)

// faultOrder is the precedence of faults when one Pod has containers with different
// faults (it decides the Pod's Events): what kubelet would report first.
var faultOrder = []ImageFault{ImagePullError, ImageConfigError, ImageOOMKilled, ImageCrashLoop, ImageNeverReady}

// ImageMark is what SetImages records about one image reference.
type ImageMark struct {
	// Fault is how containers of the image run; ImageRuns clears a mark.
	Fault ImageFault
	// Digest ("sha256:…") is reported in containerStatuses[].imageID for a reference by
	// tag, as the registry would resolve it. A reference by digest reports its own
	// digest; an unmarked tag reports a made-up digest (sha256 of the reference).
	Digest string
}

// SetImageFaults marks image references ("repo:tag", "repo@sha256:…") or bare digests
// ("sha256:…", matching any reference with that digest) with a fault; ImageRuns clears a
// mark. It returns once kwok plays the new marks (a probe Pod in KwokNamespace shows
// it): a Pod that starts afterwards runs by them, and a Pod of an image whose mark this
// call changes may start by the old or the new mark while the call runs. Pods of other
// images are not disturbed. Marks are shared by every test of the control plane, so
// use images of your own test. Faults apply to a Pod's containers, not its init
// containers.
func (k *Kube) SetImageFaults(ctx context.Context, faults map[string]ImageFault) error {
	marks := make(map[string]ImageMark, len(faults))
	for ref, f := range faults {
		marks[ref] = ImageMark{Fault: f}
	}
	return k.SetImages(ctx, marks)
}

// SetImages is SetImageFaults with digests: it replaces the marks of the given
// references (a zero ImageMark removes one).
func (k *Kube) SetImages(ctx context.Context, marks map[string]ImageMark) error {
	if k.sim == nil {
		return errNoControllers
	}
	s := k.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	for ref, m := range marks {
		if ref == "" {
			return fmt.Errorf("set image faults: empty image reference")
		}
		if m.Fault != ImageRuns && !slices.Contains(faultOrder, m.Fault) {
			return fmt.Errorf("set image faults: %s: unknown fault %q", ref, m.Fault)
		}
		if m.Digest != "" && !strings.HasPrefix(m.Digest, "sha256:") {
			return fmt.Errorf("set image faults: %s: digest %q is not sha256:…", ref, m.Digest)
		}
		if strings.HasPrefix(ref, probePrefix) {
			return fmt.Errorf("set image faults: %s: the simulation's own probe image", ref)
		}
	}
	next := maps.Clone(s.marks)
	for ref, m := range marks {
		if m == (ImageMark{}) {
			delete(next, ref)
		} else {
			next[ref] = m
		}
	}
	s.probeSeq++
	probe := fmt.Sprintf("%s%d", probePrefix, s.probeSeq)
	if err := k.applyStages(ctx, s.marks, next, probe); err != nil {
		return err
	}
	if err := k.probeStages(ctx, probe); err != nil {
		return err
	}
	s.marks = next
	return nil
}

// probePrefix starts the image of probe Pods; only the probe Stage plays them.
const probePrefix = "ecrwarden.invalid/kwok-stage-probe:"

// probeStages starts a Pod of the probe image, which only the probe Stage (applied last)
// matches, and waits until kwok plays it: proof that kwok's Stage informer has every
// update sent before. A probe that kwok saw before that Stage matches nothing and is
// never played, so it is replaced by a new one after a second.
func (k *Kube) probeStages(ctx context.Context, image string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	base := "/api/v1/namespaces/" + KwokNamespace + "/pods"
	for attempt := 0; ; attempt++ {
		name := fmt.Sprintf("stage-probe-%d-%d", k.sim.probeSeq, attempt)
		body, _ := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"nodeName":                      k.Nodes[0],
				"terminationGracePeriodSeconds": 0,
				"containers":                    []map[string]any{{"name": "probe", "image": image}},
			},
		})
		if _, err := k.admin(ctx, http.MethodPost, base, "application/json", body, http.StatusCreated); err != nil {
			return fmt.Errorf("probe kwok stages: %w", err)
		}
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, time.Second)
		err := waitFor(attemptCtx, k.sim.kwok, func() bool {
			code, b, err := k.Request(attemptCtx, k.Admin, http.MethodGet, base+"/"+name, "", nil)
			var p struct {
				Status struct {
					ContainerStatuses []json.RawMessage `json:"containerStatuses"`
				} `json:"status"`
			}
			return err == nil && code == http.StatusOK && json.Unmarshal(b, &p) == nil && len(p.Status.ContainerStatuses) > 0
		})
		cancelAttempt()
		k.Request(context.WithoutCancel(ctx), k.Admin, http.MethodDelete, base+"/"+name+"?gracePeriodSeconds=0", "", nil)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("probe kwok stages: %w", err)
		}
	}
}

// stagesPath is the collection of kwok's Stage resources.
const stagesPath = "/apis/kwok.x-k8s.io/v1alpha1/stages"

// applyStages moves our Stages from the marks old to next, so that while kwok sees the
// updates one by one every Pod still matches a start Stage: first the running start
// Stage excludes only images whose fault stays the same, then the fault Stages take
// their new images, then the running Stage excludes every faulty image, and last the
// probe Stage matches probe (probeStages relies on that order).
func (k *Kube) applyStages(ctx context.Context, old, next map[string]ImageMark, probe string) error {
	var stable []string
	for ref, m := range next {
		if o, ok := old[ref]; ok && o.Fault == m.Fault && m.Fault != ImageRuns {
			stable = append(stable, ref)
		}
	}
	st := newStageSet(next, k.sim.opts)
	list := append(slices.Clone(st.fixed), st.runs(stable))
	list = append(list, st.faults...)
	list = append(list, st.runs(st.faulty), st.probe(probe))
	for _, obj := range list {
		name := obj["metadata"].(map[string]any)["name"].(string)
		if err := k.apply(ctx, stagesPath+"/"+name, obj); err != nil {
			return fmt.Errorf("apply kwok stage %s: %w", name, err)
		}
	}
	return nil
}

// stage is one kwok.x-k8s.io/v1alpha1 Stage as JSON.
type stage = map[string]any

// noImage stands in for an empty list of images: kwok's In and NotIn need one value.
const noImage = "ecrwarden.invalid/no-image"

// imageKeys is a jq expression yielding each container's image reference and, for a
// reference by digest, the bare digest: what a mark can name.
const imageKeys = `.spec.containers[].image | (., (split("@") | .[1]))`

// stageSet is our kwok Stages for one set of marks, written for this package from
// kwok's Stage API (not copied from its examples): nodes become Ready; a scheduled Pod
// starts by the marks of its containers' images (a start Stage per fault, for its
// Events, and the running one for unmarked images); crash loops and image pull
// back-offs progress; a Job's Pods complete; deleted Pods go.
type stageSet struct {
	fixed  []stage // node, crash loop, pull back-off, Job completion, deletion
	faults []stage // the start Stages of the faults
	faulty []string
	runs   func(excluded []string) stage
	probe  func(image string) stage
}

func newStageSet(marks map[string]ImageMark, opts ControllerOptions) stageSet {
	byFault := map[ImageFault][]string{}
	for ref, m := range marks {
		if m.Fault != ImageRuns {
			byFault[m.Fault] = append(byFault[m.Fault], ref)
		}
	}
	for _, refs := range byFault {
		slices.Sort(refs)
	}
	tpl := startTemplate(marks)
	notStarted := []map[string]any{
		jq(".metadata.deletionTimestamp", "DoesNotExist"),
		jq(".status.phase", "In", "Pending"),
		jq(".status.containerStatuses", "DoesNotExist"),
	}
	notProbe := jq(`.spec.containers[].image | startswith("`+probePrefix+`")`, "NotIn", "true")
	start := func(name string, match []map[string]any, events ...map[string]any) stage {
		steps := []map[string]any{{"patch": map[string]any{"subresource": "status", "root": "status", "template": tpl}}}
		for _, e := range events {
			steps = append(steps, map[string]any{"event": e})
		}
		return stageObject("pod-start-"+name, "Pod", append(slices.Clone(notStarted), match...), delay(opts.PodStartDelay), steps)
	}
	st := stageSet{fixed: []stage{
		nodeInitializeStage(),
		crashLoopStage(),
		pullBackOffStage(),
		jobCompleteStage(opts.JobRunTime),
		podDeleteStage(),
	}}
	for _, f := range faultOrder {
		images := byFault[f]
		if len(images) == 0 {
			images = []string{noImage}
		}
		match := []map[string]any{notProbe, jq(imageKeys, "In", images...)}
		if len(st.faulty) > 0 { // precedence: not an image of an earlier fault
			match = append(match, jq(imageKeys, "NotIn", st.faulty...))
		}
		st.faults = append(st.faults, start(strings.ToLower(string(f)), match, faultEvents[f]...))
		st.faulty = append(st.faulty, byFault[f]...)
	}
	st.runs = func(excluded []string) stage {
		match := []map[string]any{notProbe}
		if len(excluded) > 0 {
			match = append(match, jq(imageKeys, "NotIn", excluded...))
		}
		return start("runs", match, event("Normal", "Started", "Started container"))
	}
	st.probe = func(image string) stage {
		if image == "" {
			image = noImage
		}
		return start("probe", []map[string]any{jq(".spec.containers[].image", "In", image)})
	}
	return st
}

// faultEvents are the Events kubelet would record when a container fails so (their
// messages are fixed: a Stage's Event cannot name the container).
var faultEvents = map[ImageFault][]map[string]any{
	ImagePullError: {
		event("Warning", "Failed", "Failed to pull image: rpc error: code = NotFound desc = failed to pull and unpack image: not found"),
		event("Warning", "Failed", "Error: ErrImagePull"),
	},
	ImageConfigError: {event("Warning", "Failed", `Error: secret "app-config" not found`)},
	ImageOOMKilled:   {event("Warning", "BackOff", "Back-off restarting failed container")},
	ImageCrashLoop:   {event("Warning", "BackOff", "Back-off restarting failed container")},
	ImageNeverReady:  {event("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")},
}

func stageObject(name, kind string, match []map[string]any, delay map[string]any, steps []map[string]any) stage {
	spec := map[string]any{
		"resourceRef": map[string]any{"apiGroup": "v1", "kind": kind},
		"selector":    map[string]any{"matchExpressions": match},
		"steps":       steps,
	}
	if delay != nil {
		spec["delay"] = delay
	}
	return stage{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage",
		"metadata": map[string]any{"name": "ecrwarden-" + name},
		"spec":     spec,
	}
}

func jq(key, op string, values ...string) map[string]any {
	e := map[string]any{"key": key, "operator": op}
	if len(values) > 0 {
		e["values"] = values
	}
	return map[string]any{"jq": e}
}

func event(typ, reason, message string) map[string]any {
	return map[string]any{"type": typ, "reason": reason, "message": message}
}

func delay(d time.Duration) map[string]any {
	if d <= 0 {
		return nil
	}
	return map[string]any{"durationMilliseconds": d.Milliseconds()}
}

// tplString quotes s for a Go template (the same syntax as a Go string literal).
func tplString(s string) string { return strconv.Quote(s) }

// startTemplate renders a Pod's first status: each container by the mark of its image,
// and the phase and conditions kubelet derives from them (kubelet's getPhase: a
// container waiting for the first time keeps the Pod Pending; else a running one makes
// it Running; else all exited: Running again under restartPolicy Always, Failed
// otherwise).
func startTemplate(marks map[string]ImageMark) string {
	var faults, digests strings.Builder
	refs := slices.Sorted(maps.Keys(marks))
	for _, ref := range refs {
		if f := marks[ref].Fault; f != ImageRuns {
			fmt.Fprintf(&faults, " %s %s", tplString(ref), tplString(string(f)))
		}
		if d := marks[ref].Digest; d != "" {
			fmt.Fprintf(&digests, " %s %s", tplString(ref), tplString(d))
		}
	}
	return `{{ $faults := dict` + faults.String() + ` }}
{{ $digests := dict` + digests.String() + ` }}
` + startTemplateBody
}

const startTemplateBody = `{{ $now := Now }}
{{ $pod := . }}
{{ $policy := or .spec.restartPolicy "Always" }}
{{ $running := 0 }}{{ $waiting := 0 }}{{ $unready := list }}
containerStatuses:
{{ range .spec.containers }}
{{ $parts := splitList "@" .image }}
{{ $fault := "" }}
{{ if hasKey $faults .image }}{{ $fault = get $faults .image }}{{ else if and (eq (len $parts) 2) (hasKey $faults (last $parts)) }}{{ $fault = get $faults (last $parts) }}{{ end }}
{{ $repo := regexReplaceAll ":[^:/]+$" (first $parts) "" }}
{{ $imageID := printf "%s@sha256:%s" $repo (sha256sum .image) }}
{{ if eq (len $parts) 2 }}{{ $imageID = printf "%s@%s" $repo (last $parts) }}{{ else if hasKey $digests .image }}{{ $imageID = printf "%s@%s" $repo (get $digests .image) }}{{ end }}
{{ $containerID := printf "containerd://%s" (sha256sum (printf "%s/%s/0" $pod.metadata.uid .name)) }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
{{ if eq $fault "ImagePullBackOff" }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: ErrImagePull
      message: {{ printf "failed to pull and unpack image %q: failed to resolve reference %q: %s: not found" .image .image .image | Quote }}
{{ $waiting = add1 $waiting }}{{ $unready = append $unready .name }}
{{ else if eq $fault "CreateContainerConfigError" }}
  imageID: {{ $imageID | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: CreateContainerConfigError
      message: 'secret "app-config" not found'
{{ $waiting = add1 $waiting }}{{ $unready = append $unready .name }}
{{ else if or (eq $fault "CrashLoopBackOff") (eq $fault "OOMKilled") }}
{{ $code := 1 }}{{ $reason := "Error" }}
{{ if eq $fault "OOMKilled" }}{{ $code = 137 }}{{ $reason = "OOMKilled" }}{{ end }}
  imageID: {{ $imageID | Quote }}
  containerID: {{ $containerID | Quote }}
  ready: false
  started: false
{{ if eq $policy "Never" }}
  restartCount: 0
  state:
    terminated:
      exitCode: {{ $code }}
      reason: {{ $reason }}
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
      containerID: {{ $containerID | Quote }}
{{ else }}
  restartCount: 1
  lastState:
    terminated:
      exitCode: {{ $code }}
      reason: {{ $reason }}
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
      containerID: {{ $containerID | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off 10s restarting failed container=%s pod=%s_%s(%s)" .name $pod.metadata.name $pod.metadata.namespace $pod.metadata.uid | Quote }}
{{ end }}
{{ $unready = append $unready .name }}
{{ else }}
  imageID: {{ $imageID | Quote }}
  containerID: {{ $containerID | Quote }}
  ready: {{ ne $fault "NeverReady" }}
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ $running = add1 $running }}{{ if eq $fault "NeverReady" }}{{ $unready = append $unready .name }}{{ end }}
{{ end }}
{{ end }}
{{ with .spec.initContainers }}
initContainerStatuses:
{{ range . }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ printf "%s@sha256:%s" (regexReplaceAll ":[^:/]+$" (first (splitList "@" .image)) "") (sha256sum .image) | Quote }}
  restartCount: 0
{{ if eq (or .restartPolicy "") "Always" }}
  ready: true
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ else }}
  ready: true
  started: false
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
{{ end }}
{{ $phase := "Failed" }}
{{ if gt $waiting 0 }}{{ $phase = "Pending" }}{{ else if gt $running 0 }}{{ $phase = "Running" }}{{ else if eq $policy "Always" }}{{ $phase = "Running" }}{{ end }}
phase: {{ $phase }}
startTime: {{ $now | Quote }}
{{ with NodeIPWith .spec.nodeName }}
hostIP: {{ . | Quote }}
hostIPs:
- ip: {{ . | Quote }}
{{ end }}
{{ with PodIPWith .spec.nodeName (or .spec.hostNetwork false) (or .metadata.uid "") (or .metadata.name "") (or .metadata.namespace "") }}
podIP: {{ . | Quote }}
podIPs:
- ip: {{ . | Quote }}
{{ end }}
conditions:
- type: PodReadyToStartContainers
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ range list "ContainersReady" "Ready" }}
- type: {{ . }}
  lastTransitionTime: {{ $now | Quote }}
{{ if $unready }}
  status: "False"
  reason: {{ if eq $phase "Failed" }}PodFailed{{ else }}ContainersNotReady{{ end }}
  message: {{ printf "containers with unready status: [%s]" (join " " $unready) | Quote }}
{{ else }}
  status: "True"
{{ end }}
{{ end }}
`

// reemit writes a container status unchanged (the status patch replaces the list).
const reemit = `- {{ YAML . 1 }}`

// crashLoopStage restarts crash-looping containers: one more restart after as many
// seconds as they restarted (1 s, 2 s, …, then every 5 s; kubelet's back-off starts at
// 10 s and doubles to 5 min, too slow for tests).
func crashLoopStage() stage {
	const tpl = `{{ $now := Now }}
{{ $pod := . }}
containerStatuses:
{{ range .status.containerStatuses }}
{{ if and .state.waiting (eq .state.waiting.reason "CrashLoopBackOff") }}
{{ $restarts := add1 .restartCount }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ .imageID | Quote }}
  containerID: {{ .containerID | Quote }}
  ready: false
  started: false
  restartCount: {{ $restarts }}
  lastState:
    terminated:
      exitCode: {{ .lastState.terminated.exitCode }}
      reason: {{ .lastState.terminated.reason | Quote }}
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
      containerID: {{ .containerID | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off %ds restarting failed container=%s pod=%s_%s(%s)" (min 300 (mul 10 $restarts)) .name $pod.metadata.name $pod.metadata.namespace $pod.metadata.uid | Quote }}
{{ else }}
` + reemit + `
{{ end }}
{{ end }}
`
	return stageObject("pod-crashloop", "Pod",
		[]map[string]any{
			jq(".metadata.deletionTimestamp", "DoesNotExist"),
			jq(".status.phase", "In", "Running"),
			jq(`.status.containerStatuses[]?.state.waiting.reason`, "In", "CrashLoopBackOff"),
		},
		map[string]any{
			"durationMilliseconds": 1000,
			"durationFrom": map[string]any{"jq": map[string]any{
				"expression": `"\([.status.containerStatuses[]?.restartCount] | max | if . > 5 then 5 else . end)s"`,
			}},
		},
		[]map[string]any{
			{"patch": map[string]any{"subresource": "status", "root": "status", "template": tpl}},
			{"event": event("Warning", "BackOff", "Back-off restarting failed container")},
		})
}

// pullBackOffStage turns ErrImagePull into ImagePullBackOff after a second. It stays
// there (kubelet would retry the pull, showing ErrImagePull again, every 10 s to 5 min).
func pullBackOffStage() stage {
	const tpl = `containerStatuses:
{{ range .status.containerStatuses }}
{{ if and .state.waiting (eq .state.waiting.reason "ErrImagePull") }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: {{ .restartCount }}
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q" .image | Quote }}
{{ else }}
` + reemit + `
{{ end }}
{{ end }}
`
	return stageObject("pod-pull-backoff", "Pod",
		[]map[string]any{
			jq(".metadata.deletionTimestamp", "DoesNotExist"),
			jq(`.status.containerStatuses[]?.state.waiting.reason`, "In", "ErrImagePull"),
		},
		map[string]any{"durationMilliseconds": 1000},
		[]map[string]any{
			{"patch": map[string]any{"subresource": "status", "root": "status", "template": tpl}},
			{"event": event("Normal", "BackOff", "Back-off pulling image")},
			{"event": event("Warning", "Failed", "Error: ImagePullBackOff")},
		})
}

// jobCompleteStage lets the containers of a Job's running Pod exit 0 after runTime.
func jobCompleteStage(runTime time.Duration) stage {
	const tpl = `{{ $now := Now }}
containerStatuses:
{{ range .status.containerStatuses }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ .imageID | Quote }}
  containerID: {{ .containerID | Quote }}
  ready: false
  started: false
  restartCount: {{ .restartCount }}
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ .state.running.startedAt | Quote }}
      finishedAt: {{ $now | Quote }}
      containerID: {{ .containerID | Quote }}
{{ end }}
phase: Succeeded
conditions:
{{ range list "ContainersReady" "Ready" }}
- type: {{ . }}
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
`
	return stageObject("pod-job-complete", "Pod",
		[]map[string]any{
			jq(".metadata.deletionTimestamp", "DoesNotExist"),
			jq(".status.phase", "In", "Running"),
			jq(".metadata.ownerReferences[]?.kind", "In", "Job"),
			jq(`[.status.containerStatuses[]?.state | has("running")] | all`, "In", "true"),
		},
		delay(runTime),
		[]map[string]any{{"patch": map[string]any{"subresource": "status", "root": "status", "template": tpl}}})
}

// podDeleteStage removes a Pod being deleted at once (kubelet would stop its containers
// within the grace period first).
func podDeleteStage() stage {
	return stageObject("pod-delete", "Pod",
		[]map[string]any{jq(".metadata.deletionTimestamp", "Exists")},
		nil,
		[]map[string]any{
			{"event": event("Normal", "Killing", "Stopping container")},
			{"delete": true},
		})
}

// nodeInitializeStage makes a simulated node Ready, with an address, capacity and the
// node info of a kubelet of KubeVersion.
func nodeInitializeStage() stage {
	tpl := `{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
addresses:
{{ with NodeIP }}
- type: InternalIP
  address: {{ . | Quote }}
{{ end }}
- type: Hostname
  address: {{ .metadata.name | Quote }}
allocatable: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}
capacity: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  osImage: kwok
  kernelVersion: kwok
  containerRuntimeVersion: ` + tplString("kwok://"+KwokVersion) + `
  kubeletVersion: ` + tplString(KubeVersion) + `
  machineID: ""
  systemUUID: ""
  bootID: ""
phase: Running
`
	return stageObject("node-initialize", "Node",
		[]map[string]any{
			jq(".metadata.deletionTimestamp", "DoesNotExist"),
			jq(`.status.conditions[]? | select(.type == "Ready") | .status`, "NotIn", "True"),
		},
		nil,
		[]map[string]any{{"patch": map[string]any{"subresource": "status", "root": "status", "template": tpl}}})
}
