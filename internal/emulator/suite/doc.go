// Package suite starts every emulator under internal/emulator together on
// loopback — ECR, SNS, EventBridge, Secrets Manager, DynamoDB, EKS and the
// Slack webhook sink — wires the ECR emulator's events to the EventBridge
// default bus, and reports their endpoints. `ecrwarden emulate` and the demo
// are built on it.
//
// The AWS SDK for Go v2 has no single BaseEndpoint for all services, so the
// suite reports one URL per service. Code that builds its clients with
// config.LoadDefaultConfig can be pointed at the suite through the
// environment alone: the SDK's config package reads
// AWS_ENDPOINT_URL_<SERVICE ID> (the service's ServiceID upper-cased, spaces
// turned into underscores — config v1.33.18, EnvConfig.GetServiceBaseEndpoint)
// and uses it as that service's BaseEndpoint. [Suite.Env] returns those
// variables:
//
//	AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_EVENTBRIDGE,
//	AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_EKS
//
// plus AWS_REGION (the SDKs and the AWS CLI v2) and AWS_DEFAULT_REGION (the
// AWS CLI v1 reads only this one) and static test credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), which the emulators accept
// without verifying signatures. botocore (the AWS CLI v1, 1.43 here) reads
// the same AWS_ENDPOINT_URL_<SERVICE> names (its ConfiguredEndpointProvider:
// the service id in snake case, upper-cased), as does the AWS CLI v2.
// [Suite.ShellEnv] adds what makes a shell safe to point at the suite: no
// profile, session token or config file of the user's, and every other
// service (AWS_ENDPOINT_URL, HTTPS_PROXY) answered locally with
// NotEmulated. The Slack sink has no SDK; its webhook URL is seeded as the
// SecretString of the secret named by [Options].SlackSecretName, the way
// ecrwarden reads it in production.
//
// A [SeedFile] (`ecrwarden emulate --seed`) describes the state to start
// from; it is validated by applying it to emulators that serve nothing, so
// every problem is reported with its line before anything starts.
package suite
