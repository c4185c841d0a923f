package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// alerter delivers an alert once per key and then publishes its audit
// events as their own at-least-once step (notify.Once).
type alerter interface {
	DeliverAudited(ctx context.Context, key string, a alert.Alert, events []audit.Event) (sent bool, err error)
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

// handler acts on "ECR Image Scan", "Inspector2 Scan" and "Inspector2
// Finding" events.
type handler struct {
	policy   *policy.File
	scans    ecr.DescribeImageScanFindingsAPIClient
	images   ecr.DescribeImagesAPIClient
	alerts   alerter
	audit    auditor
	roll     roller
	discover discoverer
	// region is the function's AWS_REGION; with the invoked function ARN it
	// makes the Origin whose events the handler acts on.
	region  string
	metrics *metrics.Recorder
	now     func() time.Time
	log     *slog.Logger
}

// image is the scanned image an event is about.
type image struct {
	eventID    string
	detailType string
	// account and region are the event's, checked against the Origin;
	// everything the handler writes uses the Origin's.
	account    string
	region     string
	time       time.Time
	repository string
	digest     string
	tags       []string
	scanner    findings.Source
}

// gatedRollout is a target that waits for a clean scan and the tag of the
// scanned image it would roll out.
type gatedRollout struct {
	target rollout.Target
	tag    string
}

// Handle alerts on the findings of a scanned image and releases or holds
// the rollouts that wait for a clean scan. Events of other kinds, and about
// repositories the policy does not name, are logged and ignored. A malformed
// event is an error and sends nothing. An event that does not name our
// account, our Region and an image in our registry is refused: logged,
// audited (EventRefused) and not retried (Handle returns nil).
func (h *handler) Handle(ctx context.Context, raw json.RawMessage) error {
	kind, reason, err := ecrevent.ClassifyWithReason(raw)
	if err != nil {
		return fmt.Errorf("onscan: %w", err)
	}
	var img image
	var act func(context.Context, ecrevent.Origin, image) error
	var arn ecrevent.RepositoryARN
	switch kind {
	case ecrevent.KindBasicScan, ecrevent.KindInspectorScan:
		s, err := ecrevent.DecodeScan(raw)
		if err != nil {
			return fmt.Errorf("onscan: %w", err)
		}
		img = image{eventID: s.EventID, detailType: ecrevent.DetailTypeImageScan, account: s.Account, region: s.Region, time: s.Time,
			repository: s.Repository, digest: s.Digest, tags: s.Tags, scanner: findings.SourceBasic}
		if s.Enhanced {
			img.scanner, img.detailType, arn = findings.SourceEnhanced, ecrevent.DetailTypeInspectorScan, s.RepositoryARN
		}
		act = func(ctx context.Context, o ecrevent.Origin, img image) error { return h.scan(ctx, o, img, s) }
	case ecrevent.KindInspectorFinding:
		f, err := ecrevent.DecodeFinding(raw)
		if err != nil {
			return fmt.Errorf("onscan: %w", err)
		}
		img = image{eventID: f.EventID, detailType: ecrevent.DetailTypeInspectorFinding, account: f.Account, region: f.Region, time: f.Time,
			repository: f.Repository, digest: f.Digest, tags: f.Tags, scanner: findings.SourceEnhanced}
		arn = f.RepositoryARN
		act = func(ctx context.Context, o ecrevent.Origin, img image) error { return h.finding(ctx, o, img, f) }
	default:
		h.log.Info("event ignored", "kind", kind.String(), "reason", reason)
		return nil
	}
	o, err := ecrevent.OriginFromContext(ctx, h.region)
	if err != nil {
		return fmt.Errorf("onscan: %w", err)
	}
	err = o.Check("the event", img.account, img.region)
	if err == nil && arn != (ecrevent.RepositoryARN{}) {
		err = o.CheckARN("the event's repository", arn)
	}
	if err == nil {
		err = act(ctx, o, img)
	}
	if errors.Is(err, ecrevent.ErrRefused) {
		return h.refuse(ctx, o, img, err)
	}
	if err != nil {
		return fmt.Errorf("onscan %s@%s: %w", img.repository, img.digest, err)
	}
	return nil
}

// refuse logs and audits an event that does not name our account, Region
// and an image of our registry. Retrying cannot make it valid, so it
// returns nil unless the audit event could not be put.
func (h *handler) refuse(ctx context.Context, o ecrevent.Origin, img image, why error) error {
	r := ecrevent.Refusal{Function: "onscan", EventID: img.eventID, DetailType: img.detailType, Account: img.account, Region: img.region,
		Repository: img.repository, Digest: img.digest, Reason: why.Error()}
	h.log.Warn("event refused", "event", r.EventID, "detailType", r.DetailType, "account", r.Account, "region", r.Region,
		"repository", r.Repository, "digest", r.Digest, "reason", r.Reason)
	if err := h.publish(ctx, audit.Event{DetailType: audit.EventRefused, Resources: []string{o.RepositoryARN(img.repository)}, Detail: r}); err != nil {
		return fmt.Errorf("onscan: refused event %s: %w", img.eventID, err)
	}
	return nil
}

// scan handles a scan result: alert on its findings, then release or hold
// the gated rollouts.
func (h *handler) scan(ctx context.Context, o ecrevent.Origin, img image, s ecrevent.Scan) error {
	log := h.log.With("repository", img.repository, "digest", img.digest, "event", img.eventID,
		"scanner", string(img.scanner), "status", s.Status)
	repo, ok := h.policy.Repository(img.repository)
	if !ok {
		log.Info("event ignored: repository not in the policy")
		return nil
	}
	detail, found, err := registry.Describe(ctx, h.images, o.Account, img.repository,
		ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.digest)})
	if err != nil {
		return fmt.Errorf("describe the scanned image: %w", err)
	}
	if !found {
		return fmt.Errorf("%w: image %s@%s is not in our registry (%s)", ecrevent.ErrRefused, img.repository, img.digest, o.RegistryHost())
	}
	if !scanCompleted(img.scanner, s.Status) {
		return h.failed(ctx, log, o, img, s.Status, detail)
	}
	sc, err := h.evaluate(ctx, log, o, img, repo)
	if err != nil {
		return err
	}
	if n := reportedCount(s.SeverityCounts); n > 0 && sc.Reported == 0 {
		// The event says the scan found something and the read says
		// nothing: one of them is not the final word yet. Doubt is never
		// clean; Lambda retries the event.
		log.Warn("the event's severity counts disagree with an empty findings read; failing so that Lambda retries", "counts", s.SeverityCounts)
		return fmt.Errorf("the %s event counts %d findings (%s) but DescribeImageScanFindings returned none", img.detailType, n, countsText(s.SeverityCounts))
	}
	res := sc.Result
	var errs []error
	if len(res.Alerting) > 0 {
		if err := h.alertFindings(ctx, log, o, img, res, findings.Fingerprint(img.repository, img.digest, res.Alerting)); err != nil {
			errs = append(errs, err)
		}
	} else {
		log.Info("nothing at or above the threshold", "threshold", string(res.Threshold), "ignored", len(res.Ignored),
			"below", res.Below, "unknownSeverity", len(res.Unknown))
	}
	if err := h.gate(ctx, log, o, img, res, detail); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// finding handles an "Inspector2 Finding" event: the image's whole current
