// Package audit publishes ecrwarden's audit events — TagRejected,
// DeploymentPatched, FindingsAlerted, RolloutBlocked, ImagesExpired — to the
// ecrwarden EventBridge bus, so that other tools can subscribe to what the
// suite did.
//
// Entries go out in PutEvents batches of at most 10 (the API's limit); an
// entry EventBridge refuses in an otherwise successful call (a per-entry
// ErrorCode) is retried a bounded number of times and then reported, never
// dropped silently. Whole-call throttling and 5xx are the SDK retryer's job.
package audit
