package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
)

// Once delivers each alert once per key and channel: SNS and Slack are
// recorded separately in the dedupe store, so a retry after Slack failed
// sends Slack only, and a redelivered event sends nothing.
type Once struct {
	n     *Notifier
	store *dedupe.Store
}

// NewOnce returns a deliverer that records deliveries in store.
func NewOnce(n *Notifier, store *dedupe.Store) *Once { return &Once{n: n, store: store} }

// Deliver sends a to every configured channel that has not had it under
// key. sent reports whether any channel sent it now (false for a repeat).
func (o *Once) Deliver(ctx context.Context, key string, a alert.Alert) (sent bool, err error) {
	var errs []error
	if o.n.sns != nil && o.n.topicARN != "" {
		st, err := o.store.Once(ctx, key+"#sns", func(ctx context.Context) error {
			_, err := o.n.SendSNS(ctx, a)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("alert %s: %w", key, err))
		}
		sent = sent || (st == dedupe.Claimed && err == nil)
	}
	if o.n.secrets != nil && o.n.secretID != "" {
		st, err := o.store.Once(ctx, key+"#slack", func(ctx context.Context) error {
			return o.n.SendSlack(ctx, a)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("alert %s: %w", key, err))
		}
		sent = sent || (st == dedupe.Claimed && err == nil)
	}
	return sent, errors.Join(errs...)
}