// finding set is fetched and alerts once per distinct alerting set.
func (h *handler) finding(ctx context.Context, o ecrevent.Origin, img image, f ecrevent.Finding) error {
	log := h.log.With("repository", img.repository, "digest", img.digest, "event", img.eventID,
		"finding", f.FindingARN, "vulnerability", f.VulnerabilityID, "severity", f.Severity)
	repo, ok := h.policy.Repository(img.repository)
	if !ok {
		log.Info("event ignored: repository not in the policy")
		return nil
	}
	if !strings.EqualFold(f.Status, "ACTIVE") {
		log.Info("finding event ignored: the finding is not active", "findingStatus", f.Status)
		return nil
	}
	sc, err := h.evaluate(ctx, log, o, img, repo)
	if err != nil {
		return err
	}
	res := sc.Result
	if len(res.Alerting) == 0 {
		log.Info("nothing at or above the threshold", "threshold", string(res.Threshold), "ignored", len(res.Ignored),
			"below", res.Below, "unknownSeverity", len(res.Unknown))
		return nil
	}
	return h.alertFindings(ctx, log, o, img, res, findings.Fingerprint(img.repository, img.digest, res.Alerting))
}

// scanCompleted reports whether a scan event's status means the findings are there.
func scanCompleted(scanner findings.Source, status string) bool {
	if scanner == findings.SourceEnhanced {
		return status == "INITIAL_SCAN_COMPLETE" || status == "COMPLETE"
	}
	return status == "COMPLETE"
}

