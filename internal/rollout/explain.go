package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// The read-only side of the rules below lets `ecrwarden status` say why a
// container runs what it runs with the very code that decides rollouts:
// Explain is the engine's decision without the patch, Candidates the
// reconcile's ranking, Gate the scan gate of onscan and the reconcile.

// VerdictKind classifies the engine's decision for one image and target.
type VerdictKind string

// Verdict kinds.
const (
	// VerdictMove: the container moves to the image.
	VerdictMove VerdictKind = "move"
	// VerdictHeld: the workload is held (AnnotationHold).
	VerdictHeld VerdictKind = "held"
	// VerdictBlocked: the image's digest is blocked for the container (AnnotationBlocked).
	VerdictBlocked VerdictKind = "blocked"
	// VerdictCurrent: the container already runs the image.
	VerdictCurrent VerdictKind = "current"
	// VerdictNotNewer: the image does not rank newer than the running one.
	VerdictNotNewer VerdictKind = "not-newer"
)

// Verdict is the engine's decision for one image and target, and why.
type Verdict struct {
	Kind   VerdictKind
	Reason string
}

// Explain returns the decision the engine would make moving cur's target
// container to img, without patching anything. A container that runs an
// image of another registry is ErrForeignRegistry, as in Roll; an image
// whose tag t does not select is an error.
func (e *Engine) Explain(ctx context.Context, img Image, t Target, cur *kube.Workload) (Verdict, error) {
	cand, ok := t.Selects(img.Tag)
	if !ok {
		return Verdict{}, fmt.Errorf("explain %s: tag %s is not one the target selects (%s)", t, img.Tag, t.Tags)
	}
	return e.decide(ctx, img, cand, t, cur)
}

// Running is the image a target's container runs, as the engine sees it.
type Running struct {
	// Image is the container's image reference; Ref its parsed form.
	Image string
	Ref   kube.Ref
	// Version is the best tag of the running image in the target's order,
	// empty when none tells a version; Description says what the engine
	// compares against (a tag, a reference, "… (no longer in the registry)").
	Version     string
	Description string
	// Ours is false when the image is from another registry than registryHost
	// or another repository than the target's: then it has no version.
	Ours bool
}

// RunningImage reads the image of t's container in cur and, when it is an
// image of t's repository in registryHost, its version by the engine's rule
// (the registry's tags of the running digest, ecrwarden.io/tag only as the
// engine trusts it).
func (e *Engine) RunningImage(ctx context.Context, registryHost string, t Target, cur *kube.Workload) (Running, error) {
	image, _, ok := cur.ContainerImage(t.Container)
	if !ok {
		return Running{}, fmt.Errorf("%s: container %q: %w", workloadName(t.Ref()), t.Container, kube.ErrContainerNotFound)
	}
	ref, err := kube.ParseImageRef(image)
	if err != nil {
		return Running{}, fmt.Errorf("%s container %s runs %q: %w", workloadName(t.Ref()), t.Container, image, err)
	}
	r := Running{Image: image, Ref: ref, Description: image}
	if !ref.InRegistry(registryHost) || ref.Repository != t.Repository {
		return r, nil
	}
	r.Ours = true
	m, _, desc, err := e.currentVersion(ctx, t, cur, ref)
	if err != nil {
		return Running{}, err
	}
	r.Version, r.Description = m.Tag, desc
	return r, nil
}

// Candidate is an image a target could roll out, with the tag it selects.
type Candidate struct {
	Tag      string
	Digest   string
	PushedAt time.Time
	// Detail is the image as DescribeImages listed it (scan status and summary).
	Detail ecrtypes.ImageDetail
}

// Image is the candidate as the engine rolls it out from registryHost.
func (c Candidate) Image(registryHost, repository, eventID string) Image {
	return Image{Registry: registryHost, Repository: repository, Tag: c.Tag, Digest: c.Digest, PushedAt: c.PushedAt, EventID: eventID}
}

// Candidates returns the images of a repository listing that t could roll
// out, newest first in t's order, each with its best tag that t selects and
// repo's tag rules allow: the reconcile's ranking.
func Candidates(repo *policy.Repository, t Target, images []ecrtypes.ImageDetail) []Candidate {
	cs := candidates(repo, t, images)
	out := make([]Candidate, len(cs))
	for i, c := range cs {
		out[i] = Candidate{Tag: c.match.Tag, Digest: aws.ToString(c.detail.ImageDigest), PushedAt: c.pushed, Detail: c.detail}
	}
	return out
}

