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
	// CreationTimestamp is RFC 3339, as the API server writes it.
	CreationTimestamp string           `json:"creationTimestamp,omitempty"`
	OwnerReferences   []OwnerReference `json:"ownerReferences,omitempty"`
}

// OwnerReference is the subset of metav1.OwnerReference that ecrwarden reads: which object controls another (a
// ReplicaSet its Pods, a CronJob its Jobs).
type OwnerReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller,omitempty"`
}

// LabelSelector is the subset of metav1.LabelSelector that ecrwarden reads: the equality part. Workload selectors
// with matchExpressions are read through the Pods' owner references instead.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Condition is the shape shared by the conditions of Deployments, Jobs and Pods.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// findCondition returns the condition of type typ, or a zero Condition.
func findCondition(conds []Condition, typ string) Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
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
	Selector *LabelSelector  `json:"selector,omitempty"`
	Template PodTemplateSpec `json:"template"`
	// Paused stops the Deployment controller from rolling the template out (`kubectl rollout pause`).
	Paused bool `json:"paused,omitempty"`
}

// DeploymentStatus is the subset of appsv1.DeploymentStatus that tells whether a rollout has been observed and
// has finished.
type DeploymentStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	Replicas           int32 `json:"replicas,omitempty"`
	UpdatedReplicas    int32 `json:"updatedReplicas,omitempty"`
	ReadyReplicas      int32 `json:"readyReplicas,omitempty"`
	AvailableReplicas  int32 `json:"availableReplicas,omitempty"`
	// Conditions hold Progressing (reason ProgressDeadlineExceeded when the rollout stalled) and Available.
	Conditions []Condition `json:"conditions,omitempty"`
}

// Deployment is the subset of an apps/v1 Deployment that ecrwarden reads.
type Deployment struct {
	Metadata ObjectMeta       `json:"metadata"`
	Spec     DeploymentSpec   `json:"spec"`
	Status   DeploymentStatus `json:"status"`
}

// ContainerStatus is the subset of corev1.ContainerStatus that names what a node actually runs (ImageID carries
// the digest the node resolved the container's image to) and how the container fares.
type ContainerStatus struct {
	Name         string         `json:"name"`
	Image        string         `json:"image,omitempty"`
	ImageID      string         `json:"imageID,omitempty"`
	Ready        bool           `json:"ready,omitempty"`
	RestartCount int32          `json:"restartCount,omitempty"`
	State        ContainerState `json:"state,omitempty"`
	LastState    ContainerState `json:"lastState,omitempty"`
}

// ContainerState is corev1.ContainerState: at most one of its members is set.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting is a container that has not started: Reason is ErrImagePull, ImagePullBackOff,
// CrashLoopBackOff, CreateContainerConfigError, ContainerCreating, ...
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt string `json:"startedAt,omitempty"`
}

// ContainerStateTerminated is a container that exited: Reason is Completed, Error, OOMKilled, ...
type ContainerStateTerminated struct {
	ExitCode int32  `json:"exitCode"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
}

// PodStatus is the subset of corev1.PodStatus that ecrwarden reads.
type PodStatus struct {
	Phase                      string            `json:"phase,omitempty"`
	Conditions                 []Condition       `json:"conditions,omitempty"`
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

// WorkloadSpec is the spec shape of a Job: a Pod template and the selector of its Pods.
type WorkloadSpec struct {
	Selector *LabelSelector  `json:"selector,omitempty"`
	Template PodTemplateSpec `json:"template"`
}

// Update strategies of StatefulSets and DaemonSets.
const (
	// RollingUpdate replaces Pods by itself.
	RollingUpdate = "RollingUpdate"
	// OnDelete changes the template only: a Pod takes it when someone deletes the Pod.
	OnDelete = "OnDelete"
)

// UpdateStrategy is appsv1.StatefulSetUpdateStrategy and appsv1.DaemonSetUpdateStrategy (the fields ecrwarden
// reads): Type is RollingUpdate (the default) or OnDelete.
type UpdateStrategy struct {
	Type          string               `json:"type,omitempty"`
	RollingUpdate *RollingUpdateConfig `json:"rollingUpdate,omitempty"`
}

// RollingUpdateConfig holds a StatefulSet's partition: only Pods with an ordinal at or above it are updated.
type RollingUpdateConfig struct {
	Partition *int32 `json:"partition,omitempty"`
}

// StatefulSetSpec is the subset of appsv1.StatefulSetSpec that ecrwarden reads.
type StatefulSetSpec struct {
	Replicas       *int32          `json:"replicas,omitempty"`
	Selector       *LabelSelector  `json:"selector,omitempty"`
	Template       PodTemplateSpec `json:"template"`
	UpdateStrategy UpdateStrategy  `json:"updateStrategy,omitempty"`
}

// StatefulSetStatus is the subset of appsv1.StatefulSetStatus that tells a rollout's progress.
type StatefulSetStatus struct {
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	Replicas           int32  `json:"replicas,omitempty"`
	ReadyReplicas      int32  `json:"readyReplicas,omitempty"`
	CurrentReplicas    int32  `json:"currentReplicas,omitempty"`
	UpdatedReplicas    int32  `json:"updatedReplicas,omitempty"`
	AvailableReplicas  int32  `json:"availableReplicas,omitempty"`
	CurrentRevision    string `json:"currentRevision,omitempty"`
	UpdateRevision     string `json:"updateRevision,omitempty"`
}

// StatefulSet is the subset of an apps/v1 StatefulSet that ecrwarden reads.
type StatefulSet struct {
	Metadata ObjectMeta        `json:"metadata"`
	Spec     StatefulSetSpec   `json:"spec"`
	Status   StatefulSetStatus `json:"status"`
}

// DaemonSetSpec is the subset of appsv1.DaemonSetSpec that ecrwarden reads.
type DaemonSetSpec struct {
	Selector       *LabelSelector  `json:"selector,omitempty"`
	Template       PodTemplateSpec `json:"template"`
	UpdateStrategy UpdateStrategy  `json:"updateStrategy,omitempty"`
}

// DaemonSetStatus is the subset of appsv1.DaemonSetStatus that tells a rollout's progress.
type DaemonSetStatus struct {
	ObservedGeneration     int64 `json:"observedGeneration,omitempty"`
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled,omitempty"`
	CurrentNumberScheduled int32 `json:"currentNumberScheduled,omitempty"`
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`
	NumberReady            int32 `json:"numberReady,omitempty"`
	NumberAvailable        int32 `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32 `json:"numberUnavailable,omitempty"`
}

