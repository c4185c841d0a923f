package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// ErrForeignRegistry means the container runs an image from a registry other
// than ours (another account, Region or host): ecrwarden never moves a
// container between registries, since it cannot compare versions across
// them and must not pin a workload to a registry an event named.
var ErrForeignRegistry = errors.New("the container runs an image from another registry")

// Image is a pushed image that may roll out.
type Image struct {
	// Registry is the registry host, such as 123456789012.dkr.ecr.ap-southeast-1.amazonaws.com.
	Registry   string
	Repository string
	Tag        string
	Digest     string
	PushedAt   time.Time
	// EventID identifies the event that announced the image.
	EventID string
	// Cause is why it rolls out (CausePush when empty, CauseScanReleased,
	// CauseReconcile), recorded in AnnotationLastChange.
	Cause string
}

// Reference returns the image reference a container is set to.
func (i Image) Reference(pin policy.Pin) string {
	if pin == policy.PinTag {
		return i.Registry + "/" + i.Repository + ":" + i.Tag
	}
	return i.Registry + "/" + i.Repository + "@" + i.Digest
}

// ImageInfo describes an image already in the registry.
type ImageInfo struct {
	Found    bool
	Tags     []string
	PushedAt time.Time
}

// Lookup finds the image a reference (by tag or by digest) names in a repository.
type Lookup interface {
	Image(ctx context.Context, repository string, ref kube.Ref) (ImageInfo, error)
}

// Clients returns the Kubernetes client of a cluster (kube.ClusterResolver).
type Clients interface {
	Client(ctx context.Context, cluster string) (*kube.Client, error)
}

// Auditor publishes audit events (audit.Publisher).
type Auditor interface {
	Publish(ctx context.Context, events ...audit.Event) error
}

// Outcome is what happened to one target.
type Outcome struct {
	Target   Target
	Patched  bool
	Previous string
	Image    string
	// Held reports that the target is on hold (ecrwarden rollback) or
	// blocks the image's digest, and was left alone.
	Held bool
	// Reason says why nothing was patched, or what was.
	Reason string
	Err    error
	// PatchedAt is when the patch was accepted (before the verification is
	// armed): PushToPatchLatency ends there.
	PatchedAt time.Time
}

// Engine rolls targets forward.
type Engine struct {
	clients  Clients
	lookup   Lookup
	auditor  Auditor
	verifier *Verifier
	log      *slog.Logger
	metrics  *metrics.Recorder
	now      func() time.Time
}

// VerifyWith makes the engine arm v's verification after every patch, and
// re-arm a pending verification whose check was lost. Without it nothing
// is verified (tests of the engine alone).
func (e *Engine) VerifyWith(v *Verifier) *Engine {
	e.verifier = v
	return e
}

// NewEngine returns an engine. auditor may be nil to publish nothing.
func NewEngine(clients Clients, lookup Lookup, auditor Auditor, log *slog.Logger) *Engine {
	return &Engine{clients: clients, lookup: lookup, auditor: auditor, log: log, now: time.Now}
}

// WithMetrics makes the engine count every target's outcome in Rollouts and
// the push-to-patch latency of every patch (from the image's push time); it
// returns e.
func (e *Engine) WithMetrics(r *metrics.Recorder) *Engine {
	e.metrics = r
	return e
}

// record counts o in the metrics.
func (e *Engine) record(img Image, o Outcome) {
	switch {
	case o.Err != nil:
		e.metrics.Count(metrics.Rollouts, metrics.OutcomeFailed)
	case o.Patched:
		e.metrics.Count(metrics.Rollouts, metrics.OutcomePatched)
		if !img.PushedAt.IsZero() {
			e.metrics.Duration(metrics.PushToPatch, max(o.PatchedAt.Sub(img.PushedAt), 0))
		}
	case o.Held:
		e.metrics.Count(metrics.Rollouts, metrics.OutcomeHeld)
	default:
		e.metrics.Count(metrics.Rollouts, metrics.OutcomeUnchanged)
	}
}

