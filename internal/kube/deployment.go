package kube

import (
	"context"
	"errors"
)

// Annotations ecrwarden reads and writes on the workloads it rolls.
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
	// AnnotationTrack opts a workload (of any Kind) in to ecrwarden rollouts without a policy entry; its value
	// names the repository and tag pattern, e.g. "mlops/retail-api:v{semver}".
	AnnotationTrack = "ecrwarden.io/track"
)

const (
	strategicMergePatch = "application/strategic-merge-patch+json"
	// maxUpdateAttempts bounds UpdateWorkloadImage's GET → decide → PATCH rounds when PATCH answers 409 Conflict.
	maxUpdateAttempts = 5
)

// ErrContainerNotFound is returned when the named container is neither a container nor an init container of
// the workload's Pod template.
var ErrContainerNotFound = errors.New("container not found")

// The Deployment functions below are the Workload functions for KindDeployment, kept for their callers.

func deploymentRef(namespace, name string) WorkloadRef {
	return WorkloadRef{Kind: KindDeployment, Namespace: namespace, Name: name}
}

// GetDeployment reads the Deployment namespace/name (GetWorkload).
func (c *Client) GetDeployment(ctx context.Context, namespace, name string) (*Deployment, error) {
	w, err := c.GetWorkload(ctx, deploymentRef(namespace, name))
	if err != nil {
		return nil, err
	}
	return w.obj.(*Deployment), nil
}

// ContainerImage returns the image of the named container in the Deployment's Pod template and whether the
// container is an init container. ok is false when no container has that name.
func (d *Deployment) ContainerImage(container string) (image string, init bool, ok bool) {
	return podSpecImage(d.Spec.Template.Spec, container)
}

type imagePatchMeta struct {
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

type imagePatchTemplate struct {
	Spec imagePatchPodSpec `json:"spec"`
}

type imagePatchPodSpec struct {
	Containers     []Container `json:"containers,omitempty"`
	InitContainers []Container `json:"initContainers,omitempty"`
}

func newImagePatchPodSpec(container, image string, init bool) imagePatchPodSpec {
	target := []Container{{Name: container, Image: image}}
	if init {
		return imagePatchPodSpec{InitContainers: target}
	}
	return imagePatchPodSpec{Containers: target}
}

// SetImage is SetWorkloadImage for the Deployment namespace/name.
func (c *Client) SetImage(ctx context.Context, namespace, deployment, container, image string, annotations map[string]string, resourceVersion string) (*Deployment, error) {
	w, err := c.SetWorkloadImage(ctx, deploymentRef(namespace, deployment), container, image, annotations, resourceVersion)
	if err != nil {
		return nil, err
	}
	return w.obj.(*Deployment), nil
}

// UpdateImage is UpdateWorkloadImage for the Deployment namespace/name.
func (c *Client) UpdateImage(ctx context.Context, namespace, deployment, container string, decide func(current *Deployment) (image string, annotations map[string]string, skip bool, err error)) (Result, error) {
	return c.UpdateWorkloadImage(ctx, deploymentRef(namespace, deployment), container, func(w *Workload) (string, map[string]string, bool, error) {
		return decide(w.obj.(*Deployment))
	})
}
