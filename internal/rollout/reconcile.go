package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

const (
	// maxScanConfirmations bounds the candidates of one gated target whose
	// findings a reconcile fetches: a run must fit in the function's timeout.
	maxScanConfirmations = 10
)

// Roller rolls targets forward (Engine).
type Roller interface {
	Roll(ctx context.Context, img Image, targets []Target) ([]Outcome, error)
}

// DiscoverFunc finds the targets of a repository (Discover with its clients).
type DiscoverFunc func(ctx context.Context, f *policy.File, repository string) (targets []Target, bad []error, err error)

// Reconciler moves tracked Deployments that lag behind the newest image
// their rules allow, for the pushes whose events were lost.
type Reconciler struct {
	// Policy names the repositories, their tag rules, scan policies and deploy rules.
	Policy *policy.File
	// Images lists the repositories; Scans confirms gated candidates.
	Images   ecr.DescribeImagesAPIClient
	Scans    ecr.DescribeImageScanFindingsAPIClient
	Discover DiscoverFunc
	Roll     Roller
	// Now is the clock ignore entries are judged by.
	Now func() time.Time
	Log *slog.Logger
}

// Reconcile results of one target.
const (
	ReconcileKept    = "kept"
	ReconcilePatched = "patched"
	ReconcileSkipped = "skipped"
	ReconcileFailed  = "failed"
)

// TargetResult is what a reconcile did with one target.
type TargetResult struct {
	Target Target
	// Result is ReconcileKept, ReconcilePatched, ReconcileSkipped or ReconcileFailed.
	Result string
	// Image is the newest allowed image, as repository:tag@digest, when one was found.
	Image  string
	Reason string
}

// candidate is an image a target could roll out, with the tag it selects.
type candidate struct {
	detail ecrtypes.ImageDetail
	match  policy.Match
	pushed time.Time
}

// Reconcile lists each repository of the policy that has targets once, in
// the registry of origin (the function's own account and Region), picks
// per target the newest image whose tags the target selects and the
// repository's tag rules allow (clean-scanned only for gated targets), and
// rolls it out with the engine's rules (forward only, idempotent, holds
// respected). runID names the run in the patches' event id
// ("reconcile:<runID>"). A repository that cannot be discovered or listed
// patches nothing; the error joins every failure, and the results say what
// happened to each target.
func (r *Reconciler) Reconcile(ctx context.Context, origin ecrevent.Origin, runID string) ([]TargetResult, error) {
	var results []TargetResult
	var errs []error
	for i := range r.Policy.Repositories {
		repo := &r.Policy.Repositories[i]
		res, err := r.repository(ctx, origin, runID, repo)
		results = append(results, res...)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s: %w", repo.Name, err))
		}
	}
	return results, errors.Join(errs...)
}

func (r *Reconciler) repository(ctx context.Context, origin ecrevent.Origin, runID string, repo *policy.Repository) ([]TargetResult, error) {
	log := r.Log.With("repository", repo.Name, "run", runID)
	targets, bad, err := r.Discover(ctx, r.Policy, repo.Name)
	for _, e := range bad {
		log.Warn("deployment opt-in skipped", "error", e)
	}
	if err != nil {
		log.Error("reconcile skipped: targets unknown", "error", err)
		return nil, err
	}
	if len(targets) == 0 {
		return nil, nil
	}
	images, err := registry.List(ctx, r.Images, origin.Account, repo.Name, nil)
	if err != nil {
		results := make([]TargetResult, len(targets))
		for i, t := range targets {
			results[i] = TargetResult{Target: t, Result: ReconcileFailed, Reason: "listing failed: " + err.Error()}
			r.logResult(log, results[i])
		}
		return results, err
	}
	clean := map[string]bool{} // digest → scan clean, shared by the repository's gated targets
	var results []TargetResult
	var errs []error
	for _, t := range targets {
		res, err := r.target(ctx, origin, runID, repo, t, images, clean)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
		}
		r.logResult(log, res)
		results = append(results, res)
	}
	return results, errors.Join(errs...)
}

func (r *Reconciler) logResult(log *slog.Logger, res TargetResult) {
	args := []any{"target", res.Target.String(), "source", res.Target.Source, "result", res.Result, "reason", res.Reason}
	if res.Image != "" {
		args = append(args, "image", res.Image)
	}
	if res.Result == ReconcileFailed {
		log.Error("reconcile", args...)
		return
	}
	log.Info("reconcile", args...)
}

