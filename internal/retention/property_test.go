package retention

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// scenario is one random planner input.
type scenario struct {
	repo   *policy.Repository
	images []Image
	inUse  InUse
}

var (
	rulePatterns    = []string{"*", "v*", "dev-*", "exp-*", "feature-*", "main-*", "v{semver}", "feature-*-{sha}", "v{date}-{sha}", "latest"}
	protectPatterns = []string{"latest", "dev-latest", "keep-*", "v1.*"}
)

// drawTag draws a tag of one of the shapes the seeds' CI pushes; n keeps it
// unique within the repository.
func drawTag(t *rapid.T, n int) string {
	switch rapid.IntRange(0, 9).Draw(t, "tagKind") {
	case 0:
		return fmt.Sprintf("v%d.%d.%d", rapid.IntRange(0, 2).Draw(t, "major"), rapid.IntRange(0, 12).Draw(t, "minor"), n)
	case 1:
		return fmt.Sprintf("v1.%d.0-rc.%d", rapid.IntRange(0, 12).Draw(t, "minor"), n)
	case 2:
		return fmt.Sprintf("v202410%02d-%07x", rapid.IntRange(1, 30).Draw(t, "day"), n)
	case 3:
		return fmt.Sprintf("dev-%07x", n)
	case 4:
		return fmt.Sprintf("feature-x-%07x", n)
	case 5:
		return fmt.Sprintf("main-%07x", n)
	case 6:
		return fmt.Sprintf("exp-%d", n)
	case 7:
		return fmt.Sprintf("keep-%d", n)
	case 8:
		return fmt.Sprintf("nightly-%d", n)
	default:
		return []string{"latest", "dev-latest"}[n%2] + fmt.Sprint(n%3) // usually not the literal
	}
}