// reportedCount is how many findings a scan event's severity counts say
// there are: the sum of the listed severities, or Inspector's TOTAL when
// that is larger (it also counts severities it does not list).
func reportedCount(counts map[string]int64) int64 {
	var sum int64
	for sev, n := range counts {
		if sev != "TOTAL" {
			sum += n
		}
	}
	return max(sum, counts["TOTAL"])
}

// countsText lists severity counts in a stable order for messages.
func countsText(counts map[string]int64) string {
	parts := make([]string, 0, len(counts))
	for _, sev := range slices.Sorted(maps.Keys(counts)) {
		if counts[sev] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", sev, counts[sev]))
		}
	}
	return strings.Join(parts, ", ")
}

// evaluate reads the image's findings with rollout.ReadScan, the gate rule
// the reconcile shares: every page (a failed page fails it as a whole), a
// complete scan only (anything else is rollout.ErrScanIncomplete, an error
// that Lambda retries), evaluated against the repository's scan policy. An
// image or repository our registry does not have makes the event refused.
func (h *handler) evaluate(ctx context.Context, log *slog.Logger, o ecrevent.Origin, img image, repo *policy.Repository) (rollout.Scan, error) {
	sc, err := rollout.ReadScan(ctx, h.scans, o.Account, repo, img.digest, h.now())
	var (
		scanNotFound  *ecrtypes.ScanNotFoundException
		imageNotFound *ecrtypes.ImageNotFoundException
		repoNotFound  *ecrtypes.RepositoryNotFoundException
	)
	switch {
	case err == nil:
		return sc, nil
	case errors.As(err, &imageNotFound), errors.As(err, &repoNotFound):
		return rollout.Scan{}, fmt.Errorf("%w: %w", ecrevent.ErrRefused, err)
	case errors.As(err, &scanNotFound):
		log.Warn("scan findings not found yet; failing so that Lambda retries the event", "error", err)
	case errors.Is(err, rollout.ErrScanIncomplete):
		log.Warn("scan not complete: never clean; failing so that Lambda retries the event", "error", err)
	}
	return rollout.Scan{}, err
}

// alertFindings delivers the findings alert of one finding set once and
// audits it when it was sent now.
func (h *handler) alertFindings(ctx context.Context, log *slog.Logger, o ecrevent.Origin, img image, res findings.Result, fp string) error {
	a := alert.Alert{
		Kind: alert.KindFindings, Repository: img.repository, Tags: img.tags, Digest: img.digest,
		Region: o.Region, Account: o.Account, Fingerprint: fp, Findings: &res,
	}
	expired := make([]string, len(res.Expired))
	for i, e := range res.Expired {
		expired[i] = e.Finding.ID
	}
	// The audit event is published after the alert, as its own step: a
	// retry publishes it even when an earlier attempt sent the alert.
	ev := audit.Event{
		DetailType: audit.FindingsAlerted,
		Resources:  []string{o.RepositoryARN(img.repository)},
		Detail: map[string]any{
			"repository": img.repository, "digest": img.digest, "tags": nonNil(img.tags), "scanner": string(img.scanner),
			"fingerprint": fp, "threshold": string(res.Threshold), "highest": string(res.Highest()),
			"findings": res.IDs(), "expiredIgnores": expired, "counts": res.Counts,
			"eventId": img.eventID, "time": img.time.UTC().Format(time.RFC3339),
		},
	}
	sent, err := h.alerts.DeliverAudited(ctx, "findings#"+fp, a, []audit.Event{ev})
	if err != nil {
		// A channel that failed is retried with the event; the channel that
		// succeeded is recorded and is not sent again.
		return fmt.Errorf("findings alert %s: %w", fp, err)
	}
	if !sent {
		log.Info("findings alert already sent for this finding set", "fingerprint", fp)
		return nil
	}
	log.Warn("findings alerted", "fingerprint", fp, "highest", string(res.Highest()), "alerting", len(res.Alerting),
		"expired", len(res.Expired), "unknownSeverity", len(res.Unknown))
	return nil
}

