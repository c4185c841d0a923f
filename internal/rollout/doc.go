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
// Forward only. The version of the image a container runs now is what the
// registry says: the best tag, in the target's order, of the running digest
// (or tag). ecrwarden's own ecrwarden.io/tag annotation counts only when it
// describes the running image and the registry no longer tells a version.
// The pushed tag rolls out only when it ranks strictly newer; a container
// running another repository of our registry, or an image the registry no
// longer has, has no version and is moved forward. A container running an
// image of another registry is never moved (ErrForeignRegistry). A registry
// lookup that fails is an error, never a guess.
//
// Hold and block. A held Deployment (ecrwarden.io/hold) is not moved; a
// digest in ecrwarden.io/blocked-digests is never set on its container.
// Rollback sets both; Release lifts the hold, Unblock one block. Scan gates
// read findings with ReadScan, the one rule of onscan and the reconcile.
//
// Idempotent. A container already at the pushed digest is left alone, and
// the patch carries the resourceVersion it was decided on: a duplicate
// event, a retry after a timeout, or two concurrent invocations yield one
// rollout (the loser of a 409 re-reads, sees the digest, and stops).
//
// Verified. The patch also records the change (AnnotationLastChange) and a
// pending verification (AnnotationVerify), and the engine arms the first
// check (Verifier.Arm: an SQS message delayed by the check interval).
// Verifier.Verify looks once at a workload of any kind
// (kube.Workload.Status: kubectl's rollout-status logic for the kind and
// the new template's Pods' failure reasons; a CronJob's next Job) and
// re-arms, or ends it: verified, failed (onFailure alert, or a rollback
// refused), rolled back (Rollback with the verifier's state, hold and
// block, one alert; a StatefulSet's stuck Pods deleted), or abandoned
// (changed by other hands, or idle or scaled to zero until the timeout). The verification's At names the one check that owns it, so
// duplicate, late and stale checks stop; the engine re-arms a pending
// verification no check has looked at for three intervals (the reconcile
// rolls every target) or whose event is redelivered. ReadState is the one
// reader of the state.
package rollout
