package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Kind is a workload kind ecrwarden rolls: its Pod template holds the containers a rollout patches.
type Kind string

// The kinds ecrwarden rolls.
const (
	KindDeployment  Kind = "Deployment"
	KindStatefulSet Kind = "StatefulSet"
	KindDaemonSet   Kind = "DaemonSet"
	// KindCronJob rolls the CronJob's job template (spec.jobTemplate.spec.template): the next Job it starts runs
	// the new image; Jobs already running keep theirs.
	KindCronJob Kind = "CronJob"
)

// Kinds lists every Kind, in the order ecrwarden lists them.
var Kinds = []Kind{KindDeployment, KindStatefulSet, KindDaemonSet, KindCronJob}

// kindInfo is what differs between the kinds: where the object lives, where its Pod template sits, how it decodes
// and how its rollout status reads. Everything else (images, patches, annotations) is shared.
type kindInfo struct {
	// group is the API group version path ("/apis/apps/v1"); resource the plural ("deployments").
	group, resource string
	// apiGroup is the RBAC API group ("apps", "batch").
	apiGroup string
	// templatePath is where the Pod template sits under spec.
	templatePath []string
	// decode reads one object of the kind.
	decode func([]byte) (workloadObject, error)
}

var kinds = map[Kind]kindInfo{
	KindDeployment:  {group: "/apis/apps/v1", resource: "deployments", apiGroup: "apps", templatePath: []string{"template"}, decode: decodeAs[Deployment]},
	KindStatefulSet: {group: "/apis/apps/v1", resource: "statefulsets", apiGroup: "apps", templatePath: []string{"template"}, decode: decodeAs[StatefulSet]},
	KindDaemonSet:   {group: "/apis/apps/v1", resource: "daemonsets", apiGroup: "apps", templatePath: []string{"template"}, decode: decodeAs[DaemonSet]},
	KindCronJob:     {group: "/apis/batch/v1", resource: "cronjobs", apiGroup: "batch", templatePath: []string{"jobTemplate", "spec", "template"}, decode: decodeAs[CronJob]},
}

// ParseKind returns the Kind named s (Deployment, StatefulSet, DaemonSet or CronJob, as Kubernetes spells them;
// the empty string is a Deployment). Anything else is an error listing the kinds.
func ParseKind(s string) (Kind, error) {
	if s == "" {
		return KindDeployment, nil
	}
	if _, ok := kinds[Kind(s)]; ok {
		return Kind(s), nil
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown workload kind %q: want one of %s", s, strings.Join(names, ", "))
}

// Resource is the kind's API resource, such as "deployments".
func (k Kind) Resource() string { return kinds[k].resource }

// APIVersion is the kind's apiVersion: "apps/v1" or "batch/v1".
func (k Kind) APIVersion() string { return strings.TrimPrefix(kinds[k].group, "/apis/") }

// Path is the API path of the workload ref names.
func (r WorkloadRef) Path() string { return r.path() }

// APIGroup is the kind's API group for RBAC rules: "apps" or "batch".
func (k Kind) APIGroup() string { return kinds[k].apiGroup }

// WorkloadRef names one workload.
type WorkloadRef struct {
	Kind      Kind
	Namespace string
	Name      string
}

// String names the workload as kubectl does: "deployment/web in namespace shop" reads as "Deployment shop/web".
func (r WorkloadRef) String() string { return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name) }

func (r WorkloadRef) info() (kindInfo, error) {
	info, ok := kinds[r.Kind]
	if !ok {
		_, err := ParseKind(string(r.Kind))
		return kindInfo{}, err
	}
	return info, nil
}

func (r WorkloadRef) path() string {
	info := kinds[r.Kind]
	return info.group + "/namespaces/" + url.PathEscape(r.Namespace) + "/" + info.resource + "/" + url.PathEscape(r.Name)
}

// workloadObject is implemented by the typed objects of each kind (*Deployment, *StatefulSet, *DaemonSet,
// *CronJob): the three things that differ between them.
type workloadObject interface {
	meta() *ObjectMeta
	template() *PodTemplateSpec
	// rollout is the kind's rollout status over the object, and, when its verdict depends on Pods, how to find
	// the Pods of the new template (see Workload.Status).
	rollout(ctx context.Context, c *Client) (RolloutStatus, podScope, error)
}

func decodeAs[T any, P interface {
	*T
	workloadObject
}](b []byte) (workloadObject, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return P(&v), nil
}

