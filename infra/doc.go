// Command infra is the CDK Go app that deploys ecrwarden: the onpush, onscan
// and gc functions, the EventBridge rules and schedule that drive them, their
// dead-letter queues and alarms, the KMS-encrypted alert topic, the dedupe
// table, the audit event bus (named after the stack), the ECR repositories
// the policy marks manage: true (one stack creates them), and (only when
// opted in twice) the account-wide registry scanning and replication
// settings.
//
// cdk.json runs it as "go run ./infra". Its inputs are the policy file and a
// few context values (see readConfig); the policy is validated at synth time,
// so a broken policy fails "cdk synth" with the policy's own
// file:line:col errors. The functions are compiled by a local bundler (no
// Docker) into arm64 bootstrap binaries with the policy copied next to them.
//
// The template is environment-agnostic (see environment): it names no
// account or Region, and a second stack with another stackName repeats no
// physical name. infra/synth.sh synthesizes it offline and lints it with
// cfn-lint (infra/cfnlint.sh); the tests lint every variant they synthesize.
package main
