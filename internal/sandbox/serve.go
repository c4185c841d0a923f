package sandbox

import (
	"context"
	"errors"
)

// Serve delivers events as they arrive, as EventBridge and Lambda do in
// AWS, until ctx is done: each event put on the bus (by an ECR push through
// the API, a scan, or a function) is routed to the functions whose rules
// match it, and report receives what each round of deliveries did. It is
// what `ecrwarden emulate --functions` runs; tests that want to step
// through a story call Deliver instead.
func (sb *Sandbox) Serve(ctx context.Context, report func([]Delivery)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sb.queued:
		}
		ds, err := sb.Deliver(ctx)
		if len(ds) > 0 {
			report(ds)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
}
