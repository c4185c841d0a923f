// Package dedupe makes at-least-once events act once. EventBridge delivers
// ECR and Inspector events at least once (and ECR emits them "on a best
// effort basis"), Lambda retries failed asynchronous invocations, and
// Inspector repeats findings: a DynamoDB record per unit of work — an alert
// fingerprint and channel, an audit publication — lets one invocation do it.
//
// A record goes through two states. Begin writes it as pending with a
// lease, conditionally: only when no record exists, the record has expired
// (DynamoDB's TTL deletion is lazy, so an expired record can still be read)
// or a pending record's lease ran out (its invocation died). Done marks it
// done for the TTL; a failed attempt releases it so a retry can do the work
// again at once.
//
// The rule is that work is done or the invocation fails:
//
//   - The lease is derived from the invocation's deadline, not a constant:
//     it ends DefaultLeaseMargin after the context's deadline, so it is
//     always shorter than the function timeout plus Lambda's retry delay
//     (one minute, then two) and a retry never finds the lease of an
//     attempt that timed out still held. Without a deadline (the CLI) the
//     configured lease applies and bounds the work.
//   - A lease held by another invocation is waited for, briefly (a
//     concurrent duplicate delivery usually finishes within seconds): done
//     meanwhile, the work is skipped; still held, it is ErrInProgress, a
//     retryable error, never a success.
//   - Work runs under the deadline minus a reserve, so the outcome is always
//     recorded; with less than the reserve left nothing is claimed
//     (ErrNoTime).
//   - Duplicates are the lesser evil, and are visible: a claim that takes
//     over from an attempt that may have done the work (it died holding the
//     lease, or failed with ErrUncertain after its request was sent) is
//     Reclaimed, and callers count it.
//
// Releases are conditional on the claim's owner (a random token written
// with the claim), so a slow attempt never deletes a claim another
// invocation took over.
//
// Table layout: partition key "pk" (S), TTL attribute "expiresAt" (N, epoch
// seconds), plus "state" (S), "leaseUntil" (N), "owner" (S) and
// "uncertain" (BOOL).
package dedupe
