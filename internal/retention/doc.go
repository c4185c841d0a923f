// Package retention is gc's pure planner: given one repository's images, its
// retention rules and protections, the set of images in use and the time
// now, it decides for every image whether gc keeps or deletes it and why.
//
// It does no I/O and reads no clock: the same input always gives the same
// plan, in the same order. It never applies gc's per-run cap or dry-run
// mode; the executor does.
//
// # Semantics
//
// Units. An image index (media type application/vnd.oci.image.index.v1+json
// or application/vnd.docker.distribution.manifest.list.v2+json) and the child
// manifests it lists form one unit; so do an image and its referrers
// (artifacts whose subject names it: signatures, SBOMs — by ECR's
// subjectManifestDigest, or by a cosign tag sha256-<hex>.sig, .att or .sbom,
// which names its subject; such tags are not the unit's tags). Any image that lists
// child manifests is treated as an index, whatever its media type says. The
// unit takes its parent's push time, and its parent's tags together with any
// tag a member carries itself (normally none: children and referrers are
// untagged). A child listed by several indexes belongs to each of them and is
// deleted only when every unit holding it is deleted. Children never count as
// untagged images on their own. A child or referrer whose parent is absent
// from the listing is an ordinary image.
//
// Protection is checked first; a protected unit is never deleted, whatever
// the rules say. The reason names the first protection that applies, in this
// order:
//   - in use: the digest of the unit's parent or of any member is in the
//     in-use digest set, or any of the unit's tags is in the in-use tag set
//     (a workload references repo:tag); the reason names what references
//     it when InUse says (DigestUses, TagUses);
//   - protected tag: one of the unit's tags matches protect.tags;
//   - grace: the unit was pushed less than protect.newerThan before now;
//   - untagged grace: the unit has no tags and was pushed less than
//     protect.untaggedNewerThan (default 6h) before now: the platform images
//     of a multi-arch push are stored untagged before their index;
//   - restoring: the unit is ACTIVATING (UpdateImageStorageClass to STANDARD
//     in progress).
//
// Storage. A unit has its parent's status: ACTIVE, ARCHIVED or ACTIVATING.
// Rules with archivedFor look only at ARCHIVED units; every other rule only at
// ACTIVE ones (so keepNewest counts active units only). No rule selects an
// ACTIVATING unit.
//
// Selection. A rule with match selects the tagged units with at least one
// tag matching any of its patterns ("*" selects every tagged unit; patterns
// never select untagged units). A rule with untagged: true selects the units
// without tags. Every rule that selects a unit applies: there is no
// first-match shielding, which is the difference from ECR's native lifecycle
// policies, where a higher-priority rule shields the images it matches.
//
// keepNewest N. The rule ranks the units it selects, newest first: by push
// time (order: pushed), or by the best {semver} or {date} value among the
// unit's tags that match the rule's patterns (order: semver or date; units
// with no such value rank after all units that have one). Ties are broken by
// push time (newer first), then by the parent's digest (ascending). Protected
// units count toward N: they are among the newest, and kept anyway. Units
// ranked beyond N are expired by the rule.
//
// maxAge D. A selected unit pushed more than D before now is expired by the
// rule.
//
// notPulledFor D. A selected unit whose last recorded pull (ECR's
// lastRecordedPullTime; its push when never recorded) is more than D plus
// PullRecordLag (a day: ECR records pulls up to a day late) before now is
// expired by the rule. A unit's last pull is the latest of its members',
// except that an index's own record is ignored when its children are listed:
// gc's BatchGetImage of the index manifest counts as a pull, and every client
// that pulls an index pulls a child too.
//
// A rule expires a unit only when every condition it sets holds: beyond the
// N newest, older than maxAge, not pulled for notPulledFor (keepNewest is a
// floor under the others).
//
// archivedFor D. A rule with archivedFor selects ARCHIVED units and expires
// those archived (lastArchivedAt) more than D before now. Deleting a unit
// archived less than 90 days ago is allowed only by a rule with
// acceptArchiveMinimumCharge (the policy refuses archivedFor below 90d
// otherwise); its reason says how many days of the minimum are still charged.
//
// Action. A rule's action is delete (default) or archive. A unit that at
// least one delete rule expires is deleted; one that only archive rules
// expire is archived (Decision.Archive); protections stop both.
//
// Decision. A unit is deleted (or archived) when at least one rule expires it and no
// protection applies. The reason names the first expiring rule in file
// order, as in
//
//	retention[1]: rank 7 beyond keepNewest 5 (dev-*, feature-*, main-*)
//	retention[0]: pushed 41d ago, maxAge 30d (exp-*)
//
// A kept unit's reason is its protection (followed by the expiry it
// overrides, if any), or the rules that keep it, as in
//
//	retention[0]: rank 3 of keepNewest 10
//
// or "no rule selects it". Every member of a unit gets its unit's decision;
// a child shared by several units reports the first unit that keeps it (or,
// when all of them delete it, the first one), in plan order.
//
// Order. Plan lists units by push time, newest first, then by the parent's
// digest; each unit's parent comes first and its members follow by push time
// (newest first), then digest. A shared child is listed once, under the unit
// it reports. Images that appear twice in the input (which DescribeImages
// never returns) are merged into one: tags and child lists are united and
// the latest push time and largest size are kept.
//
// Deleting. Result.DeleteIDs lists the deleted digests in waves so that an
// index is deleted before the children it lists and a referrer before its
// subject: ECR refuses to delete a manifest an index still lists.
package retention
