package status

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// State classifies a target at a glance.
type State string

// States of a target, from "nothing to do" to "cannot tell".
const (
	// Current: the container runs the newest image its rule allows.
	Current State = "current"
	// Verifying: it runs it, and the rollout's verification is pending.
	Verifying State = "verifying"
	// Behind: a newer allowed image exists and nothing stops it; the
	// next push or reconcile rolls it out (its event was lost or is queued).
	Behind State = "behind"
	// WaitingScan: the newest allowed image waits for a complete scan (gated rule).
	WaitingScan State = "scan-wait"
	// Findings: the newest allowed image's scan has findings at or above the threshold (gated rule).
	Findings State = "findings"
	// Held: the workload is held (ecrwarden.io/hold).
	Held State = "held"
	// Failed: the last rollout failed verification (and was rolled back, or alerted).
	Failed State = "failed"
	// Blocked: the newest allowed image's digest is blocked for the container.
	Blocked State = "blocked"
	// Foreign: the container runs an image of another registry; ecrwarden never moves it.
	Foreign State = "foreign"
	// NoCandidate: no image of the repository has a tag the rule selects and the tag rules allow.
	NoCandidate State = "no-image"
	// Unknown: the target could not be read; Reason says why.
	Unknown State = "unknown"
)

// Image is an image as the status shows it.
type Image struct {
	// Reference is the container's image reference (running image only).
	Reference string `json:"reference,omitempty"`
	// Tag is the version: the best tag in the target's order; for a
	// running image without one, the tag its reference names, if any.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	// PushedAt is when the image was pushed (candidate only).
	PushedAt time.Time `json:"pushedAt,omitzero"`
}

// Row is the status of one target.
type Row struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	// Kind is the workload kind (deployment); Workload its name.
	Kind       string `json:"kind"`
	Workload   string `json:"workload"`
	Container  string `json:"container"`
	Repository string `json:"repository"`
	// Rule is the tag pattern the target follows; Source where the target comes from.
	Rule             string `json:"rule"`
	Source           string `json:"source"`
	RequireCleanScan bool   `json:"requireCleanScan,omitempty"`
	Running          *Image `json:"running,omitempty"`
	// Candidate is the newest image the rule allows.
	Candidate *Image `json:"candidate,omitempty"`
	State     State  `json:"state"`
	// Reason says why the running image and the candidate differ, or what
	// else the operator should know (whole here; the table cuts it at
	// maxWhy characters).
	Reason       string        `json:"reason,omitempty"`
	Hold         string        `json:"hold,omitempty"`
	Verification *Verification `json:"verification,omitempty"`
	LastChange   *Change       `json:"lastChange,omitempty"`
}

// Report is the status of every target.
type Report struct {
	GeneratedAt time.Time `json:"generatedAt"`
	Rows        []Row     `json:"targets"`
	// Problems are what could not be read and is not a row: opt-in
	// annotations that do not parse, clusters that could not be listed.
	Problems []string `json:"problems"`
}

// Reader reads the status of a policy's targets. It never writes.
type Reader struct {
	Policy  *policy.File
	Clients rollout.Clients
	// Images lists the repositories; Scans reads findings for gated targets.
	Images ecr.DescribeImagesAPIClient
	Scans  ecr.DescribeImageScanFindingsAPIClient
	// Origin is the registry the rollouts use (account, Region).
	Origin ecrevent.Origin
	// Now is the clock of the report and of ignore entries; time.Now when nil.
	Now func() time.Time
}

// maxGateReads bounds the older candidates whose scans a gated target's
// row reads to name the one the reconcile would roll instead (the
// reconcile's own bound is the same order).
const maxGateReads = 10

// Read returns the status of every target of every repository of the
// policy, sorted by cluster, namespace, workload and container. It fails
// only when the context ends; everything else that cannot be read is an
// Unknown row or a problem.
func (r *Reader) Read(ctx context.Context) (*Report, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	rep := &Report{GeneratedAt: now.UTC(), Rows: []Row{}, Problems: []string{}}
	workloads := map[string]map[string]*kube.Workload{} // cluster → kind namespace/name → workload
	listErr := map[string]error{}
	for i := range r.Policy.Repositories {
		repo := &r.Policy.Repositories[i]
		targets, bad, err := rollout.Discover(ctx, r.Clients, r.Policy, repo.Name)
		for _, b := range bad {
			rep.Problems = append(rep.Problems, b.Error())
		}
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: opt-in workloads unknown: %v", repo.Name, err))
			targets = rollout.PolicyTargets(r.Policy, repo.Name)
		}
		if len(targets) == 0 {
			continue
		}
		images, err := registry.List(ctx, r.Images, r.Origin.Account, repo.Name, nil)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, t := range targets {
			row := newRow(t)
			switch {
			case err != nil:
				row.State, row.Reason = Unknown, "listing "+repo.Name+" failed: "+err.Error()
			default:
				r.fill(ctx, &row, repo, t, images, workloads, listErr, now)
			}
			rep.Rows = append(rep.Rows, row)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	slices.SortStableFunc(rep.Rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Container, b.Container))
	})
	slices.Sort(rep.Problems)
	rep.Problems = slices.Compact(rep.Problems)
	return rep, nil
}

