package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The tests below run on the package's control plane with controllers and kwok nodes
// (TestMain): workloads really roll, through kube-controller-manager, kube-scheduler and
// our kwok Stages. Each test works in its own namespace.

const registry = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/"

// digestOf makes a digest for a test image name.
func digestOf(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(s))) }

// imageAt is a reference by digest, as ecrwarden rolls them out.
func imageAt(repo, version string) string {
	return registry + repo + "@" + digestOf(repo+":"+version)
}

// testNamespace creates a namespace for one test and deletes it afterwards.
func testNamespace(t testing.TB, k *Kube, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}})
	mustRequest(t, k, k.Admin, http.MethodPost, "/api/v1/namespaces", "application/json", body, http.StatusCreated)
	t.Cleanup(func() {
		k.Request(context.Background(), k.Admin, http.MethodDelete, "/api/v1/namespaces/"+name, "", nil)
	})
	return name
}

// createObject creates obj at the collection path as the admin user.
func createObject(t testing.TB, k *Kube, path string, obj any) {
	t.Helper()
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	mustRequest(t, k, k.Admin, http.MethodPost, path, "application/json", body, http.StatusCreated)
}

// patchObject sends a strategic merge patch as the admin user.
func patchObject(t testing.TB, k *Kube, path string, patch any) {
	t.Helper()
	body, err := json.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	mustRequest(t, k, k.Admin, http.MethodPatch, path, "application/strategic-merge-patch+json", body, http.StatusOK)
}

// getObject reads path into v as the admin user. It zeroes v first: the API omits
// zero counts (updatedReplicas: 0), which must not keep a value of an earlier read.
func getObject(t testing.TB, k *Kube, path string, v any) {
	t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(mustRequest(t, k, k.Admin, http.MethodGet, path, "", nil, http.StatusOK), v); err != nil {
		t.Fatal(err)
	}
}

// eventually polls check every 50 ms until it reports done, failing the test with the
// last state it described after timeout. Timeouts are generous bounds for a loaded
// machine; the tests pass in seconds.
func eventually(t testing.TB, timeout time.Duration, what string, check func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func findCondition(conds []condition, typ string) condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return condition{}
}

type objectMeta struct {
	Name            string `json:"name"`
	Generation      int64  `json:"generation"`
	OwnerReferences []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"ownerReferences"`
	Labels map[string]string `json:"labels"`
}

type podSpec struct {
	NodeName   string `json:"nodeName"`
	Containers []struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	} `json:"containers"`
}

type containerState struct {
	Running *struct {
		StartedAt string `json:"startedAt"`
	} `json:"running"`
	Waiting *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"waiting"`
	Terminated *struct {
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
	} `json:"terminated"`
}

