package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

const (
	// DefaultCheckInterval is the delay between two checks of a rollout.
	DefaultCheckInterval = 30 * time.Second
	// maxSQSDelay is SQS's largest DelaySeconds (15 minutes).
	maxSQSDelay = 900 * time.Second
	// staleChecks is how many check intervals a pending verification may go
	// unchecked before the reconcile (or a redelivered event) re-arms it:
	// its check was lost.
	staleChecks = 3
	// maxEvents bounds the Kubernetes Events an alert quotes.
	maxEvents = 5
)

// Check is one scheduled look at a rollout: the body of a verification
// message. It carries everything the verifier needs besides what the
// workload says, so that a check does not depend on the policy file it
// was armed with.
type Check struct {
	Cluster string `json:"cluster"`
	// Kind is the workload's kind; empty means a Deployment (checks armed
	// before every kind was verified).
	Kind      kube.Kind `json:"kind,omitempty"`
	Namespace string    `json:"namespace"`
	// Deployment is the workload's name, of any Kind (the key keeps the
	// name it had when only Deployments were verified).
	Deployment string `json:"deployment"`
	Container  string `json:"container"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	// EventID is the change's (AnnotationLastChange's eventId).
	EventID string `json:"eventId"`
	// At is the verification's At when the check was armed: a check whose
	// At is no longer the workload's is a duplicate and stops.
	At time.Time `json:"at"`
	// PushedAt is when the image was pushed (for push-to-available).
	PushedAt time.Time `json:"pushedAt"`
	// Timeout, OnFailure and NotifySuccess are the target's verify rule.
	Timeout       policy.Duration  `json:"timeout"`
	OnFailure     policy.OnFailure `json:"onFailure"`
	NotifySuccess bool             `json:"notifySuccess,omitempty"`
}

// Ref names the workload the check looks at.
func (c Check) Ref() kube.WorkloadRef {
	return Target{Kind: c.Kind, Namespace: c.Namespace, Deployment: c.Deployment}.Ref()
}

// Validate says what a check message lacks: a check that cannot name its
// workload is refused, never retried as if the API had failed.
func (c Check) Validate() error {
	if c.Cluster == "" || c.Namespace == "" || c.Deployment == "" || c.Container == "" || c.Digest == "" {
		return errors.New("cluster, namespace, deployment (the workload's name), container and digest are required")
	}
	_, err := kube.ParseKind(string(c.Kind))
	return err
}

// String names the check for logs and alert keys: a Deployment by its name
// alone (as before other kinds were verified), another kind as kind:name.
func (c Check) String() string {
	name := c.Deployment
	if k := c.Ref().Kind; k != kube.KindDeployment {
		name = strings.ToLower(string(k)) + ":" + name
	}
	return fmt.Sprintf("%s/%s/%s[%s]@%s", c.Cluster, c.Namespace, name, c.Container, c.Digest)
}

// SendMessageAPI is the SQS call that arms a check.
type SendMessageAPI interface {
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Alerter delivers an alert and its audit events once per key (notify.Once).
type Alerter interface {
	DeliverAudited(ctx context.Context, key string, a alert.Alert, events []audit.Event) (sent bool, err error)
}

// Verifier follows rollouts to their end without waiting: each check is an
// SQS message with a delay that, while the rollout is in progress, sends
// the next one (re-arms). Checks are idempotent: the workload's
// AnnotationVerify names the one armed check (its At), so a duplicate, late
// or stale check finds the state moved and stops; a lost one is noticed by
// the reconcile (Engine.Roll on a pending verification gone quiet) and
// re-armed. On failure it rolls back (Rollback, the same as `ecrwarden
// rollback`), holds, blocks the failed digest and alerts once.
type Verifier struct {
	Clients Clients
	// Lookup tells whether the previous image still exists (a rollback to
	// an image ECR no longer has would leave nothing running).
	Lookup   Lookup
	Queue    SendMessageAPI
	QueueURL string
	// Interval is the delay between checks (DefaultCheckInterval when zero).
	Interval time.Duration
	Alerts   Alerter
	Audit    Auditor
	// Registry is our registry host (previous images elsewhere are not
	// looked up: no rollback to them). Region and Account locate alerts.
	Registry string
	Region   string
	Account  string
	Now      func() time.Time
	Log      *slog.Logger
}

// Check outcomes (CheckResult.Result).
const (
	CheckRearmed    = "rearmed"
	CheckVerified   = "verified"
	CheckFailed     = "failed"
	CheckRolledBack = "rolled-back"
	CheckAbandoned  = "abandoned"
	// CheckStale: the check is a duplicate or the target moved on.
	CheckStale = "stale"
)

// CheckResult says what one check did.
type CheckResult struct {
	Result string
	Reason string
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

func (v *Verifier) interval() time.Duration {
	if v.Interval <= 0 {
		return DefaultCheckInterval
	}
	return min(v.Interval, maxSQSDelay)
}

// Arm sends c to the queue, to be delivered after one check interval.
func (v *Verifier) Arm(ctx context.Context, c Check) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("arm verification of %s: %w", c, err)
	}
	_, err = v.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(v.QueueURL), MessageBody: aws.String(string(body)),
		DelaySeconds: int32(v.interval().Round(time.Second) / time.Second),
	})
	if err != nil {
		return fmt.Errorf("arm verification of %s: send to %s: %w", c, v.QueueURL, err)
	}
	return nil
}

