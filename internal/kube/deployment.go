package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Annotations ecrwarden reads and writes on Deployments.
const (
	// AnnotationChangeCause is the standard annotation `kubectl rollout history` shows; ecrwarden names the tag
	// and digest it rolled out.
	AnnotationChangeCause = "kubernetes.io/change-cause"
	// AnnotationPreviousImage holds the container image before ecrwarden's last patch, for `ecrwarden rollback`.
	AnnotationPreviousImage = "ecrwarden.io/previous-image"
	// AnnotationTag holds the tag of the image ecrwarden last rolled out.
	AnnotationTag = "ecrwarden.io/tag"
	// AnnotationDigest holds the digest of the image ecrwarden last rolled out.
	AnnotationDigest = "ecrwarden.io/digest"
	// AnnotationEventID holds the id of the event that caused the last patch: the idempotency marker that makes a
	// redelivered event a no-op.
	AnnotationEventID = "ecrwarden.io/event-id"
	// AnnotationTrack opts a Deployment in to ecrwarden rollouts without a policy entry; its value names the
	// repository and tag pattern, e.g. "mlops/retail-api:v{semver}".
	AnnotationTrack = "ecrwarden.io/track"
)

const (
	strategicMergePatch = "application/strategic-merge-patch+json"
	// maxUpdateAttempts bounds UpdateImage's GET → decide → PATCH rounds when PATCH answers 409 Conflict.
	maxUpdateAttempts = 5
)

// ErrContainerNotFound is returned when the named container is neither a container nor an init container of
// the Deployment's Pod template.
var ErrContainerNotFound = errors.New("container not found")

func deploymentPath(namespace, name string) string {
	return "/apis/apps/v1/namespaces/" + url.PathEscape(namespace) + "/deployments/" + url.PathEscape(name)
}

// GetDeployment reads the Deployment namespace/name. When it is not found because the namespace itself does not
// exist, the error wraps ErrNamespaceNotFound as well as the 404.
func (c *Client) GetDeployment(ctx context.Context, namespace, name string) (*Deployment, error) {
	var d Deployment
	if err := c.do(ctx, http.MethodGet, deploymentPath(namespace, name), nil, "", nil, &d); err != nil {
		if IsNotFound(err) {
			if nerr := c.RequireNamespaces(ctx, []string{namespace}); errors.Is(nerr, ErrNamespaceNotFound) {
				return nil, fmt.Errorf("get deployment %s/%s: %w: %w", namespace, name, nerr, err)
			}
		}
		return nil, fmt.Errorf("get deployment %s/%s: %w", namespace, name, err)
	}
	return &d, nil
}

// ContainerImage returns the image of the named container in the Deployment's Pod template and whether the
// container is an init container. ok is false when no container has that name.
func (d *Deployment) ContainerImage(container string) (image string, init bool, ok bool) {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == container {
			return c.Image, false, true
		}
	}
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == container {
			return c.Image, true, true
		}
	}
	return "", false, false
}

// imagePatch is the strategic merge patch `kubectl set image` sends, plus metadata: containers are merged by
// name, so only the named container changes; resourceVersion makes the API server refuse a stale patch (409).
type imagePatch struct {
	Metadata imagePatchMeta `json:"metadata"`
	Spec     imagePatchSpec `json:"spec"`
}