// DaemonSet is the subset of an apps/v1 DaemonSet that ecrwarden reads.
type DaemonSet struct {
	Metadata ObjectMeta      `json:"metadata"`
	Spec     DaemonSetSpec   `json:"spec"`
	Status   DaemonSetStatus `json:"status"`
}

// JobStatus is the subset of batchv1.JobStatus that tells how a Job ended: a Complete or Failed condition.
type JobStatus struct {
	Conditions []Condition `json:"conditions,omitempty"`
	Active     int32       `json:"active,omitempty"`
	Ready      *int32      `json:"ready,omitempty"`
	Succeeded  int32       `json:"succeeded,omitempty"`
	Failed     int32       `json:"failed,omitempty"`
}

// Job is the subset of a batch/v1 Job that ecrwarden reads.
type Job struct {
	Metadata ObjectMeta   `json:"metadata"`
	Spec     WorkloadSpec `json:"spec"`
	Status   JobStatus    `json:"status"`
}

// JobTemplateSpec is the subset of batchv1.JobTemplateSpec that ecrwarden reads.
type JobTemplateSpec struct {
	Metadata ObjectMeta   `json:"metadata,omitempty"`
	Spec     WorkloadSpec `json:"spec"`
}

// CronJobSpec is the subset of batchv1.CronJobSpec that ecrwarden reads.
type CronJobSpec struct {
	Schedule    string          `json:"schedule,omitempty"`
	Suspend     *bool           `json:"suspend,omitempty"`
	JobTemplate JobTemplateSpec `json:"jobTemplate"`
}

// CronJobStatus is the subset of batchv1.CronJobStatus that ecrwarden reads.
type CronJobStatus struct {
	LastScheduleTime   string `json:"lastScheduleTime,omitempty"`
	LastSuccessfulTime string `json:"lastSuccessfulTime,omitempty"`
}

// CronJob is the subset of a batch/v1 CronJob that ecrwarden reads.
type CronJob struct {
	Metadata ObjectMeta    `json:"metadata"`
	Spec     CronJobSpec   `json:"spec"`
	Status   CronJobStatus `json:"status"`
}

// Event is the subset of a core/v1 Event that ecrwarden reports: what kubelet and the controllers said about a
// Pod (Failed, BackOff, Pulling, ...).
type Event struct {
	Metadata       ObjectMeta      `json:"metadata"`
	InvolvedObject ObjectReference `json:"involvedObject"`
	Type           string          `json:"type,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	Message        string          `json:"message,omitempty"`
	Count          int32           `json:"count,omitempty"`
	FirstTimestamp string          `json:"firstTimestamp,omitempty"`
	LastTimestamp  string          `json:"lastTimestamp,omitempty"`
	EventTime      string          `json:"eventTime,omitempty"`
}

// ObjectReference is the subset of corev1.ObjectReference an Event names its object by.
type ObjectReference struct {
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
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