// rearm arms a check naming a new At and moves the verification's At to
// it, guarded by the resourceVersion read (so of two concurrent re-arms
// one wins).
func (v *Verifier) rearm(ctx context.Context, client *kube.Client, resourceVersion string, st Verification, c Check) error {
	// The check goes first: if the patch then fails, the check names an At
	// that never was the workload's and stops as stale, while the check
	// that called rearm is retried and still owns the verification.
	st.At = v.now()
	c.At = st.At
	if err := v.Arm(ctx, c); err != nil {
		return err
	}
	return v.writeVerify(ctx, client, c.Ref(), resourceVersion, st)
}

func (v *Verifier) writeVerify(ctx context.Context, client *kube.Client, ref kube.WorkloadRef, resourceVersion string, st Verification) error {
	if resourceVersion == "" {
		return fmt.Errorf("record verification %s of %s: no resourceVersion to guard the patch", st.State, workloadName(ref))
	}
	val, err := encodeJSON(AnnotationVerify, st)
	if err != nil {
		return err
	}
	if _, err := client.PatchWorkloadAnnotations(ctx, ref, resourceVersion, map[string]*string{AnnotationVerify: &val}); err != nil {
		return fmt.Errorf("record verification %s: %w", st.State, err)
	}
	return nil
}

// ensure re-arms the pending verification of a workload the engine looked
// at without patching, when no check has owned it for staleChecks
// intervals (its check was lost), or for two when force (a redelivered
// event whose arm may have failed after its patch). It does nothing
// otherwise.
func (v *Verifier) ensure(ctx context.Context, client *kube.Client, t Target, img Image, w *kube.Workload, force bool) (bool, error) {
	// The controllers write the workload's status while it rolls: a lost
	// race re-reads and decides again.
	for attempt := 1; ; attempt++ {
		rearmed, err := v.ensureOnce(ctx, client, t, img, w, force)
		if err == nil || !kube.IsConflict(err) || attempt == maxCheckAttempts {
			return rearmed, err
		}
		if w, err = client.GetWorkload(ctx, t.Ref()); err != nil {
			return false, err
		}
	}
}

