// Package gc is the executor around the retention planner, shared by the gc
// function and `ecrwarden gc plan`. For the repositories of one run it
//
//  1. reads each repository (DescribeRepositories: its URI names the registry
//     host workloads pull from) and lists every image (DescribeImages, all
//     pages, 1,000 a page), resolving the children of multi-arch indexes
//     (BatchGetImage, only when indexes exist);
//  2. lists the images in use in every source of the policy
//     (internal/inuse: each cluster, and ECS, Lambda, SageMaker and Batch
//     unless gc.inUse turns one off) — after the ECR listings, so an image
//     deployed meanwhile is seen;
//  3. plans each repository with retention.Plan and logs every decision;
//  4. unless the run is a dry run or the plan exceeds the per-run cap,
//     deletes each repository's retention.Result.DeleteIDs with
//     BatchDeleteImage, 100 a call.
//
// Safety. A repository whose listing failed (a DescribeImages page, a
// BatchGetImage call, DescribeRepositories) is not planned and nothing is
// deleted in it. If any in-use source cannot be listed, nothing is deleted
// in any repository of the run (the error names the source): in-use
// protection spans repositories. If the plans
// together would delete more images than the cap, nothing is deleted at all
// and the run reports the refusal. Dry-run prints the same plan it would
// execute.
//
// Fan-out. When one invocation cannot finish, Enqueue sends one SQS message
// per repository and the same function runs each message as a run of one
// repository (see docs/gc-scale.md).
package gc
