package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

// AuditPublisher publishes audit events (audit.Publisher).
type AuditPublisher interface {
	Publish(ctx context.Context, events ...audit.Event) error
}

// Once delivers each alert at least once per key and channel, and records
// each delivery so that a redelivered event sends nothing: SNS, Slack and
// the alert's audit events are separate units in the dedupe store, so a
// retry after Slack failed sends Slack only. See the package doc for the
// delivery contract.
type Once struct {
	n          *Notifier
	store      *dedupe.Store
	audit      AuditPublisher
	log        *slog.Logger
	metrics    *metrics.Recorder
	duplicates atomic.Int64
}

// OnceOption configures a Once.
type OnceOption func(*Once)

// WithAuditPublisher publishes the audit events given to DeliverAudited.
func WithAuditPublisher(p AuditPublisher) OnceOption { return func(o *Once) { o.audit = p } }

// WithMetrics counts every channel's delivery in the Alerts metric: sent,
// deduplicated (the channel had the alert already) or failed.
func WithMetrics(r *metrics.Recorder) OnceOption { return func(o *Once) { o.metrics = r } }

// NewOnce returns a deliverer that records deliveries in store; it logs with
// the Notifier's logger.
func NewOnce(n *Notifier, store *dedupe.Store, opts ...OnceOption) *Once {
	o := &Once{n: n, store: store, log: n.log}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Duplicates returns how many units (channel sends and audit publications)
// this Once repeated after an attempt that may already have done them: an
// invocation that died holding the lease, or a send whose answer was lost.
func (o *Once) Duplicates() int64 { return o.duplicates.Load() }

// Deliver sends a to every configured channel that has not had it under
// key. sent reports whether any channel sent it now (false for a repeat).
// A channel held by another invocation is an error wrapping
// dedupe.ErrInProgress: the caller fails and is retried.
func (o *Once) Deliver(ctx context.Context, key string, a alert.Alert) (sent bool, err error) {
	return o.DeliverAudited(ctx, key, a, nil)
}

// DeliverAudited is Deliver, then — once every channel has the alert, now or
// before — publishes events as a unit of their own under key+"#audit": the
// audit events are retried until they are published, whether or not this
// call is the one that sent the alert.
func (o *Once) DeliverAudited(ctx context.Context, key string, a alert.Alert, events []audit.Event) (sent bool, err error) {
	var errs []error
	for _, ch := range []struct {
		name    string
		metric  metrics.Dim
		enabled bool
		send    func(context.Context) error
	}{
		{"sns", metrics.ChannelSNS, o.n.snsEnabled(), func(ctx context.Context) error { _, err := o.n.SendSNS(ctx, a); return err }},
		{"slack", metrics.ChannelSlack, o.n.slackEnabled(), func(ctx context.Context) error { return o.n.SendSlack(ctx, a) }},
	} {
		if !ch.enabled {
			continue
		}
		ok, err := o.unit(ctx, key, ch.name, ch.send)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("alert %s: %w", key, err))
			o.metrics.Count(metrics.Alerts, ch.metric, metrics.ResultFailed)
		case ok:
			o.metrics.Count(metrics.Alerts, ch.metric, metrics.ResultSent)
		default:
			o.metrics.Count(metrics.Alerts, ch.metric, metrics.ResultDeduplicated)
		}
		sent = sent || ok
	}
	if len(errs) > 0 || len(events) == 0 {
		return sent, errors.Join(errs...)
	}
	if o.audit == nil {
		return sent, fmt.Errorf("alert %s: %d audit events and no audit publisher", key, len(events))
	}
	if _, err := o.unit(ctx, key, "audit", func(ctx context.Context) error { return o.audit.Publish(ctx, events...) }); err != nil {
		return sent, fmt.Errorf("audit of alert %s: %w", key, err)
	}
	return sent, nil
}

// unit does one dedupe unit, key#name, and reports whether it ran now and
// succeeded; a repeat after an attempt that may have done it is counted.
func (o *Once) unit(ctx context.Context, key, name string, work func(context.Context) error) (bool, error) {
	st, err := o.store.Once(ctx, key+"#"+name, work)
	if st == dedupe.Reclaimed {
		n := o.duplicates.Add(1)
		o.log.WarnContext(ctx, "possible duplicate: repeating a delivery that an earlier attempt may have made",
			"key", key, "channel", name, "duplicates", n, "delivered", err == nil)
	}
	return st.Owned() && err == nil, err
}