// failed alerts on a scan that did not complete. Gated rollouts of the
// image are held, and the alert names them.
func (h *handler) failed(ctx context.Context, log *slog.Logger, o ecrevent.Origin, img image, status string, detail ecrtypes.ImageDetail) error {
	log.Warn("scan failed")
	held, _, gerr := h.gated(ctx, log, img, detail)
	reason := fmt.Sprintf("The %s scan ended with status %s.", img.scanner, status)
	if len(held) > 0 {
		names := make([]string, len(held))
		for i, g := range held {
			names[i] = fmt.Sprintf("%s to %s", g.tag, g.target)
		}
		reason += " Held until a scan of this image completes clean: " + strings.Join(names, "; ") + "."
	}
	a := alert.Alert{
		Kind: alert.KindScanFailed, Repository: img.repository, Tags: img.tags, Digest: img.digest,
		Region: o.Region, Account: o.Account,
		ScanFailure: &alert.ScanFailure{Status: status, Reason: reason, Scanner: img.scanner},
	}
	events := make([]audit.Event, len(held))
	for i, g := range held {
		events[i] = blockedEvent(o, img, g, "", "scan "+status, nil)
	}
	errs := []error{gerr}
	sent, err := h.alerts.DeliverAudited(ctx, "scan-failed#"+img.repository+"#"+img.digest, a, events)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("scan-failed alert: %w", err))
	case !sent:
		log.Info("scan-failed alert already sent for this image")
	case len(held) > 0:
		h.metrics.Add(metrics.ScanGates, float64(len(held)), metrics.DecisionHeld)
	}
	return errors.Join(errs...)
}

