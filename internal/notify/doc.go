// Package notify delivers alerts: an SNS Publish with the message attributes
// repository, severity and kind (String values) that subscription filter
// policies match on, then a Slack incoming-webhook POST of the Block Kit
// message. The webhook URL is read from Secrets Manager and cached by the
// [Notifier] (safely for concurrent use) for [DefaultWebhookTTL] on the wall
// clock, so a rotated secret reaches warm functions; an answer that the
// webhook no longer posts (403, 404, 410) forces a re-read, and the message
// is posted once more if the URL changed. The URL is a credential: it must
// be https (never sent in clear text), redirects are never followed (a 3xx
// is an error), and it is never logged or put in an error.
//
// Slack retries are bounded: on 429 the Notifier waits the Retry-After the
// response names, on 5xx and network errors it backs off exponentially, at
// most MaxAttempts tries and MaxWait of waiting in all, and never past the
// context's deadline: a Lambda must not sleep past its own timeout, so a wait
// that would end after the deadline fails at once. Any other 4xx fails at
// once with Slack's answer (invalid_payload, channel_not_found…) in the
// error.
//
// Order and failure contract: [Notifier.Send] publishes to SNS first, then
// posts to Slack, attempting both whatever the other's outcome, and returns
// a [Report] with each channel's result together with an error that
// errors.Is [ErrSNS] and/or [ErrSlack]. A caller that retries (the Lambda
// event goes to the retry/DLQ path when Send fails) should record the
// channels already delivered next to its dedupe key (the finding-set
// fingerprint) and, on the retry, call [Notifier.SendSNS] or
// [Notifier.SendSlack] for the missing channel only, so that SNS subscribers
// do not get the alert twice because Slack was down. [Once] does exactly
// that with the dedupe store.
//
// Delivery contract of [Once]: an alert is sent or the invocation fails.
// Each channel (and the audit events of the alert, see
// [Once.DeliverAudited]) is its own dedupe unit; a unit held by another
// invocation's live lease is an error (retried), never a success; every
// send is bounded by the invocation's deadline minus a reserve, so the
// outcome is always recorded. A send that may have reached the channel
// without our knowing (no answer came back) marks its unit uncertain, and a
// retry that repeats it — or repeats the work of an invocation that died
// holding the lease — is counted as a possible duplicate
// ([Once.Duplicates], and a log line): duplicates are the lesser evil.
package notify
