package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Source is the EventBridge source of every audit event.
const Source = "ecrwarden"

// Detail types of the audit events.
const (
	TagRejected       = "TagRejected"
	DeploymentPatched = "DeploymentPatched"
	FindingsAlerted   = "FindingsAlerted"
	RolloutBlocked    = "RolloutBlocked"
	ImagesExpired     = "ImagesExpired"
)

// PutEvents limits, from the EventBridge API reference (PutEvents): at most
// 10 entries per call, and 256 KB per entry.
const (
	maxEntries    = 10
	maxEntryBytes = 256 * 1024
	maxAttempts   = 3
)

// PutEventsAPI is the subset of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, params *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Event is one audit event.
type Event struct {
	// DetailType is one of the detail-type constants.
	DetailType string
	// Resources are ARNs the event concerns (repository, image).
	Resources []string
	// Detail is marshalled to JSON as the event's detail object.
	Detail any
}

// Publisher puts audit events on one event bus.
type Publisher struct {
	client PutEventsAPI
	bus    string
	sleep  func(context.Context, time.Duration) error
}

// New returns a publisher for the named bus (a name or an ARN).
func New(client PutEventsAPI, bus string) *Publisher {
	return &Publisher{client: client, bus: bus, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Publish puts the events on the bus. It returns an error naming every
// entry that could not be put after retries.
func (p *Publisher) Publish(ctx context.Context, events ...Event) error {
	entries := make([]types.PutEventsRequestEntry, 0, len(events))
	for i, e := range events {
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("audit event %d (%s): marshal detail: %w", i, e.DetailType, err)
		}
		if len(detail) == 0 || detail[0] != '{' {
			return fmt.Errorf("audit event %d (%s): detail must be a JSON object", i, e.DetailType)
		}
		entry := types.PutEventsRequestEntry{
			EventBusName: aws.String(p.bus),
			Source:       aws.String(Source),
			DetailType:   aws.String(e.DetailType),
			Detail:       aws.String(string(detail)),
			Resources:    e.Resources,
		}
		if n := entrySize(entry); n > maxEntryBytes {
			return fmt.Errorf("audit event %d (%s): %d bytes exceeds the PutEvents entry limit of %d", i, e.DetailType, n, maxEntryBytes)
		}
		entries = append(entries, entry)
	}
	var errs []error
	for start := 0; start < len(entries); start += maxEntries {
		batch := entries[start:min(start+maxEntries, len(entries))]
		if err := p.putBatch(ctx, batch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// putBatch puts one batch, retrying the entries EventBridge refused.
func (p *Publisher) putBatch(ctx context.Context, batch []types.PutEventsRequestEntry) error {
	pending := batch
	var failures []string
	for attempt := 1; ; attempt++ {
		out, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pending})
		if err != nil {
			return fmt.Errorf("put %d audit events on %s: %w", len(pending), p.bus, err)
		}
		if out.FailedEntryCount == 0 {
			return nil
		}
		var retry []types.PutEventsRequestEntry
		failures = failures[:0]
		for i, r := range out.Entries {
			if i >= len(pending) || r.ErrorCode == nil {
				continue
			}
			retry = append(retry, pending[i])
			failures = append(failures, fmt.Sprintf("%s: %s: %s", aws.ToString(pending[i].DetailType), aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)))
		}
		if len(retry) == 0 {
			return fmt.Errorf("put audit events on %s: %d failed entries reported without error codes", p.bus, out.FailedEntryCount)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("put audit events on %s: %d entries refused after %d attempts: %s", p.bus, len(retry), attempt, strings.Join(failures, "; "))
		}
		if err := p.sleep(ctx, time.Duration(attempt)*100*time.Millisecond); err != nil {
			return fmt.Errorf("put audit events on %s: %w", p.bus, err)
		}
		pending = retry
	}
}

// entrySize approximates the PutEvents entry size the way the EventBridge
// documentation ("Calculating PutEvents event entry size") counts it.
func entrySize(e types.PutEventsRequestEntry) int {
	n := 14 // the Time field
	n += len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}