// gate releases the gated rollouts of a completed scan when its result is
// clean (findings.Result.Clean: nothing alerting, nothing of unknown
// severity) and holds them, one alert per target, when it is not.
func (h *handler) gate(ctx context.Context, log *slog.Logger, o ecrevent.Origin, img image, res findings.Result, detail ecrtypes.ImageDetail) error {
	gated, pushedAt, err := h.gated(ctx, log, img, detail)
	if err != nil || len(gated) == 0 {
		return err
	}
	if !res.Clean() {
		fp := findings.Fingerprint(img.repository, img.digest, res.Blocking())
		var errs []error
		for _, g := range gated {
			errs = append(errs, h.block(ctx, log, o, img, res, fp, g))
		}
		return errors.Join(errs...)
	}
	var errs []error
	byTag := map[string][]rollout.Target{}
	var order []string
	for _, g := range gated {
		if _, ok := byTag[g.tag]; !ok {
			order = append(order, g.tag)
		}
		byTag[g.tag] = append(byTag[g.tag], g.target)
	}
	for _, tag := range order {
		log.Info("clean scan releases the rollout", "tag", tag, "targets", len(byTag[tag]))
		h.metrics.Add(metrics.ScanGates, float64(len(byTag[tag])), metrics.DecisionReleased)
		ri := rollout.Image{
			Registry: o.RegistryHost(), Repository: img.repository,
			Tag: tag, Digest: img.digest, PushedAt: pushedAt, EventID: img.eventID, Cause: rollout.CauseScanReleased,
		}
		if _, err := h.roll.Roll(ctx, ri, byTag[tag]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// gated returns the targets of the image's repository that wait for a
// clean scan, each with the best tag of the image it selects, and the
// image's push time. The image's current tags come from the registry
// (detail; the event's may be stale).
func (h *handler) gated(ctx context.Context, log *slog.Logger, img image, detail ecrtypes.ImageDetail) ([]gatedRollout, time.Time, error) {
	targets, bad, err := h.discover(ctx, h.policy, img.repository)
	for _, e := range bad {
		log.Warn("deployment opt-in skipped", "error", e)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("discover rollout targets: %w", err)
	}
	targets = slices.DeleteFunc(targets, func(t rollout.Target) bool { return !t.RequireCleanScan })
	if len(targets) == 0 {
		return nil, time.Time{}, nil
	}
	pushed := aws.ToTime(detail.ImagePushedAt)
	var out []gatedRollout
	for _, t := range targets {
		tag, ok := t.BestTag(detail.ImageTags, pushed)
		if !ok {
			log.Info("gated target selects no tag of the image", "target", t.String(), "tags", detail.ImageTags)
			continue
		}
		out = append(out, gatedRollout{target: t, tag: tag})
	}
	return out, pushed, nil
}

// block holds one gated rollout of a scan that is not clean: one alert per
// blocking finding set and target, audited when sent now.
func (h *handler) block(ctx context.Context, log *slog.Logger, o ecrevent.Origin, img image, res findings.Result, fp string, g gatedRollout) error {
	t := g.target
	// A Deployment's key keeps the form it had before other kinds were rolled.
	name, kind := t.Deployment, ""
	if k := t.Ref().Kind; k != kube.KindDeployment {
		name, kind = strings.ToLower(string(k))+"/"+name, string(k)
	}
	key := fmt.Sprintf("rollout-blocked#%s#%s/%s/%s/%s", fp, t.Cluster, t.Namespace, name, t.Container)
	a := alert.Alert{
		Kind: alert.KindRolloutBlocked, Repository: img.repository, Tags: img.tags, Digest: img.digest,
		Region: o.Region, Account: o.Account, Fingerprint: fp, Findings: &res,
		Rollout: &alert.Rollout{Cluster: t.Cluster, Namespace: t.Namespace, Deployment: t.Deployment, Kind: kind, Container: t.Container, Tag: g.tag},
	}
	reason := "findings at or above " + string(res.Threshold)
	switch {
	case len(res.Alerting) == 0:
		reason = "findings of unknown severity"
	case len(res.Unknown) > 0:
		reason += " and findings of unknown severity"
	}
	ev := blockedEvent(o, img, g, fp, reason, res.BlockingIDs())
	sent, err := h.alerts.DeliverAudited(ctx, key, a, []audit.Event{ev})
	if err != nil {
		return fmt.Errorf("rollout-blocked alert for %s: %w", t, err)
	}
	if !sent {
		log.Info("rollout-blocked alert already sent", "target", t.String(), "fingerprint", fp)
		return nil
	}
	log.Warn("rollout held: scan not clean", "target", t.String(), "tag", g.tag, "fingerprint", fp, "reason", reason,
		"alerting", len(res.Alerting), "unknownSeverity", len(res.Unknown))
	h.metrics.Count(metrics.ScanGates, metrics.DecisionHeld)
	return nil
}

// blockedEvent is the RolloutBlocked audit event of one held rollout.
func blockedEvent(o ecrevent.Origin, img image, g gatedRollout, fp, reason string, ids []string) audit.Event {
	t := g.target
	return audit.Event{
		DetailType: audit.RolloutBlocked,
		Resources:  []string{o.RepositoryARN(img.repository)},
		Detail: map[string]any{
			"repository": img.repository, "digest": img.digest, "tag": g.tag,
			"cluster": t.Cluster, "kind": string(t.Ref().Kind), "namespace": t.Namespace, "deployment": t.Deployment, "container": t.Container,
			"source": t.Source, "reason": reason, "fingerprint": fp, "findings": nonNil(ids),
			"eventId": img.eventID, "time": img.time.UTC().Format(time.RFC3339),
		},
	}
}

// publish puts audit events on the bus.
func (h *handler) publish(ctx context.Context, events ...audit.Event) error {
	if err := h.audit.Publish(ctx, events...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
