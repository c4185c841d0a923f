// Package integration holds the end-to-end tests and benchmarks of the
// onpush function: the compiled binary run by internal/sandbox behind the
// Lambda Runtime API, fed the push events the ECR emulator emits, alerting
// through the SNS, DynamoDB and Slack emulators, auditing to the EventBridge
// emulator and patching a real kube-apiserver with the least-privilege
// token its EKS credentials map to.
//
// They live apart from the unit tests so that those need neither a control
// plane nor a build of every function. With -short they skip.
package integration
