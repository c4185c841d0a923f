// Command infra is the CDK Go app that deploys ecrwarden: the onpush, onscan
// and gc functions, the EventBridge rules and schedule that drive them, their
// dead-letter queues and alarms, the KMS-encrypted alert topic, the dedupe
// table, the ecrwarden event bus, the ECR repositories the policy marks
// manage: true, and (only when opted in twice) the account-wide registry
// scanning and replication settings.
//
// cdk.json runs it as "go run ./infra". Its inputs are the policy file and a
// few context values (see readConfig); the policy is validated at synth time,
// so a broken policy fails "cdk synth" with the policy's own
// file:line:col errors. The functions are compiled by a local bundler (no
// Docker) into arm64 bootstrap binaries with the policy copied next to them.
package main
