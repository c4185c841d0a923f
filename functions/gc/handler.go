package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// alerter delivers an alert once per key (notify.Once).
type alerter interface {
	Deliver(ctx context.Context, key string, a alert.Alert) (sent bool, err error)
}

// auditor publishes audit events (audit.Publisher).
type auditor interface {
	Publish(ctx context.Context, events ...audit.Event) error
}

// runner plans and executes gc runs (gc.Runner).
type runner interface {
	Run(ctx context.Context, f *policy.File, names []string, opts gc.Options) *gc.Result
}

// handler runs gc: inline, or by fanning out one SQS message per repository
// when a queue is configured, and then one repository per message.
type handler struct {
	policy *policy.File
	run    runner
	// queue and queueURL enable the fan-out; queue is nil without one.
	queue    gc.SendMessageBatchAPI
	queueURL string
	// dryRun is ECRWARDEN_DRY_RUN; the policy's gc.dryRun applies too.
	dryRun bool
	// budget counts a fanned-out run's deletions against the cap across
	// messages; nil counts within one invocation only.
	budget  gc.Budget
	alerts  alerter
	audit   auditor
	metrics *metrics.Recorder
	now     func() time.Time
	log     *slog.Logger
}

// fanOut makes the scheduled run send one SQS message per repository to
// queueURL, and the messages count against one run-wide cap kept in the
// dedupe table.
func (h *handler) fanOut(cfg aws.Config, queueURL, table string) {
	h.queue, h.queueURL = sqs.NewFromConfig(cfg), queueURL
	h.budget = &gc.DynamoBudget{Client: dynamodb.NewFromConfig(cfg), Table: table}
}

// runRequest is the payload of the scheduled invocation (EventBridge
// Scheduler's target input) or of a manual one.
type runRequest struct {
	// Trigger says who invoked gc, such as "schedule"; required.
	Trigger string `json:"trigger"`
	// RunID names the run for alert deduplication: the schedule should pass
	// <aws.scheduler.scheduled-time>, which the scheduler's own retries keep
	// (its execution-id changes with every attempt). Without it, the Lambda
	// request id, which Lambda's asynchronous retries keep.
	RunID string `json:"runId,omitempty"`
	// Repositories limits the run; empty means every repository of the policy.
	Repositories []string `json:"repositories,omitempty"`
}

// Handle runs one invocation. An SQS event (the fan-out) answers with the
// messages to retry; any other payload must be a runRequest.
func (h *handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("gc: decode event: %w", err)
	}
	if probe.Records != nil {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("gc: decode SQS event: %w", err)
		}
		return h.messages(ctx, ev), nil
	}
	var req runRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("gc: decode run request: %w", err)
	}
	if req.Trigger == "" {
		return nil, fmt.Errorf("gc: unknown event %.200s: want an SQS event or {\"trigger\": ...}", raw)
	}
	if req.RunID == "" {
		req.RunID = requestID(ctx, h.now())
	}
	names := req.Repositories
	if len(names) == 0 {
		names = h.policy.RepositoryNames()
	}
	log := h.log.With("run", req.RunID, "trigger", req.Trigger)
	if h.queue != nil {
		if err := gc.Enqueue(ctx, h.queue, h.queueURL, req.RunID, names); err != nil {
			return nil, fmt.Errorf("gc run %s: fan out: %w", req.RunID, err)
		}
		log.Info("gc fanned out", "repositories", len(names))
		return nil, nil
	}
	return nil, h.collect(ctx, log, req.RunID, "gc#"+req.RunID, names, nil)
}