type imagePatchMeta struct {
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

type imagePatchSpec struct {
	Template imagePatchTemplate `json:"template"`
}

type imagePatchTemplate struct {
	Spec imagePatchPodSpec `json:"spec"`
}

type imagePatchPodSpec struct {
	Containers     []Container `json:"containers,omitempty"`
	InitContainers []Container `json:"initContainers,omitempty"`
}

// SetImage sets the image of one container (or init container) of the Deployment namespace/name with a strategic
// merge patch that also writes annotations, guarded by resourceVersion. It first reads the Deployment to find
// which list holds the container, because a strategic merge patch naming a missing container would add one;
// an empty resourceVersion means the one just read, so the patch never applies to an object SetImage has not
// seen. Other containers are left untouched.
func (c *Client) SetImage(ctx context.Context, namespace, deployment, container, image string, annotations map[string]string, resourceVersion string) (*Deployment, error) {
	current, err := c.GetDeployment(ctx, namespace, deployment)
	if err != nil {
		return nil, err
	}
	if resourceVersion == "" {
		resourceVersion = current.Metadata.ResourceVersion
	}
	return c.patchImage(ctx, current, container, image, annotations, resourceVersion)
}

func (c *Client) patchImage(ctx context.Context, current *Deployment, container, image string, annotations map[string]string, resourceVersion string) (*Deployment, error) {
	namespace, name := current.Metadata.Namespace, current.Metadata.Name
	_, init, ok := current.ContainerImage(container)
	if !ok {
		return nil, fmt.Errorf("set image of deployment %s/%s container %s: %w", namespace, name, container, ErrContainerNotFound)
	}
	body, err := json.Marshal(newImagePatch(container, image, init, annotations, resourceVersion))
	if err != nil {
		return nil, fmt.Errorf("encode patch for deployment %s/%s: %w", namespace, name, err)
	}
	var out Deployment
	if err := c.do(ctx, http.MethodPatch, deploymentPath(namespace, name), nil, strategicMergePatch, body, &out); err != nil {
		return nil, fmt.Errorf("patch deployment %s/%s container %s: %w", namespace, name, container, err)
	}
	return &out, nil
}

func newImagePatch(container, image string, init bool, annotations map[string]string, resourceVersion string) imagePatch {
	p := imagePatch{Metadata: imagePatchMeta{ResourceVersion: resourceVersion, Annotations: annotations}}
	target := []Container{{Name: container, Image: image}}
	if init {
		p.Spec.Template.Spec.InitContainers = target
	} else {
		p.Spec.Template.Spec.Containers = target
	}
	return p
}

// Result says what UpdateImage did.
type Result struct {
	// Deployment is the object after the patch, or the current object when nothing was patched.
	Deployment *Deployment
	// Patched is true when a PATCH succeeded.
	Patched bool
	// PreviousImage is the container's image before the patch (or its current image when skipped).
	PreviousImage string
	// Image is the image the container has now.
	Image string
	// Attempts counts the GET → decide → PATCH rounds, more than one after conflicts.
	Attempts int
}

// UpdateImage changes one container's image idempotently. Each round reads the Deployment, calls decide with it,
// and patches with the resourceVersion it read; a 409 Conflict starts a new round against the fresh object, up to
// five rounds. decide returns the image to set and the annotations to write with it, or skip to leave the
// Deployment alone; nothing is patched either when the container already has the decided image.
// AnnotationPreviousImage is set to the container's current image unless decide set it.
func (c *Client) UpdateImage(ctx context.Context, namespace, deployment, container string, decide func(current *Deployment) (image string, annotations map[string]string, skip bool, err error)) (Result, error) {
	var lastErr error
	for attempt := 1; attempt <= maxUpdateAttempts; attempt++ {
		current, err := c.GetDeployment(ctx, namespace, deployment)
		if err != nil {
			return Result{Attempts: attempt}, err
		}
		currentImage, _, ok := current.ContainerImage(container)
		if !ok {
			return Result{Attempts: attempt}, fmt.Errorf("update image of deployment %s/%s container %s: %w", namespace, deployment, container, ErrContainerNotFound)
		}
		image, decided, skip, err := decide(current)
		if err != nil {
			return Result{Attempts: attempt}, fmt.Errorf("decide image of deployment %s/%s container %s: %w", namespace, deployment, container, err)
		}
		if skip || image == currentImage {
			return Result{Deployment: current, PreviousImage: currentImage, Image: currentImage, Attempts: attempt}, nil
		}
		if image == "" {
			return Result{Attempts: attempt}, fmt.Errorf("update image of deployment %s/%s container %s: decide returned an empty image", namespace, deployment, container)
		}
		annotations := make(map[string]string, len(decided)+1)
		for k, v := range decided {
			annotations[k] = v
		}
		if _, set := annotations[AnnotationPreviousImage]; !set {
			annotations[AnnotationPreviousImage] = currentImage
		}
		out, err := c.patchImage(ctx, current, container, image, annotations, current.Metadata.ResourceVersion)
		if err == nil {
			return Result{Deployment: out, Patched: true, PreviousImage: currentImage, Image: image, Attempts: attempt}, nil
		}
		if !IsConflict(err) {
			return Result{Attempts: attempt}, err
		}
		lastErr = err
		if ctx.Err() != nil {
			return Result{Attempts: attempt}, fmt.Errorf("update image of deployment %s/%s: %w", namespace, deployment, ctx.Err())
		}
	}
	return Result{Attempts: maxUpdateAttempts}, fmt.Errorf("update image of deployment %s/%s: still conflicting after %d attempts: %w", namespace, deployment, maxUpdateAttempts, lastErr)
}

// ListTrackedDeployments returns the Deployments in namespaces that carry AnnotationTrack. Every namespace must
// exist (a missing one is an error wrapping ErrNamespaceNotFound, not an empty list). An empty namespaces lists
// all namespaces.
func (c *Client) ListTrackedDeployments(ctx context.Context, namespaces []string) ([]Deployment, error) {
	scopes := namespaceScopes(namespaces)
	if scopes[0] != "" {
		if err := c.RequireNamespaces(ctx, scopes); err != nil {
			return nil, fmt.Errorf("list tracked deployments: %w", err)
		}
	}
	var tracked []Deployment
	for _, ns := range scopes {
		err := listAll(ctx, c, "deployments", ns, func(d *Deployment) error {
			if _, ok := d.Metadata.Annotations[AnnotationTrack]; ok {
				tracked = append(tracked, *d)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return tracked, nil
}

// RemoveAnnotations deletes annotations from the Deployment namespace/name
// with a JSON merge patch (a null value removes a key) guarded by
// resourceVersion (empty: the object as read now). The Pod template is not
// touched, so no rollout follows.
func (c *Client) RemoveAnnotations(ctx context.Context, namespace, name, resourceVersion string, keys ...string) (*Deployment, error) {
	if resourceVersion == "" {
		cur, err := c.GetDeployment(ctx, namespace, name)
		if err != nil {
			return nil, err
		}
		resourceVersion = cur.Metadata.ResourceVersion
	}
	ann := make(map[string]any, len(keys))
	for _, k := range keys {
		ann[k] = nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": resourceVersion, "annotations": ann}})
	if err != nil {
		return nil, fmt.Errorf("remove annotations of %s/%s: %w", namespace, name, err)
	}
	var d Deployment
	if err := c.do(ctx, http.MethodPatch, deploymentPath(namespace, name), nil, "application/merge-patch+json", body, &d); err != nil {
		return nil, fmt.Errorf("remove annotations %v of deployment %s/%s: %w", keys, namespace, name, err)
	}
	return &d, nil
}
