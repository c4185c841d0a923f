// Package alert is the model of ecrwarden's alerts and their two renderings:
// a Slack Block Kit message ([Slack]) and an SNS notification ([SNS]: a
// subject, a plain-text body for email and SMS subscribers, and the message
// attributes repository, severity and kind that subscription filter policies
// match on).
//
// Kinds: [KindFindings] (vulnerabilities at or above a repository's
// threshold), [KindScanFailed], [KindTagRejected] (onpush: a tag no pattern
// allows, alerted or deleted), [KindRolloutBlocked] (a deploy rule that
// requires a clean scan held back by findings) and [KindGCReport] (what gc
// deleted or would delete, and a refusal when a plan exceeds the cap).
//
// Both renderings stay within the services' limits whatever the input: Slack
// header text ≤150 characters, section text ≤3,000, ≤10 fields of ≤2,000,
// ≤50 blocks, and a total block text budget under the ~13,000 characters at
// which Slack answers msg_blocks_too_long; SNS subject ASCII without control
// characters and under 100 characters, body plus attributes ≤256 KiB. Long
// lists are cut with "and N more". The rendering is pure and deterministic,
// so it is tested with golden files (go test ./internal/alert -update).
package alert
