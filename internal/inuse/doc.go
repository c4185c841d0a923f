// Package inuse finds every image reference in the places a registry's
// images run, for gc's in-use protection and for onpush's check before it
// deletes a rejected tag (both list the same Sources and match with
// Listing.ForRepository). Each place is a Source — one
// small reader per kind, behind one interface, so gc lists them all and
// never asks which kind it holds (the way flux's image policies sit behind
// one Policer):
//
//   - Cluster: one EKS cluster of the policy (Pods with the digests nodes
//     resolved, Deployments, ReplicaSets with replicas, StatefulSets,
//     DaemonSets, Jobs, CronJobs; kube.Client.ListImagesInUse);
//   - ECS: every service's task definitions (current, deployments, task
//     sets) and every running task's containers, by image and imageDigest;
//   - Lambda: every version of every function packaged as an image, by
//     Code.ImageUri and Code.ResolvedImageUri;
//   - SageMaker: every model's containers, named after the endpoints serving
//     them; every endpoint's deployed images (the digest SageMaker resolved
//     at deployment); training, processing and tuning jobs in progress;
//   - Batch: every ACTIVE job definition revision (container, ECS, EKS and
//     node-range properties).
//
// Sources builds them from the policy: one per cluster, always, and the
// four AWS services unless gc.inUse turns one off. The AWS sources read the
// whole account and region the function runs in, with SDK paginators at
// each API's largest page and at most 8 Describe/Get calls in flight.
//
// Fail closed. A source returns an error, never a partial listing, when any
// page or any Describe call fails (after the SDK retryer's attempts), when
// a Describe answer reports failures, or when it has no client. List reads
// the sources concurrently and returns the first failure, prefixed with the
// source's name ("SageMaker: list endpoints: …"); gc then deletes nothing.
//
// Only references to the repository being planned count: Listing.ForRepository
// parses every reference with kube.ParseImageRef and compares the registry
// with kube.Ref.InRegistry (every host form of our registry: FIPS,
// dual-stack, :443, the partition's domains) and the repository exactly,
// the one notion of "our image" the cluster reader uses too. A digest
// protects that digest, a tag the image
// carrying it, a reference with neither the tag latest. Each protected
// digest and tag is named by the first holder found ("ECS service
// retail/api task definition retail-api:42 and 2 more"), which the plan's
// reason quotes.
//
// Not read (documented gaps): ECS task definitions that no service or
// running task uses (RunTask from a schedule; ECS service revisions),
// SageMaker model packages and inference components that carry their own
// container, and Batch jobs already queued against a revision deregistered
// since. moto 5.2.1 does not model running ECS tasks (its container cpu
// does not decode), jobs in progress (its training and processing jobs
// complete at once) or deployed images, so those paths are tested against
// the fakes only.
package inuse