// GateState is what the scan gate says of one image.
type GateState struct {
	// Open: the scan is complete and clean under the repository's policy.
	Open bool
	// Waiting: the image has no complete scan yet (none, in progress,
	// failed or unavailable); not Open and not Waiting means findings.
	Waiting bool
	// Reason says what holds the image back; empty when Open.
	Reason string
}

// Gate reads the scan gate of one listed image with the reconcile's rule:
// DescribeImages' summary rules out unscanned, unfinished and obviously
// dirty images without a call; otherwise the findings are read (ReadScan)
// and evaluated against repo's scan policy at now.
func Gate(ctx context.Context, scans ecr.DescribeImageScanFindingsAPIClient, registryID string, repo *policy.Repository, d ecrtypes.ImageDetail, now time.Time) (GateState, error) {
	threshold := gateThreshold(repo)
	activeIgnores := slices.ContainsFunc(repo.Scan.Ignore, func(ig policy.Ignore) bool { return ig.Active(now) })
	switch why := summarySkip(d, threshold, activeIgnores); why {
	case "":
	case "dirty", "unknown severity":
		return GateState{Reason: summaryFindings(d, threshold)}, nil
	default:
		return GateState{Waiting: true, Reason: why}, nil
	}
	return readGate(ctx, scans, registryID, repo, aws.ToString(d.ImageDigest), now)
}

// readGate reads an image's findings with ReadScan, the gate rule onscan
// uses too. An image without findings (ScanNotFound) or whose scan is not
// complete is waiting; any other error fails the read.
func readGate(ctx context.Context, scans ecr.DescribeImageScanFindingsAPIClient, registryID string, repo *policy.Repository, digest string, now time.Time) (GateState, error) {
	sc, err := ReadScan(ctx, scans, registryID, repo, digest, now)
	if nf := (*ecrtypes.ScanNotFoundException)(nil); errors.As(err, &nf) {
		return GateState{Waiting: true, Reason: "unscanned"}, nil
	}
	if errors.Is(err, ErrScanIncomplete) {
		return GateState{Waiting: true, Reason: "scan not complete"}, nil
	}
	if err != nil {
		return GateState{}, err
	}
	if sc.Clean() {
		return GateState{Open: true}, nil
	}
	var parts []string
	for _, sev := range []policy.Severity{policy.SeverityCritical, policy.SeverityHigh, policy.SeverityMedium, policy.SeverityLow, policy.SeverityInformational} {
		if n := sc.Counts[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	if n := len(sc.Unknown); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of unknown severity", n))
	}
	reason := strings.Join(parts, ", ")
	if ids := sc.BlockingIDs(); len(ids) > 0 {
		if len(ids) > 3 {
			ids = append(ids[:3:3], "…")
		}
		reason += " (" + strings.Join(ids, ", ") + ")"
	}
	return GateState{Reason: reason}, nil
}

// summaryFindings describes the severity counts at or above threshold of
// DescribeImages' scan summary, most severe first.
func summaryFindings(d ecrtypes.ImageDetail, threshold policy.Severity) string {
	var parts []string
	if d.ImageScanFindingsSummary != nil {
		counts := d.ImageScanFindingsSummary.FindingSeverityCounts
		for _, sev := range []policy.Severity{policy.SeverityCritical, policy.SeverityHigh, policy.SeverityMedium, policy.SeverityLow, policy.SeverityInformational} {
			if n := counts[string(sev)]; n > 0 && sev.AtLeast(threshold) {
				parts = append(parts, fmt.Sprintf("%d %s", n, sev))
			}
		}
		var unknown []string
		for sev, n := range counts {
			if n > 0 && policy.Severity(sev).Rank() == 0 && sev != "TOTAL" {
				unknown = append(unknown, fmt.Sprintf("%d %s", n, sev))
			}
		}
		slices.Sort(unknown)
		parts = append(parts, unknown...)
	}
	if len(parts) == 0 {
		return "findings"
	}
	return strings.Join(parts, ", ")
}

// gateThreshold is the severity at which repo's scan gate closes.
func gateThreshold(repo *policy.Repository) policy.Severity {
	if repo.Scan.AlertAt.Rank() == 0 {
		return policy.SeverityHigh
	}
	return repo.Scan.AlertAt
}
