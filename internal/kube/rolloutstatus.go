package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The types below are what rollout verification reads (kubectl's rollout-status logic and the Pods'
// failure reasons). They are their own types, decoded from the same objects, so that the lean Deployment
// type the rollouts patch stays as small as it is.

// DeploymentCondition is the subset of appsv1.DeploymentCondition that rollout status reads.
type DeploymentCondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// String renders the selector as the labelSelector query parameter (keys sorted).
func (s LabelSelector) String() string {
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + s.MatchLabels[k]
	}
	return strings.Join(parts, ",")
}

// RolloutDeployment is a Deployment as rollout verification reads it.
type RolloutDeployment struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Replicas *int32          `json:"replicas,omitempty"`
		Paused   bool            `json:"paused,omitempty"`
		Selector LabelSelector   `json:"selector"`
		Template PodTemplateSpec `json:"template"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration  int64                 `json:"observedGeneration,omitempty"`
		Replicas            int32                 `json:"replicas,omitempty"`
		UpdatedReplicas     int32                 `json:"updatedReplicas,omitempty"`
		ReadyReplicas       int32                 `json:"readyReplicas,omitempty"`
		AvailableReplicas   int32                 `json:"availableReplicas,omitempty"`
		UnavailableReplicas int32                 `json:"unavailableReplicas,omitempty"`
		Conditions          []DeploymentCondition `json:"conditions,omitempty"`
	} `json:"status"`
}

// ContainerImage returns the image of the named container (or init container) of the Pod template.
func (d *RolloutDeployment) ContainerImage(container string) (string, bool) {
	for _, list := range [][]Container{d.Spec.Template.Spec.Containers, d.Spec.Template.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == container {
				return c.Image, true
			}
		}
	}
	return "", false
}

// PodContainerStatus is the subset of corev1.ContainerStatus that rollout verification reads.
type PodContainerStatus struct {
	Name         string         `json:"name"`
	Image        string         `json:"image,omitempty"`
	Ready        bool           `json:"ready"`
	RestartCount int32          `json:"restartCount"`
	State        ContainerState `json:"state"`
	LastState    ContainerState `json:"lastState"`
}

// RolloutPod is a Pod as rollout verification reads it.
type RolloutPod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
	Status   struct {
		Phase                 string               `json:"phase,omitempty"`
		ContainerStatuses     []PodContainerStatus `json:"containerStatuses,omitempty"`
		InitContainerStatuses []PodContainerStatus `json:"initContainerStatuses,omitempty"`
	} `json:"status"`
}

// When is the event's last time: lastTimestamp, else eventTime, else its creation.
func (e Event) When() time.Time {
	for _, s := range []string{e.LastTimestamp, e.EventTime} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// GetRolloutDeployment reads the Deployment namespace/name with the fields rollout status needs.
func (c *Client) GetRolloutDeployment(ctx context.Context, namespace, name string) (*RolloutDeployment, error) {
	var d RolloutDeployment
	if err := c.do(ctx, http.MethodGet, WorkloadRef{Kind: KindDeployment, Namespace: namespace, Name: name}.Path(), nil, "", nil, &d); err != nil {
		return nil, fmt.Errorf("get deployment %s/%s: %w", namespace, name, err)
	}
	return &d, nil
}

// ListPods lists the Pods of namespace that match selector (matchLabels), every page; an empty selector is
// refused rather than listing the whole namespace.
func (c *Client) ListPods(ctx context.Context, namespace string, selector LabelSelector) ([]RolloutPod, error) {
	sel := selector.String()
	if sel == "" {
		return nil, fmt.Errorf("list pods in %s: empty label selector", namespace)
	}
	var out []RolloutPod
	err := listQuery(ctx, c, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods", url.Values{"labelSelector": {sel}}, func(p *RolloutPod) {
		out = append(out, *p)
	})
	if err != nil {
		return nil, fmt.Errorf("list pods %s in %s: %w", sel, namespace, err)
	}
	return out, nil
}

// ListEvents lists the Events of namespace about the object kind/name, newest first.
func (c *Client) ListEvents(ctx context.Context, namespace, kind, name string) ([]Event, error) {
	q := url.Values{"fieldSelector": {"involvedObject.kind=" + kind + ",involvedObject.name=" + name}}
	var out []Event
	err := listQuery(ctx, c, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/events", q, func(e *Event) { out = append(out, *e) })
	if err != nil {
		return nil, fmt.Errorf("list events of %s %s/%s: %w", kind, namespace, name, err)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return b.When().Compare(a.When()) })
	return out, nil
}

// listQuery lists path page by page (limit and continue, as listAll) with extra query parameters.
func listQuery[T any](ctx context.Context, c *Client, path string, extra url.Values, fn func(*T)) error {
	token := ""
	for page := 0; page < maxListPages; page++ {
		q := url.Values{"limit": {strconv.Itoa(listPageSize)}}
		for k, v := range extra {
			q[k] = v
		}
		if token != "" {
			q.Set("continue", token)
		}
		var l list[T]
		if err := c.do(ctx, http.MethodGet, path, q, "", nil, &l); err != nil {
			return fmt.Errorf("page %d: %w", page+1, err)
		}
		for i := range l.Items {
			fn(&l.Items[i])
		}
		if token = l.Metadata.Continue; token == "" {
			return nil
		}
	}
	return fmt.Errorf("more than %d pages", maxListPages)
}

// PatchAnnotations sets (a non-nil value) or removes (nil) annotations of the Deployment namespace/name with
// a JSON merge patch guarded by resourceVersion, which must be the one the caller decided on: a stale one is a
// 409 (IsConflict). The Pod template is not touched, so no rollout follows.
func (c *Client) PatchAnnotations(ctx context.Context, namespace, name, resourceVersion string, annotations map[string]*string) (*Deployment, error) {
	if resourceVersion == "" {
		return nil, fmt.Errorf("annotate deployment %s/%s: no resourceVersion to guard the patch", namespace, name)
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": resourceVersion, "annotations": annotations}})
	if err != nil {
		return nil, fmt.Errorf("annotate deployment %s/%s: %w", namespace, name, err)
	}
	var d Deployment
	if err := c.do(ctx, http.MethodPatch, WorkloadRef{Kind: KindDeployment, Namespace: namespace, Name: name}.Path(), nil, "application/merge-patch+json", body, &d); err != nil {
		return nil, fmt.Errorf("annotate deployment %s/%s: %w", namespace, name, err)
	}
	return &d, nil
}