// target picks the newest allowed image of one target and rolls it out.
func (r *Reconciler) target(ctx context.Context, origin ecrevent.Origin, runID string, repo *policy.Repository, t Target, images []ecrtypes.ImageDetail, clean map[string]bool) (TargetResult, error) {
	res := TargetResult{Target: t}
	cands := candidates(repo, t, images)
	if len(cands) == 0 {
		res.Result, res.Reason = ReconcileSkipped, "no image with a tag the target selects and the tag rules allow"
		return res, nil
	}
	best := cands[0]
	if t.RequireCleanScan {
		var reason string
		var ok bool
		var err error
		best, ok, reason, err = r.newestClean(ctx, origin, repo, cands, clean)
		if err != nil {
			res.Result, res.Reason = ReconcileFailed, err.Error()
			return res, err
		}
		if !ok {
			res.Result, res.Reason = ReconcileSkipped, reason
			return res, nil
		}
	}
	img := Image{
		Registry:   origin.RegistryHost(),
		Repository: repo.Name, Tag: best.match.Tag, Digest: aws.ToString(best.detail.ImageDigest),
		PushedAt: best.pushed, EventID: "reconcile:" + runID, Cause: CauseReconcile,
	}
	res.Image = img.Repository + ":" + img.Tag + "@" + img.Digest
	outcomes, err := r.Roll.Roll(ctx, img, []Target{t})
	if err != nil {
		res.Result, res.Reason = ReconcileFailed, err.Error()
		return res, err
	}
	if len(outcomes) != 1 {
		err := fmt.Errorf("roll returned %d outcomes for one target", len(outcomes))
		res.Result, res.Reason = ReconcileFailed, err.Error()
		return res, err
	}
	o := outcomes[0]
	res.Reason = o.Reason
	switch {
	case o.Patched:
		res.Result = ReconcilePatched
	case strings.HasPrefix(o.Reason, "held:"):
		res.Result = ReconcileSkipped
	default:
		res.Result = ReconcileKept
	}
	return res, nil
}

// candidates returns the images t could roll out, newest first in t's
// order: each with its best tag that t selects and repo's tag rules allow.
func candidates(repo *policy.Repository, t Target, images []ecrtypes.ImageDetail) []candidate {
	order := t.Order
	if order == "" {
		order = policy.DeployRule{Tags: t.Tags}.EffectiveOrder()
	}
	var out []candidate
	for _, d := range images {
		pushed := aws.ToTime(d.ImagePushedAt)
		var best policy.Match
		found := false
		for _, tag := range slices.Sorted(slices.Values(d.ImageTags)) {
			m, ok := t.Selects(tag)
			if !ok {
				continue
			}
			if repo.Tags != nil {
				if _, allowed := repo.Tags.Allowed(tag); !allowed {
					continue
				}
			}
			if !found || order.Compare(m, pushed, best, pushed) > 0 {
				best, found = m, true
			}
		}
		if found {
			out = append(out, candidate{detail: d, match: best, pushed: pushed})
		}
	}
	slices.SortStableFunc(out, func(a, b candidate) int {
		if c := order.Compare(b.match, b.pushed, a.match, a.pushed); c != 0 {
			return c
		}
		if c := b.pushed.Compare(a.pushed); c != 0 {
			return c
		}
		return cmp.Compare(a.match.Tag, b.match.Tag)
	})
	return out
}

// newestClean returns the newest candidate whose scan is complete and
// clean under repo's scan policy. The summary DescribeImages returned skips
// unscanned, failed and obviously dirty images without a call; the rest are
// confirmed with their full findings, at most maxScanConfirmations of them.
func (r *Reconciler) newestClean(ctx context.Context, origin ecrevent.Origin, repo *policy.Repository, cands []candidate, clean map[string]bool) (candidate, bool, string, error) {
	now := r.now()
	threshold := gateThreshold(repo)
	activeIgnores := slices.ContainsFunc(repo.Scan.Ignore, func(ig policy.Ignore) bool { return ig.Active(now) })
	confirmed := 0
	skipped := map[string]int{}
	for _, c := range cands {
		digest := aws.ToString(c.detail.ImageDigest)
		if ok, known := clean[digest]; known {
			if ok {
				return c, true, "", nil
			}
			skipped["dirty"]++
			continue
		}
		if why := summarySkip(c.detail, threshold, activeIgnores); why != "" {
			skipped[why]++
			continue
		}
		if confirmed == maxScanConfirmations {
			return candidate{}, false, fmt.Sprintf("no clean image among the %d newest scanned candidates (skipped %v)", confirmed, skipped), nil
		}
		confirmed++
		ok, err := r.scanClean(ctx, origin, repo, digest, now)
		if err != nil {
			return candidate{}, false, "", err
		}
		clean[digest] = ok
		if ok {
			return c, true, "", nil
		}
		skipped["dirty"]++
	}
	return candidate{}, false, fmt.Sprintf("no candidate has a clean completed scan (skipped %v)", skipped), nil
}

// summarySkip says why DescribeImages' scan summary rules an image out, or
// "" when its findings must be read to decide.
func summarySkip(d ecrtypes.ImageDetail, threshold policy.Severity, activeIgnores bool) string {
	if d.ImageScanStatus == nil || d.ImageScanFindingsSummary == nil {
		return "unscanned"
	}
	if !registry.ScanComplete(d.ImageScanStatus.Status) {
		return "scan " + string(d.ImageScanStatus.Status)
	}
	if activeIgnores {
		return ""
	}
	for sev, n := range d.ImageScanFindingsSummary.FindingSeverityCounts {
		if n > 0 && policy.Severity(sev).AtLeast(threshold) {
			return "dirty"
		}
	}
	for sev, n := range d.ImageScanFindingsSummary.FindingSeverityCounts {
		if n > 0 && policy.Severity(sev).Rank() == 0 && sev != "TOTAL" {
			return "unknown severity"
		}
	}
	return ""
}

// scanClean reads an image's findings with readGate (ReadScan, the gate
// rule onscan uses too). An image without findings (ScanNotFound) or whose
// scan is not complete is not clean; any other error fails the check.
func (r *Reconciler) scanClean(ctx context.Context, origin ecrevent.Origin, repo *policy.Repository, digest string, now time.Time) (bool, error) {
	g, err := readGate(ctx, r.Scans, origin.Account, repo, digest, now)
	return g.Open, err
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