func (v *Verifier) ensureOnce(ctx context.Context, client *kube.Client, t Target, img Image, w *kube.Workload, force bool) (bool, error) {
	st, err := ReadState(w.Annotations())
	if err != nil || st.Verify == nil || st.LastChange == nil || st.Verify.State != VerifyPending {
		return false, err
	}
	// A redelivered event (force) re-arms once the first check should have
	// run (it moves At): an event retried after an arm that failed. A
	// duplicate delivered at once finds the check still to come and leaves
	// it. Anything else waits for staleChecks intervals (a lost check).
	wait := staleChecks * v.interval()
	if force {
		wait = 2 * v.interval()
	}
	if v.now().Sub(st.Verify.At) < wait {
		return false, nil
	}
	image, _, ok := w.ContainerImage(t.Container)
	if !ok || image != st.LastChange.To {
		return false, nil // changed by other hands: the check that runs next would abandon it anyway
	}
	c := checkFor(t, img, *st.LastChange, *st.Verify)
	if err := v.rearm(ctx, client, w.Meta().ResourceVersion, *st.Verify, c); err != nil {
		return false, err
	}
	return true, nil
}

func checkFor(t Target, img Image, ch Change, st Verification) Check {
	vr := t.Verify.Effective()
	repo, tag, pushed := t.Repository, img.Tag, img.PushedAt
	if img.Digest != st.Digest {
		tag, pushed = "", time.Time{} // a verification the image did not start
	}
	return Check{
		Cluster: t.Cluster, Kind: t.Ref().Kind, Namespace: t.Namespace, Deployment: t.Deployment, Container: t.Container,
		Repository: repo, Tag: tag, Digest: st.Digest, EventID: ch.EventID, At: st.At, PushedAt: pushed,
		Timeout: vr.Timeout, OnFailure: vr.OnFailure, NotifySuccess: vr.NotifySuccess,
	}
}

