// Package rollout moves Deployment containers forward to newly pushed
// images. It is shared by onpush (ungated rules, on every push) and onscan
// (rules with requireCleanScan, once a scan comes back clean).
//
// A target is one container that follows one repository: a deploy rule of
// the policy, or a Deployment that opts in with the annotation
// ecrwarden.io/track: "mlops/retail-api:v{semver}" (optionally
// ecrwarden.io/container, ecrwarden.io/pin, ecrwarden.io/prerelease,
// ecrwarden.io/require-clean-scan).
//
// Forward only. The version of the image a container runs now is read, in
// order, from ecrwarden's own annotations (when their digest is the running
// one), from the image reference's tag, or from the registry (the tags of
// the running digest or tag). The pushed tag rolls out only when it ranks
// strictly newer in the target's order; a container running an image of
// another repository, or one whose version cannot be told, has no version
// and is moved forward. A registry lookup that fails is an error, never a
// guess.
//
// Idempotent. A container already at the pushed digest is left alone, and
// the patch carries the resourceVersion it was decided on: a duplicate
// event, a retry after a timeout, or two concurrent invocations yield one
// rollout (the loser of a 409 re-reads, sees the digest, and stops).
package rollout