func drawScenario(t *rapid.T) scenario {
	n := rapid.IntRange(0, 40).Draw(t, "images")
	digest := func(i int) string { return fmt.Sprintf("sha256:%064x", i) }
	images := make([]Image, n)
	tagN := 0
	for i := range images {
		img := Image{
			Digest:    digest(i),
			PushedAt:  now.Add(-time.Duration(rapid.IntRange(-60, 90*24*60).Draw(t, "ageMinutes")) * time.Minute),
			Size:      rapid.Int64Range(0, 1<<30).Draw(t, "size"),
			MediaType: manifestOCI,
		}
		if rapid.IntRange(0, 9).Draw(t, "roundTime") < 3 {
			img.PushedAt = now.Add(-time.Duration(rapid.IntRange(0, 5).Draw(t, "ageDays")) * day)
		}
		for range rapid.IntRange(0, 3).Draw(t, "tags") {
			img.Tags = append(img.Tags, drawTag(t, tagN))
			tagN++
		}
		if rapid.IntRange(0, 9).Draw(t, "literalTag") == 0 {
			img.Tags = append(img.Tags, rapid.SampledFrom([]string{"latest", "dev-latest"}).Draw(t, "literal")+fmt.Sprint(tagN))
			tagN++
		}
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0, 1: // an index listing other images, sometimes absent ones
			img.MediaType = indexOCI
			for range rapid.IntRange(1, 3).Draw(t, "children") {
				img.Manifests = append(img.Manifests, digest(rapid.IntRange(0, n+2).Draw(t, "child")))
			}
		case 2: // a referrer
			img.Subject = digest(rapid.IntRange(0, n+2).Draw(t, "subject"))
		}
		if rapid.IntRange(0, 2).Draw(t, "pulled") > 0 {
			img.LastPulled = now.Add(-time.Duration(rapid.IntRange(0, 200).Draw(t, "pulledDaysAgo")) * day)
		}
		switch rapid.IntRange(0, 19).Draw(t, "status") {
		case 0, 1, 2:
			img.Status, img.ArchivedAt = StatusArchived, now.Add(-time.Duration(rapid.IntRange(0, 400).Draw(t, "archivedDaysAgo"))*day)
		case 3:
			img.Status = StatusActivating
		}
		images[i] = img
	}

	repo := &policy.Repository{Name: "mlops/random"}
	for range rapid.IntRange(0, 4).Draw(t, "rules") {
		var r policy.RetentionRule
		if rapid.Bool().Draw(t, "untagged") {
			r.Untagged = true
		} else {
			for _, src := range rapid.SliceOfNDistinct(rapid.SampledFrom(rulePatterns), 1, 3, rapid.ID[string]).Draw(t, "match") {
				r.Match = append(r.Match, policy.MustCompilePattern(src))
			}
		}
		if rapid.IntRange(0, 4).Draw(t, "archivedRule") == 0 {
			r.ArchivedFor = policy.Duration(time.Duration(rapid.IntRange(1, 300).Draw(t, "archivedForDays")) * day)
			r.Order = policy.OrderPushed
			repo.Retention = append(repo.Retention, r)
			continue
		}
		if rapid.IntRange(0, 3).Draw(t, "archiveAction") == 0 {
			r.Action = policy.DisposalArchive
		}
		if rapid.IntRange(0, 2).Draw(t, "hasNotPulled") == 0 {
			r.NotPulledFor = policy.Duration(time.Duration(rapid.IntRange(2, 120).Draw(t, "notPulledDays")) * day)
		}
		hasKeep := rapid.Bool().Draw(t, "hasKeep")
		if hasKeep {
			k := rapid.IntRange(0, 6).Draw(t, "keepNewest")
			r.KeepNewest = &k
		}
		if !hasKeep || rapid.Bool().Draw(t, "hasMaxAge") {
			r.MaxAge = policy.Duration(time.Duration(rapid.IntRange(1, 60*24).Draw(t, "maxAgeHours")) * time.Hour)
		}
		r.Order = policy.OrderPushed
		if !r.Untagged && rapid.Bool().Draw(t, "valueOrder") {
			for _, p := range r.Match {
				if p.HasSemver() {
					r.Order = policy.OrderSemver
				} else if p.HasDate() {
					r.Order = policy.OrderDate
				}
			}
		}
		repo.Retention = append(repo.Retention, r)
	}
	for _, src := range rapid.SliceOfDistinct(rapid.SampledFrom(protectPatterns), rapid.ID[string]).Draw(t, "protect") {
		repo.Protect.Tags = append(repo.Protect.Tags, policy.MustCompilePattern(src))
	}
	if rapid.Bool().Draw(t, "grace") {
		repo.Protect.NewerThan = policy.Duration(time.Duration(rapid.IntRange(1, 5*24).Draw(t, "graceHours")) * time.Hour)
	}

	inUse := InUse{Digests: map[string]struct{}{}, Tags: map[string]struct{}{}}
	for _, img := range images {
		if rapid.IntRange(0, 9).Draw(t, "digestInUse") == 0 {
			inUse.Digests[img.Digest] = struct{}{}
		}
		for _, tag := range img.Tags {
			if rapid.IntRange(0, 9).Draw(t, "tagInUse") == 0 {
				inUse.Tags[tag] = struct{}{}
			}
		}
	}
	return scenario{repo: repo, images: images, inUse: inUse}
}

// edges lists the present "belongs with" references of a listing, parent
// first: index to child, subject to referrer.
func edges(images []Image) [][2]string {
	present := map[string]bool{}
	for _, img := range images {
		present[img.Digest] = true
	}
	var out [][2]string
	for _, img := range images {
		for _, c := range img.Manifests {
			if present[c] && c != img.Digest {
				out = append(out, [2]string{img.Digest, c})
			}
		}
		if present[img.Subject] && img.Subject != img.Digest {
			out = append(out, [2]string{img.Subject, img.Digest})
		}
	}
	return out
}

