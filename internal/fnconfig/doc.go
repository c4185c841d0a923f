// Package fnconfig is the wiring the three Lambda functions share: it reads
// their configuration from the environment the CDK stack sets, loads the
// bundled policy, and builds the AWS clients, the notifier, the dedupe
// store, the audit publisher and the EKS cluster resolver.
//
// Environment:
//
//	ECRWARDEN_POLICY        path of the policy file (default ./ecrwarden.yaml next to the binary)
//	ECRWARDEN_TOPIC_ARN     SNS topic for alerts (empty: no SNS)
//	ECRWARDEN_SLACK_SECRET  Secrets Manager secret holding the Slack webhook URL (empty: no Slack)
//	ECRWARDEN_EVENT_BUS     EventBridge bus for audit events (required)
//	ECRWARDEN_DEDUPE_TABLE  DynamoDB table for exactly-once records (required)
//	ECRWARDEN_DRY_RUN       gc only: "true" plans without deleting
//	ECRWARDEN_GC_QUEUE_URL  gc only: the per-repository fan-out queue
//	ECRWARDEN_METRICS_NAMESPACE  CloudWatch namespace of the EMF metrics (default ecrwarden)
//
// AWS endpoints follow the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables,
// which is how tests and the demo point the unmodified functions at the
// emulators.
package fnconfig
