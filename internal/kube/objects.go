package kube

// The types below are the minimal subset of the Kubernetes API objects that ecrwarden reads. Field names and JSON
// keys follow k8s.io/api (core/v1, apps/v1, batch/v1); everything the package does not read is left out, and
// unknown fields are ignored when decoding.

// ObjectMeta is the subset of metav1.ObjectMeta that ecrwarden reads.
type ObjectMeta struct {
	Name            string            `json:"name,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Generation      int64             `json:"generation,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

// ListMeta is the subset of metav1.ListMeta that list pagination needs.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Continue        string `json:"continue,omitempty"`
}

// Container is the subset of corev1.Container (and corev1.EphemeralContainer) that ecrwarden reads.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image,omitempty"`
}

// PodSpec is the subset of corev1.PodSpec that references images.
type PodSpec struct {
	Containers          []Container `json:"containers,omitempty"`
	InitContainers      []Container `json:"initContainers,omitempty"`
	EphemeralContainers []Container `json:"ephemeralContainers,omitempty"`
}

// PodTemplateSpec is the subset of corev1.PodTemplateSpec that ecrwarden reads.
type PodTemplateSpec struct {
	Metadata ObjectMeta `json:"metadata,omitempty"`
	Spec     PodSpec    `json:"spec"`
}

// DeploymentSpec is the subset of appsv1.DeploymentSpec that ecrwarden reads.
type DeploymentSpec struct {
	Replicas *int32          `json:"replicas,omitempty"`
	Template PodTemplateSpec `json:"template"`
}

// DeploymentStatus is the subset of appsv1.DeploymentStatus that tells whether a rollout has been observed and
// has finished.
type DeploymentStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	Replicas           int32 `json:"replicas,omitempty"`
	UpdatedReplicas    int32 `json:"updatedReplicas,omitempty"`
	ReadyReplicas      int32 `json:"readyReplicas,omitempty"`
	AvailableReplicas  int32 `json:"availableReplicas,omitempty"`
}

// Deployment is the subset of an apps/v1 Deployment that ecrwarden reads.
type Deployment struct {
	Metadata ObjectMeta       `json:"metadata"`
	Spec     DeploymentSpec   `json:"spec"`
	Status   DeploymentStatus `json:"status"`
}

// ContainerStatus is the subset of corev1.ContainerStatus that names what a node actually runs: ImageID carries
// the digest the node resolved the container's image to.
type ContainerStatus struct {
	Name    string `json:"name"`
	Image   string `json:"image,omitempty"`
	ImageID string `json:"imageID,omitempty"`
}

// PodStatus is the subset of corev1.PodStatus that ecrwarden reads.
type PodStatus struct {
	Phase                      string            `json:"phase,omitempty"`
	ContainerStatuses          []ContainerStatus `json:"containerStatuses,omitempty"`
	InitContainerStatuses      []ContainerStatus `json:"initContainerStatuses,omitempty"`
	EphemeralContainerStatuses []ContainerStatus `json:"ephemeralContainerStatuses,omitempty"`
}

// Pod is the subset of a core/v1 Pod that ecrwarden reads.
type Pod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
	Status   PodStatus  `json:"status"`
}

// ReplicaSetSpec is the subset of appsv1.ReplicaSetSpec that ecrwarden reads.
type ReplicaSetSpec struct {
	Replicas *int32          `json:"replicas,omitempty"`
	Template PodTemplateSpec `json:"template"`
}

// ReplicaSetStatus is the subset of appsv1.ReplicaSetStatus that ecrwarden reads.
type ReplicaSetStatus struct {
	Replicas int32 `json:"replicas"`
}

// ReplicaSet is the subset of an apps/v1 ReplicaSet that ecrwarden reads.
type ReplicaSet struct {
	Metadata ObjectMeta       `json:"metadata"`
	Spec     ReplicaSetSpec   `json:"spec"`
	Status   ReplicaSetStatus `json:"status"`
}

// HoldsReplicas reports whether the ReplicaSet still wants or still has Pods. An unset spec.replicas counts as
// holding replicas, since the API server defaults it to 1.
func (rs *ReplicaSet) HoldsReplicas() bool {
	return rs.Spec.Replicas == nil || *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0
}

// WorkloadSpec is the spec shape shared by StatefulSets, DaemonSets and Jobs: a Pod template.
type WorkloadSpec struct {
	Template PodTemplateSpec `json:"template"`
}

// StatefulSet is the subset of an apps/v1 StatefulSet that ecrwarden reads.
type StatefulSet struct {
	Metadata ObjectMeta   `json:"metadata"`
	Spec     WorkloadSpec `json:"spec"`
}

// DaemonSet is the subset of an apps/v1 DaemonSet that ecrwarden reads.
type DaemonSet struct {
	Metadata ObjectMeta   `json:"metadata"`
	Spec     WorkloadSpec `json:"spec"`
}

// Job is the subset of a batch/v1 Job that ecrwarden reads.
type Job struct {
	Metadata ObjectMeta   `json:"metadata"`
	Spec     WorkloadSpec `json:"spec"`
}

// JobTemplateSpec is the subset of batchv1.JobTemplateSpec that ecrwarden reads.
type JobTemplateSpec struct {
	Metadata ObjectMeta   `json:"metadata,omitempty"`
	Spec     WorkloadSpec `json:"spec"`
}

// CronJobSpec is the subset of batchv1.CronJobSpec that ecrwarden reads.
type CronJobSpec struct {
	JobTemplate JobTemplateSpec `json:"jobTemplate"`
}

// CronJob is the subset of a batch/v1 CronJob that ecrwarden reads.
type CronJob struct {
	Metadata ObjectMeta  `json:"metadata"`
	Spec     CronJobSpec `json:"spec"`
}

// Status is the metav1.Status body the API server returns with an error response.
type Status struct {
	Kind    string `json:"kind,omitempty"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// list is the envelope of every Kubernetes list response.
type list[T any] struct {
	Metadata ListMeta `json:"metadata"`
	Items    []T      `json:"items"`
}