// mustKeep computes, independently of the planner, the images no plan may
// delete: every directly protected image (digest or tag in use, a tag
// matching protect.tags, a parentless image within the grace period), every
// image above one of them, and every image below those.
func mustKeep(s scenario) map[string]bool {
	es := edges(s.images)
	hasParent := map[string]bool{}
	for _, e := range es {
		hasParent[e[1]] = true
	}
	var seeds []string
	for _, img := range s.images {
		protected := false
		if _, ok := s.inUse.Digests[img.Digest]; ok {
			protected = true
		}
		for _, tag := range img.Tags {
			if _, ok := s.inUse.Tags[tag]; ok {
				protected = true
			}
			if _, ok := policy.MatchAny(s.repo.Protect.Tags, tag); ok {
				protected = true
			}
		}
		if !hasParent[img.Digest] && s.repo.Protect.NewerThan > 0 && now.Sub(img.PushedAt) < s.repo.Protect.NewerThan.Std() {
			protected = true
		}
		if protected {
			seeds = append(seeds, img.Digest)
		}
	}
	closure := func(start []string, from, to int) []string {
		seen := map[string]bool{}
		queue := slices.Clone(start)
		for _, d := range start {
			seen[d] = true
		}
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			for _, e := range es {
				if e[from] == d && !seen[e[to]] {
					seen[e[to]] = true
					queue = append(queue, e[to])
				}
			}
		}
		var out []string
		for d := range seen {
			out = append(out, d)
		}
		return out
	}
	keep := map[string]bool{}
	for _, d := range closure(closure(seeds, 1, 0), 0, 1) {
		keep[d] = true
	}
	return keep
}

func TestPlanProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawScenario(t)
		res := Plan(s.repo, s.images, s.inUse, now)

		// One decision per image, counts add up.
		byDigest := map[string]Decision{}
		deletes, keeps, reclaim := 0, 0, int64(0)
		for _, d := range res.Decisions {
			if _, dup := byDigest[d.Digest]; dup {
				t.Fatalf("two decisions for %s", d.Digest)
			}
			byDigest[d.Digest] = d
			if d.Delete && d.Archive {
				t.Fatalf("%s both deleted and archived", d.Digest)
			}
			if d.Delete || d.Archive {
				if d.Protection != ProtectionNone || d.Rule < 0 {
					t.Fatalf("acted on %s with protection %v, rule %d: %s", d.Digest, d.Protection, d.Rule, d.Reason)
				}
				ru := s.repo.Retention[d.Rule]
				root := rootStatus(s.images, d.Unit)
				switch {
				case ru.SelectsArchived() && (root != StatusArchived || d.Archive):
					t.Fatalf("archivedFor rule %d acted on %s (unit %s) with status %s", d.Rule, d.Digest, d.Unit, root)
				case !ru.SelectsArchived() && root != StatusActive:
					t.Fatalf("rule %d acted on %s (unit %s) with status %s", d.Rule, d.Digest, d.Unit, root)
				case d.Archive && ru.Disposal() != policy.DisposalArchive:
					t.Fatalf("rule %d (%s) archived %s", d.Rule, ru.Disposal(), d.Digest)
				}
			}
			if d.Delete {
				deletes++
				if !d.Lists {
					reclaim += d.Size
				}
				if d.Protection != ProtectionNone || d.Rule < 0 {
					t.Fatalf("deleted %s with protection %v, rule %d: %s", d.Digest, d.Protection, d.Rule, d.Reason)
				}
			} else if !d.Archive {
				keeps++
			}
		}
		if len(byDigest) != len(s.images) {
			t.Fatalf("got %d decisions for %d images", len(byDigest), len(s.images))
		}
		if res.Deletes != deletes || res.Keeps != keeps || res.ReclaimBytes != reclaim {
			t.Fatalf("Deletes, Keeps, ReclaimBytes = %d, %d, %d; decisions say %d, %d, %d",
				res.Deletes, res.Keeps, res.ReclaimBytes, deletes, keeps, reclaim)
		}

		// Nothing protected, in use, or belonging with either, is deleted.
		for d := range mustKeep(s) {
			if byDigest[d].Delete || byDigest[d].Archive {
				t.Fatalf("deleted protected %s: %s\n%s", d, byDigest[d].Reason, dump(s, res))
			}
		}

		// Every image follows its unit; a kept parent keeps what belongs
		// to it, and a deleted child was deleted by every parent.
		for _, d := range res.Decisions {
			u, ok := byDigest[d.Unit]
			if !ok {
				t.Fatalf("%s reports unknown unit %s", d.Digest, d.Unit)
			}
			if d.Delete != u.Delete || d.Archive != u.Archive || d.Reason != u.Reason || d.Protection != u.Protection {
				t.Fatalf("%s does not follow its unit %s", d.Digest, d.Unit)
			}
		}
		for _, e := range edges(s.images) {
			if !byDigest[e[0]].Delete && byDigest[e[1]].Delete {
				t.Fatalf("kept %s but deleted %s, which belongs with it", e[0], e[1])
			}
		}

		// Deterministic: the same input, or a shuffled one, gives the same plan.
		if diff := cmp.Diff(res, Plan(s.repo, s.images, s.inUse, now)); diff != "" {
			t.Fatalf("second Plan differs (-first +second):\n%s", diff)
		}
		shuffled := rapid.Permutation(s.images).Draw(t, "shuffled")
		if diff := cmp.Diff(res, Plan(s.repo, shuffled, s.inUse, now)); diff != "" {
			t.Fatalf("Plan on shuffled input differs (-first +shuffled):\n%s", diff)
		}

		// Plan order: units newest first; a unit's parent leads its members.
		for i := 1; i < len(res.Decisions); i++ {
			a, b := byDigest[res.Decisions[i-1].Unit], byDigest[res.Decisions[i].Unit]
			if a.Digest == b.Digest {
				continue
			}
			if a.PushedAt.Before(b.PushedAt) || a.PushedAt.Equal(b.PushedAt) && a.Digest > b.Digest {
				t.Fatalf("decision %d (unit %s) before decision %d (unit %s) breaks plan order", i-1, a.Digest, i, b.Digest)
			}
		}

		// DeleteIDs lists every deleted image once, and (unless malformed
		// input has reference cycles) every image after the deleted images
		// that reference it: an index before its children, a referrer
		// before its subject.
		pos := map[string]int{}
		for i, d := range res.DeleteIDs() {
			if _, dup := pos[d]; dup || !byDigest[d].Delete {
				t.Fatalf("DeleteIDs lists %s twice or though it is kept", d)
			}
			pos[d] = i
		}
		if len(pos) != deletes {
			t.Fatalf("DeleteIDs lists %d images, plan deletes %d", len(pos), deletes)
		}
		refs := references(s.images)
		if !cyclic(refs) {
			for _, r := range refs {
				pf, okf := pos[r[0]]
				pt, okt := pos[r[1]]
				if okf && okt && pf > pt {
					t.Fatalf("DeleteIDs deletes %s before %s, which references it", r[1], r[0])
				}
			}
		}
	})
}