// Verify runs one check. An error means the check must be retried (the
// Kubernetes API or an AWS call failed): the message is redelivered, and
// after the queue's maxReceiveCount it lands in the dead-letter queue,
// whose alarm fires; the verification stays pending, and the reconcile
// re-arms it. Everything else ends in a result.
func (v *Verifier) Verify(ctx context.Context, c Check) (CheckResult, error) {
	// The controllers write the Deployment's status while it rolls, so a
	// guarded patch may meet a newer resourceVersion: look again at once.
	for attempt := 1; ; attempt++ {
		res, err := v.verify(ctx, c)
		if err == nil || !kube.IsConflict(err) || attempt == maxCheckAttempts {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

// maxCheckAttempts bounds the looks of one check that meet a conflict (a
// few seconds at most, with the pauses between them); after them SQS
// redelivers the check.
const maxCheckAttempts = 8

func (v *Verifier) verify(ctx context.Context, c Check) (CheckResult, error) {
	log := v.Log.With("check", c.String(), "event", c.EventID)
	ref := c.Ref()
	client, err := v.Clients.Client(ctx, c.Cluster)
	if err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	w, err := client.GetWorkload(ctx, ref)
	if kube.IsNotFound(err) {
		log.Warn("verification abandoned: the workload is gone", "kind", ref.Kind)
		return CheckResult{Result: CheckAbandoned, Reason: "the " + strings.ToLower(string(ref.Kind)) + " was deleted"}, nil
	}
	if err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	st, err := ReadState(w.Annotations())
	if err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %s: %w", c, workloadName(ref), err)
	}
	switch {
	case st.Verify != nil && st.LastChange != nil && st.Verify.Digest == c.Digest && st.Verify.State == VerifyRolledBack &&
		st.LastChange.EventID == rollbackEventID(c.EventID):
		// A retried check whose rollback stands (the rollback is the last
		// change, under its own event id): finish replacing the Pods a
		// StatefulSet would wait for.
		if err := v.replaceStuck(ctx, client, c, st.LastChange.From, log); err != nil {
			return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
		}
		return CheckResult{Result: CheckStale, Reason: "already " + st.Verify.State}, nil
	case st.Verify == nil || st.LastChange == nil || st.Verify.Digest != c.Digest || st.LastChange.EventID != c.EventID:
		return CheckResult{Result: CheckStale, Reason: "the target moved on since the check was armed"}, nil
	case st.Verify.State != VerifyPending:
		return CheckResult{Result: CheckStale, Reason: "already " + st.Verify.State}, nil
	case !st.Verify.At.Equal(c.At):
		return CheckResult{Result: CheckStale, Reason: "a later check owns the verification"}, nil
	}
	vs, ch := *st.Verify, *st.LastChange
	rv := w.Meta().ResourceVersion
	image, _, ok := w.ContainerImage(c.Container)
	if !ok || image != ch.To {
		vs.State, vs.At, vs.Reasons = VerifyAbandoned, v.now(), []string{fmt.Sprintf("the container's image was changed by other hands to %q since ecrwarden set %s", image, ch.To)}
		log.Warn("verification abandoned: image changed by other hands", "image", image, "want", ch.To)
		return v.settle(ctx, client, c, rv, vs, CheckAbandoned)
	}
	// The kind's rollout status (kubectl's rollout-status logic) and what
	// the new template's Pods say: the one reading `ecrwarden status` shows.
	rs, err := w.Status(ctx, client)
	if err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	now := v.now()
	timeout := c.Timeout.Std()
	if timeout <= 0 {
		timeout = policy.DefaultVerifyTimeout.Std()
	}
	overdue := now.Sub(vs.Since) >= timeout
	// Idle (paused, OnDelete, a CronJob's next Job not started) and nothing
	// to run (scaled to zero, no node) are neither success nor failure: no
	// Pod of the new template was seen to run.
	unverifiable := rs.Idle || rs.Desired == 0
	switch {
	case rs.Failed:
		return v.failed(ctx, client, c, rv, vs, ch, failureReasons(ref, rs), eventLines(rs.Events))
	case rs.Done && !unverifiable:
		return v.verified(ctx, client, c, rv, vs, ch)
	case overdue && unverifiable:
		vs.State, vs.At, vs.Reasons = VerifyAbandoned, now, []string{rs.Reason + " until the verify timeout (" + c.Timeout.String() + "): not verified"}
		log.Warn("verification abandoned: nothing ran the new template", "reason", rs.Reason)
		return v.settle(ctx, client, c, rv, vs, CheckAbandoned)
	case overdue:
		reasons := append([]string{fmt.Sprintf("not available after the verify timeout %s: %s", c.Timeout, rs.Reason)}, failureReasons(ref, rs)...)
		return v.failed(ctx, client, c, rv, vs, ch, reasons, eventLines(rs.Events))
	}
	if err := v.rearm(ctx, client, rv, vs, c); err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	log.Info("rollout in progress", "waiting", rs.Reason)
	return CheckResult{Result: CheckRearmed, Reason: rs.Reason}, nil
}

// maxReasons bounds the reasons a failed verification records (one per
// container of a Pod with a problem: a crash-looping Deployment of fifty
// replicas says the same fifty times).
const maxReasons = 8

// failureReasons are the reasons of a failed (or overdue) rollout: the
// kind's own verdict unless a Pod's problem is the verdict, then each Pod
// problem, at most maxReasons.
func failureReasons(ref kube.WorkloadRef, rs kube.RolloutStatus) []string {
	var pods []string
	for _, p := range rs.Pods {
		pods = append(pods, "pod "+p.String())
	}
	var out []string
	if rs.Failed && rs.Reason != "" && !slices.Contains(pods, rs.Reason) {
		out = append(out, workloadName(ref)+": "+rs.Reason)
	}
	out = append(out, pods...)
	if len(out) > maxReasons {
		out = append(out[:maxReasons-1], fmt.Sprintf("… and %d more Pod problems", len(out)-maxReasons+1))
	}
	return out
}

// eventLines renders the last maxEvents Events of the failing Pods, oldest
// first.
func eventLines(events []kube.PodEvent) []string {
	var out []string
	for _, e := range events[max(0, len(events)-maxEvents):] {
		s := fmt.Sprintf("pod %s: %s %s: %s", e.Pod, e.Type, e.Reason, truncateText(e.Message, 200))
		if e.Count > 1 {
			s += fmt.Sprintf(" (×%d)", e.Count)
		}
		out = append(out, s)
	}
	return out
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// settle records a final state.
func (v *Verifier) settle(ctx context.Context, client *kube.Client, c Check, rv string, vs Verification, result string) (CheckResult, error) {
	if err := v.writeVerify(ctx, client, c.Ref(), rv, vs); err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	return CheckResult{Result: result, Reason: strings.Join(vs.Reasons, "; ")}, nil
}

func (v *Verifier) verified(ctx context.Context, client *kube.Client, c Check, rv string, vs Verification, ch Change) (CheckResult, error) {
	now := v.now()
	since := c.PushedAt
	if since.IsZero() {
		since = vs.Since
	}
	secs := now.Sub(since).Seconds()
	ev := audit.Event{DetailType: audit.RolloutVerified, Detail: map[string]any{
		"cluster": c.Cluster, "kind": string(c.Ref().Kind), "namespace": c.Namespace, "deployment": c.Deployment, "container": c.Container,
		"repository": c.Repository, "tag": c.Tag, "digest": c.Digest, "image": ch.To, "eventId": c.EventID,
		"pushToAvailableSeconds": secs, "patchToAvailableSeconds": now.Sub(vs.Since).Seconds(),
	}}
	// Told before the state moves: a retry after a failed patch tells
	// again at most (notify.Once and the audit unit keep it to one).
	if c.NotifySuccess {
		a := v.alertFor(alert.KindRolloutVerified, c, ch)
		a.Verification.Seconds = secs
		if _, err := v.Alerts.DeliverAudited(ctx, "rollout-verified#"+c.String()+"#"+c.EventID, a, []audit.Event{ev}); err != nil {
			return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
		}
	} else if err := v.Audit.Publish(ctx, ev); err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	vs.State, vs.At, vs.Reasons = VerifyVerified, now, []string{}
	v.Log.Info("rollout verified", "check", c.String(), "pushToAvailableSeconds", secs)
	return v.settle(ctx, client, c, rv, vs, CheckVerified)
}

func (v *Verifier) alertFor(kind alert.Kind, c Check, ch Change) alert.Alert {
	var tags []string
	if c.Tag != "" {
		tags = []string{c.Tag}
	}
	return alert.Alert{Kind: kind, Repository: c.Repository, Tags: tags, Digest: c.Digest, Region: v.Region, Account: v.Account,
		Verification: &alert.Verification{Cluster: c.Cluster, Kind: string(c.Ref().Kind), Namespace: c.Namespace, Deployment: c.Deployment, Container: c.Container,
			Image: ch.To, Previous: ch.From}}
}

// failed acts on a failed rollout: onFailure alert records and alerts;
// rollback checks that it may (the previous image exists in our registry;
// the image is still the one ecrwarden set, which Rollback checks again in
// its guarded patch), alerts once with the reasons and Events, then rolls
// back, holds and blocks.
func (v *Verifier) failed(ctx context.Context, client *kube.Client, c Check, rv string, vs Verification, ch Change, reasons, events []string) (CheckResult, error) {
	log := v.Log.With("check", c.String(), "event", c.EventID)
	now := v.now()
	a := v.alertFor(alert.KindRolloutFailed, c, ch)
	a.Verification.Reasons = reasons
	a.Verification.Events = events
	prev := vs.PreviousImage
	if prev == "" {
		prev = ch.From
	}
	a.Verification.Previous = prev
	detail := map[string]any{
		"cluster": c.Cluster, "kind": string(c.Ref().Kind), "namespace": c.Namespace, "deployment": c.Deployment, "container": c.Container,
		"repository": c.Repository, "tag": c.Tag, "digest": c.Digest, "image": ch.To, "previousImage": prev,
		"eventId": c.EventID, "reasons": reasons, "events": a.Verification.Events,
	}
	key := "rollout-failed#" + c.String() + "#" + c.EventID
	failedEvent := audit.Event{DetailType: audit.RolloutFailed, Detail: detail}
	vs.Reasons = reasons
	if c.OnFailure == policy.OnFailureAlert {
		a.Verification.Action = alert.AlertOnly
		detail["action"] = alert.AlertOnly
		if _, err := v.Alerts.DeliverAudited(ctx, key, a, []audit.Event{failedEvent}); err != nil {
			return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
		}
		vs.State, vs.At = VerifyFailed, now
		log.Warn("rollout failed; onFailure alert", "reasons", reasons)
		return v.settle(ctx, client, c, rv, vs, CheckFailed)
	}
	refusal := v.mayRollBack(ctx, prev)
	if refusal != "" {
		a.Verification.Action, a.Verification.Refusal = alert.RollbackRefused, refusal
		detail["action"], detail["refusal"] = alert.RollbackRefused, refusal
		if _, err := v.Alerts.DeliverAudited(ctx, key, a, []audit.Event{failedEvent}); err != nil {
			return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
		}
		vs.State, vs.At, vs.Reasons = VerifyFailed, now, append(reasons, "not rolled back: "+refusal)
		log.Error("rollout failed; not rolled back", "reasons", reasons, "refusal", refusal)
		return v.settle(ctx, client, c, rv, vs, CheckFailed)
	}
	reason := "verification failed: " + strings.Join(reasons, "; ")
	req := RollbackRequest{Kind: c.Ref().Kind, Namespace: c.Namespace, Deployment: c.Deployment, Container: c.Container,
		By: "ecrwarden", At: now, Reason: truncateText(reason, 300), DryRun: true, Guard: owns(c, ch)}
	plan, err := Rollback(ctx, client, req)
	if errors.Is(err, errStale) {
		return CheckResult{Result: CheckStale, Reason: err.Error()}, nil
	}
	if errors.Is(err, ErrChangedByOther) {
		// Raced with a person: never fight them.
		return v.refuse(ctx, client, c, a, failedEvent, detail, key, err.Error())
	}
	if err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	a.Verification.Action, a.Verification.Hold = alert.RolledBack, plan.Hold
	detail["action"], detail["hold"], detail["blocked"] = alert.RolledBack, plan.Hold, plan.Blocked
	rolledBack := audit.Event{DetailType: audit.RolloutRolledBack, Detail: map[string]any{
		"cluster": c.Cluster, "kind": string(c.Ref().Kind), "namespace": c.Namespace, "deployment": c.Deployment, "container": c.Container,
		"from": plan.From, "to": plan.To, "hold": plan.Hold, "blockedDigest": plan.Blocked, "eventId": c.EventID,
	}}
	if _, err := v.Alerts.DeliverAudited(ctx, key, a, []audit.Event{failedEvent, rolledBack}); err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	vs.State, vs.At = VerifyRolledBack, now
	change := Change{EventID: rollbackEventID(c.EventID), Time: now, Cause: CauseRollback, From: plan.From, To: plan.To}
	extra, err := stateAnnotations(change, vs)
	if err != nil {
		return CheckResult{}, err
	}
	req.DryRun, req.Annotations = false, extra
	if _, err := Rollback(ctx, client, req); err != nil {
		if errors.Is(err, errStale) {
			return CheckResult{Result: CheckStale, Reason: err.Error()}, nil
		}
		if errors.Is(err, ErrChangedByOther) {
			return v.refuse(ctx, client, c, a, failedEvent, detail, key, err.Error())
		}
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	if err := v.replaceStuck(ctx, client, c, plan.From, log); err != nil {
		// The rollback stands; the retried check finds it and tries again.
		return CheckResult{}, fmt.Errorf("verify %s: rolled back, but %w", c, err)
	}
	log.Warn("rollout failed; rolled back", "from", plan.From, "to", plan.To, "reasons", reasons)
	return CheckResult{Result: CheckRolledBack, Reason: reason}, nil
}

// rollbackEventID is the last change's event id after the verifier rolled
// back the change of eventID.
func rollbackEventID(eventID string) string { return "rollback:" + eventID }

// replaceStuck deletes the Pods of a StatefulSet just rolled back from
// failedImage that run it and are not Ready (kube.DeleteStuckPods: its
// controller would wait for them forever); for other kinds it does
// nothing. A template that runs failedImage again (set by other hands)
// keeps its Pods.
func (v *Verifier) replaceStuck(ctx context.Context, client *kube.Client, c Check, failedImage string, log *slog.Logger) error {
	if c.Ref().Kind != kube.KindStatefulSet || failedImage == "" {
		return nil
	}
	w, err := client.GetWorkload(ctx, c.Ref())
	if kube.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if image, _, _ := w.ContainerImage(c.Container); image == failedImage {
		return nil
	}
	deleted, err := client.DeleteStuckPods(ctx, w, c.Container, failedImage)
	if len(deleted) > 0 {
		log.Info("deleted the rolled-back statefulset's stuck pods; its controller recreates them from the restored template", "pods", deleted)
	}
	return err
}

// errStale means the verification no longer belongs to the check.
var errStale = errors.New("the verification moved on")

// owns checks that the check still owns the workload's verification and
// that the container runs the image ecrwarden set.
func owns(c Check, ch Change) func(cur *kube.Workload) error {
	return func(cur *kube.Workload) error {
		st, err := ReadState(cur.Annotations())
		if err != nil {
			return err
		}
		if st.Verify == nil || st.Verify.State != VerifyPending || !st.Verify.At.Equal(c.At) || st.Verify.Digest != c.Digest {
			return errStale
		}
		if image, _, _ := cur.ContainerImage(c.Container); image != ch.To {
			return fmt.Errorf("%w: it runs %s, ecrwarden set %s", ErrChangedByOther, image, ch.To)
		}
		return nil
	}
}

// refuse alerts that a failed rollout is not rolled back because the
// image changed by other hands, and records the verification abandoned.
func (v *Verifier) refuse(ctx context.Context, client *kube.Client, c Check, a alert.Alert, failedEvent audit.Event, detail map[string]any, key, why string) (CheckResult, error) {
	a.Verification.Action, a.Verification.Refusal, a.Verification.Hold = alert.RollbackRefused, why, ""
	detail["action"], detail["refusal"] = alert.RollbackRefused, why
	if _, err := v.Alerts.DeliverAudited(ctx, key+"#refused", a, []audit.Event{failedEvent}); err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	w, err := client.GetWorkload(ctx, c.Ref())
	if err != nil {
		return CheckResult{}, fmt.Errorf("verify %s: %w", c, err)
	}
	st, err := ReadState(w.Annotations())
	if err != nil || st.Verify == nil || st.Verify.State != VerifyPending {
		return CheckResult{Result: CheckAbandoned, Reason: why}, err
	}
	vs := *st.Verify
	vs.State, vs.At, vs.Reasons = VerifyAbandoned, v.now(), append(a.Verification.Reasons, "not rolled back: "+why)
	return v.settle(ctx, client, c, w.Meta().ResourceVersion, vs, CheckAbandoned)
}

// mayRollBack says why ecrwarden must not roll back to prev, or "".
func (v *Verifier) mayRollBack(ctx context.Context, prev string) string {
	if prev == "" {
		return "no previous image is recorded"
	}
	ref, err := kube.ParseImageRef(prev)
	if err != nil {
		return fmt.Sprintf("the previous image %q does not parse: %v", prev, err)
	}
	if !ref.InRegistry(v.Registry) {
		return fmt.Sprintf("the previous image %s is not in our registry (%s), so ecrwarden cannot tell that it still exists", prev, v.Registry)
	}
	info, err := v.Lookup.Image(ctx, ref.Repository, ref)
	if err != nil {
		return fmt.Sprintf("could not tell whether the previous image %s still exists: %v", prev, err)
	}
	if !info.Found {
		return fmt.Sprintf("the previous image %s no longer exists in ECR: rolling back would leave nothing that runs", prev)
	}
	return ""
}
