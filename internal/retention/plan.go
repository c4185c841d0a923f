package retention

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Image is one image of a repository as gc lists it (DescribeImages, with
// the child digests of indexes resolved by BatchGetImage).
type Image struct {
	// Digest is the manifest digest, sha256:...
	Digest string
	// Tags are the image's tags; empty for an untagged image.
	Tags []string
	// PushedAt is when the image was pushed.
	PushedAt time.Time
	// Size is the image size in bytes as ECR reports it.
	Size int64
	// MediaType is the manifest media type.
	MediaType string
	// Manifests are the child digests an image index lists.
	Manifests []string
	// Subject is the digest a referrer (signature, SBOM) refers to: ECR's
	// SubjectManifestDigest.
	Subject string
	// LastPulled is ECR's lastRecordedPullTime; zero when never recorded.
	LastPulled time.Time
	// Status is the storage status: StatusActive (or empty), StatusArchived
	// or StatusActivating.
	Status string
	// ArchivedAt is when the image was last archived (lastArchivedAt).
	ArchivedAt time.Time
}

// Image statuses, as DescribeImages reports them.
const (
	StatusActive     = "ACTIVE"
	StatusArchived   = "ARCHIVED"
	StatusActivating = "ACTIVATING"
)

// PullRecordLag is how late ECR may record a pull: it "refreshes the last
// image pull timestamp at least once every 24 hours" (ImageDetail,
// lastRecordedPullTime). notPulledFor counts from the recorded pull plus
// this lag, so a pull ECR has not recorded yet never expires an image.
const PullRecordLag = 24 * time.Hour

// status returns the image's status, ACTIVE when unset.
func (im *Image) status() string {
	if im.Status == "" {
		return StatusActive
	}
	return im.Status
}

// InUse is what the configured clusters run from one repository.
type InUse struct {
	// Digests are the image digests referenced by workloads or reported by
	// running containers.
	Digests map[string]struct{}
	// Tags are the tags workloads reference (repo:tag).
	Tags map[string]struct{}
	// DigestUses and TagUses optionally name what references a digest or
	// tag ("ECS service retail/api task definition retail-api:42"); the
	// reason of a unit kept in use quotes it.
	DigestUses, TagUses map[string]string
}

// reason is the protection reason of a unit kept because key (a digest
// or tag, as kind says) is in use: "in use: <what uses it> (tag v1)", or
// "in use: tag v1" when nothing is named.
func (u InUse) reason(kind, key string, uses map[string]string) string {
	if who := uses[key]; who != "" {
		return "in use: " + who + " (" + kind + " " + key + ")"
	}
	return "in use: " + kind + " " + key
}

// Protection is why a unit may not be deleted.
type Protection int

// Protections, in the order they are checked.
const (
	// ProtectionNone: nothing protects the unit.
	ProtectionNone Protection = iota
	// ProtectionInUse: a cluster references the unit by digest or tag.
	ProtectionInUse
	// ProtectionTag: a tag matches protect.tags.
	ProtectionTag
	// ProtectionGrace: pushed within protect.newerThan.
	ProtectionGrace
	// ProtectionUntaggedGrace: an untagged unit pushed within
	// protect.untaggedNewerThan (perhaps a platform image of an index still
	// being pushed).
	ProtectionUntaggedGrace
	// ProtectionRestoring: the unit is ACTIVATING (being restored from the
	// archive).
	ProtectionRestoring
)

// String names the protection as reasons do.
func (p Protection) String() string {
	switch p {
	case ProtectionInUse:
		return "in use"
	case ProtectionTag:
		return "protected tag"
	case ProtectionGrace:
		return "grace"
	case ProtectionUntaggedGrace:
		return "untagged grace"
	case ProtectionRestoring:
		return "restoring"
	default:
		return "none"
	}
}

// Decision is the planner's verdict on one image. It points to the image
// in the slice given to Plan (or the planner's merged copy), which the
// caller must not change afterwards: a 100,000-image plan would otherwise
// hold every image twice.
type Decision struct {
	*Image
	// Delete is true when gc deletes the image.
	Delete bool
	// Archive is true when gc moves the image to the archive storage class.
	Archive bool
	// EarlyDays is, for an archived image gc deletes, how many days of the
	// 90-day archive minimum ECR still charges (a rule with
	// acceptArchiveMinimumCharge); 0 otherwise.
	EarlyDays int
	// Reason says what decided, in the words of the policy file.
	Reason string
	// Rule is the index in the repository's retention list of the rule
	// the reason names first: the expiring rule of a deleted unit (or the
	// expiry a protection overrides), else the first rule keeping it; -1
	// when no rule is involved.
	Rule int
	// Protection is the protection that keeps the unit, if any.
	Protection Protection
	// Unit is the digest of the unit's parent (the image's own digest when
	// it is the parent).
	Unit string
	// Lists is true for an image index whose children are in the listing:
	// ECR reports its size as its largest child's, so totals leave it out.
	Lists bool
}

// Result is the plan for one repository.
type Result struct {
	// Repository is the repository name.
	Repository string
	// Decisions holds one decision per distinct image, children included,
	// in plan order.
	Decisions []Decision
	// Deletes, Archives and Keeps count the decisions of each kind.
	Deletes, Archives, Keeps int
	// ReclaimBytes sums the sizes of the deleted images. Layers shared with
	// kept images are not freed, so ECR storage shrinks by at most this. An
	// index whose children are listed is not counted: ECR reports its size
	// as its largest child's, which the child's own decision counts.
	ReclaimBytes int64
	// ArchiveBytes sums, the same way, the sizes of the images to archive.
	ArchiveBytes int64
}

// Plan decides, for every image of the repository, whether gc keeps or
// deletes it, following the semantics in the package documentation. repo may
// be nil (no rules, no protections); now is the time gc runs.
func Plan(repo *policy.Repository, images []Image, inUse InUse, now time.Time) *Result {
	p := newPlanner(repo, inUse, now)
	p.load(images)
	p.link()
	p.group()
	p.protect()
	for r := range p.rules {
		p.rank(r)
	}
	p.decide()
	return p.result()
}

// planner holds the working state of one Plan call. Per-image and per-unit
// data live in slices indexed by position, not in maps.
type planner struct {
	repo  *policy.Repository
	inUse InUse
	now   time.Time
	rules []rule

	imgs  []Image
	index map[string]int32

	// down[downAt[i]:downAt[i+1]] are the images that belong with image i:
	// the children an index lists and the referrers of a subject.
	down      []int32
	downAt    []int32
	hasParent []bool

	// lists[i] is true when image i is an index whose children are listed:
	// its reported size is a child's.
	lists []bool

	units      []unit
	members    []int32 // members of unit u: members[units[u].at:units[u].end], parent first
	rankOf     [][]int32
	protection []Protection
	protReason []string

	// buf builds reasons.
	buf []byte
}

type unit struct {
	root    int32
	at, end int32
	pushed  time.Time
	tags    []string
	delete  bool
	archive bool
	early   int
	rule    int
	reason  string
}

// rule is a retention rule with what matching needs precomputed.
type rule struct {
	policy.RetentionRule
	idx      int
	patterns []policy.Pattern
	label    string // "(dev-*, feature-*)" or "(untagged)"
	head     string // "retention[1]: "
	keepStr  string // "5", the keepNewest count
	maxAge   string // "30d"
	pulled   string // "90d", notPulledFor
	archived string // "365d", archivedFor
}

func newPlanner(repo *policy.Repository, inUse InUse, now time.Time) *planner {
	p := &planner{repo: repo, inUse: inUse, now: now}
	if repo == nil {
		p.repo = &policy.Repository{}
	}
	for i, rr := range p.repo.Retention {
		r := rule{RetentionRule: rr, idx: i, head: "retention[" + strconv.Itoa(i) + "]: ", maxAge: rr.MaxAge.String(),
			pulled: rr.NotPulledFor.String(), archived: rr.ArchivedFor.String()}
		if rr.KeepNewest != nil {
			r.keepStr = strconv.Itoa(*rr.KeepNewest)
		}
		if r.Order == "" {
			r.Order = policy.OrderPushed
		}
		srcs := make([]string, len(rr.Match))
		for j, pat := range rr.Match {
			r.patterns = append(r.patterns, pat)
			srcs[j] = pat.String()
		}
		switch {
		case rr.Untagged:
			r.label = "(untagged)"
		default:
			r.label = "(" + strings.Join(srcs, ", ") + ")"
		}
		p.rules = append(p.rules, r)
	}
	return p
}

// load indexes the images by digest. The input is only read; it is copied
// only when duplicate digests have to be merged.
func (p *planner) load(images []Image) {
	p.index = make(map[string]int32, len(images))
	p.imgs = images
	copied := false
	for i := range images {
		d := images[i].Digest
		if j, ok := p.index[d]; ok {
			if !copied {
				p.imgs, copied = slices.Clone(images[:i]), true
			}
			p.imgs[j] = merge(p.imgs[j], images[i])
			continue
		}
		p.index[d] = int32(len(p.index))
		if copied {
			p.imgs = append(p.imgs, images[i])
		}
	}
}

// merge combines two listings of one digest so that the result does not
// depend on which came first.
func merge(a, b Image) Image {
	union := func(x, y []string) []string {
		out := slices.Concat(x, y)
		slices.Sort(out)
		return slices.Compact(out)
	}
	a.Tags = union(a.Tags, b.Tags)
	a.Manifests = union(a.Manifests, b.Manifests)
	if b.PushedAt.After(a.PushedAt) {
		a.PushedAt = b.PushedAt
	}
	a.Size = max(a.Size, b.Size)
	a.MediaType = max(a.MediaType, b.MediaType)
	a.Subject = max(a.Subject, b.Subject)
	return a
}

// link records which images belong with which: index to children, subject
// to referrers. References to digests absent from the listing are ignored.
func (p *planner) link() {
	n := len(p.imgs)
	p.downAt = make([]int32, n+1)
	p.hasParent = make([]bool, n)
	each := func(f func(from, to int32)) {
		for i := range p.imgs {
			img := &p.imgs[i]
			for _, c := range img.Manifests {
				if j, ok := p.index[c]; ok && j != int32(i) {
					f(int32(i), j)
				}
			}
			if subject := subjectOf(img); subject != "" {
				if j, ok := p.index[subject]; ok && j != int32(i) {
					f(j, int32(i))
				}
			}
		}
	}
	p.lists = make([]bool, n)
	for i := range p.imgs {
		for _, c := range p.imgs[i].Manifests {
			if j, ok := p.index[c]; ok && j != int32(i) {
				p.lists[i] = true
				break
			}
		}
	}
	each(func(from, to int32) {
		p.downAt[from+1]++
		p.hasParent[to] = true
	})
	for i := 1; i <= n; i++ {
		p.downAt[i] += p.downAt[i-1]
	}
	p.down = make([]int32, p.downAt[n])
	fill := slices.Clone(p.downAt[:n])
	each(func(from, to int32) {
		p.down[fill[from]] = to
		fill[from]++
	})
}

// group forms the units: every image without a parent in the listing is a
// unit's parent, and its members are everything reachable below it.
// Images caught in a reference cycle with no parent above it (malformed
// input) become parents in digest order.
func (p *planner) group() {
	n := len(p.imgs)
	stamp := make([]int32, n)
	for i := range stamp {
		stamp[i] = -1
	}
	reached := make([]bool, n)
	p.units = make([]unit, 0, n)
	p.members = make([]int32, 0, n+len(p.down))
	add := func(root int32) {
		u := int32(len(p.units))
		start := len(p.members)
		// p.members[start:] doubles as the breadth-first queue.
		p.members = append(p.members, root)
		stamp[root] = u
		for q := start; q < len(p.members); q++ {
			i := p.members[q]
			reached[i] = true
			for _, j := range p.down[p.downAt[i]:p.downAt[i+1]] {
				if stamp[j] != u {
					stamp[j] = u
					p.members = append(p.members, j)
				}
			}
		}
		if len(p.members)-start > 2 {
			slices.SortFunc(p.members[start+1:], p.newer)
		}
		p.units = append(p.units, unit{root: root, at: int32(start), end: int32(len(p.members)), pushed: p.imgs[root].PushedAt})
	}
	for i := range p.imgs {
		if !p.hasParent[i] {
			add(int32(i))
		}
	}
	var orphans []int32
	for i := range p.imgs {
		if !reached[i] {
			orphans = append(orphans, int32(i))
		}
	}
	slices.SortFunc(orphans, func(a, b int32) int { return strings.Compare(p.imgs[a].Digest, p.imgs[b].Digest) })
	for _, i := range orphans {
		if !reached[i] {
			add(i)
		}
	}
	// From here on units are numbered in plan order: newest first, then
	// by the parent's digest.
	slices.SortFunc(p.units, func(a, b unit) int {
		if c := b.pushed.Compare(a.pushed); c != 0 {
			return c
		}
		return strings.Compare(p.imgs[a.root].Digest, p.imgs[b.root].Digest)
	})
	for u := range p.units {
		p.units[u].tags = p.unitTags(u)
	}
}

// status is the unit's storage status, its parent's.
func (p *planner) status(u int) string { return p.imgs[p.units[u].root].status() }

// subjectOf is the digest img is attached to: ECR's SubjectManifestDigest,
// or the subject a cosign tag names (sha256-<hex>.sig, .att, .sbom).
func subjectOf(img *Image) string {
	if img.Subject != "" {
		return img.Subject
	}
	for _, t := range img.Tags {
		if d, ok := policy.SignatureSubject(t); ok && d != img.Digest {
			return d
		}
	}
	return ""
}

// unitPulled is the latest recorded pull of any member of unit u. The
// parent's own record is left out when it is an index with listed children:
// gc reads index manifests with BatchGetImage, which ECR records as a pull,
// while every client that pulls an index pulls one of its children too.
func (p *planner) unitPulled(u int) time.Time {
	var last time.Time
	for i, m := range p.unitMembers(u) {
		if i == 0 && p.lists[m] {
			continue
		}
		if t := p.imgs[m].LastPulled; t.After(last) {
			last = t
		}
	}
	return last
}

// newer orders images newest first, then by digest.
func (p *planner) newer(a, b int32) int {
	if c := p.imgs[b].PushedAt.Compare(p.imgs[a].PushedAt); c != 0 {
		return c
	}
	return strings.Compare(p.imgs[a].Digest, p.imgs[b].Digest)
}

func (p *planner) unitMembers(u int) []int32 {
	return p.members[p.units[u].at:p.units[u].end]
}

// unitTags is the parent's tags plus any tag a member carries itself.
func (p *planner) unitTags(u int) []string {
	ms := p.unitMembers(u)
	tags := p.imgs[ms[0]].Tags
	extra := false
	for _, m := range ms[1:] {
		for _, t := range p.imgs[m].Tags {
			if _, sig := policy.SignatureSubject(t); !sig {
				extra = true
				break
			}
		}
	}
	if !extra {
		return tags
	}
	tags = slices.Clone(tags)
	for _, m := range ms[1:] {
		for _, t := range p.imgs[m].Tags {
			if _, sig := policy.SignatureSubject(t); sig {
				continue // an artifact's tag names its subject, not a release
			}
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// protect finds each unit's first protection.
func (p *planner) protect() {
	p.protection = make([]Protection, len(p.units))
	p.protReason = make([]string, len(p.units))
	protectTags := p.repo.Protect.Tags
	grace := p.repo.Protect.NewerThan.Std()
	untaggedGrace := p.repo.Protect.UntaggedGrace()
units:
	for u := range p.units {
		un := &p.units[u]
		if len(p.inUse.Digests) > 0 {
			for _, m := range p.unitMembers(u) {
				if _, ok := p.inUse.Digests[p.imgs[m].Digest]; ok {
					p.protection[u], p.protReason[u] = ProtectionInUse, p.inUse.reason("digest", p.imgs[m].Digest, p.inUse.DigestUses)
					continue units
				}
			}
		}
		if len(p.inUse.Tags) > 0 {
			for _, t := range un.tags {
				if _, ok := p.inUse.Tags[t]; ok {
					p.protection[u], p.protReason[u] = ProtectionInUse, p.inUse.reason("tag", t, p.inUse.TagUses)
					continue units
				}
			}
		}
		for _, t := range un.tags {
			for _, m := range protectTags {
				if _, ok := m.Match(t); ok {
					p.protection[u], p.protReason[u] = ProtectionTag, "protected tag "+t+" ("+m.String()+")"
					continue units
				}
			}
		}
		age := p.now.Sub(un.pushed)
		if grace > 0 && age < grace {
			p.protection[u], p.protReason[u] = ProtectionGrace,
				"grace: pushed "+ago(age)+" ago, protect.newerThan "+p.repo.Protect.NewerThan.String()
			continue
		}
		if len(un.tags) == 0 && untaggedGrace > 0 && age < untaggedGrace.Std() {
			p.protection[u], p.protReason[u] = ProtectionUntaggedGrace,
				"grace: untagged, pushed "+ago(age)+" ago, protect.untaggedNewerThan "+untaggedGrace.String()
			continue
		}
		if p.status(u) == StatusActivating {
			p.protection[u], p.protReason[u] = ProtectionRestoring, "restoring: ACTIVATING, back from the archive soon"
		}
	}
}

// rank records, for rule r, the 1-based rank of every unit it selects
// (0 for units it does not select). Without keepNewest every selected unit
// has rank 1: only selection matters.
func (p *planner) rank(r int) {
	ru := &p.rules[r]
	ranks := make([]int32, len(p.units))
	p.rankOf = append(p.rankOf, ranks)
	valued := ru.KeepNewest != nil && ru.Order != policy.OrderPushed
	var selected []int32
	var best []policy.Match
	var has []bool
	for u := range p.units {
		if !ru.inClass(p.status(u)) {
			continue
		}
		tags := p.units[u].tags
		if ru.Untagged {
			if len(tags) == 0 {
				selected = append(selected, int32(u))
			}
			continue
		}
		if !valued {
			if p.selects(ru, tags) {
				selected = append(selected, int32(u))
			}
			continue
		}
		var b policy.Match
		found, hasValue := false, false
		for _, t := range tags {
			for _, m := range ru.patterns {
				mt, ok := m.Match(t)
				if !ok {
					continue
				}
				found = true
				if ru.Order.Compare(mt, time.Time{}, b, time.Time{}) > 0 {
					b, hasValue = mt, true
				}
			}
		}
		if found {
			selected = append(selected, int32(u))
			best = append(best, b)
			has = append(has, hasValue)
		}
	}
	if ru.KeepNewest == nil {
		for _, u := range selected {
			ranks[u] = 1
		}
		return
	}
	// selected is in plan order, which is push-time order; a value order
	// sorts by value first and keeps plan order among equals.
	order := make([]int32, len(selected))
	for i := range order {
		order[i] = int32(i)
	}
	if valued {
		slices.SortFunc(order, func(a, b int32) int {
			switch {
			case has[a] && has[b]:
				ua, ub := &p.units[selected[a]], &p.units[selected[b]]
				if c := ru.Order.Compare(best[b], ub.pushed, best[a], ua.pushed); c != 0 {
					return c
				}
			case has[a] != has[b]:
				if has[a] {
					return -1
				}
				return 1
			}
			return int(a - b)
		})
	}
	for rank, i := range order {
		ranks[selected[i]] = int32(rank + 1)
	}
}

// inClass reports whether the rule looks at units of this status: rules
// with archivedFor at ARCHIVED ones, the others at ACTIVE ones. No rule
// selects a unit being restored.
func (ru *rule) inClass(status string) bool {
	if ru.SelectsArchived() {
		return status == StatusArchived
	}
	return status == StatusActive
}

func (p *planner) selects(ru *rule, tags []string) bool {
	for _, t := range tags {
		for _, m := range ru.patterns {
			if _, ok := m.Match(t); ok {
				return true
			}
		}
	}
	return false
}

// decide applies the rules and protections to every unit.
func (p *planner) decide() {
	var kept []int
	for u := range p.units {
		un := &p.units[u]
		un.rule = -1
		expiredBy, deleteBy := -1, -1
		kept = kept[:0]
		for r := range p.rules {
			rank := p.rankOf[r][u]
			if rank == 0 {
				continue
			}
			ru := &p.rules[r]
			if _, expired := p.expires(ru, u, rank, false); expired {
				if expiredBy < 0 {
					expiredBy = r
				}
				if deleteBy < 0 && ru.Disposal() == policy.DisposalDelete {
					deleteBy = r
				}
			} else if expiredBy < 0 {
				kept = append(kept, r)
			}
		}
		// Reasons are built only for what the decision names: most rules
		// keep most units, and their words are never shown.
		why := func(r int) string {
			s, _ := p.expires(&p.rules[r], u, p.rankOf[r][u], true)
			return s
		}
		switch {
		case p.protection[u] != ProtectionNone:
			un.reason = p.protReason[u]
			if expiredBy >= 0 {
				un.rule = expiredBy
				un.reason += "; overrides " + why(expiredBy)
			}
		case deleteBy >= 0:
			// A rule that deletes wins over one that archives: every rule
			// that expires a unit applies, and deletion is the most any asks.
			un.delete, un.rule, un.reason = true, deleteBy, why(deleteBy)
			if root := &p.imgs[un.root]; root.status() == StatusArchived {
				if days := int(p.now.Sub(root.ArchivedAt) / oneDay); days < policy.MinArchiveDays {
					un.early = policy.MinArchiveDays - days
					un.reason += "; " + strconv.Itoa(un.early) + "d of the 90-day archive minimum are still charged"
				}
			}
		case expiredBy >= 0:
			un.archive, un.rule, un.reason = true, expiredBy, why(expiredBy)
		case len(kept) > 0:
			un.rule = kept[0]
			if len(kept) == 1 {
				un.reason = why(kept[0])
				break
			}
			parts := make([]string, len(kept))
			for i, r := range kept {
				parts[i] = why(r)
			}
			un.reason = strings.Join(parts, "; ")
		default:
			un.reason = "no rule selects it"
			if p.status(u) == StatusArchived {
				un.reason = "archived; no rule with archivedFor selects it"
			}
		}
	}
}

const oneDay = 24 * time.Hour

// expires applies rule ru to unit u of the given rank. It returns whether
// the rule expires the unit and, when words is set, why, or why it keeps
// it (building the words costs allocations a 100,000-image plan avoids for
// the rules no reason names). A rule expires a unit when every condition
// it sets holds: beyond keepNewest, older than maxAge, not pulled for
// notPulledFor; a rule with archivedFor, when the unit has been archived
// longer.
func (p *planner) expires(ru *rule, u int, rank int32, words bool) (string, bool) {
	un := &p.units[u]
	if ru.SelectsArchived() {
		archivedAt := p.imgs[un.root].ArchivedAt
		if archivedAt.IsZero() {
			if !words {
				return "", false
			}
			return ru.head + "archive time unknown, archivedFor " + ru.archived, false
		}
		age := p.now.Sub(archivedAt)
		expired := age > ru.ArchivedFor.Std()
		switch {
		case !words:
			return "", expired
		case expired:
			return ru.head + "archived " + ago(age) + " ago, archivedFor " + ru.archived + " " + ru.label, true
		}
		return ru.head + "archived " + ago(age) + " ago, within archivedFor " + ru.archived, false
	}
	age := p.now.Sub(un.pushed)
	beyond := ru.KeepNewest != nil && int(rank) > *ru.KeepNewest
	old := ru.MaxAge > 0 && age > ru.MaxAge.Std()
	var seen time.Time
	stale := false
	if ru.NotPulledFor > 0 {
		if seen = p.unitPulled(u); seen.IsZero() {
			seen = un.pushed
		}
		stale = p.now.Sub(seen) > ru.NotPulledFor.Std()+PullRecordLag
	}
	expired := (ru.KeepNewest == nil || beyond) && (ru.MaxAge == 0 || old) && (ru.NotPulledFor == 0 || stale) &&
		(ru.KeepNewest != nil || ru.MaxAge > 0 || ru.NotPulledFor > 0)
	if !words {
		return "", expired
	}
	// The words go into one reused buffer and become one string.
	b := append(p.buf[:0], ru.head...)
	n := 0 // conditions written
	cond := func() {
		if n > 0 {
			b = append(b, " and "...)
		}
		n++
	}
	if expired {
		if ru.KeepNewest != nil {
			cond()
			b = append(b, "rank "...)
			b = strconv.AppendInt(b, int64(rank), 10)
			b = append(b, " beyond keepNewest "...)
			b = append(b, ru.keepStr...)
		}
		if ru.MaxAge > 0 {
			cond()
			b = append(b, "pushed "...)
			b = appendAgo(b, age)
			b = append(b, " ago, maxAge "...)
			b = append(b, ru.maxAge...)
		}
		if ru.NotPulledFor > 0 {
			cond()
			b = p.appendPulled(b, u, seen)
			b = append(b, ", notPulledFor "...)
			b = append(b, ru.pulled...)
		}
		b = append(b, ' ')
		b = append(b, ru.label...)
	} else {
		// Name the first condition that keeps the unit.
		switch {
		case ru.KeepNewest != nil && !beyond:
			b = append(b, "rank "...)
			b = strconv.AppendInt(b, int64(rank), 10)
			b = append(b, " of keepNewest "...)
			b = append(b, ru.keepStr...)
		case ru.MaxAge > 0 && !old:
			b = append(b, "pushed "...)
			b = appendAgo(b, age)
			b = append(b, " ago, within maxAge "...)
			b = append(b, ru.maxAge...)
		case ru.NotPulledFor > 0 && !stale:
			b = p.appendPulled(b, u, seen)
			b = append(b, ", within notPulledFor "...)
			b = append(b, ru.pulled...)
			b = append(b, " (+1d ECR record lag)"...)
		}
	}
	p.buf = b
	return string(b), expired
}

// appendPulled appends "last pulled 3d ago" or "never pulled, pushed 3d ago".
func (p *planner) appendPulled(b []byte, u int, seen time.Time) []byte {
	if p.unitPulled(u).IsZero() {
		b = append(b, "never pulled, pushed "...)
	} else {
		b = append(b, "last pulled "...)
	}
	b = appendAgo(b, p.now.Sub(seen))
	return append(b, " ago"...)
}

// appendAgo appends ago(d) without allocating.
func appendAgo(b []byte, d time.Duration) []byte {
	switch {
	case d < 0:
		return append(b, "0m"...)
	case d >= 24*time.Hour:
		d = d.Truncate(time.Hour)
	default:
		d = d.Truncate(time.Minute)
	}
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	hours, minutes := rest/time.Hour, (rest%time.Hour)/time.Minute
	if days == 0 && hours == 0 && minutes == 0 {
		return append(b, "0m"...)
	}
	if days > 0 {
		b = strconv.AppendInt(b, int64(days), 10)
		b = append(b, 'd')
	}
	if hours > 0 {
		b = strconv.AppendInt(b, int64(hours), 10)
		b = append(b, 'h')
	}
	if minutes > 0 {
		b = strconv.AppendInt(b, int64(minutes), 10)
		b = append(b, 'm')
	}
	return b
}

// ago formats an age the way the policy file writes durations, to the hour
// beyond a day and to the minute below.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0m"
	case d >= 24*time.Hour:
		d = d.Truncate(time.Hour)
	default:
		d = d.Truncate(time.Minute)
	}
	if d == 0 {
		return "0m"
	}
	return policy.Duration(d).String()
}

// result assigns every image its unit's decision and lists them in plan
// order.
func (p *planner) result() *Result {
	// report[i] is the unit image i takes its decision from: the first
	// unit in plan order that keeps it, else the first that deletes it.
	report := make([]int32, len(p.imgs))
	for i := range report {
		report[i] = -1
	}
	for u := range p.units {
		del := p.units[u].delete
		for _, m := range p.unitMembers(u) {
			if r := report[m]; r < 0 || p.units[r].delete && !del {
				report[m] = int32(u)
			}
		}
	}

	res := &Result{Repository: p.repo.Name, Decisions: make([]Decision, 0, len(p.imgs))}
	for u := range p.units {
		un := &p.units[u]
		for _, m := range p.unitMembers(u) {
			if report[m] != int32(u) {
				continue
			}
			d := Decision{
				Image:      &p.imgs[m],
				Delete:     un.delete,
				Archive:    un.archive,
				EarlyDays:  un.early,
				Reason:     un.reason,
				Rule:       un.rule,
				Protection: p.protection[u],
				Unit:       p.imgs[un.root].Digest,
				Lists:      p.lists[m],
			}
			size := d.Size
			if d.Lists {
				size = 0
			}
			switch {
			case d.Delete:
				res.Deletes++
				res.ReclaimBytes += size
			case d.Archive:
				res.Archives++
				res.ArchiveBytes += size
			default:
				res.Keeps++
			}
			res.Decisions = append(res.Decisions, d)
		}
	}
	return res
}
