package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
)

// MaxBatchMessages is the most entries one SendMessageBatch call takes.
const MaxBatchMessages = 10

// SendMessageBatchAPI is the subset of the SQS client Enqueue uses.
type SendMessageBatchAPI interface {
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Message is the body of one fan-out message: gc one repository as part of
// the run RunID.
type Message struct {
	// RunID names the scheduled run; alerts are keyed by it and the
	// repository, so a redelivered message does not alert twice.
	RunID string `json:"runId"`
	// Repository is the repository to collect.
	Repository string `json:"repository"`
	// Report, when set, makes the message a deferred report of what an
	// earlier message of the run did: deliver it, collect nothing.
	Report *Report `json:"report,omitempty"`
}

// Report is the part of a repository's report that could not be delivered
// after gc had deleted or archived images: the deletions are done and a
// retried message would find nothing left to report, so the report travels
// on in a message of its own, redelivered by SQS (and, in the end, kept in
// the dead-letter queue) until it is delivered. Nothing gc did goes
// unreported.
type Report struct {
	// Key is the alert's dedupe key (the alert may have been sent already).
	Key string `json:"key"`
	// Alert is the run's alert, when it was not delivered.
	Alert *alert.Alert `json:"alert,omitempty"`
	// Events are the audit events not published.
	Events []audit.Event `json:"events,omitempty"`
}

// EnqueueReport sends r as a report message of run runID for repository.
func EnqueueReport(ctx context.Context, client SendMessageBatchAPI, queueURL, runID, repository string, r Report) error {
	body, err := json.Marshal(Message{RunID: runID, Repository: repository, Report: &r})
	if err != nil {
		return fmt.Errorf("encode the gc report of %s: %w", repository, err)
	}
	out, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL),
		Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("report"), MessageBody: aws.String(string(body))}}})
	if err != nil {
		return fmt.Errorf("send the gc report of %s: %w", repository, err)
	}
	for _, f := range out.Failed {
		return fmt.Errorf("send the gc report of %s: %s: %s", repository, aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return nil
}

// DecodeMessage decodes and checks a fan-out message body.
func DecodeMessage(body string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return Message{}, fmt.Errorf("decode gc message: %w", err)
	}
	if m.Repository == "" || m.RunID == "" {
		return Message{}, fmt.Errorf("gc message %q: repository and runId are required", body)
	}
	return m, nil
}

// Enqueue sends one Message per repository to the queue, ten per
// SendMessageBatch call. Entries SQS refuses on their own are resent once
// (in one more call per batch); entries refused again, or a failed call,
// are returned as an error naming them. Messages already sent stay sent:
// consumers are idempotent.
func Enqueue(ctx context.Context, client SendMessageBatchAPI, queueURL, runID string, repositories []string) error {
	var errs []error
	for start := 0; start < len(repositories); start += MaxBatchMessages {
		batch := repositories[start:min(start+MaxBatchMessages, len(repositories))]
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
		for i, repo := range batch {
			body, err := json.Marshal(Message{RunID: runID, Repository: repo})
			if err != nil {
				return fmt.Errorf("encode gc message for %s: %w", repo, err)
			}
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))}
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			out, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			if err != nil {
				return errors.Join(append(errs, fmt.Errorf("send gc messages for %d repositories from %s: %w", len(entries), batch[0], err))...)
			}
			failed := map[string]sqstypes.BatchResultErrorEntry{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = f
			}
			var retry []sqstypes.SendMessageBatchRequestEntry
			for _, e := range entries {
				f, ok := failed[aws.ToString(e.Id)]
				if !ok {
					continue
				}
				i, _ := strconv.Atoi(aws.ToString(e.Id))
				if attempt == 0 && !f.SenderFault {
					retry = append(retry, e)
					continue
				}
				errs = append(errs, fmt.Errorf("send gc message for %s: %s: %s", batch[i], aws.ToString(f.Code), aws.ToString(f.Message)))
			}
			entries = retry
		}
	}
	return errors.Join(errs...)
}
