// Package gc is the executor around the retention planner, shared by the gc
// function and `ecrwarden gc plan`. For the repositories of one run it
//
//  1. reads the repositories (DescribeRepositories, 100 names a call: the URI
//     names the registry host workloads pull from) and lists every image of
//     each, whatever its storage status (DescribeImages, all pages, 1,000 a
//     page, converted page by page), resolving the children of active
//     multi-arch indexes (BatchGetImage, only when indexes exist) and reading
//     the native lifecycle policy (GetLifecyclePolicy);
//  2. lists the images in use in every source of the policy
//     (internal/inuse: each cluster, and ECS, Lambda, SageMaker and Batch
//     unless gc.inUse turns one off) — after the ECR listings, so an image
//     deployed meanwhile is seen;
//  3. plans each repository with retention.Plan, evaluates its native policy
//     beside the plan (internal/lifecycle), and collects warnings: an image in
//     use that is archived, or that the native policy will expire or archive;
//  4. unless the run is a dry run or the cap refuses, deletes each
//     repository's retention.Result.DeleteIDs and archives the units the plan
//     archives, after re-checking them (registry.Delete, registry.Archive);
//  5. reports: the alert and ImagesExpired audit events, with the monthly
//     storage cost saved at Prices (cost.go).
//
// Safety. A repository whose listing failed (a DescribeImages page, a
// BatchGetImage call, DescribeRepositories) is not planned and nothing is
// deleted in it. If any in-use source cannot be listed, nothing is deleted
// in any repository of the run (the error names the source): in-use
// protection spans repositories. The cap
// (gc.maxDeletesPerRun) counts deletions and archivals of the whole run: the
// repositories of one call together, and with a Budget (the fan-out) every
// repository of the run across invocations. Dry-run logs and reports the same
// plan it would execute. A native policy that cannot be read or evaluated is
// a warning, not a listing failure: gc's own decisions do not depend on it.
//
// Fan-out. When one invocation cannot finish, Enqueue sends one SQS message
// per repository and the same function runs each message as a run of one
// repository, counting against the run's Budget (see docs/gc-scale.md).
package gc