func newRow(t rollout.Target) Row {
	return Row{Cluster: t.Cluster, Namespace: t.Namespace, Kind: strings.ToLower(string(t.Ref().Kind)), Workload: t.Deployment, Container: t.Container,
		Repository: t.Repository, Rule: t.Tags.String(), Source: t.Source, RequireCleanScan: t.RequireCleanScan}
}

// workload returns the workload of t, listing each cluster's namespaces
// once, every kind (list only: the reader's rights).
func (r *Reader) workload(ctx context.Context, t rollout.Target, workloads map[string]map[string]*kube.Workload, listErr map[string]error) (*kube.Workload, error) {
	if err, ok := listErr[t.Cluster]; ok {
		return nil, err
	}
	byName, ok := workloads[t.Cluster]
	if !ok {
		var namespaces []string
		if c, found := r.Policy.Cluster(t.Cluster); found {
			namespaces = append(namespaces, c.Namespaces...)
		}
		for _, repo := range r.Policy.Repositories {
			for _, d := range repo.Deploy {
				if d.Cluster == t.Cluster && !slices.Contains(namespaces, d.Namespace) {
					namespaces = append(namespaces, d.Namespace)
				}
			}
		}
		deps, err := r.list(ctx, t.Cluster, namespaces)
		if err != nil {
			listErr[t.Cluster] = err
			return nil, err
		}
		byName = map[string]*kube.Workload{}
		for _, w := range deps {
			byName[w.Ref().String()] = w
		}
		workloads[t.Cluster] = byName
	}
	d, ok := byName[t.Ref().String()]
	if !ok {
		return nil, fmt.Errorf("%s %s/%s not found in cluster %s", strings.ToLower(string(t.Ref().Kind)), t.Namespace, t.Deployment, t.Cluster)
	}
	return d, nil
}

func (r *Reader) list(ctx context.Context, cluster string, namespaces []string) ([]*kube.Workload, error) {
	client, err := r.Clients.Client(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cluster, err)
	}
	deps, err := client.ListWorkloads(ctx, namespaces)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cluster, err)
	}
	return deps, nil
}

