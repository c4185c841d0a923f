// Package kube authenticates to Amazon EKS the way a Lambda function must and talks to the Kubernetes API with a
// lean REST client: read and patch workloads for rollouts and follow them to their end, list the images
// workloads use for gc.
//
// # Authentication
//
// ClusterResolver calls eks:DescribeCluster once per cluster per process (a Lambda cold start) for the endpoint
// and CA, and gives each cluster a Client whose EKSTokenSource presigns sts:GetCallerIdentity with the
// x-k8s-aws-id header signed and X-Amz-Expires=60 in the query (without it EKS answers 401: aws-sdk-go-v2
// issue 1922), sends "k8s-aws-v1." + unpadded base64url(URL) as the bearer token, and renews it after 14 of its
// 15 minutes. Tests and the integration suite use StaticToken through the same Client.
//
// # Workloads
//
// Deployments, StatefulSets, DaemonSets and CronJobs (the CronJob's spec.jobTemplate.spec.template) are one type,
// Workload, named by a WorkloadRef{Kind, Namespace, Name}: GetWorkload, ContainerImage (containers and init
// containers), Annotations, UpdateWorkloadImage / SetWorkloadImage, RemoveWorkloadAnnotations,
// ListTrackedWorkloads (the ecrwarden.io/track opt-ins of every kind) and Status. What differs between the kinds
// (API path, where the template sits, rollout status) lives in one table in workload.go; callers never switch on
// the kind. The Deployment functions (GetDeployment, SetImage, UpdateImage, RemoveAnnotations) are the same for
// KindDeployment.
//
// # Rollouts
//
// SetWorkloadImage and UpdateWorkloadImage send what `kubectl set image` sends: a strategic merge patch naming one
// container (or init container), so the others stay untouched, with metadata.resourceVersion so a stale patch is
// refused (409) and retried against the fresh object (decide runs again on it). The patch writes the change cause
// and ecrwarden's annotations, among them the previous image for `ecrwarden rollback`. A container already at the
// image is not patched.
//
// # Rollout status
//
// Workload.Status returns a RolloutStatus (Done, Failed, Idle, Reason, replica counts, Pods, Events) with the
// semantics of kubectl's rollout_status.go per kind — Deployment: observedGeneration, Progressing with
// ProgressDeadlineExceeded, updated/available replicas; StatefulSet: partitions, update and current revisions;
// DaemonSet: updatedNumberScheduled, numberAvailable — plus what kubectl refuses or cannot know: OnDelete and a
// paused Deployment are Idle (nothing moves without a person), a workload scaled to zero is Done with a Reason
// saying nothing ran, and a CronJob is judged by its next Job (the newest Job it owns running the current
// template; Idle "no job yet" before one exists). Unless Done, the Pods of the current template are read and a
// fatal container problem (ImagePullBackOff, ErrImagePull, CrashLoopBackOff, CreateContainerConfigError,
// OOMKilled, ...) fails the rollout at once, with the last Events of those Pods. Status needs list on pods and
// events (and jobs, for a CronJob) in the workload's namespace.
//
// # In-use discovery
//
// ListImagesInUse lists Pods (with the digests nodes report in status imageID), Deployments, ReplicaSets still
// holding replicas, StatefulSets, DaemonSets, Jobs and CronJobs, 500 objects a page. Any failed or cut-short
// listing fails the whole call, so gc deletes nothing then.
//
// # Why not client-go
//
// Measured 2026-11-25 on this 2-core amd64 machine (Go 1.26.8) with two throw-away programs in /tmp, each building
// the STS presign client and listing Deployments: one with k8s.io/client-go v0.37.2 (kubernetes.NewForConfig,
// AppsV1().Deployments().List), one with this package (which also links the EKS client for DescribeCluster).
// Built with `GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -ldflags='-s -w' -trimpath`, zipped as bootstrap
// with `zip -9`; package init from `GODEBUG=inittrace=1` summed over all packages, on amd64 builds of the same
// programs (the host cannot run arm64), best of 9 runs on a loaded machine (the allocations are exact):
//
//	                   arm64 binary   zipped    init (best of 9)   init allocations   packages
//	client-go v0.37.2  25.1 MB        7.6 MB    15.5 ms            2.05 MB, 16.1k     254
//	this package        6.6 MB        2.6 MB     4.9 ms            1.17 MB,  7.3k     105
//
// client-go alone would break the function zip budget (< 6 MB) and triples cold init, for the few list calls,
// GETs and PATCHes ecrwarden makes; so the client here is net/http and encoding/json, and k8s.io modules stay
// out of go.mod. BenchmarkUpdateImage (GET, decide, PATCH over TLS on 127.0.0.1 against an in-process fake API
// server) measured 443–507 µs/op, 25.9 kB and 336 allocations per op.
package kube