func (d *Deployment) meta() *ObjectMeta           { return &d.Metadata }
func (d *Deployment) template() *PodTemplateSpec  { return &d.Spec.Template }
func (s *StatefulSet) meta() *ObjectMeta          { return &s.Metadata }
func (s *StatefulSet) template() *PodTemplateSpec { return &s.Spec.Template }
func (d *DaemonSet) meta() *ObjectMeta            { return &d.Metadata }
func (d *DaemonSet) template() *PodTemplateSpec   { return &d.Spec.Template }
func (cj *CronJob) meta() *ObjectMeta             { return &cj.Metadata }
func (cj *CronJob) template() *PodTemplateSpec    { return &cj.Spec.JobTemplate.Spec.Template }

func podSpecImage(spec PodSpec, container string) (string, bool, bool) {
	for _, c := range spec.Containers {
		if c.Name == container {
			return c.Image, false, true
		}
	}
	for _, c := range spec.InitContainers {
		if c.Name == container {
			return c.Image, true, true
		}
	}
	return "", false, false
}

// Workload is one workload of any Kind as read from the API server. Callers read and patch its containers, its
// annotations and its rollout status without knowing the kind.
type Workload struct {
	kind Kind
	obj  workloadObject
}

// NewWorkload wraps a typed object (*Deployment, *StatefulSet, *DaemonSet or *CronJob) as a Workload; it panics
// on any other type (a programming error).
func NewWorkload(obj any) *Workload {
	switch o := obj.(type) {
	case *Deployment:
		return &Workload{kind: KindDeployment, obj: o}
	case *StatefulSet:
		return &Workload{kind: KindStatefulSet, obj: o}
	case *DaemonSet:
		return &Workload{kind: KindDaemonSet, obj: o}
	case *CronJob:
		return &Workload{kind: KindCronJob, obj: o}
	}
	panic(fmt.Sprintf("kube.NewWorkload: %T is not a workload kind", obj))
}

// Kind is the workload's kind.
func (w *Workload) Kind() Kind { return w.kind }

// Ref names the workload.
func (w *Workload) Ref() WorkloadRef {
	m := w.obj.meta()
	return WorkloadRef{Kind: w.kind, Namespace: m.Namespace, Name: m.Name}
}

// Meta is the workload's metadata: name, namespace, resourceVersion, generation, annotations.
func (w *Workload) Meta() ObjectMeta { return *w.obj.meta() }

// Annotations are the workload's own annotations (metadata.annotations; a CronJob's, not its job template's).
func (w *Workload) Annotations() map[string]string { return w.obj.meta().Annotations }

// PodSpec is the workload's Pod template spec (a CronJob's job template's).
func (w *Workload) PodSpec() PodSpec { return w.obj.template().Spec }

// Object is the typed object: *Deployment, *StatefulSet, *DaemonSet or *CronJob.
func (w *Workload) Object() any { return w.obj }

// ContainerImage returns the image of the named container (or init container) of the Pod template, and whether
// it is an init container; ok is false when no container has that name.
func (w *Workload) ContainerImage(container string) (image string, init bool, ok bool) {
	return podSpecImage(w.PodSpec(), container)
}

// GetWorkload reads the workload ref names. When it is not found because the namespace itself does not exist,
// the error wraps ErrNamespaceNotFound as well as the 404.
func (c *Client) GetWorkload(ctx context.Context, ref WorkloadRef) (*Workload, error) {
	info, err := ref.info()
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, ref.path(), nil, "", nil, &raw); err != nil {
		if IsNotFound(err) {
			if nerr := c.RequireNamespaces(ctx, []string{ref.Namespace}); errors.Is(nerr, ErrNamespaceNotFound) {
				return nil, fmt.Errorf("get %s: %w: %w", lower(ref), nerr, err)
			}
		}
		return nil, fmt.Errorf("get %s: %w", lower(ref), err)
	}
	obj, err := info.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("get %s: decode: %w", lower(ref), err)
	}
	return &Workload{kind: ref.Kind, obj: obj}, nil
}

// lower names ref in an error message: "deployment shop/web".
func lower(ref WorkloadRef) string {
	return strings.ToLower(string(ref.Kind)) + " " + ref.Namespace + "/" + ref.Name
}

// imagePatchBody is the strategic merge patch `kubectl set image` sends, plus metadata, with the container list
// at the kind's template path: containers are merged by name, so only the named container changes;
// resourceVersion makes the API server refuse a stale patch (409).
func (info kindInfo) imagePatchBody(container, image string, init bool, annotations map[string]string, resourceVersion string) ([]byte, error) {
	var spec any = imagePatchTemplate{Spec: newImagePatchPodSpec(container, image, init)}
	for i := len(info.templatePath) - 1; i >= 0; i-- {
		spec = map[string]any{info.templatePath[i]: spec}
	}
	return json.Marshal(struct {
		Metadata imagePatchMeta `json:"metadata"`
		Spec     any            `json:"spec"`
	}{imagePatchMeta{ResourceVersion: resourceVersion, Annotations: annotations}, spec})
}