// fill computes one row: what runs, the candidate, and the first thing
// that stops the candidate, in the engine's order (hold, block, version),
// with the scan gate of gated rules after them.
func (r *Reader) fill(ctx context.Context, row *Row, repo *policy.Repository, t rollout.Target, images []ecrtypes.ImageDetail,
	workloads map[string]map[string]*kube.Workload, listErr map[string]error, now time.Time) {
	fail := func(err error) { row.State, row.Reason = Unknown, err.Error() }
	cur, err := r.workload(ctx, t, workloads, listErr)
	if err != nil {
		fail(err)
		return
	}
	row.Hold = cur.Annotations()[rollout.AnnotationHold]
	st, err := readState(cur)
	if err != nil {
		fail(fmt.Errorf("%s: %w", t.Ref(), err))
		return
	}
	row.Verification, row.LastChange = st.verify, st.change
	host := r.Origin.RegistryHost()
	engine := rollout.NewEngine(r.Clients, listingLookup(images), nil, slog.New(slog.DiscardHandler))
	run, err := engine.RunningImage(ctx, host, t, cur)
	if err != nil {
		fail(err)
		return
	}
	row.Running = &Image{Reference: run.Image, Tag: run.Version, Digest: run.Ref.Digest}
	if run.Ours {
		row.Running.Tag = cmp.Or(run.Version, run.Ref.Tag)
		if row.Running.Digest == "" {
			row.Running.Digest = listedDigest(images, run.Ref)
		}
	}
	if !run.Ref.InRegistry(host) {
		row.State = Foreign
		row.Reason = fmt.Sprintf("image from %s, not our registry %s: set an image of ours once by hand", run.Ref.Registry, host)
		return
	}
	cands := rollout.Candidates(repo, t, images)
	if len(cands) == 0 {
		row.State, row.Reason = NoCandidate, fmt.Sprintf("no image of %s has a tag that %s selects and the tag rules allow", repo.Name, t.Tags)
		return
	}
	newest := cands[0]
	row.Candidate = &Image{Tag: newest.Tag, Digest: newest.Digest, PushedAt: newest.PushedAt.UTC()}
	v, err := engine.Explain(ctx, newest.Image(host, repo.Name, ""), t, cur)
	if err != nil {
		fail(err)
		return
	}
	switch v.Kind {
	case rollout.VerdictHeld:
		row.State, row.Reason = Held, v.Reason
		if _, ok := blockOf(cur, t.Container, newest.Digest); ok {
			row.Reason += fmt.Sprintf("; %s is blocked", newest.Tag)
		}
		if vf := st.verify; vf != nil && (vf.State == rollout.VerifyFailed || vf.State == rollout.VerifyRolledBack || vf.State == rollout.VerifyAbandoned) {
			row.State, row.Reason = Failed, failedReason(vf, images, t, true)
		}
	case rollout.VerdictBlocked:
		row.State, row.Reason = Blocked, fmt.Sprintf("%s is blocked for %s", newest.Tag, t.Container)
		if b, ok := blockOf(cur, t.Container, newest.Digest); ok {
			row.Reason += ": " + b.Reason
		}
	case rollout.VerdictCurrent, rollout.VerdictNotNewer:
		row.State = Current
		if v.Kind == rollout.VerdictNotNewer && row.Running.Digest != newest.Digest {
			row.Reason = v.Reason
		}
		if vf := st.verify; vf != nil {
			switch {
			case vf.State == rollout.VerifyPending && vf.Digest == row.Running.Digest:
				row.State, row.Reason = Verifying, "verification pending"
			case vf.State == rollout.VerifyFailed:
				row.State, row.Reason = Failed, failedReason(vf, images, t, false)
			}
		}
		if row.Reason == "" {
			row.Reason = newerNotAllowed(repo, t, images, newest)
		}
	case rollout.VerdictMove:
		row.State, row.Reason = Behind, "the next push or reconcile rolls it out"
		if t.RequireCleanScan {
			if err := r.gate(ctx, row, repo, t, engine, cur, cands, now); err != nil {
				fail(err)
			}
		}
	default:
		fail(fmt.Errorf("unknown verdict %q", v.Kind))
	}
}

// gate explains a gated target whose newest candidate the engine would
// take: its scan opens the gate, or it waits, and the newest clean older
// candidate the engine would also take is the one the reconcile rolls.
func (r *Reader) gate(ctx context.Context, row *Row, repo *policy.Repository, t rollout.Target, engine *rollout.Engine, cur *kube.Workload, cands []rollout.Candidate, now time.Time) error {
	g, err := rollout.Gate(ctx, r.Scans, r.Origin.Account, repo, cands[0].Detail, now)
	if err != nil {
		return fmt.Errorf("scan gate of %s: %w", cands[0].Tag, err)
	}
	if g.Open {
		return nil
	}
	if g.Waiting {
		row.State, row.Reason = WaitingScan, fmt.Sprintf("%s waits for a complete scan (%s)", cands[0].Tag, g.Reason)
	} else {
		row.State, row.Reason = Findings, fmt.Sprintf("%s is held back by its scan: %s", cands[0].Tag, g.Reason)
	}
	for i, c := range cands[1:] {
		if i == maxGateReads {
			break
		}
		v, err := engine.Explain(ctx, c.Image(r.Origin.RegistryHost(), repo.Name, ""), t, cur)
		if err != nil {
			return err
		}
		if v.Kind != rollout.VerdictMove {
			return nil // nothing older moves either
		}
		og, err := rollout.Gate(ctx, r.Scans, r.Origin.Account, repo, c.Detail, now)
		if err != nil {
			return fmt.Errorf("scan gate of %s: %w", c.Tag, err)
		}
		if og.Open {
			row.Reason += fmt.Sprintf("; %s is clean: the next reconcile rolls it out", c.Tag)
			return nil
		}
	}
	return nil
}

