package sns

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func start(t testing.TB) *Server {
	t.Helper()
	s := New(Options{Seed: 1})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client returns a real SNS client pointed at s whose retryer does not sleep.
func client(s *Server, maxAttempts int) *sns.Client {
	return sns.NewFromConfig(emuhttp.ClientConfig(s.URL(), maxAttempts))
}

func TestCreateTopicIsIdempotent(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	ctx := context.Background()
	var arns []string
	for range 2 {
		out, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ecrwarden-alerts")})
		if err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		arns = append(arns, aws.ToString(out.TopicArn))
	}
	want := []string{"arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts", "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts"}
	if diff := cmp.Diff(want, arns); diff != "" {
		t.Errorf("topic ARNs (-want +got):\n%s", diff)
	}
	_, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("bad name!")})
	var ip *types.InvalidParameterException
	if !errors.As(err, &ip) || !strings.Contains(ip.ErrorMessage(), "Topic Name") {
		t.Errorf("CreateTopic(bad name) error = %v, want InvalidParameter naming Topic Name", err)
	}
}

func TestPublish(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	ctx := context.Background()
	arn := s.CreateTopic("alerts")
	fifo := s.CreateTopic("alerts.fifo")

	out, err := c.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(arn),
		Subject:  aws.String("HIGH findings in mlops/retail-api"),
		Message:  aws.String(`{"repository":"mlops/retail-api"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"severity": {DataType: aws.String("String"), StringValue: aws.String("HIGH")},
			"count":    {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"blob":     {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2, 3}},
		},
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	want := []Message{{
		MessageID: aws.ToString(out.MessageId),
		TopicArn:  arn,
		Subject:   "HIGH findings in mlops/retail-api",
		Message:   `{"repository":"mlops/retail-api"}`,
		Attributes: map[string]Attribute{
			"severity": {DataType: "String", StringValue: "HIGH"},
			"count":    {DataType: "Number", StringValue: "3"},
			"blob":     {DataType: "Binary", BinaryValue: []byte{1, 2, 3}},
		},
	}}
	if diff := cmp.Diff(want, s.Messages(arn)); diff != "" {
		t.Errorf("recorded messages (-want +got):\n%s", diff)
	}
	if len(aws.ToString(out.MessageId)) != 36 {
		t.Errorf("MessageId = %q, want a UUID", aws.ToString(out.MessageId))
	}

	fout, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(fifo), Message: aws.String("m"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")})
	if err != nil {
		t.Fatalf("Publish(fifo): %v", err)
	}
	if aws.ToString(fout.SequenceNumber) == "" {
		t.Errorf("Publish(fifo) SequenceNumber is empty")
	}
}

func TestPublishErrors(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	arn := s.CreateTopic("alerts")
	long := strings.Repeat("x", maxMessageBytes)
	tests := []struct {
		name    string
		in      *sns.PublishInput
		code    string
		mention string
	}{
		{name: "unknown topic", in: &sns.PublishInput{TopicArn: aws.String(s.TopicARN("nope")), Message: aws.String("m")}, code: "NotFound", mention: "Topic does not exist"},
		{name: "missing topic", in: &sns.PublishInput{Message: aws.String("m")}, code: "InvalidParameter", mention: "TopicArn"},
		{name: "empty message", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("")}, code: "InvalidParameter", mention: "message"},
		{name: "subject 101 chars", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), Subject: aws.String(strings.Repeat("s", 101))}, code: "InvalidParameter", mention: "Subject"},
		{name: "subject with newline", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), Subject: aws.String("a\nb")}, code: "InvalidParameter", mention: "Subject"},
		{name: "subject non-ASCII", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), Subject: aws.String("café")}, code: "InvalidParameter", mention: "Subject"},
		{name: "message at limit plus attribute", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(long), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}}, code: "InvalidParameter", mention: "Message too long"},
		{name: "message over limit", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(long + "x")}, code: "InvalidParameter", mention: "Message too long"},
		{name: "attribute bad number", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("abc")}}}, code: "ParameterValueInvalid", mention: "'n'"},
		{name: "attribute bad type", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{"t": {DataType: aws.String("Date"), StringValue: aws.String("x")}}}, code: "ParameterValueInvalid", mention: "'t'"},
		{name: "group id on standard topic", in: &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), MessageGroupId: aws.String("g")}, code: "InvalidParameter", mention: "MessageGroupId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Publish(context.Background(), tt.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Publish error = %v, want API error %s", err, tt.code)
			}
			if ae.ErrorCode() != tt.code || !strings.Contains(ae.ErrorMessage(), tt.mention) {
				t.Errorf("Publish error = %s %q, want %s mentioning %q", ae.ErrorCode(), ae.ErrorMessage(), tt.code, tt.mention)
			}
		})
	}
	var nf *types.NotFoundException
	if _, err := c.Publish(context.Background(), tests[0].in); !errors.As(err, &nf) {
		t.Errorf("unknown topic error = %T, want *types.NotFoundException", err)
	}
	if got := len(s.Messages(arn)); got != 0 {
		t.Errorf("recorded %d messages after failed publishes, want 0", got)
	}
}

func TestPublishBatch(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	ctx := context.Background()
	arn := s.CreateTopic("alerts")
	out, err := c.PublishBatch(ctx, &sns.PublishBatchInput{
		TopicArn: aws.String(arn),
		PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
			{Id: aws.String("a"), Message: aws.String("one")},
			{Id: aws.String("b"), Message: aws.String("two"), Subject: aws.String(strings.Repeat("s", 101))},
			{Id: aws.String("c"), Message: aws.String("three"), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
		},
	})
	if err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	var ok []string
	for _, e := range out.Successful {
		ok = append(ok, aws.ToString(e.Id))
	}
	if diff := cmp.Diff([]string{"a", "c"}, ok); diff != "" {
		t.Errorf("successful ids (-want +got):\n%s", diff)
	}
	if len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "b" || aws.ToString(out.Failed[0].Code) != "InvalidParameter" || !out.Failed[0].SenderFault {
		t.Errorf("failed entries = %+v, want b InvalidParameter sender fault", out.Failed)
	}
	var bodies []string
	for _, m := range s.Messages(arn) {
		bodies = append(bodies, m.Message)
	}
	if diff := cmp.Diff([]string{"one", "three"}, bodies); diff != "" {
		t.Errorf("recorded messages (-want +got):\n%s", diff)
	}

	entries := func(n int, id func(int) string) []types.PublishBatchRequestEntry {
		var es []types.PublishBatchRequestEntry
		for i := range n {
			es = append(es, types.PublishBatchRequestEntry{Id: aws.String(id(i)), Message: aws.String("m")})
		}
		return es
	}
	big := []types.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String(strings.Repeat("x", maxMessageBytes/2+1))},
		{Id: aws.String("b"), Message: aws.String(strings.Repeat("x", maxMessageBytes/2+1))},
	}
	tests := []struct {
		name    string
		entries []types.PublishBatchRequestEntry
		target  any
	}{
		{name: "eleven entries", entries: entries(11, func(i int) string { return string(rune('a' + i)) }), target: new(*types.TooManyEntriesInBatchRequestException)},
		{name: "duplicate ids", entries: entries(2, func(int) string { return "same" }), target: new(*types.BatchEntryIdsNotDistinctException)},
		{name: "invalid id", entries: entries(1, func(int) string { return "no spaces" }), target: new(*types.InvalidBatchEntryIdException)},
		{name: "too long in total", entries: big, target: new(*types.BatchRequestTooLongException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(arn), PublishBatchRequestEntries: tt.entries})
			if !errors.As(err, tt.target) {
				t.Errorf("PublishBatch error = %v (%T), want %T", err, err, tt.target)
			}
		})
	}
}

func TestFaultsAndRetryer(t *testing.T) {
	s := start(t)
	arn := s.CreateTopic("alerts")
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m")}

	t.Run("throttling is retried until it succeeds", func(t *testing.T) {
		s.Calls().Reset()
		s.Faults().Set("Publish", fault.Rule{Throttle: 2})
		if _, err := client(s, 3).Publish(context.Background(), in); err != nil {
			t.Fatalf("Publish after 2 throttles: %v", err)
		}
		var kinds []fault.Kind
		for _, c := range s.Calls().Calls("Publish") {
			kinds = append(kinds, c.Fault)
		}
		if diff := cmp.Diff([]fault.Kind{fault.Throttle, fault.Throttle, fault.None}, kinds); diff != "" {
			t.Errorf("call faults (-want +got):\n%s", diff)
		}
	})
	t.Run("persistent 5xx gives up after MaxAttempts", func(t *testing.T) {
		s.Calls().Reset()
		s.Faults().Set("Publish", fault.Rule{ServerError: 100, Status: 503})
		_, err := client(s, 4).Publish(context.Background(), in)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InternalError" {
			t.Fatalf("Publish error = %v, want InternalError", err)
		}
		if got := s.Calls().Count("Publish"); got != 4 {
			t.Errorf("Publish attempts = %d, want 4", got)
		}
	})
	t.Run("dropped connection is retried", func(t *testing.T) {
		s.Calls().Reset()
		s.Faults().Set("Publish", fault.Rule{Drop: 1})
		if _, err := client(s, 3).Publish(context.Background(), in); err != nil {
			t.Fatalf("Publish after a dropped connection: %v", err)
		}
		if got := s.Calls().Count("Publish"); got != 2 {
			t.Errorf("Publish attempts = %d, want 2", got)
		}
	})
	s.Faults().Clear()
}

func TestMalformedRequests(t *testing.T) {
	s := start(t)
	tests := []struct {
		name string
		body string
		code string
		want string
	}{
		{name: "bad escape", body: "Action=Publish&Message=%zz", code: "MalformedQueryString", want: "malformed"},
		{name: "no action", body: "Version=2010-03-31", code: "MissingAction", want: "Missing Action"},
		{name: "unknown action", body: "Action=DeleteTopic", code: "InvalidAction", want: "DeleteTopic"},
		{name: "bad attribute index", body: "Action=Publish&TopicArn=" + url.QueryEscape(s.CreateTopic("t")) + "&Message=m&MessageAttributes.entry.x.Name=a", code: "InvalidParameter", want: "MessageAttributes.entry.x.Name"},
		{name: "attribute without type", body: "Action=Publish&TopicArn=" + url.QueryEscape(s.CreateTopic("t")) + "&Message=m&MessageAttributes.entry.1.Name=k&MessageAttributes.entry.1.Value.StringValue=v", code: "ParameterValueInvalid", want: "&#39;k&#39; must contain non-empty message attribute type"},
		{name: "bad batch index", body: "Action=PublishBatch&TopicArn=" + url.QueryEscape(s.CreateTopic("t")) + "&PublishBatchRequestEntries.member.0.Id=a", code: "InvalidParameter", want: "PublishBatchRequestEntries.member.0.Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(s.URL(), "application/x-www-form-urlencoded", strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "<Code>"+tt.code+"</Code>") || !strings.Contains(string(b), tt.want) {
				t.Errorf("got %d %s, want 400 with code %s mentioning %q", resp.StatusCode, b, tt.code, tt.want)
			}
		})
	}
}

// TestModeledThrottleIsNotRetriedByDefault records a property of the pinned
// SDK that callers must handle: SNS's modeled ThrottledException (code
// Throttled, HTTP 429) is not in the standard retryer's throttle codes.
func TestModeledThrottleIsNotRetriedByDefault(t *testing.T) {
	s := New(Options{ModeledThrottle: true})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	arn := s.CreateTopic("alerts")
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m")}

	s.Faults().Set("Publish", fault.Rule{Throttle: 1})
	_, err := client(s, 3).Publish(context.Background(), in)
	var te *types.ThrottledException
	if !errors.As(err, &te) {
		t.Fatalf("Publish error = %v, want ThrottledException", err)
	}
	if got := s.Calls().Count("Publish"); got != 1 {
		t.Errorf("attempts with the default retryables = %d, want 1", got)
	}

	s.Calls().Reset()
	s.Faults().Set("Publish", fault.Rule{Throttle: 1})
	c := sns.NewFromConfig(aws.Config{
		Region: "ap-southeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), BaseEndpoint: aws.String(s.URL()), HTTPClient: emuhttp.HTTPClient(),
		Retryer: func() aws.Retryer {
			return retry.AddWithErrorCodes(retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			}), "Throttled")
		},
	})
	if _, err := c.Publish(context.Background(), in); err != nil {
		t.Fatalf("Publish with Throttled retryable: %v", err)
	}
	if got := s.Calls().Count("Publish"); got != 2 {
		t.Errorf("attempts with Throttled retryable = %d, want 2", got)
	}
}
