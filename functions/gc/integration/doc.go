// Package integration holds the end-to-end tests of the gc function: the
// compiled binary run by internal/sandbox behind the Lambda Runtime API,
// listing the ECR emulator, reading what runs in a real kube-apiserver and,
// through the fault proxy in front of moto_server, in ECS, Lambda,
// SageMaker and Batch, reporting to the SNS and Slack emulators.
//
// They live apart from the unit tests so that those need neither a control
// plane nor moto. With -short they skip.
package integration
