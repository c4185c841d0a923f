package sandbox

import (
	"context"
	"errors"
	"time"
)

// Serve delivers events as they arrive, as EventBridge and Lambda do in
// AWS, until ctx is done: each event put on the bus (by an ECR push through
// the API, a scan, or a function) is routed to the functions whose rules
// match it, and report receives what each round of deliveries did. It is
// what `ecrwarden emulate --functions` runs; tests that want to step
// through a story call Deliver instead. The SQS event sources are polled
// every second too, as Lambda's pollers poll them: delayed messages (the
// rollout verification checks) become visible with no event to wake Serve.
func (sb *Sandbox) Serve(ctx context.Context, report func([]Delivery)) error {
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sb.queued:
		case <-poll.C:
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
