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

// Deliver sends a to every configured channel that has not had it under key.
func (o *Once) Deliver(ctx context.Context, key string, a alert.Alert) error {
	var errs []error
	if o.n.sns != nil && o.n.topicARN != "" {
		if _, err := o.store.Once(ctx, key+"#sns", func(ctx context.Context) error {
			_, err := o.n.SendSNS(ctx, a)
			return err
		}); err != nil {
			errs = append(errs, fmt.Errorf("alert %s: %w", key, err))
		}
	}
	if o.n.secrets != nil && o.n.secretID != "" {
		if _, err := o.store.Once(ctx, key+"#slack", func(ctx context.Context) error {
			return o.n.SendSlack(ctx, a)
		}); err != nil {
			errs = append(errs, fmt.Errorf("alert %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}
