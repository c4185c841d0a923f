// Package sandbox runs the whole suite on one machine the way AWS runs it: the stack's
// CloudFormation template, synthesized by the CDK app from the same policy file
// (testenv.SynthTemplate, cached), deployed on the AWS emulators and moto, a real
// kube-apiserver that authenticates the functions' EKS tokens through an
// aws-iam-authenticator-style webhook, and the compiled onpush, onscan and gc binaries
// behind the Lambda Runtime API.
//
// Nothing about the stack is hard-coded: the functions are found in the template by
// their construct paths (internal/cfn), each gets the environment the template gives it
// (resolved to the physical names the sandbox chooses as CloudFormation would, /var/task
// mapped to its own asset directory) plus the AWS_ENDPOINT_URL_<SERVICE> variables, and
// its own credentials bound to its own role. Every AWS call is authorized against that
// role's identity policies from the template (internal/emulator/authz, internal/iam),
// in every emulator and in a proxy in front of moto (behind which the fault proxy,
// Sandbox.InUse, counts the calls IAM let through and fails them on purpose: one moto
// per cluster, reset by each sandbox); a refused call fails as AWS fails it, and Close
// reports every refusal a test did not expect (ExpectDenied), naming the function, the
// action and the resource. The tests, seeding and the demo's "CI" use an
// admin identity that is allowed everything.
//
// Events flow as in AWS: the ECR emulator puts "ECR Image Action", "ECR Image Scan" and
// Inspector2 events on the EventBridge emulator's default bus; Deliver routes each to
// the function the template's rules target (their resolved event patterns), retries a
// failed invocation as the template's EventInvokeConfig says and sends it to the
// function's failure destination queue, and polls the template's SQS event sources (gc's
// fan-out) as Lambda does, with the function's credentials. The EKS access entries of
// the template give each function's key its Kubernetes user and groups, whose RBAC
// (internal/kube/rbac) the sandbox applies to the control plane.
//
// The scenario set (Scenarios) is the one place end-to-end stories live that together
// exercise every AWS call; the IAM mutation check removes each exercised grant from the
// template (RemoveGrant) and shows a scenario then fails on it.
//
// The end-to-end tests and `ecrwarden demo` are built on it.
package sandbox
