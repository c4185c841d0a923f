// Package lifecycle reads an Amazon ECR lifecycle policy (the JSON text of
// PutLifecyclePolicy / GetLifecyclePolicy) and evaluates it over a
// repository's images with the semantics the ECR user guide documents
// ("Lifecycle policy properties", "How lifecycle policies work", "Examples of
// lifecycle policies"), so gc can show what the native policy will do next to
// its own plan. It does no I/O and reads no clock.
//
// # Grammar ([Parse])
//
//   - rulePriority: a unique integer of at least 1; rules apply lowest first.
//   - selection.tagStatus: tagged (with tagPatternList or tagPrefixList, not
//     both), untagged (with neither) or any (with neither). A rule with any
//     must have the highest rulePriority; this is checked among the rules of
//     its storage class, since standard and archive rules select disjoint
//     images (the guide does not say; the stricter reading would refuse an
//     "archive what is not pulled" rule beside a "delete what stays archived"
//     rule, both with any). Only one rule may select untagged images.
//   - tagPatternList: patterns with at most four * wildcards each;
//     tagPrefixList: prefixes. With several entries, an image is selected only
//     when every entry matches one of its tags.
//   - selection.storageClass: standard (default) or archive. archive needs
//     countType sinceImageTransitioned, which needs archive.
//   - countType imageCountMoreThan (countNumber images are kept, newest by
//     push time first), sinceImagePushed, sinceImagePulled and
//     sinceImageTransitioned (countUnit days). countNumber is at least 1;
//     sinceImageTransitioned rules expire images archived at least 90 days:
//     "You cannot configure lifecycle policies that delete images that have
//     been in archive for less than 90 days".
//   - action.type expire, or transition with targetStorageClass archive
//     (standard images only; not with sinceImageTransitioned).
//
// # Evaluation ([Policy.Evaluate])
//
// Every rule identifies the images its selection matches (tag status and
// tags, and storage class: standard rules see ACTIVE images, archive rules
// ARCHIVED ones) and marks those its count criterion selects. Rules apply in
// priority order: an image is acted on by exactly one rule or none, and an
// image that matches the tagging requirements of a rule is never acted on by
// a rule of lower priority, although lower rules still count it ("Rules can
// never mark images that are marked by higher priority rules, but can still
// identify them as if they haven't been expired"). sinceImagePulled counts
// from lastRecordedPullTime, or from the push for an image never recorded as
// pulled. An image an image index lists is not acted on while the index stays
// (ECR refuses to delete it first); images being restored (ACTIVATING) are
// in neither storage class.
//
// The 24-hour schedule of the real evaluator is not modelled: Evaluate says
// what the policy selects at the time it is given.
package lifecycle
