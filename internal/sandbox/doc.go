// Package sandbox runs the whole suite on one machine the way AWS runs it:
// the AWS emulators, a real kube-apiserver that authenticates the functions'
// EKS tokens through an aws-iam-authenticator-style webhook, and the
// compiled onpush, onscan and gc binaries behind the Lambda Runtime API.
//
// Events flow as in AWS: the ECR emulator puts "ECR Image Action", "ECR
// Image Scan" and Inspector2 events on the EventBridge emulator's default
// bus; the sandbox's router delivers each to the function whose rule — the
// very pattern object internal/ecrevent gives the CDK stack — matches it,
// through Function.Invoke (an asynchronous invocation in AWS, with retries
// and a DLQ; here Deliver runs them in order so tests are deterministic, and
// failed invocations are retried as Lambda would and then kept in DLQ).
//
// The functions get nothing but the environment the stack sets: the
// ECRWARDEN_* variables and the SDK's AWS_ENDPOINT_URL_<SERVICE> variables
// pointing at the emulators. Their EKS tokens are real presigned STS URLs,
// verified by internal/emulator/eksauth, and map to the least-privilege
// Kubernetes user of internal/testenv.
//
// The end-to-end tests and `ecrwarden demo` are built on it.
package sandbox
