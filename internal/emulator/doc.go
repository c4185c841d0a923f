// Package emulator groups protocol-level, in-process emulators of the AWS
// services ecrwarden calls (ECR, SNS, EventBridge, Secrets Manager, DynamoDB,
// EKS) and a Slack incoming-webhook sink.
//
// Each emulator lives in its own subpackage, is an [net/http.Handler] and has a
// Start helper that serves it on 127.0.0.1 and returns a URL usable as the
// BaseEndpoint of the unmodified AWS SDK for Go v2 client. The emulators speak
// the wire protocol the pinned SDK clients send (read from their serializers),
// answer with the error shapes their deserializers accept, and share the
// fault-injection and call-log plumbing of package fault.
//
// Requests are signed by the SDK but SigV4 signatures are never verified.
package emulator
