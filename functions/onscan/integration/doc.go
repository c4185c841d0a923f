// Package integration holds the end-to-end tests of the onscan function:
// the compiled binary run by internal/sandbox behind the Lambda Runtime API,
// fed the scan events the ECR emulator emits, delivering to the SNS,
// DynamoDB and Slack emulators and patching a real kube-apiserver.
//
// They live apart from the unit tests so that those need neither a
// control plane nor a build of every function. With -short they skip.
package integration
