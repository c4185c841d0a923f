package gc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
)

// fakeSQS records SendMessageBatch calls; fail says, per repository, how
// many times its entry is refused (sender says whether as a sender fault).
type fakeSQS struct {
	fail    map[string]int
	sender  map[string]bool
	callErr error
	sent    []Message
	calls   []int // entries per call
}

func (q *fakeSQS) SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.calls = append(q.calls, len(params.Entries))
	if q.callErr != nil {
		return nil, q.callErr
	}
	if len(params.Entries) > MaxBatchMessages {
		return nil, errors.New("AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
	}
	if aws.ToString(params.QueueUrl) != "https://sqs.example/q" {
		return nil, fmt.Errorf("queue %q", aws.ToString(params.QueueUrl))
	}
	var out sqs.SendMessageBatchOutput
	for _, e := range params.Entries {
		m, err := DecodeMessage(aws.ToString(e.MessageBody))
		if err != nil {
			return nil, err
		}
		if q.fail[m.Repository] > 0 {
			q.fail[m.Repository]--
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"),
				Message: aws.String("injected"), SenderFault: q.sender[m.Repository]})
			continue
		}
		q.sent = append(q.sent, m)
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return &out, nil
}

func repoNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("team/repo-%02d", i)
	}
	return names
}

func TestEnqueue(t *testing.T) {
	tests := []struct {
		name      string
		repos     int
		fail      map[string]int
		sender    map[string]bool
		callErr   error
		wantCalls []int
		wantSent  int
		wantErr   string
	}{
		{name: "ten per call", repos: 25, wantCalls: []int{10, 10, 5}, wantSent: 25},
		{name: "a refused entry is resent once", repos: 12, fail: map[string]int{"team/repo-03": 1},
			wantCalls: []int{10, 1, 2}, wantSent: 12},
		{name: "refused twice is an error", repos: 3, fail: map[string]int{"team/repo-01": 2},
			wantCalls: []int{3, 1}, wantSent: 2, wantErr: "send gc message for team/repo-01: InternalError: injected"},
		{name: "a sender fault is not resent", repos: 3, fail: map[string]int{"team/repo-02": 1}, sender: map[string]bool{"team/repo-02": true},
			wantCalls: []int{3}, wantSent: 2, wantErr: "send gc message for team/repo-02"},
		{name: "a failed call stops", repos: 15, callErr: errors.New("throttled"),
			wantCalls: []int{10}, wantErr: "send gc messages for 10 repositories from team/repo-00: throttled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeSQS{fail: tc.fail, sender: tc.sender, callErr: tc.callErr}
			err := Enqueue(context.Background(), q, "https://sqs.example/q", "run-7", repoNames(tc.repos))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Enqueue() error = %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantCalls, q.calls); diff != "" {
				t.Errorf("entries per call (-want +got):\n%s", diff)
			}
			if len(q.sent) != tc.wantSent {
				t.Errorf("sent %d messages, want %d", len(q.sent), tc.wantSent)
			}
			for _, m := range q.sent {
				if m.RunID != "run-7" {
					t.Errorf("message %+v: runId not run-7", m)
				}
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	tests := []struct {
		name, body string
		want       Message
		wantErr    bool
	}{
		{name: "valid", body: `{"runId":"r","repository":"mlops/retail-api"}`, want: Message{RunID: "r", Repository: "mlops/retail-api"}},
		{name: "no repository", body: `{"runId":"r"}`, wantErr: true},
		{name: "no run", body: `{"repository":"a"}`, wantErr: true},
		{name: "not JSON", body: `repo`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeMessage(tc.body)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodeMessage() error = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}
