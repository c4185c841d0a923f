// Command onscan is the Lambda function that acts on image scan results:
// basic scanning's "ECR Image Scan" and enhanced scanning's "Inspector2 Scan"
// and "Inspector2 Finding" events about ECR images.
//
// For each event it fetches the image's whole current finding set with
// DescribeImageScanFindings (every page, basic and enhanced findings alike;
// a page that fails sends nothing), applies the repository's scan policy
// (threshold, ignore list with expiry) and alerts through SNS and Slack once
// per finding set: the dedupe key is the fingerprint of (repository, digest,
// sorted alerting ids), so EventBridge redeliveries, rescans with the same
// results and Inspector's repeated events stay silent while a new CVE on the
// same image alerts again. A FAILED scan is itself an alert.
//
// Inspector2 Finding bursts: enhanced scanning reports CVEs published after
// the push only as "Inspector2 Finding" events, one per finding. Each event
// refetches the whole current finding set, so the events of a burst that
// arrive after Inspector has recorded all its findings share one fingerprint
// and send one message. When findings trickle in while the burst is being
// delivered, an early event can see a smaller set than a later one; each
// distinct set alerts once, so a burst costs one message, or a few.
// CLOSED and SUPPRESSED finding events never alert.
//
// Scan-gated rollouts: deploy rules and annotation opt-ins with
// requireCleanScan are skipped by onpush. A completed scan event (basic
// COMPLETE, Inspector2 Scan) whose findings read is complete and clean
// (rollout.ReadScan, the rule the reconcile shares: every page COMPLETE or
// ACTIVE; nothing at or above the threshold after ignores; no finding of
// unknown severity) rolls them forward with the same forward-only,
// idempotent engine onpush uses, to the best tag of the image each target
// selects (by the target's order). A read that is not complete, or that is
// empty while the event counts findings, fails the invocation so that
// Lambda retries it: doubt is never clean. A dirty scan holds each such
// rollout and sends a rollout-blocked alert per target; a failed scan holds
// them and its alert names them. Finding events only alert; they never
// release a rollout.
//
// Trust: an event is acted on only if its envelope (and, for Inspector2
// events, its repository ARN) names the function's own account and Region,
// taken from the invoked function ARN, and the image exists in that
// registry. Anything else is refused: logged, audited and not retried.
//
// Audit: FindingsAlerted when a findings alert is delivered, RolloutBlocked
// when a rollout is held and its alert delivered, EventRefused when an event
// is refused, on the ecrwarden bus.
package main