// SetWorkloadImage sets the image of one container (or init container) of the workload with a strategic merge
// patch that also writes annotations, guarded by resourceVersion. It first reads the workload to find which list
// holds the container, because a strategic merge patch naming a missing container would add one; an empty
// resourceVersion means the one just read, so the patch never applies to an object it has not seen. Other
// containers are left untouched.
func (c *Client) SetWorkloadImage(ctx context.Context, ref WorkloadRef, container, image string, annotations map[string]string, resourceVersion string) (*Workload, error) {
	current, err := c.GetWorkload(ctx, ref)
	if err != nil {
		return nil, err
	}
	if resourceVersion == "" {
		resourceVersion = current.Meta().ResourceVersion
	}
	return c.patchWorkloadImage(ctx, current, container, image, annotations, resourceVersion)
}

func (c *Client) patchWorkloadImage(ctx context.Context, current *Workload, container, image string, annotations map[string]string, resourceVersion string) (*Workload, error) {
	ref := current.Ref()
	_, init, ok := current.ContainerImage(container)
	if !ok {
		return nil, fmt.Errorf("set image of %s container %s: %w", lower(ref), container, ErrContainerNotFound)
	}
	info := kinds[ref.Kind]
	body, err := info.imagePatchBody(container, image, init, annotations, resourceVersion)
	if err != nil {
		return nil, fmt.Errorf("encode patch for %s: %w", lower(ref), err)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPatch, ref.path(), nil, strategicMergePatch, body, &raw); err != nil {
		return nil, fmt.Errorf("patch %s container %s: %w", lower(ref), container, err)
	}
	obj, err := info.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("patch %s: decode: %w", lower(ref), err)
	}
	return &Workload{kind: ref.Kind, obj: obj}, nil
}

// Result says what UpdateWorkloadImage (or UpdateImage) did.
type Result struct {
	// Workload is the object after the patch, or the current object when nothing was patched.
	Workload *Workload
	// Patched is true when a PATCH succeeded.
	Patched bool
	// PreviousImage is the container's image before the patch (or its current image when skipped).
	PreviousImage string
	// Image is the image the container has now.
	Image string
	// Attempts counts the GET → decide → PATCH rounds, more than one after conflicts.
	Attempts int
}

func newResult(w *Workload, r Result) Result {
	r.Workload = w
	return r
}

// UpdateWorkloadImage changes one container's image idempotently. Each round reads the workload, calls decide
// with it, and patches with the resourceVersion it read; a 409 Conflict starts a new round against the fresh
// object, up to five rounds. decide returns the image to set and the annotations to write with it, or skip to
// leave the workload alone; nothing is patched either when the container already has the decided image.
// AnnotationPreviousImage is set to the container's current image unless decide set it.
func (c *Client) UpdateWorkloadImage(ctx context.Context, ref WorkloadRef, container string, decide func(current *Workload) (image string, annotations map[string]string, skip bool, err error)) (Result, error) {
	var lastErr error
	for attempt := 1; attempt <= maxUpdateAttempts; attempt++ {
		current, err := c.GetWorkload(ctx, ref)
		if err != nil {
			return Result{Attempts: attempt}, err
		}
		currentImage, _, ok := current.ContainerImage(container)
		if !ok {
			return Result{Attempts: attempt}, fmt.Errorf("update image of %s container %s: %w", lower(ref), container, ErrContainerNotFound)
		}
		image, decided, skip, err := decide(current)
		if err != nil {
			return Result{Attempts: attempt}, fmt.Errorf("decide image of %s container %s: %w", lower(ref), container, err)
		}
		if skip || image == currentImage {
			return newResult(current, Result{PreviousImage: currentImage, Image: currentImage, Attempts: attempt}), nil
		}
		if image == "" {
			return Result{Attempts: attempt}, fmt.Errorf("update image of %s container %s: decide returned an empty image", lower(ref), container)
		}
		annotations := make(map[string]string, len(decided)+1)
		for k, v := range decided {
			annotations[k] = v
		}
		if _, set := annotations[AnnotationPreviousImage]; !set {
			annotations[AnnotationPreviousImage] = currentImage
		}
		out, err := c.patchWorkloadImage(ctx, current, container, image, annotations, current.Meta().ResourceVersion)
		if err == nil {
			return newResult(out, Result{Patched: true, PreviousImage: currentImage, Image: image, Attempts: attempt}), nil
		}
		if !IsConflict(err) {
			return Result{Attempts: attempt}, err
		}
		lastErr = err
		if ctx.Err() != nil {
			return Result{Attempts: attempt}, fmt.Errorf("update image of %s: %w", lower(ref), ctx.Err())
		}
	}
	return Result{Attempts: maxUpdateAttempts}, fmt.Errorf("update image of %s: still conflicting after %d attempts: %w", lower(ref), maxUpdateAttempts, lastErr)
}

