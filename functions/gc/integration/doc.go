// Package integration holds the end-to-end tests and benchmarks of the gc
// function: the compiled binary run by internal/sandbox behind the Lambda
// Runtime API, listing, archiving and deleting in the ECR emulator, reading
// what runs in a real kube-apiserver (with its least-privilege EKS token)
// and, through the fault proxy in front of moto_server, in ECS, Lambda,
// SageMaker and Batch, reporting to the SNS and Slack emulators and
// auditing to the EventBridge emulator.
//
// They live apart from the unit tests so that those need neither a control
// plane nor moto. With -short they skip.
package integration
