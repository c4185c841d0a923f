// Package dedupe makes at-least-once events act once. EventBridge delivers
// ECR and Inspector events at least once (and ECR emits them "on a best
// effort basis"), Lambda retries failed asynchronous invocations, and
// Inspector repeats findings: a DynamoDB record per unit of work — an alert
// fingerprint, a rollout of one digest to one Deployment — lets exactly one
// invocation do it.
//
// A record goes through two states. Begin writes it as pending with a short
// lease, conditionally: only when no record exists, the record has expired
// (DynamoDB's TTL deletion is lazy, so an expired record can still be read)
// or a pending record's lease ran out (its invocation died). Done marks it
// done for the TTL; Abandon deletes it so a retry can do the work again. An
// invocation that crashes between Begin and Done therefore delays the work by
// at most the lease, and never loses it.
//
// Table layout: partition key "pk" (S), TTL attribute "expiresAt" (N, epoch
// seconds), plus "state" (S) and "leaseUntil" (N).
package dedupe