// Roll moves every target that selects img's tag forward to img. It
// returns one outcome per target and an error joining the failures; a
// failing target does not stop the others.
func (e *Engine) Roll(ctx context.Context, img Image, targets []Target) ([]Outcome, error) {
	var outcomes []Outcome
	var errs []error
	for _, t := range targets {
		o := e.roll(ctx, img, t)
		log := e.log.With("target", t.String(), "source", t.Source, "repository", img.Repository, "tag", img.Tag, "digest", img.Digest)
		switch {
		case o.Err != nil:
			log.Error("rollout failed", "error", o.Err)
			errs = append(errs, fmt.Errorf("roll %s to %s:%s: %w", t, img.Repository, img.Tag, o.Err))
		case o.Patched:
			log.Info("rolled out", "previous", o.Previous, "image", o.Image)
		default:
			log.Info("no rollout", "reason", o.Reason)
		}
		e.record(img, o)
		outcomes = append(outcomes, o)
	}
	var events []audit.Event
	for _, o := range outcomes {
		if o.Patched {
			events = append(events, patchedEvent(img, o))
		}
	}
	if len(events) > 0 && e.auditor != nil {
		if err := e.auditor.Publish(ctx, events...); err != nil {
			errs = append(errs, err)
		}
	}
	return outcomes, errors.Join(errs...)
}

func (e *Engine) roll(ctx context.Context, img Image, t Target) Outcome {
	o := Outcome{Target: t}
	cand, ok := t.Selects(img.Tag)
	if !ok {
		o.Reason = fmt.Sprintf("tag %s does not match %s", img.Tag, t.Tags)
		if m, matched := t.Tags.Match(img.Tag); matched && m.Prerelease() {
			o.Reason = fmt.Sprintf("tag %s is a pre-release and the target does not allow them", img.Tag)
		}
		return o
	}
	client, err := e.clients.Client(ctx, t.Cluster)
	if err != nil {
		o.Err = err
		return o
	}
	var reason string
	var change Change
	var pending Verification
	res, err := client.UpdateWorkloadImage(ctx, t.Ref(), t.Container,
		func(cur *kube.Workload) (string, map[string]string, bool, error) {
			v, err := e.decide(ctx, img, cand, t, cur)
			reason = v.Reason
			o.Held = err == nil && (v.Kind == VerdictHeld || v.Kind == VerdictBlocked)
			if err != nil || v.Kind != VerdictMove {
				return "", nil, err == nil, err
			}
			from, _, _ := cur.ContainerImage(t.Container)
			to := img.Reference(t.Pin)
			now := e.now().UTC()
			cause := img.Cause
			if cause == "" {
				cause = CausePush
			}
			change = Change{EventID: img.EventID, Time: now, Cause: cause, From: from, To: to}
			pending = Verification{State: VerifyPending, Since: now, At: now, Digest: img.Digest, PreviousImage: from, Reasons: []string{}}
			ann := annotations(img)
			state, err := stateAnnotations(change, pending)
			if err != nil {
				return "", nil, false, err
			}
			if e.verifier == nil {
				// Nothing would ever check a pending verification (no
				// verify queue is configured): record none.
				delete(state, AnnotationVerify)
			}
			for k, v := range state {
				ann[k] = v
			}
			return to, ann, false, nil
		})
	if err != nil {
		o.Err = err
		return o
	}
	if res.Patched {
		o.PatchedAt = e.now()
	}
	if e.verifier != nil {
		if res.Patched {
			if err := e.verifier.Arm(ctx, checkFor(t, img, change, pending)); err != nil {
				// The patch stands; the retry of this event re-arms (ensure).
				o.Err = err
			}
		} else if res.Workload != nil {
			st, _ := ReadState(res.Workload.Annotations())
			force := st.LastChange != nil && st.LastChange.EventID == img.EventID
			if rearmed, err := e.verifier.ensure(ctx, client, t, img, res.Workload, force); err != nil {
				o.Err = fmt.Errorf("re-arm the verification: %w", err)
			} else if rearmed {
				e.log.Info("verification re-armed", "target", t.String())
			}
		}
	}
	o.Patched, o.Previous, o.Image = res.Patched, res.PreviousImage, res.Image
	switch {
	case res.Patched:
		o.Reason = fmt.Sprintf("%s → %s", res.PreviousImage, res.Image)
	case reason != "":
		o.Reason = reason
	default:
		o.Reason = "already at " + res.Image
	}
	return o
}