// rootStatus is the status of the unit parent's image.
func rootStatus(images []Image, unit string) string {
	for i := range images {
		if images[i].Digest == unit {
			return images[i].status()
		}
	}
	return ""
}

// references lists who references whom among present images: an index its
// children, a referrer its subject.
func references(images []Image) [][2]string {
	present := map[string]bool{}
	for _, img := range images {
		present[img.Digest] = true
	}
	var out [][2]string
	for _, img := range images {
		for _, c := range img.Manifests {
			if present[c] && c != img.Digest {
				out = append(out, [2]string{img.Digest, c})
			}
		}
		if present[img.Subject] && img.Subject != img.Digest {
			out = append(out, [2]string{img.Digest, img.Subject})
		}
	}
	return out
}

// cyclic reports whether the references form a cycle (depth-first search
// with three colours).
func cyclic(refs [][2]string) bool {
	next := map[string][]string{}
	for _, r := range refs {
		next[r[0]] = append(next[r[0]], r[1])
	}
	const (
		white = iota
		grey
		black
	)
	colour := map[string]int{}
	var visit func(string) bool
	visit = func(d string) bool {
		colour[d] = grey
		for _, n := range next[d] {
			if colour[n] == grey || colour[n] == white && visit(n) {
				return true
			}
		}
		colour[d] = black
		return false
	}
	for d := range next {
		if colour[d] == white && visit(d) {
			return true
		}
	}
	return false
}

func dump(s scenario, res *Result) string {
	out := fmt.Sprintf("inUse %v\nprotect %v grace %v\n", s.inUse, s.repo.Protect.Tags, s.repo.Protect.NewerThan)
	for _, img := range s.images {
		out += fmt.Sprintf("%s %v %v children=%v subject=%s\n", img.Digest[len(img.Digest)-3:], img.Tags, now.Sub(img.PushedAt), img.Manifests, img.Subject)
	}
	for _, d := range res.Decisions {
		out += fmt.Sprintf("%s unit=%s delete=%v %s\n", d.Digest[len(d.Digest)-3:], d.Unit[len(d.Unit)-3:], d.Delete, d.Reason)
	}
	return out
}
