package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	TagRejected = "TagRejected"
	// RolloutVerified: every updated replica of a rollout became available.
	RolloutVerified = "RolloutVerified"
	// RolloutFailed: a rollout failed verification (the Pods' reasons).
	RolloutFailed = "RolloutFailed"
	// RolloutRolledBack: a failed rollout was rolled back to the previous image.
	RolloutRolledBack = "RolloutRolledBack"
	DeploymentPatched = "DeploymentPatched"
	FindingsAlerted   = "FindingsAlerted"
	RolloutBlocked    = "RolloutBlocked"
	ImagesExpired     = "ImagesExpired"
	// EventRefused: a function refused an event that does not name our
	// account, our Region or an image that exists in our registry.
	EventRefused = "EventRefused"
)

// PutEvents limits, from the EventBridge API reference (PutEvents) and
// "Calculating PutEvents event entry size": at most 10 entries per call, and
// "the total entry size must be less than 256KB". The documentation reads
// both as a limit per entry and per request, so both apply: an entry and a
// batch stay under maxEntryBytes.
const (
	maxEntries    = 10
	maxEntryBytes = 256 * 1024
	maxAttempts   = 3
)

// Suffixes of the fields bound adds next to a list it truncated: "findings"
// keeps its first entries and gains "findingsTruncated": true and
// "findingsTotal": the length of the whole list.
const (
	TruncatedSuffix = "Truncated"
	TotalSuffix     = "Total"
)

// PutEventsAPI is the subset of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, params *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Event is one audit event.
type Event struct {
	// DetailType is one of the detail-type constants.
	DetailType string `json:"detailType"`
	// Resources are ARNs the event concerns (repository, image).
	Resources []string `json:"resources,omitempty"`
	// Detail is marshalled to JSON as the event's detail object.
	Detail any `json:"detail"`
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

// Publish puts the events on the bus. A detail too large for one entry
// (thousands of finding ids or digests) is bounded: its largest lists are
// cut, each with "<name>Truncated": true and "<name>Total" added, until the
// entry is under the limit. Entries go out in batches of at most 10 entries
// and under the size limit. It returns an error naming every entry that
// could not be put after retries.
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
			Resources:    e.Resources,
		}
		budget := maxEntryBytes - 1 - entrySize(entry)
		if detail, err = bound(detail, budget); err != nil {
			return fmt.Errorf("audit event %d (%s): %w", i, e.DetailType, err)
		}
		entry.Detail = aws.String(string(detail))
		entries = append(entries, entry)
	}
	var errs []error
	for _, batch := range batches(entries) {
		if err := p.putBatch(ctx, batch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// batches splits entries, in order, into PutEvents calls of at most
// maxEntries entries whose sizes add up to less than maxEntryBytes.
func batches(entries []types.PutEventsRequestEntry) [][]types.PutEventsRequestEntry {
	var out [][]types.PutEventsRequestEntry
	start, size := 0, 0
	for i, e := range entries {
		n := entrySize(e)
		if i > start && (i-start == maxEntries || size+n >= maxEntryBytes) {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// bound returns detail, a JSON object, within budget bytes: while it is too
// large, the largest of its top-level lists keeps only as many of its first
// items as fit, and "<name>Truncated": true and "<name>Total": <length> are
// set beside it. A detail with no list left to cut is an error.
func bound(detail []byte, budget int) ([]byte, error) {
	if len(detail) <= budget {
		return detail, nil
	}
	size := len(detail)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(detail, &fields); err != nil {
		return nil, fmt.Errorf("bound detail: %w", err)
	}
	lists := map[string][]json.RawMessage{}
	for k, v := range fields {
		var items []json.RawMessage
		if len(v) > 0 && v[0] == '[' && json.Unmarshal(v, &items) == nil && len(items) > 0 {
			lists[k] = items
		}
	}
	for len(detail) > budget {
		name := ""
		for k := range lists {
			if name == "" || len(fields[k]) > len(fields[name]) || (len(fields[k]) == len(fields[name]) && k < name) {
				name = k
			}
		}
		if name == "" {
			return nil, fmt.Errorf("detail of %d bytes exceeds the PutEvents entry limit (%d bytes left for it) and has no list left to truncate", size, budget)
		}
		items := lists[name]
		delete(lists, name)
		// The two fields added beside the list, with room for the total.
		extra := 2*len(name) + len(TruncatedSuffix) + len(TotalSuffix) + 32
		over := len(detail) - budget + extra
		keep := len(items)
		for keep > 0 && over > 0 {
			keep--
			over -= len(items[keep]) + 1
		}
		cut, err := json.Marshal(items[:keep])
		if err != nil {
			return nil, fmt.Errorf("bound detail: %w", err)
		}
		fields[name] = cut
		fields[name+TruncatedSuffix] = json.RawMessage("true")
		fields[name+TotalSuffix] = json.RawMessage(strconv.Itoa(len(items)))
		if detail, err = json.Marshal(fields); err != nil {
			return nil, fmt.Errorf("bound detail: %w", err)
		}
	}
	return detail, nil
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