// ListTrackedWorkloads returns the workloads of every Kind in namespaces that carry AnnotationTrack, Deployments
// first, then StatefulSets, DaemonSets and CronJobs. Every namespace must exist (a missing one is an error
// wrapping ErrNamespaceNotFound, not an empty list). An empty namespaces lists all namespaces. Any failed listing
// fails the call.
func (c *Client) ListTrackedWorkloads(ctx context.Context, namespaces []string) ([]*Workload, error) {
	all, err := c.ListWorkloads(ctx, namespaces)
	if err != nil {
		return nil, fmt.Errorf("list tracked workloads: %w", err)
	}
	var tracked []*Workload
	for _, w := range all {
		if _, ok := w.Annotations()[AnnotationTrack]; ok {
			tracked = append(tracked, w)
		}
	}
	return tracked, nil
}

// ListWorkloads returns every workload of every Kind in namespaces, Deployments first, then StatefulSets,
// DaemonSets and CronJobs, with list calls only (no get: a reader such as `ecrwarden status` needs nothing beyond
// the ecrwarden-reader group's rights). Every namespace must exist (a missing one is an error wrapping
// ErrNamespaceNotFound, not an empty list); an empty namespaces lists all namespaces. Any failed listing fails
// the call.
func (c *Client) ListWorkloads(ctx context.Context, namespaces []string) ([]*Workload, error) {
	scopes := namespaceScopes(namespaces)
	if scopes[0] != "" {
		if err := c.RequireNamespaces(ctx, scopes); err != nil {
			return nil, fmt.Errorf("list workloads: %w", err)
		}
	}
	var out []*Workload
	for _, k := range Kinds {
		info := kinds[k]
		for _, ns := range scopes {
			err := listAll(ctx, c, info.resource, ns, func(raw *json.RawMessage) error {
				obj, err := info.decode(*raw)
				if err != nil {
					return fmt.Errorf("list %s: decode: %w", info.resource, err)
				}
				out = append(out, &Workload{kind: k, obj: obj})
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("list workloads: %w", err)
			}
		}
	}
	return out, nil
}

// RemoveWorkloadAnnotations deletes annotations from the workload (PatchWorkloadAnnotations with null values).
func (c *Client) RemoveWorkloadAnnotations(ctx context.Context, ref WorkloadRef, resourceVersion string, keys ...string) (*Workload, error) {
	ann := make(map[string]*string, len(keys))
	for _, k := range keys {
		ann[k] = nil
	}
	return c.PatchWorkloadAnnotations(ctx, ref, resourceVersion, ann)
}

// PatchWorkloadAnnotations sets (a non-nil value) or removes (nil) annotations of the workload with a JSON merge
// patch guarded by resourceVersion (empty: the object as read now), which should be the one the caller decided on:
// a stale one is a 409 (IsConflict). The Pod template is not touched, so no rollout follows.
func (c *Client) PatchWorkloadAnnotations(ctx context.Context, ref WorkloadRef, resourceVersion string, annotations map[string]*string) (*Workload, error) {
	info, err := ref.info()
	if err != nil {
		return nil, fmt.Errorf("annotate %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if resourceVersion == "" {
		cur, err := c.GetWorkload(ctx, ref)
		if err != nil {
			return nil, err
		}
		resourceVersion = cur.Meta().ResourceVersion
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": resourceVersion, "annotations": annotations}})
	if err != nil {
		return nil, fmt.Errorf("annotate %s: %w", lower(ref), err)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPatch, ref.path(), nil, "application/merge-patch+json", body, &raw); err != nil {
		return nil, fmt.Errorf("annotate %s (%s): %w", lower(ref), strings.Join(slices.Sorted(maps.Keys(annotations)), ", "), err)
	}
	obj, err := info.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("annotate %s: decode: %w", lower(ref), err)
	}
	return &Workload{kind: ref.Kind, obj: obj}, nil
}
