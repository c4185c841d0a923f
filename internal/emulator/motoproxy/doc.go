// Package motoproxy is a reverse proxy in front of moto_server, the peer
// that serves the AWS services ecrwarden does not emulate itself (ECS,
// Lambda, SageMaker, Batch, SQS). moto answers those APIs far better than
// a hand-written emulator would, but it cannot fail on purpose; the proxy
// adds what the tests need on top of it:
//
//   - it names every call from its wire protocol — X-Amz-Target (awsJson:
//     ECS, SageMaker), the Action parameter (awsQuery), the method and path
//     (restJson: Lambda, Batch) — as "service:Operation", the spelling of
//     IAM actions, with the service taken from the SigV4 credential scope;
//   - it records each call in a fault.Log, so tests count calls per
//     operation exactly;
//   - it injects the faults of a fault.Injector per call name (throttling,
//     5xx, dropped connections, latency) and refusals (AccessDeniedException
//     or any code, optionally only for the pages after the first of a
//     listing) in each protocol's error shape, so the SDK's retryer and the
//     callers' failure paths run against real client deserializers.
//
// Requests that pass are forwarded unchanged (signature headers included).
package motoproxy
