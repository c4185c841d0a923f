// Package status says, for every rollout target of a policy (its deploy
// rules and the workloads that opt in by annotation), what the container
// runs, the newest image its rule allows, and why the two differ: the
// screen `ecrwarden status` prints.
//
// It reads only. Its explanations come from the code that decides rollouts
// (internal/rollout): the engine's decision without the patch
// (Engine.Explain), the reconcile's ranking of candidates (Candidates) and
// the scan gate (Gate), so status cannot disagree with what onpush, onscan
// and the reconcile do. It needs, in AWS, ecr:DescribeImages and
// ecr:DescribeImageScanFindings (inspector2:ListFindings under enhanced
// scanning) on the policy's repositories and eks:DescribeCluster on its
// clusters; in Kubernetes, get on the policy's namespaces and list on
// deployments in them: the ecrwarden-reader group's rights suffice.
//
// A target that cannot be read (a cluster unreachable, a listing failed,
// the workload gone) is shown with state unknown and the error; doubt is
// never shown as current.
package status
