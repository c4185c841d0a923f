package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
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
	Reconcile(ctx context.Context, runID string) ([]rollout.TargetResult, error)
}

// handler acts on "ECR Image Action" events and on the scheduled reconcile.
type handler struct {
	policy    *policy.File
	ecr       registry.BatchDeleteImageAPI
	alerts    alerter
	audit     auditor
	roll      roller
	discover  discoverer
	reconcile reconciler
	log       *slog.Logger
}

// newHandler wires the handler and its reconciler from the shared dependencies.
func newHandler(d *fnconfig.Deps, log *slog.Logger) *handler {
	engine := rollout.NewEngine(d.Clusters, rollout.ECRLookup{Client: d.ECR}, d.Audit, log)
	discover := func(ctx context.Context, f *policy.File, repo string) ([]rollout.Target, []error, error) {
		return rollout.Discover(ctx, d.Clusters, f, repo)
	}
	return &handler{policy: d.Policy, ecr: d.ECR, alerts: d.Alerts, audit: d.Audit, log: log, roll: engine, discover: discover,
		reconcile: &rollout.Reconciler{Policy: d.Policy, Images: d.ECR, Scans: d.ECR, Region: d.AWS.Region,
			Discover: discover, Roll: engine, Log: log}}
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
// the policy does not name, are logged and ignored. The scheduled payload
// {"action":"reconcile","runId":"…"} runs a reconcile instead; it fails when
// any repository or target failed, so that the invocation is retried.
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
		return nil
	}
	push, err := ecrevent.DecodePush(raw)
	if err != nil {
		return fmt.Errorf("onpush: %w", err)
	}
	log := h.log.With("repository", push.Repository, "tag", push.Tag, "digest", push.Digest, "event", push.EventID)
	repo, ok := h.policy.Repository(push.Repository)
	if !ok {
		log.Info("event ignored: repository not in the policy")
		return nil
	}
	if push.Tag == "" {
		log.Info("push by digest: no tag to check or roll out")
		return nil
	}
	if repo.Tags != nil {
		if _, allowed := repo.Tags.Allowed(push.Tag); !allowed {
			return h.reject(ctx, log, push, repo)
		}
	}
	targets, bad, err := h.discover(ctx, h.policy, push.Repository)
	for _, e := range bad {
		log.Warn("deployment opt-in skipped", "error", e)
	}
	if err != nil {
		return fmt.Errorf("onpush %s:%s: %w", push.Repository, push.Tag, err)
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
		Registry:   registryHost(push.Account, push.Region),
		Repository: push.Repository, Tag: push.Tag, Digest: push.Digest,
		PushedAt: push.Time, EventID: push.EventID,
	}
	if _, err := h.roll.Roll(ctx, img, now); err != nil {
		return fmt.Errorf("onpush %s:%s: %w", push.Repository, push.Tag, err)
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
	results, err := h.reconcile.Reconcile(ctx, s.RunID)
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

// reject acts on a tag no pattern allows: delete it if the policy says so,
// alert once, and audit.
func (h *handler) reject(ctx context.Context, log *slog.Logger, push ecrevent.ImageAction, repo *policy.Repository) error {
	action := alert.TagAlerted
	var errs []error
	if repo.Tags.OnViolation == policy.ActionDelete {
		action = alert.TagDeleted
		if err := registry.DeleteTag(ctx, h.ecr, push.Account, push.Repository, push.Tag); err != nil {
			action = alert.TagDeleteFailed
			errs = append(errs, err)
		}
	}
	log.Warn("tag rejected", "action", string(action))
	allowed := make([]string, len(repo.Tags.Allow))
	for i, p := range repo.Tags.Allow {
		allowed[i] = p.String()
	}
	a := alert.Alert{
		Kind: alert.KindTagRejected, Repository: push.Repository, Tags: []string{push.Tag}, Digest: push.Digest,
		Region: push.Region, Account: push.Account,
		TagRejection: &alert.TagRejection{Tag: push.Tag, Allowed: allowed, Action: action},
	}
	if len(errs) > 0 {
		a.TagRejection.Error = errs[0].Error()
	}
	key := fmt.Sprintf("tag-rejected#%s#%s#%s#%s", push.Repository, push.Tag, push.Digest, action)
	if _, err := h.alerts.Deliver(ctx, key, a); err != nil {
		errs = append(errs, err)
	}
	if err := h.audit.Publish(ctx, audit.Event{
		DetailType: audit.TagRejected,
		Resources:  []string{repositoryARN(push)},
		Detail: map[string]any{
			"repository": push.Repository, "tag": push.Tag, "digest": push.Digest, "action": string(action),
			"allowed": allowed, "eventId": push.EventID, "time": push.Time.Format(time.RFC3339),
		},
	}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("onpush %s:%s rejected: %w", push.Repository, push.Tag, err)
	}
	return nil
}

func registryHost(account, region string) string {
	return account + ".dkr.ecr." + region + ".amazonaws.com"
}

func repositoryARN(p ecrevent.ImageAction) string {
	return "arn:aws:ecr:" + p.Region + ":" + p.Account + ":repository/" + p.Repository
}