// decide says whether the container of cur should move to img
// (VerdictMove) or why not: a held workload or a blocked digest is what
// Outcome.Held counts.
func (e *Engine) decide(ctx context.Context, img Image, cand policy.Match, t Target, cur *kube.Workload) (Verdict, error) {
	if hold, ok := held(cur); ok {
		return Verdict{VerdictHeld, "held: " + hold}, nil
	}
	blocks, err := Blocks(cur)
	if err != nil {
		return Verdict{}, err
	}
	if b, ok := blockFor(blocks, t.Container, img.Digest); ok {
		return Verdict{VerdictBlocked, fmt.Sprintf("blocked: %s is blocked for container %s (%s); `ecrwarden release --digest` unblocks it", img.Digest, t.Container, b.Reason)}, nil
	}
	image, _, ok := cur.ContainerImage(t.Container)
	if !ok {
		return Verdict{}, fmt.Errorf("%s: container %q: %w", workloadName(t.Ref()), t.Container, kube.ErrContainerNotFound)
	}
	ref, err := kube.ParseImageRef(image)
	if err != nil {
		return Verdict{}, fmt.Errorf("%s container %s runs %q: %w", workloadName(t.Ref()), t.Container, image, err)
	}
	if !ref.InRegistry(img.Registry) {
		// The running version cannot be told from our registry, and moving
		// a container between registries is not a rollout: refuse and
		// report (the invocation fails, so the DLQ alarm fires).
		return Verdict{}, fmt.Errorf("%w: %s container %s runs %s, from registry %s, not ours (%s); set it to an image of ours once by hand and ecrwarden takes over",
			ErrForeignRegistry, workloadName(t.Ref()), t.Container, image, ref.Registry, img.Registry)
	}
	same := ref.Repository == img.Repository
	if same && ref.Digest == img.Digest {
		return Verdict{VerdictCurrent, "already at " + img.Digest}, nil
	}
	if same && t.Pin == policy.PinTag && ref.Digest == "" && ref.Tag == img.Tag {
		return Verdict{VerdictCurrent, "already at tag " + img.Tag}, nil
	}
	if !same {
		return Verdict{Kind: VerdictMove}, nil // another repository of ours: no version to compare with
	}
	curMatch, curPushed, curDesc, err := e.currentVersion(ctx, t, cur, ref)
	if err != nil {
		return Verdict{}, err
	}
	if t.Order.Compare(cand, img.PushedAt, curMatch, curPushed) <= 0 {
		return Verdict{VerdictNotNewer, fmt.Sprintf("%s is not newer than the running %s (order %s)", img.Tag, curDesc, t.Order)}, nil
	}
	return Verdict{Kind: VerdictMove}, nil
}

// currentVersion finds the best version, in the target's order, of the
// image the container runs. The registry decides: the tags the running
// digest (or tag) carries now. ecrwarden's own ecrwarden.io/tag annotation
// only names the version when it describes the running image: its digest
// is the running one, the registry still has that image, and none of the
// image's tags tells a version (the tag was deleted since). An image the
// registry no longer has has no version, whatever the annotations say.
func (e *Engine) currentVersion(ctx context.Context, t Target, cur *kube.Workload, ref kube.Ref) (policy.Match, time.Time, string, error) {
	info, err := e.lookup.Image(ctx, t.Repository, ref)
	if err != nil {
		return policy.Match{}, time.Time{}, "", fmt.Errorf("look up the running image %s: %w", ref, err)
	}
	if !info.Found {
		return policy.Match{}, time.Time{}, ref.String() + " (no longer in the registry)", nil
	}
	// The running image may be a pre-release the target would not roll out
	// now: rank every tag the pattern matches.
	best, found := t.best(info.Tags, info.PushedAt, t.Tags.Match)
	if found {
		return best, info.PushedAt, best.Tag, nil
	}
	ann := cur.Annotations()
	if t.Order != policy.OrderPushed && ref.Digest != "" && ann[kube.AnnotationDigest] == ref.Digest {
		if m, ok := t.Tags.Match(ann[kube.AnnotationTag]); ok {
			return m, info.PushedAt, m.Tag + " (from " + kube.AnnotationTag + ")", nil
		}
	}
	return best, info.PushedAt, ref.String(), nil
}

func annotations(img Image) map[string]string {
	return map[string]string{
		kube.AnnotationChangeCause: fmt.Sprintf("ecrwarden: %s:%s (%s)", img.Repository, img.Tag, registry.ShortDigest(img.Digest)),
		kube.AnnotationTag:         img.Tag,
		kube.AnnotationDigest:      img.Digest,
		kube.AnnotationEventID:     img.EventID,
	}
}

func patchedEvent(img Image, o Outcome) audit.Event {
	return audit.Event{
		DetailType: audit.DeploymentPatched,
		Detail: map[string]string{
			"cluster": o.Target.Cluster, "kind": string(o.Target.Ref().Kind), "namespace": o.Target.Namespace, "deployment": o.Target.Deployment,
			"container": o.Target.Container, "repository": img.Repository, "tag": img.Tag, "digest": img.Digest,
			"image": o.Image, "previousImage": o.Previous, "eventId": img.EventID, "source": o.Target.Source,
		},
	}
}
