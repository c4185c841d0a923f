// Package authz puts IAM in front of the emulators: every request is identified by the
// access key id of its SigV4 signature, mapped to a principal (a function's role session,
// or the admin identity of tests and seeding), and each IAM action the request needs is
// evaluated against that principal's identity policies (internal/iam). A denied request is
// answered by the emulator in its protocol's own error shape, so the caller's SDK sees
// what it would see from AWS; every decision is recorded.
//
// Each emulator embeds a [Guard] and maps its operations to actions and resources (the
// AWS Service Authorization Reference); without an [Authorizer] set, a Guard allows
// everything, as the emulators did before. [Proxy] gives the same enforcement to
// services served by moto, as an authorizing reverse proxy.
//
// Signatures are not verified: the key id identifies the caller. Each principal has its
// own key pair, and the functions get only their own, so a call is attributed to the
// function that made it.
package authz