// blockOf returns the block of digest for container in d's
// ecrwarden.io/blocked-digests, if any.
func blockOf(d *kube.Workload, container, digest string) (rollout.Block, bool) {
	bs, err := rollout.Blocks(d)
	if err != nil {
		return rollout.Block{}, false
	}
	for _, b := range bs {
		if b.Container == container && b.Digest == digest {
			return b, true
		}
	}
	return rollout.Block{}, false
}

// failedReason says which image failed verification, what ecrwarden did
// (rolled back, held) and then why: the Pods' reasons come last, as they
// can be long.
func failedReason(vf *Verification, images []ecrtypes.ImageDetail, t rollout.Target, held bool) string {
	what := registry.ShortDigest(vf.Digest)
	if tag := tagOf(images, vf.Digest, t); tag != "" {
		what = tag
	}
	var did []string
	if vf.State == rollout.VerifyRolledBack {
		back := "rolled back"
		if ref, err := kube.ParseImageRef(vf.PreviousImage); err == nil && vf.PreviousImage != "" {
			back += " to " + cmp.Or(tagOf(images, ref.Digest, t), ref.Tag, registry.ShortDigest(ref.Digest))
		}
		did = append(did, back)
	}
	if vf.State == rollout.VerifyAbandoned {
		did = append(did, "abandoned")
	}
	if held {
		did = append(did, "held")
	} else {
		did = append(did, "alert only")
	}
	s := what + " failed verification (" + strings.Join(did, ", ") + ")"
	if len(vf.Reasons) > 0 {
		s += ": " + strings.Join(vf.Reasons, "; ")
	}
	return s
}

// newerNotAllowed names the newest push of the repository when it is newer
// than the candidate and the rule or the tag rules do not allow it.
func newerNotAllowed(repo *policy.Repository, t rollout.Target, images []ecrtypes.ImageDetail, cand rollout.Candidate) string {
	var newest *ecrtypes.ImageDetail
	for i := range images {
		d := &images[i]
		if len(d.ImageTags) == 0 {
			continue
		}
		if newest == nil || aws.ToTime(d.ImagePushedAt).After(aws.ToTime(newest.ImagePushedAt)) {
			newest = d
		}
	}
	if newest == nil || aws.ToString(newest.ImageDigest) == cand.Digest || !aws.ToTime(newest.ImagePushedAt).After(cand.PushedAt) {
		return ""
	}
	tags := slices.Sorted(slices.Values(newest.ImageTags))
	for _, tag := range tags {
		if m, ok := t.Tags.Match(tag); ok && m.Prerelease() && !t.Prerelease {
			return fmt.Sprintf("newer push %s is a pre-release: the rule does not allow them", tag)
		}
		if _, ok := t.Selects(tag); ok && repo.Tags != nil {
			if _, allowed := repo.Tags.Allowed(tag); !allowed {
				return fmt.Sprintf("newer push %s: the repository's tag rules do not allow it", tag)
			}
		}
	}
	return fmt.Sprintf("newer push %s: not allowed by the rule (%s)", strings.Join(tags, ","), t.Tags)
}

// tagOf is the best tag t selects of the listed image digest, or "".
func tagOf(images []ecrtypes.ImageDetail, digest string, t rollout.Target) string {
	for _, d := range images {
		if aws.ToString(d.ImageDigest) == digest {
			tag, _ := t.BestTag(d.ImageTags, aws.ToTime(d.ImagePushedAt))
			return tag
		}
	}
	return ""
}

// listedDigest is the digest of the listed image ref names by tag.
func listedDigest(images []ecrtypes.ImageDetail, ref kube.Ref) string {
	tag := cmp.Or(ref.Tag, "latest")
	for _, d := range images {
		if slices.Contains(d.ImageTags, tag) {
			return aws.ToString(d.ImageDigest)
		}
	}
	return ""
}

// listingLookup answers the engine's registry lookups from the listing
// status already made (rollout.ECRLookup asks DescribeImages the same
// question image by image).
type listingLookup []ecrtypes.ImageDetail

// Image finds ref (by digest, else by tag, else latest) in the listing.
func (l listingLookup) Image(_ context.Context, _ string, ref kube.Ref) (rollout.ImageInfo, error) {
	for _, d := range l {
		if (ref.Digest != "" && aws.ToString(d.ImageDigest) == ref.Digest) ||
			(ref.Digest == "" && slices.Contains(d.ImageTags, cmp.Or(ref.Tag, "latest"))) {
			return rollout.ImageInfo{Found: true, Tags: d.ImageTags, PushedAt: aws.ToTime(d.ImagePushedAt)}, nil
		}
	}
	return rollout.ImageInfo{}, nil
}