// messages runs one repository per fan-out message and names the messages
// that failed, so SQS redelivers only those (and, after maxReceiveCount,
// moves them to the DLQ).
func (h *handler) messages(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		log := h.log.With("message", rec.MessageId)
		m, err := gc.DecodeMessage(rec.Body)
		switch {
		case err == nil && m.Report != nil:
			log = log.With("run", m.RunID, "repository", m.Repository)
			err = h.report(ctx, log, *m.Report)
		case err == nil:
			log = log.With("run", m.RunID, "repository", m.Repository)
			err = h.collect(ctx, log, m.RunID, "gc#"+m.RunID+"#"+m.Repository, []string{m.Repository}, h.budget)
		}
		if err != nil {
			log.Error("gc message failed", "error", err)
			h.metrics.Error(err) // the invocation succeeds: SQS redelivers the message
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}

// collect runs gc over names and reports: an alert under key (once; a report
// of deletions under key#<their hash>, gc.Result.ReportKey) and the
// ImagesExpired audit events. The per-run cap applies to names together,
// and with a budget to every repository of the run (the fan-out).
func (h *handler) collect(ctx context.Context, log *slog.Logger, runID, key string, names []string, budget gc.Budget) error {
	opts := gc.Options{DryRun: h.dryRun || h.policy.GC.Dry(), Cap: h.policy.GC.MaxDeletesPerRun, Now: h.now(), RunID: runID, Budget: budget}
	prices := gc.PricesFor(h.policy)
	res := h.run.Run(ctx, h.policy, names, opts)
	// A report of deletions has a key of its own: it is not a repeat of an
	// earlier attempt's failure report.
	key = res.ReportKey(key)
	// A cap refusal is reported, not failed: retrying would plan the same.
	errs := []error{res.Err()}
	var undelivered gc.Report
	var reportErrs []error
	// The report is bounded by the deadline minus a reserve, so that an
	// undelivered one can still be sent on (a Publish retrying a throttled
	// EventBridge until the deadline left no time to, and the deletions went
	// unreported: the fault schedule's seed 107).
	rctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, dl.Add(-dedupe.DefaultReserve))
		defer cancel()
	}
	if res.Noteworthy() {
		a := res.Alert(prices)
		if _, err := h.alerts.Deliver(rctx, key, a); err != nil {
			reportErrs = append(reportErrs, fmt.Errorf("report: %w", err))
			undelivered.Alert = &a
		}
	}
	if evs := res.AuditEvents(runID, prices); len(evs) > 0 {
		if err := h.audit.Publish(rctx, evs...); err != nil {
			reportErrs = append(reportErrs, fmt.Errorf("audit: %w", err))
			undelivered.Events = evs
		}
	}
	if len(reportErrs) > 0 && len(names) == 1 && h.queue != nil && acted(res, opts.DryRun) {
		// The images are gone: a retry would find nothing to report. The
		// report goes on in a message of its own instead.
		undelivered.Key = key
		if err := gc.EnqueueReport(ctx, h.queue, h.queueURL, runID, names[0], undelivered); err != nil {
			reportErrs = append(reportErrs, fmt.Errorf("defer the report: %w", err))
		} else {
			log.Warn("gc report deferred to a report message", "error", errors.Join(reportErrs...))
			reportErrs = nil
		}
	}
	errs = append(errs, reportErrs...)
	report := res.Alert(prices).GC
	images, bytes := report.Totals()
	if !opts.DryRun && !res.CapRefused && res.ClusterErr == nil {
		// Executed: the totals are what was deleted and archived, not what
		// was planned.
		var archived int
		var archivedBytes int64
		for _, r := range report.Repositories {
			archived += r.Archived
			archivedBytes += r.ArchivedBytes
		}
		h.metrics.Add(metrics.GCImages, float64(images), metrics.ActionDeleted)
		h.metrics.Add(metrics.GCBytes, float64(bytes), metrics.ActionDeleted)
		h.metrics.Add(metrics.GCImages, float64(archived), metrics.ActionArchived)
		h.metrics.Add(metrics.GCBytes, float64(archivedBytes), metrics.ActionArchived)
		h.metrics.Add(metrics.GCMonthlyCostSaved, report.MonthlySavings)
	}
	log.Info("gc run done", "repositories", len(names), "planned", res.Planned, "images", images, "bytes", bytes,
		"monthlySavingsUSD", report.MonthlySavings, "dryRun", opts.DryRun, "capRefused", res.CapRefused)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gc run %s: %w", runID, err)
	}
	return nil
}

// acted reports whether an executed run deleted or archived images.
func acted(res *gc.Result, dryRun bool) bool {
	if dryRun {
		return false
	}
	for i := range res.Outcomes {
		if len(res.Outcomes[i].Deleted.Deleted) > 0 || res.Outcomes[i].ArchivedImages() > 0 {
			return true
		}
	}
	return false
}

// report delivers a deferred report: the alert once under its key, then
// the audit events. A failure fails the message, which SQS redelivers.
func (h *handler) report(ctx context.Context, log *slog.Logger, r gc.Report) error {
	if r.Alert != nil {
		if _, err := h.alerts.Deliver(ctx, r.Key, *r.Alert); err != nil {
			return fmt.Errorf("deferred report %s: %w", r.Key, err)
		}
	}
	if len(r.Events) > 0 {
		if err := h.audit.Publish(ctx, r.Events...); err != nil {
			return fmt.Errorf("deferred audit of %s: %w", r.Key, err)
		}
	}
	log.Info("deferred gc report delivered", "key", r.Key, "alert", r.Alert != nil, "events", len(r.Events))
	return nil
}

// requestID returns the Lambda request id, or a time-based id outside Lambda.
func requestID(ctx context.Context, now time.Time) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return now.UTC().Format("20060102T150405Z")
}