type pod struct {
	Metadata objectMeta `json:"metadata"`
	Spec     podSpec    `json:"spec"`
	Status   struct {
		Phase             string      `json:"phase"`
		PodIP             string      `json:"podIP"`
		Conditions        []condition `json:"conditions"`
		ContainerStatuses []struct {
			Name         string         `json:"name"`
			Image        string         `json:"image"`
			ImageID      string         `json:"imageID"`
			Ready        bool           `json:"ready"`
			RestartCount int            `json:"restartCount"`
			State        containerState `json:"state"`
			LastState    containerState `json:"lastState"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (p pod) ready() bool { return findCondition(p.Status.Conditions, "Ready").Status == "True" }

// describe is a one-line summary of a Pod's status for failure messages.
func (p pod) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s on %q:", p.Metadata.Name, p.Status.Phase, p.Spec.NodeName)
	for _, c := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, " %s(ready=%v restarts=%d", c.Name, c.Ready, c.RestartCount)
		switch {
		case c.State.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s", c.State.Waiting.Reason)
		case c.State.Terminated != nil:
			fmt.Fprintf(&b, " terminated %s %d", c.State.Terminated.Reason, c.State.Terminated.ExitCode)
		case c.State.Running != nil:
			b.WriteString(" running")
		}
		b.WriteString(")")
	}
	return b.String()
}

func listPods(t testing.TB, k *Kube, ns, selector string) []pod {
	t.Helper()
	var list struct{ Items []pod }
	getObject(t, k, "/api/v1/namespaces/"+ns+"/pods?labelSelector="+selector, &list)
	return list.Items
}

func describePods(pods []pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, p.describe())
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// podEvents are the reasons of the Events about one Pod.
func podEvents(t testing.TB, k *Kube, ns, name string) []string {
	t.Helper()
	var list struct {
		Items []struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		}
	}
	getObject(t, k, "/api/v1/namespaces/"+ns+"/events?fieldSelector=involvedObject.name%3D"+name, &list)
	var reasons []string
	for _, e := range list.Items {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}

func podTemplate(app, image string) map[string]any {
	return map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": app}},
		"spec": map[string]any{
			"terminationGracePeriodSeconds": 5,
			"containers": []map[string]any{
				{"name": "api", "image": image},
				{"name": "envoy", "image": sidecarImage},
			},
		},
	}
}

type deploymentStatus struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Replicas int `json:"replicas"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration  int64       `json:"observedGeneration"`
		Replicas            int         `json:"replicas"`
		UpdatedReplicas     int         `json:"updatedReplicas"`
		ReadyReplicas       int         `json:"readyReplicas"`
		AvailableReplicas   int         `json:"availableReplicas"`
		UnavailableReplicas int         `json:"unavailableReplicas"`
		Conditions          []condition `json:"conditions"`
	} `json:"status"`
}

// rolledOut is kubectl rollout status' verdict on a Deployment (DeploymentStatusViewer).
func (d deploymentStatus) rolledOut() (bool, string) {
	s := d.Status
	state := fmt.Sprintf("generation %d observed %d, replicas %d updated %d ready %d available %d, progressing %+v",
		d.Metadata.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas,
		findCondition(s.Conditions, "Progressing"))
	if s.ObservedGeneration < d.Metadata.Generation {
		return false, state
	}
	if c := findCondition(s.Conditions, "Progressing"); c.Reason == "ProgressDeadlineExceeded" {
		return false, state
	}
	return s.UpdatedReplicas == d.Spec.Replicas && s.Replicas == s.UpdatedReplicas && s.AvailableReplicas == s.UpdatedReplicas, state
}

func createDeploymentOf(t testing.TB, k *Kube, ns, name, image string, replicas, progressDeadline int) string {
	t.Helper()
	createObject(t, k, "/apis/apps/v1/namespaces/"+ns+"/deployments", map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas":                replicas,
			"progressDeadlineSeconds": progressDeadline,
			"selector":                map[string]any{"matchLabels": map[string]any{"app": name}},
			"template":                podTemplate(name, image),
		},
	})
	return "/apis/apps/v1/namespaces/" + ns + "/deployments/" + name
}

func waitRolledOut(t testing.TB, k *Kube, path string) deploymentStatus {
	t.Helper()
	var d deploymentStatus
	eventually(t, time.Minute, "rollout of "+path, func() (bool, string) {
		getObject(t, k, path, &d)
		return d.rolledOut()
	})
	return d
}

func setImage(t testing.TB, k *Kube, path, image string) {
	t.Helper()
	patchObject(t, k, path, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "api", "image": image}},
	}}}})
}

