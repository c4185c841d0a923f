// Package audit publishes ecrwarden's audit events — TagRejected,
// DeploymentPatched, FindingsAlerted, RolloutBlocked, ImagesExpired,
// EventRefused — to the ecrwarden EventBridge bus, so that other tools can
// subscribe to what the suite did.
//
// Entries go out in PutEvents batches of at most 10 entries and under
// 256 KB in all (the API's limits); an entry EventBridge refuses in an
// otherwise successful call (a per-entry ErrorCode) is retried a bounded
// number of times and then reported, never dropped silently. Whole-call
// throttling and 5xx are the SDK retryer's job.
//
// A detail too large for one entry — an image with thousands of findings, a
// gc run that deleted thousands of digests — is bounded rather than refused:
// its largest top-level lists keep their first items, and for each cut list
// "<name>Truncated": true and "<name>Total": <full length> are added, so a
// subscriber always knows the list is partial and how long it was.
package audit
