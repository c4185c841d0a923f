package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// alerter delivers an alert once per key (notify.Once).
type alerter interface {
	Deliver(ctx context.Context, key string, a alert.Alert) (sent bool, err error)
}

// auditor publishes audit events (audit.Publisher).
type auditor interface {
	Publish(ctx context.Context, events ...audit.Event) error
}

// roller rolls targets forward (rollout.Engine).
type roller interface {
	Roll(ctx context.Context, img rollout.Image, targets []rollout.Target) ([]rollout.Outcome, error)
}

// discoverer finds the targets of a repository (rollout.Discover).
type discoverer func(ctx context.Context, f *policy.File, repository string) (targets []rollout.Target, bad []error, err error)

// reconciler moves lagging Deployments to the newest allowed image (rollout.Reconciler).
type reconciler interface {
	Reconcile(ctx context.Context, origin ecrevent.Origin, runID string) ([]rollout.TargetResult, error)
}

// registryAPI is the part of the ECR client onpush calls: DescribeImages
// to check that a pushed image exists and carries its tag, BatchDeleteImage
// to delete a rejected tag.
type registryAPI interface {
	ecr.DescribeImagesAPIClient
	registry.BatchDeleteImageAPI
}

// handler acts on "ECR Image Action" events and on the scheduled reconcile.
type handler struct {
	policy    *policy.File
	ecr       registryAPI
	alerts    alerter
	audit     auditor
	roll      roller
	discover  discoverer
	reconcile reconciler
	// inUse are gc's in-use sources (inuse.Sources): the policy's clusters
	// and the AWS services gc.inUse turns on. A rejected tag is deleted
	// only when all of them were read and none runs its image.
	inUse []inuse.Source
	// verifier runs verification checks for the invocation's Origin; nil
	// when the function has no verification queue.
	verifier func(o ecrevent.Origin) checker
	// region is the function's AWS_REGION; with the invoked function ARN
	// it makes the Origin whose events the handler acts on.
	region string
	// dryRun is ECRWARDEN_DRY_RUN (the stack's dryRun context): no tag is
	// deleted, whatever the policy says.
	dryRun  bool
	metrics *metrics.Recorder
	log     *slog.Logger
}

// newHandler wires the handler and its reconciler from the shared dependencies.
func newHandler(d *fnconfig.Deps, log *slog.Logger) *handler {
	engine := rollout.NewEngine(d.Clusters, rollout.ECRLookup{Client: d.ECR}, d.Audit, log).WithMetrics(d.Metrics).VerifyWith(d.Verifier)
	discover := func(ctx context.Context, f *policy.File, repo string) ([]rollout.Target, []error, error) {
		return rollout.Discover(ctx, d.Clusters, f, repo)
	}
	// The same sources gc reads, through the same clients and listing.
	inUse := inuse.Sources(d.Policy, inuse.NewClients(d.AWS, d.Clusters))
	h := &handler{policy: d.Policy, ecr: d.ECR, alerts: d.Alerts, audit: d.Audit, log: log, roll: engine, discover: discover,
		inUse: inUse, region: d.AWS.Region, dryRun: d.Config.DryRun, metrics: d.Metrics,
		reconcile: &rollout.Reconciler{Policy: d.Policy, Images: d.ECR, Scans: d.ECR, Discover: discover, Roll: engine, Log: log}}
	if d.Verifier != nil {
		h.verifier = func(o ecrevent.Origin) checker {
			v := *d.Verifier
			v.Registry, v.Region, v.Account = o.RegistryHost(), o.Region, o.Account
			return &v
		}
	}
	return h
}

// checker runs one verification check (rollout.Verifier).
type checker interface {
	Verify(ctx context.Context, c rollout.Check) (rollout.CheckResult, error)
}

// Invoke is the function's entry point: an SQS event carries verification
// checks (the verification queue); anything else is an event or scheduled
// payload for Handle.
func (h *handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs" {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("onpush: decode SQS event: %w", err)
		}
		return h.checks(ctx, ev)
	}
	return nil, h.Handle(ctx, raw)
}