func TestDeploymentRolloutCompletes(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ns := testNamespace(t, k, "rollout-ok")
	v1, v2 := imageAt("mlops/retail-api", "v1.1.1"), imageAt("mlops/retail-api", "v1.2.0")
	path := createDeploymentOf(t, k, ns, "retail-api", v1, 3, 600)
	waitRolledOut(t, k, path)

	setImage(t, k, path, v2)
	d := waitRolledOut(t, k, path)
	if diff := cmp.Diff(condition{Type: "Progressing", Status: "True", Reason: "NewReplicaSetAvailable"},
		findCondition(d.Status.Conditions, "Progressing"), cmpIgnoreMessage); diff != "" {
		t.Errorf("Progressing condition (-want +got):\n%s", diff)
	}
	if d.Status.ObservedGeneration != 2 {
		t.Errorf("observedGeneration %d, want 2", d.Status.ObservedGeneration)
	}

	var rsList struct {
		Items []struct {
			Metadata objectMeta `json:"metadata"`
			Spec     struct {
				Replicas int `json:"replicas"`
				Template struct {
					Spec podSpec `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		}
	}
	getObject(t, k, "/apis/apps/v1/namespaces/"+ns+"/replicasets?labelSelector=app%3Dretail-api", &rsList)
	gotRS := map[string][2]int{} // image -> replicas, ready
	for _, rs := range rsList.Items {
		gotRS[rs.Spec.Template.Spec.Containers[0].Image] = [2]int{rs.Spec.Replicas, rs.Status.ReadyReplicas}
	}
	if diff := cmp.Diff(map[string][2]int{v1: {0, 0}, v2: {3, 3}}, gotRS); diff != "" {
		t.Errorf("replica sets by image, [replicas ready] (-want +got):\n%s", diff)
	}

	var pods []pod
	eventually(t, 30*time.Second, "old pods gone", func() (bool, string) {
		pods = listPods(t, k, ns, "app%3Dretail-api")
		return len(pods) == 3, describePods(pods)
	})
	for _, p := range pods {
		if !p.ready() || p.Status.Phase != "Running" || !slices.Contains(k.Nodes, p.Spec.NodeName) || p.Status.PodIP == "" {
			t.Errorf("pod not running and ready on a kwok node with an IP: %s", p.describe())
		}
		want := map[string]string{"api": v2, "envoy": "public.ecr.aws/envoyproxy/envoy@" + digestOf(sidecarImage)}
		got := map[string]string{}
		for _, c := range p.Status.ContainerStatuses {
			got[c.Name] = c.ImageID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s imageIDs (-want +got):\n%s", p.Metadata.Name, diff)
		}
		if ev := podEvents(t, k, ns, p.Metadata.Name); !slices.Contains(ev, "Scheduled") || !slices.Contains(ev, "Started") {
			t.Errorf("%s events %v, want Scheduled and Started", p.Metadata.Name, ev)
		}
	}
}

var cmpIgnoreMessage = cmp.Transformer("noMessage", func(c condition) condition { c.Message = ""; return c })

// TestDeploymentRolloutFails rolls a Deployment to an image marked bad: the new Pod
// fails the way the mark says, with its Events, the old Pods keep serving, and the
// rollout ends in ProgressDeadlineExceeded as kubectl rollout status reports it.
func TestDeploymentRolloutFails(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ns := testNamespace(t, k, "rollout-bad")
	tests := []struct {
		name     string
		fault    ImageFault
		byDigest bool // mark the bare digest and roll out repo:tag@digest
		events   []string
	}{
		{name: "crashloop", fault: ImageCrashLoop, events: []string{"BackOff"}},
		{name: "oomkilled", fault: ImageOOMKilled, events: []string{"BackOff"}},
		{name: "pull", fault: ImagePullError, events: []string{"Failed", "BackOff"}},
		{name: "config", fault: ImageConfigError, events: []string{"Failed"}},
		{name: "neverready", fault: ImageNeverReady, events: []string{"Unhealthy"}},
		{name: "crash-by-digest", fault: ImageCrashLoop, byDigest: true, events: []string{"BackOff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			repo := "mlops/" + tt.name
			good, bad := imageAt(repo, "v1.1.1"), imageAt(repo, "v1.2.0")
			mark := bad
			if tt.byDigest {
				mark = digestOf(repo + ":v1.2.0")
				bad = registry + repo + ":v1.2.0@" + mark
			}
			if err := k.SetImageFaults(ctx, map[string]ImageFault{mark: tt.fault}); err != nil {
				t.Fatal(err)
			}
			path := createDeploymentOf(t, k, ns, tt.name, good, 2, 600)
			waitRolledOut(t, k, path)
			// A short progress deadline only for the rollout that fails: the first one
			// must not exceed it on a loaded machine.
			patchObject(t, k, path, map[string]any{"spec": map[string]any{"progressDeadlineSeconds": 3}})
			setImage(t, k, path, bad)

			var d deploymentStatus
			eventually(t, time.Minute, "ProgressDeadlineExceeded", func() (bool, string) {
				getObject(t, k, path, &d)
				_, state := d.rolledOut()
				return findCondition(d.Status.Conditions, "Progressing").Reason == "ProgressDeadlineExceeded", state
			})
			if d.Status.AvailableReplicas != 2 {
				t.Errorf("available replicas %d during the failed rollout, want the 2 old ones", d.Status.AvailableReplicas)
			}

			var newPod pod
			eventually(t, 30*time.Second, "the new pod's failure", func() (bool, string) {
				pods := listPods(t, k, ns, "app%3D"+tt.name)
				for _, p := range pods {
					if len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == bad && len(p.Status.ContainerStatuses) == 2 {
						newPod = p
					}
				}
				if newPod.Metadata.Name == "" {
					return false, describePods(pods)
				}
				return failedAsMarked(newPod, tt.fault, 3), newPod.describe()
			})
			if newPod.ready() {
				t.Errorf("pod with a bad image is ready: %s", newPod.describe())
			}
			for _, c := range newPod.Status.ContainerStatuses {
				if c.Name == "envoy" && (!c.Ready || c.State.Running == nil) {
					t.Errorf("sidecar with a good image is not running and ready: %s", newPod.describe())
				}
			}
			ev := podEvents(t, k, ns, newPod.Metadata.Name)
			for _, want := range tt.events {
				if !slices.Contains(ev, want) {
					t.Errorf("events %v of %s, want %s among them", ev, newPod.Metadata.Name, want)
				}
			}
		})
	}
}

// failedAsMarked reports whether the api container of p shows fault, crash loops with at
// least minRestarts restarts.
func failedAsMarked(p pod, fault ImageFault, minRestarts int) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name != "api" {
			continue
		}
		switch fault {
		case ImageCrashLoop, ImageOOMKilled:
			code, reason := 1, "Error"
			if fault == ImageOOMKilled {
				code, reason = 137, "OOMKilled"
			}
			return p.Status.Phase == "Running" && c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff" &&
				c.RestartCount >= minRestarts && c.LastState.Terminated != nil &&
				c.LastState.Terminated.ExitCode == code && c.LastState.Terminated.Reason == reason
		case ImagePullError:
			return p.Status.Phase == "Pending" && c.State.Waiting != nil && c.State.Waiting.Reason == "ImagePullBackOff" && c.ImageID == ""
		case ImageConfigError:
			return p.Status.Phase == "Pending" && c.State.Waiting != nil && c.State.Waiting.Reason == "CreateContainerConfigError"
		case ImageNeverReady:
			return p.Status.Phase == "Running" && c.State.Running != nil && !c.Ready
		}
	}
	return false
}

// TestPullErrorShowsErrImagePullFirst: an unpullable image waits in ErrImagePull before
// ImagePullBackOff, as kubelet reports it.
func TestPullErrorShowsErrImagePullFirst(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ns := testNamespace(t, k, "pull-error")
	image := imageAt("mlops/unpullable", "v9")
	if err := k.SetImageFaults(context.Background(), map[string]ImageFault{image: ImagePullError}); err != nil {
		t.Fatal(err)
	}
	createObject(t, k, "/api/v1/namespaces/"+ns+"/pods", map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "labels": map[string]any{"app": "p"}},
		"spec":     podTemplate("p", image)["spec"],
	})
	var seen []string
	eventually(t, 30*time.Second, "ErrImagePull then ImagePullBackOff", func() (bool, string) {
		var p pod
		getObject(t, k, "/api/v1/namespaces/"+ns+"/pods/p", &p)
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "api" && c.State.Waiting != nil && (len(seen) == 0 || seen[len(seen)-1] != c.State.Waiting.Reason) {
				seen = append(seen, c.State.Waiting.Reason)
			}
		}
		return len(seen) > 0 && seen[len(seen)-1] == "ImagePullBackOff", p.describe()
	})
	if diff := cmp.Diff([]string{"ErrImagePull", "ImagePullBackOff"}, seen); diff != "" {
		t.Errorf("waiting reasons in order (-want +got):\n%s", diff)
	}
}

func TestSetImageFaultsClearsAndValidates(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ctx := context.Background()
	if err := k.SetImageFaults(ctx, map[string]ImageFault{"x:1": "Exploding"}); err == nil || !strings.Contains(err.Error(), "unknown fault") {
		t.Errorf("unknown fault: err %v", err)
	}
	if err := k.SetImages(ctx, map[string]ImageMark{"x:1": {Digest: "md5:00"}}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("bad digest: err %v", err)
	}
	ns := testNamespace(t, k, "clear-fault")
	image := imageAt("mlops/flaky", "v1")
	if err := k.SetImageFaults(ctx, map[string]ImageFault{image: ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	if err := k.SetImageFaults(ctx, map[string]ImageFault{image: ImageRuns}); err != nil {
		t.Fatal(err)
	}
	path := createDeploymentOf(t, k, ns, "flaky", image, 1, 600)
	waitRolledOut(t, k, path)

	tagged := registry + "mlops/tagged:v3"
	if err := k.SetImages(ctx, map[string]ImageMark{tagged: {Digest: digestOf("tagged")}}); err != nil {
		t.Fatal(err)
	}
	createObject(t, k, "/api/v1/namespaces/"+ns+"/pods", map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "tagged"},
		"spec":     map[string]any{"containers": []map[string]any{{"name": "api", "image": tagged}}},
	})
	var p pod
	eventually(t, 30*time.Second, "tagged pod running", func() (bool, string) {
		getObject(t, k, "/api/v1/namespaces/"+ns+"/pods/tagged", &p)
		return p.ready(), p.describe()
	})
	if diff := cmp.Diff(registry+"mlops/tagged@"+digestOf("tagged"), p.Status.ContainerStatuses[0].ImageID); diff != "" {
		t.Errorf("imageID of a tag with a known digest (-want +got):\n%s", diff)
	}

	if err := (&Kube{}).SetImageFaults(ctx, map[string]ImageFault{image: ImageCrashLoop}); err != errNoControllers {
		t.Errorf("without controllers: err %v, want %v", err, errNoControllers)
	}
}

type statefulSetStatus struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		ObservedGeneration int64  `json:"observedGeneration"`
		Replicas           int    `json:"replicas"`
		ReadyReplicas      int    `json:"readyReplicas"`
		CurrentReplicas    int    `json:"currentReplicas"`
		UpdatedReplicas    int    `json:"updatedReplicas"`
		AvailableReplicas  int    `json:"availableReplicas"`
		CurrentRevision    string `json:"currentRevision"`
		UpdateRevision     string `json:"updateRevision"`
	} `json:"status"`
}

func (s statefulSetStatus) String() string {
	return fmt.Sprintf("generation %d observed %d replicas %d ready %d current %d updated %d revisions %s→%s",
		s.Metadata.Generation, s.Status.ObservedGeneration, s.Status.Replicas, s.Status.ReadyReplicas,
		s.Status.CurrentReplicas, s.Status.UpdatedReplicas, s.Status.CurrentRevision, s.Status.UpdateRevision)
}

// podImages maps the Pods of app to their api container's image.
func podImages(t *testing.T, k *Kube, ns, app string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range listPods(t, k, ns, "app%3D"+app) {
		if p.Status.Phase == "Running" && p.ready() {
			out[p.Metadata.Name] = p.Spec.Containers[0].Image
		}
	}
	return out
}

func TestStatefulSetRollsByPartitionAndOnDelete(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ns := testNamespace(t, k, "statefulset")
	v1, v2 := imageAt("mlops/feature-store", "v1"), imageAt("mlops/feature-store", "v2")
	create := func(name string, strategy map[string]any) string {
		createObject(t, k, "/apis/apps/v1/namespaces/"+ns+"/statefulsets", map[string]any{
			"apiVersion": "apps/v1", "kind": "StatefulSet",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"replicas":       3,
				"serviceName":    name,
				"selector":       map[string]any{"matchLabels": map[string]any{"app": name}},
				"template":       podTemplate(name, v1),
				"updateStrategy": strategy,
			},
		})
		return "/apis/apps/v1/namespaces/" + ns + "/statefulsets/" + name
	}
	wait := func(path, what string, done func(statefulSetStatus) bool) statefulSetStatus {
		var s statefulSetStatus
		eventually(t, time.Minute, what, func() (bool, string) {
			getObject(t, k, path, &s)
			return s.Status.ObservedGeneration >= s.Metadata.Generation && done(s), s.String()
		})
		return s
	}
	allOf := func(name, image string) map[string]string {
		return map[string]string{name + "-0": image, name + "-1": image, name + "-2": image}
	}

	t.Run("partition", func(t *testing.T) {
		path := create("partitioned", map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"partition": 2}})
		wait(path, "initial rollout", func(s statefulSetStatus) bool {
			return s.Status.ReadyReplicas == 3 && s.Status.CurrentRevision == s.Status.UpdateRevision
		})
		setImage(t, k, path, v2)
		// kubectl rollout status with a partition: done when replicas-partition Pods are updated and ready.
		wait(path, "partitioned rollout", func(s statefulSetStatus) bool {
			return s.Status.UpdatedReplicas == 1 && s.Status.ReadyReplicas == 3 && s.Status.CurrentRevision != s.Status.UpdateRevision
		})
		want := map[string]string{"partitioned-0": v1, "partitioned-1": v1, "partitioned-2": v2}
		eventually(t, 30*time.Second, "ordinal 2 only on v2", func() (bool, string) {
			got := podImages(t, k, ns, "partitioned")
			return cmp.Equal(want, got), cmp.Diff(want, got)
		})
		patchObject(t, k, path, map[string]any{"spec": map[string]any{"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"partition": 0}}}})
		wait(path, "full rollout", func(s statefulSetStatus) bool {
			return s.Status.UpdatedReplicas == 3 && s.Status.ReadyReplicas == 3 && s.Status.CurrentRevision == s.Status.UpdateRevision
		})
		eventually(t, 30*time.Second, "all on v2", func() (bool, string) {
			got := podImages(t, k, ns, "partitioned")
			return cmp.Equal(allOf("partitioned", v2), got), cmp.Diff(allOf("partitioned", v2), got)
		})
	})

	t.Run("ondelete", func(t *testing.T) {
		path := create("ondelete", map[string]any{"type": "OnDelete"})
		wait(path, "initial rollout", func(s statefulSetStatus) bool { return s.Status.ReadyReplicas == 3 })
		setImage(t, k, path, v2)
		s := wait(path, "new revision observed", func(s statefulSetStatus) bool {
			return s.Status.UpdateRevision != s.Status.CurrentRevision
		})
		if s.Status.UpdatedReplicas != 0 {
			t.Errorf("OnDelete updated %d pods by itself: %s", s.Status.UpdatedReplicas, s)
		}
		if diff := cmp.Diff(allOf("ondelete", v1), podImages(t, k, ns, "ondelete")); diff != "" {
			t.Errorf("pods changed without a delete (-want +got):\n%s", diff)
		}
		mustRequest(t, k, k.Admin, http.MethodDelete, "/api/v1/namespaces/"+ns+"/pods/ondelete-1", "", nil, http.StatusOK)
		want := map[string]string{"ondelete-0": v1, "ondelete-1": v2, "ondelete-2": v1}
		eventually(t, 30*time.Second, "deleted pod recreated on v2", func() (bool, string) {
			got := podImages(t, k, ns, "ondelete")
			return cmp.Equal(want, got), cmp.Diff(want, got)
		})
		wait(path, "one updated", func(s statefulSetStatus) bool { return s.Status.UpdatedReplicas == 1 && s.Status.ReadyReplicas == 3 })
	})
}

type daemonSetStatus struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		ObservedGeneration     int64 `json:"observedGeneration"`
		DesiredNumberScheduled int   `json:"desiredNumberScheduled"`
		UpdatedNumberScheduled int   `json:"updatedNumberScheduled"`
		NumberAvailable        int   `json:"numberAvailable"`
		NumberUnavailable      int   `json:"numberUnavailable"`
		NumberReady            int   `json:"numberReady"`
	} `json:"status"`
}

// rolledOut is kubectl rollout status' verdict on a DaemonSet.
func (d daemonSetStatus) rolledOut() (bool, string) {
	s := d.Status
	state := fmt.Sprintf("generation %d observed %d desired %d updated %d available %d unavailable %d",
		d.Metadata.Generation, s.ObservedGeneration, s.DesiredNumberScheduled, s.UpdatedNumberScheduled, s.NumberAvailable, s.NumberUnavailable)
	return s.ObservedGeneration >= d.Metadata.Generation && s.DesiredNumberScheduled > 0 &&
		s.UpdatedNumberScheduled == s.DesiredNumberScheduled && s.NumberAvailable == s.DesiredNumberScheduled, state
}

func TestDaemonSetRolls(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ns := testNamespace(t, k, "daemonset")
	v1, v2, bad := imageAt("platform/node-agent", "v1"), imageAt("platform/node-agent", "v2"), imageAt("platform/node-agent", "v3")
	if err := k.SetImageFaults(context.Background(), map[string]ImageFault{bad: ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	createObject(t, k, "/apis/apps/v1/namespaces/"+ns+"/daemonsets", map[string]any{
		"apiVersion": "apps/v1", "kind": "DaemonSet",
		"metadata": map[string]any{"name": "node-agent"},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "node-agent"}},
			"template": podTemplate("node-agent", v1),
		},
	})
	path := "/apis/apps/v1/namespaces/" + ns + "/daemonsets/node-agent"
	var d daemonSetStatus
	waitDS := func(what string, done func() bool) {
		eventually(t, time.Minute, what, func() (bool, string) {
			getObject(t, k, path, &d)
			_, state := d.rolledOut()
			return done(), state
		})
	}
	waitDS("initial rollout", func() bool { ok, _ := d.rolledOut(); return ok })
	if d.Status.DesiredNumberScheduled != len(k.Nodes) {
		t.Errorf("desired %d pods, want one per node (%d)", d.Status.DesiredNumberScheduled, len(k.Nodes))
	}
	setImage(t, k, path, v2)
	waitDS("rollout to v2", func() bool { ok, _ := d.rolledOut(); return ok })
	eventually(t, 30*time.Second, "every node on v2", func() (bool, string) {
		got := podImages(t, k, ns, "node-agent")
		return len(got) == len(k.Nodes) && !slices.Contains(mapValues(got), v1), fmt.Sprint(got)
	})

	setImage(t, k, path, bad)
	// maxUnavailable 1: one node's agent is replaced by a crashing one and the rollout stalls.
	waitDS("a crashing agent", func() bool {
		return d.Status.ObservedGeneration >= d.Metadata.Generation && d.Status.UpdatedNumberScheduled == 1 && d.Status.NumberUnavailable == 1
	})
	time.Sleep(2 * time.Second) // the rollout must stay stalled
	getObject(t, k, path, &d)
	if ok, state := d.rolledOut(); ok || d.Status.UpdatedNumberScheduled != 1 {
		t.Errorf("rollout to a crashing image progressed: %s", state)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

type jobStatus struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Succeeded  int         `json:"succeeded"`
		Failed     int         `json:"failed"`
		Conditions []condition `json:"conditions"`
	} `json:"status"`
}

func TestCronJobRunsJobs(t *testing.T) {
	k := needKube(t)
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, k, "cronjob")
	good, bad := imageAt("mlops/train-model", "v4"), imageAt("mlops/train-model", "v5")
	if err := k.SetImageFaults(ctx, map[string]ImageFault{bad: ImageCrashLoop}); err != nil {
		t.Fatal(err)
	}
	createObject(t, k, "/apis/batch/v1/namespaces/"+ns+"/cronjobs", map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": "train-model"},
		"spec": map[string]any{
			"schedule": "0 2 * * *",
			"jobTemplate": map[string]any{"spec": map[string]any{
				"backoffLimit": 0,
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "train-model"}},
					"spec": map[string]any{
						"restartPolicy": "Never",
						"containers":    []map[string]any{{"name": "train", "image": good}},
					},
				},
			}},
		},
	})
	cronPath := "/apis/batch/v1/namespaces/" + ns + "/cronjobs/train-model"
	if err := k.TriggerCronJob(ctx, ns, "train-model", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	jobs := func() []jobStatus {
		var list struct{ Items []jobStatus }
		getObject(t, k, "/apis/batch/v1/namespaces/"+ns+"/jobs", &list)
		return list.Items
	}
	finished := func(name, cond string) jobStatus {
		var got jobStatus
		eventually(t, time.Minute, "job "+name+" "+cond, func() (bool, string) {
			for _, j := range jobs() {
				if j.Metadata.Name == name || (name == "" && len(j.Metadata.OwnerReferences) > 0) {
					got = j
				}
			}
			return findCondition(got.Status.Conditions, cond).Status == "True", fmt.Sprintf("%+v", got)
		})
		return got
	}
	scheduled := finished("", "Complete")
	if o := scheduled.Metadata.OwnerReferences; len(o) != 1 || o[0].Kind != "CronJob" || !strings.HasPrefix(scheduled.Metadata.Name, "train-model-") {
		t.Errorf("scheduled job %s owned by %+v, want a train-model-<time> job of the CronJob", scheduled.Metadata.Name, o)
	}
	var cj struct {
		Status struct {
			LastSuccessfulTime string `json:"lastSuccessfulTime"`
		} `json:"status"`
	}
	eventually(t, 30*time.Second, "CronJob lastSuccessfulTime", func() (bool, string) {
		getObject(t, k, cronPath, &cj)
		return cj.Status.LastSuccessfulTime != "", fmt.Sprintf("%+v", cj)
	})
	pods := listPods(t, k, ns, "app%3Dtrain-model")
	if len(pods) != 1 || pods[0].Status.Phase != "Succeeded" || pods[0].Status.ContainerStatuses[0].State.Terminated == nil ||
		pods[0].Status.ContainerStatuses[0].State.Terminated.Reason != "Completed" {
		t.Errorf("pods of the scheduled job: %s, want one Succeeded with its container Completed", describePods(pods))
	}

	// A rollout changes the job template; the next Job runs the new image, and fails.
	patchObject(t, k, cronPath, map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{
		"template": map[string]any{"spec": map[string]any{"containers": []map[string]any{{"name": "train", "image": bad}}}},
	}}}})
	name, err := k.CreateJobFromCronJob(ctx, ns, "train-model")
	if err != nil {
		t.Fatal(err)
	}
	failed := finished(name, "Failed")
	if c := findCondition(failed.Status.Conditions, "Failed"); c.Reason != "BackoffLimitExceeded" {
		t.Errorf("failed job condition %+v, want reason BackoffLimitExceeded", c)
	}
	var failedPod pod
	for _, p := range listPods(t, k, ns, "app%3Dtrain-model") {
		if p.Spec.Containers[0].Image == bad {
			failedPod = p
		}
	}
	if c := failedPod.Status.ContainerStatuses; failedPod.Status.Phase != "Failed" || len(c) != 1 || c[0].State.Terminated == nil || c[0].State.Terminated.ExitCode != 1 {
		t.Errorf("pod of the failed job: %s, want Failed with exit code 1", failedPod.describe())
	}
}

// BenchmarkDeploymentRollout measures the cluster's own time to roll a Deployment of 3
// replicas to a new image: from the patch to what kubectl rollout status calls done
// (polled every 10 ms). A verifier cannot be faster than this.
func BenchmarkDeploymentRollout(b *testing.B) {
	k := needKube(b)
	ns := benchNamespace(b, k, "bench-rollout")
	path := createDeploymentOf(b, k, ns, "api", imageAt("bench/api", "0"), 3, 600)
	waitRolledOut(b, k, path)
	b.ResetTimer()
	for i := range b.N {
		setImage(b, k, path, imageAt("bench/api", strconv.Itoa(i+1)))
		var d deploymentStatus
		pollUntil(b, func() bool {
			getObject(b, k, path, &d)
			ok, _ := d.rolledOut()
			return ok
		})
	}
}

// BenchmarkCrashLoopVisible measures the cluster's own time from rolling a Deployment
// to a crashing image until a new Pod shows CrashLoopBackOff: what a verifier can fail
// fast on at the earliest. The roll back between iterations is not timed.
func BenchmarkCrashLoopVisible(b *testing.B) {
	k := needKube(b)
	ns := benchNamespace(b, k, "bench-crash")
	good := imageAt("bench/crash", "good")
	faults := map[string]ImageFault{}
	for i := range b.N {
		faults[imageAt("bench/crash", strconv.Itoa(i))] = ImageCrashLoop
	}
	if err := k.SetImageFaults(context.Background(), faults); err != nil {
		b.Fatal(err)
	}
	path := createDeploymentOf(b, k, ns, "crash", good, 2, 600)
	waitRolledOut(b, k, path)
	b.ResetTimer()
	for i := range b.N {
		bad := imageAt("bench/crash", strconv.Itoa(i))
		setImage(b, k, path, bad)
		pollUntil(b, func() bool {
			for _, p := range listPods(b, k, ns, "app%3Dcrash") {
				if p.Spec.Containers[0].Image == bad && failedAsMarked(p, ImageCrashLoop, 1) {
					return true
				}
			}
			return false
		})
		b.StopTimer()
		setImage(b, k, path, good)
		waitRolledOut(b, k, path)
		b.StartTimer()
	}
}

func benchNamespace(b *testing.B, k *Kube, name string) string {
	b.Helper()
	return testNamespace(b, k, fmt.Sprintf("%s-%d", name, b.N))
}

// pollUntil polls done every 10 ms, for at most a minute.
func pollUntil(b *testing.B, done func() bool) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			b.Fatal("not within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestControllerOptions starts a second control plane with three nodes, a Pod start
// delay and a Job run time, and checks kwok keeps to them. Lower bounds only; whole
// seconds are exact: a time at least d after another is at least d after it when both
// are truncated to the second.
func TestControllerOptions(t *testing.T) {
	needKube(t)
	t.Parallel()
	ctx := context.Background()
	k, err := StartKube(ctx, KubeOptions{Controllers: &ControllerOptions{Nodes: 3, PodStartDelay: 2 * time.Second, JobRunTime: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := k.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	if diff := cmp.Diff([]string{"kwok-node-0", "kwok-node-1", "kwok-node-2"}, k.Nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	for _, n := range k.Nodes {
		if !k.nodeReady(ctx, n) {
			t.Errorf("node %s is not Ready", n)
		}
	}
	ns := testNamespace(t, k, "options")
	createObject(t, k, "/apis/batch/v1/namespaces/"+ns+"/jobs", map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "once"},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "once"}},
			"spec": map[string]any{
				"restartPolicy": "Never",
				"containers":    []map[string]any{{"name": "run", "image": imageAt("bench/once", "1")}},
			},
		}},
	})
	var p struct {
		Metadata struct {
			CreationTimestamp time.Time `json:"creationTimestamp"`
		} `json:"metadata"`
		Status struct {
			Phase             string `json:"phase"`
			ContainerStatuses []struct {
				State struct {
					Terminated *struct {
						StartedAt  time.Time `json:"startedAt"`
						FinishedAt time.Time `json:"finishedAt"`
					} `json:"terminated"`
				} `json:"state"`
			} `json:"containerStatuses"`
		} `json:"status"`
	}
	eventually(t, time.Minute, "the job's pod succeeded", func() (bool, string) {
		var list struct{ Items []json.RawMessage }
		getObject(t, k, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app%3Donce", &list)
		if len(list.Items) != 1 {
			return false, fmt.Sprintf("%d pods", len(list.Items))
		}
		p.Status.ContainerStatuses = nil
		if err := json.Unmarshal(list.Items[0], &p); err != nil {
			t.Fatal(err)
		}
		return p.Status.Phase == "Succeeded", p.Status.Phase
	})
	run := p.Status.ContainerStatuses[0].State.Terminated
	if d := run.StartedAt.Sub(p.Metadata.CreationTimestamp); d < 2*time.Second {
		t.Errorf("container started %s after the pod was created, want at least the 2 s start delay", d)
	}
	if d := run.FinishedAt.Sub(run.StartedAt); d < 3*time.Second {
		t.Errorf("container ran %s, want at least the 3 s job run time", d)
	}
}

// BenchmarkSetImageFaults measures marking one image: applying the Stages and waiting
// for the probe Pod that proves kwok plays them.
func BenchmarkSetImageFaults(b *testing.B) {
	k := needKube(b)
	for i := range b.N {
		if err := k.SetImageFaults(context.Background(), map[string]ImageFault{imageAt("bench/mark", strconv.Itoa(i)): ImageCrashLoop}); err != nil {
			b.Fatal(err)
		}
	}
}