// checks runs the verification checks of an SQS batch. It reports the
// messages whose check failed (ReportBatchItemFailures), so SQS redelivers
// only those; after the queue's maxReceiveCount they land in the
// dead-letter queue, whose alarm fires. A message that does not decode
// fails the same way: nothing is dropped unseen.
func (h *handler) checks(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	if h.verifier == nil {
		return resp, errors.New("onpush: a verification check arrived but ECRWARDEN_VERIFY_QUEUE_URL is not set")
	}
	o, err := ecrevent.OriginFromContext(ctx, h.region)
	if err != nil {
		return resp, fmt.Errorf("onpush: %w", err)
	}
	v := h.verifier(o)
	for _, rec := range ev.Records {
		log := h.log.With("message", rec.MessageId)
		var c rollout.Check
		err := json.Unmarshal([]byte(rec.Body), &c)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			log.Error("verification message refused", "error", err, "body", truncate(rec.Body, 300))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		res, err := v.Verify(ctx, c)
		if err != nil {
			log.Error("verification check failed; retried", "check", c.String(), "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		log.Info("verification check", "check", c.String(), "result", res.Result, "reason", res.Reason)
	}
	return resp, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// actionReconcile is the action of the payload the reconcile schedule sends:
// {"action":"reconcile","runId":"<scheduled time>"}.
const actionReconcile = "reconcile"

// scheduled is the payload of an EventBridge Scheduler invocation. An
// EventBridge event envelope has "source" and "detail-type" instead.
type scheduled struct {
	Action     string `json:"action"`
	RunID      string `json:"runId"`
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// Handle validates the pushed tag and rolls the repository's targets
// forward. Events other than a successful push, and pushes to repositories
// the policy does not name, are logged and ignored. A push that does not
// name our account, our Region and an image of our registry that carries
// the pushed tag is refused: logged, audited (EventRefused), not retried.
// The scheduled payload {"action":"reconcile","runId":"…"} runs a
// reconcile instead; it fails when any repository or target failed, so
// that the invocation is retried.
func (h *handler) Handle(ctx context.Context, raw json.RawMessage) error {
	var s scheduled
	if json.Unmarshal(raw, &s) == nil && s.Action != "" && s.Source == "" && s.DetailType == "" {
		return h.scheduled(ctx, s)
	}
	kind, reason, err := ecrevent.ClassifyWithReason(raw)
	if err != nil {
		return fmt.Errorf("onpush: %w", err)
	}
	if kind != ecrevent.KindPush {
		h.log.Info("event ignored", "kind", kind.String(), "reason", reason)
		h.metrics.Count(metrics.Pushes, metrics.VerdictIgnored)
		return nil
	}
	push, err := ecrevent.DecodePush(raw)
	if err != nil {
		return fmt.Errorf("onpush: %w", err)
	}
	o, err := ecrevent.OriginFromContext(ctx, h.region)
	if err != nil {
		return fmt.Errorf("onpush: %w", err)
	}
	err = h.push(ctx, o, push)
	if errors.Is(err, ecrevent.ErrRefused) {
		return h.refuse(ctx, o, push, err)
	}
	if err != nil {
		return fmt.Errorf("onpush %s:%s: %w", push.Repository, push.Tag, err)
	}
	return nil
}

// push acts on a successful push of our registry.
func (h *handler) push(ctx context.Context, o ecrevent.Origin, push ecrevent.ImageAction) error {
	if err := o.Check("the event", push.Account, push.Region); err != nil {
		return err
	}
	log := h.log.With("repository", push.Repository, "tag", push.Tag, "digest", push.Digest, "event", push.EventID)
	repo, ok := h.policy.Repository(push.Repository)
	if !ok {
		log.Info("event ignored: repository not in the policy")
		h.metrics.Count(metrics.Pushes, metrics.VerdictIgnored)
		return nil
	}
	if push.Tag == "" {
		log.Info("push by digest: no tag to check or roll out")
		h.metrics.Count(metrics.Pushes, metrics.VerdictIgnored)
		return nil
	}
	detail, found, err := registry.Describe(ctx, h.ecr, o.Account, push.Repository,
		ecrtypes.ImageIdentifier{ImageDigest: aws.String(push.Digest)})
	if err != nil {
		return fmt.Errorf("check the pushed image: %w", err)
	}
	tagged := found && slices.Contains(detail.ImageTags, push.Tag)
	if repo.Tags != nil {
		if _, allowed := repo.Tags.Allowed(push.Tag); !allowed {
			return h.reject(ctx, log, o, push, repo, found, tagged)
		}
	}
	switch {
	case !found:
		return fmt.Errorf("%w: image %s@%s is not in our registry (%s)", ecrevent.ErrRefused, push.Repository, push.Digest, o.RegistryHost())
	case !tagged:
		return fmt.Errorf("%w: tag %s no longer names %s (its tags are now %v)", ecrevent.ErrRefused, push.Tag, registry.ShortDigest(push.Digest), detail.ImageTags)
	}
	h.metrics.Count(metrics.Pushes, metrics.VerdictAccepted)
	targets, bad, err := h.discover(ctx, h.policy, push.Repository)
	for _, e := range bad {
		log.Warn("deployment opt-in skipped", "error", e)
	}
	if err != nil {
		return err
	}
	var now []rollout.Target
	for _, t := range targets {
		if _, ok := t.Selects(push.Tag); !ok {
			continue
		}
		if t.RequireCleanScan {
			log.Info("rollout waits for a clean scan", "target", t.String(), "source", t.Source)
			continue
		}
		now = append(now, t)
	}
	if len(now) == 0 {
		log.Info("tag accepted; no rollout to do")
		return nil
	}
	img := rollout.Image{
		Registry:   o.RegistryHost(),
		Repository: push.Repository, Tag: push.Tag, Digest: push.Digest,
		PushedAt: aws.ToTime(detail.ImagePushedAt), EventID: push.EventID,
	}
	_, err = h.roll.Roll(ctx, img, now)
	return err
}

// refuse logs and audits a push that does not name our account, Region
// and an image of our registry carrying its tag. Retrying cannot make it
// valid, so it returns nil unless the audit event could not be put.
func (h *handler) refuse(ctx context.Context, o ecrevent.Origin, push ecrevent.ImageAction, why error) error {
	r := ecrevent.Refusal{Function: "onpush", EventID: push.EventID, DetailType: ecrevent.DetailTypeImageAction,
		Account: push.Account, Region: push.Region, Repository: push.Repository, Digest: push.Digest, Tag: push.Tag, Reason: why.Error()}
	h.log.Warn("event refused", "event", r.EventID, "account", r.Account, "region", r.Region,
		"repository", r.Repository, "digest", r.Digest, "tag", r.Tag, "reason", r.Reason)
	h.metrics.Count(metrics.Pushes, metrics.VerdictRefused)
	if err := h.audit.Publish(ctx, audit.Event{DetailType: audit.EventRefused, Resources: []string{o.RepositoryARN(push.Repository)}, Detail: r}); err != nil {
		return fmt.Errorf("onpush: refused event %s: audit: %w", push.EventID, err)
	}
	return nil
}

// scheduled runs the action of a scheduled payload.
func (h *handler) scheduled(ctx context.Context, s scheduled) error {
	if s.Action != actionReconcile {
		return fmt.Errorf("onpush: unknown scheduled action %q", s.Action)
	}
	if s.RunID == "" {
		return errors.New("onpush: reconcile payload without runId")
	}
	o, err := ecrevent.OriginFromContext(ctx, h.region)
	if err != nil {
		return fmt.Errorf("onpush reconcile %s: %w", s.RunID, err)
	}
	results, err := h.reconcile.Reconcile(ctx, o, s.RunID)
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Result]++
	}
	h.log.Info("reconcile done", "run", s.RunID, "targets", len(results), rollout.ReconcilePatched, counts[rollout.ReconcilePatched],
		rollout.ReconcileKept, counts[rollout.ReconcileKept], rollout.ReconcileSkipped, counts[rollout.ReconcileSkipped],
		rollout.ReconcileFailed, counts[rollout.ReconcileFailed])
	if err != nil {
		return fmt.Errorf("onpush reconcile %s: %w", s.RunID, err)
	}
	return nil
}

// reject acts on a tag no pattern allows: with onViolation delete, delete
// it if every safety check passes (deleteTag); alert once per outcome; and
// audit. found and tagged say whether the image exists in our registry and
// still carries the tag. An alert-only policy refuses a push whose image
// or tag is gone; a delete policy alerts on it (nothing deleted) instead,
// since its own earlier attempt may be what removed the tag, and an alert
// must not be lost to a retry.
func (h *handler) reject(ctx context.Context, log *slog.Logger, o ecrevent.Origin, push ecrevent.ImageAction, repo *policy.Repository, found, tagged bool) error {
	action, why := alert.TagAlerted, ""
	var errs []error
	if repo.Tags.OnViolation == policy.ActionDelete {
		var err error
		action, why, err = h.deleteTag(ctx, log, o, push, repo, found, tagged)
		if err != nil {
			errs = append(errs, err)
		}
	} else if !tagged {
		if !found {
			return fmt.Errorf("%w: image %s@%s is not in our registry (%s)", ecrevent.ErrRefused, push.Repository, push.Digest, o.RegistryHost())
		}
		return fmt.Errorf("%w: tag %s no longer names %s", ecrevent.ErrRefused, push.Tag, registry.ShortDigest(push.Digest))
	}
	log.Warn("tag rejected", "action", string(action), "why", why)
	h.metrics.Count(metrics.Pushes, metrics.VerdictRejected)
	allowed := make([]string, len(repo.Tags.Allow))
	for i, p := range repo.Tags.Allow {
		allowed[i] = p.String()
	}
	a := alert.Alert{
		Kind: alert.KindTagRejected, Repository: push.Repository, Tags: []string{push.Tag}, Digest: push.Digest,
		Region: o.Region, Account: o.Account,
		TagRejection: &alert.TagRejection{Tag: push.Tag, Allowed: allowed, Action: action, Reason: why},
	}
	if action == alert.TagDeleteFailed && len(errs) > 0 {
		a.TagRejection.Error = errs[0].Error()
	}
	key := fmt.Sprintf("tag-rejected#%s#%s#%s#%s", push.Repository, push.Tag, push.Digest, action)
	if _, err := h.alerts.Deliver(ctx, key, a); err != nil {
		errs = append(errs, err)
	}
	if err := h.audit.Publish(ctx, audit.Event{
		DetailType: audit.TagRejected,
		Resources:  []string{o.RepositoryARN(push.Repository)},
		Detail: map[string]any{
			"repository": push.Repository, "tag": push.Tag, "digest": push.Digest, "action": string(action), "reason": why,
			"allowed": allowed, "eventId": push.EventID, "time": push.Time.Format(time.RFC3339),
		},
	}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rejected: %w", err)
	}
	return nil
}

// deleteTag deletes a rejected tag only when nothing casts doubt on it: the
// tag still names the event's digest in our registry, nothing that gc reads
// for images in use (every configured cluster, and ECS, Lambda, SageMaker
// and Batch as gc.inUse turns them on) runs that image by tag or by digest
// (listed as gc lists it; a source that cannot be read is doubt), and neither the policy
// (tags.dryRun, true unless set false) nor the stack (ECRWARDEN_DRY_RUN)
// asks for a dry run. Any doubt keeps the tag (TagKept, with why) and the
// alert says so; a failed listing also fails the invocation, so that Lambda
// retries the check. The delete itself names tag and digest together, so a
// tag pushed again in between is refused by ECR, not deleted.
func (h *handler) deleteTag(ctx context.Context, log *slog.Logger, o ecrevent.Origin, push ecrevent.ImageAction, repo *policy.Repository, found, tagged bool) (alert.TagAction, string, error) {
	switch {
	case !found:
		return alert.TagKept, fmt.Sprintf("the image %s is no longer in the registry: nothing to delete", registry.ShortDigest(push.Digest)), nil
	case !tagged:
		return alert.TagKept, fmt.Sprintf("the tag no longer names %s: nothing deleted", registry.ShortDigest(push.Digest)), nil
	case h.dryRun:
		return alert.TagKept, "dry run (the stack's dryRun): the tag would have been deleted", nil
	case repo.Tags.DeleteDry():
		return alert.TagKept, "dry run (tags.dryRun is not false): the tag would have been deleted", nil
	}
	use, err := h.usedBy(ctx, o, push)
	if err != nil {
		log.Error("in-use check failed: tag kept", "error", err)
		return alert.TagKept, "could not tell whether a workload runs the image, so nothing was deleted: " + err.Error(), err
	}
	if use != "" {
		return alert.TagKept, "in use: " + use + ": nothing deleted", nil
	}
	if err := registry.DeleteTag(ctx, h.ecr, o.Account, push.Repository, push.Tag, push.Digest); err != nil {
		if errors.Is(err, registry.ErrTagMoved) {
			return alert.TagKept, "the tag was pushed again while ecrwarden checked it: nothing deleted", nil
		}
		return alert.TagDeleteFailed, "", err
	}
	return alert.TagDeleted, "", nil
}

// usedBy names what runs the pushed image by its tag or by its digest,
// through any host of our registry, among gc's in-use sources
// (inuse.List, then Listing.ForRepository: gc's own reading of "in use"),
// or returns "" when nothing does. Every source is read in full; any
// failure is an error naming the source.
func (h *handler) usedBy(ctx context.Context, o ecrevent.Origin, push ecrevent.ImageAction) (string, error) {
	l, err := inuse.List(ctx, h.inUse)
	if err != nil {
		return "", fmt.Errorf("list images in use: %w", err)
	}
	in := l.ForRepository(o.RegistryHost(), push.Repository)
	if use, ok := in.DigestUses[push.Digest]; ok {
		return use + " (digest " + registry.ShortDigest(push.Digest) + ")", nil
	}
	if use, ok := in.TagUses[push.Tag]; ok {
		return use + " (tag " + push.Tag + ")", nil
	}
	return "", nil
}
