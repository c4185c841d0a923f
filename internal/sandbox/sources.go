package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
)

// sqsClient is an SQS client on the authorizing proxy in front of moto with the
// credentials key/secret.
func (sb *Sandbox) sqsClient(key, secret string) *sqs.Client {
	return sqs.New(sqs.Options{Region: sb.Region, Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(sb.proxy.URL)})
}

// createQueues creates the template's SQS queues in moto (as the admin), dead-letter
// queues first, with the attributes the template sets. Their URLs are the ones the
// template's Ref gives (https://sqs.<region>.amazonaws.com/<account>/<name>): moto
// serves a queue by its account and name whatever the URL's host.
func (sb *Sandbox) createQueues(ctx context.Context) error {
	admin := sb.sqsClient(adminKey, "admin")
	s := sb.Stack
	for _, id := range sb.dep.queues {
		name, err := s.PhysicalName(id)
		if err != nil {
			return err
		}
		props, err := s.Resolve(sb.dep.props(id))
		if err != nil {
			return fmt.Errorf("sandbox: queue %s: %w", id, err)
		}
		pm, _ := props.(map[string]any)
		attrs := map[string]string{}
		for _, k := range []string{"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize"} {
			if v, ok := pm[k].(float64); ok {
				attrs[k] = strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
		if rp, ok := pm["RedrivePolicy"]; ok {
			b, err := json.Marshal(rp)
			if err != nil {
				return fmt.Errorf("sandbox: queue %s: %w", id, err)
			}
			attrs["RedrivePolicy"] = string(b)
		}
		if _, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs}); err != nil {
			return fmt.Errorf("sandbox: create queue %s: %w", name, err)
		}
		if sb.queueURL[id], err = s.Ref(id); err != nil {
			return err
		}
	}
	return nil
}

// deleteQueues removes the sandbox's queues from the shared moto_server.
func (sb *Sandbox) deleteQueues() error {
	if sb.proxy == nil || len(sb.queueURL) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := sb.sqsClient(adminKey, "admin")
	var errs []error
	for _, u := range sb.queueURL {
		if _, err := admin.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: delete queue %s: %w", u, err))
		}
	}
	return errors.Join(errs...)
}

// sendToDestination sends a failed asynchronous invocation to the function's
// on-failure destination queue, with the function's credentials as Lambda uses the
// execution role, in the invocation record format of Lambda destinations.
func (sb *Sandbox) sendToDestination(ctx context.Context, d Delivery) error {
	f := sb.dep.functions[d.Function]
	if f.onFailure == "" {
		return nil
	}
	arn, err := sb.Stack.GetAtt(f.id, "Arn")
	if err != nil {
		return err
	}
	var payload any = json.RawMessage(d.Event)
	if !json.Valid(d.Event) {
		payload = string(d.Event)
	}
	record := map[string]any{
		"version": "1.0", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{"requestId": d.Result.RequestID, "functionArn": arn + ":$LATEST",
			"condition": "RetriesExhausted", "approximateInvokeCount": d.Attempts},
		"requestPayload":  payload,
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": d.Result.Error,
	}
	body, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("sandbox: encode the failure record of %s: %w", d.Function, err)
	}
	queueURL := sb.queueURL[f.onFailure]
	if _, err := sb.sqsClient(f.key, f.secret).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("sandbox: send %s's failed invocation to its destination %s: %w", d.Function, queueURL, err)
	}
	return nil
}

// DeadLetters receives (as the admin) the messages waiting in the queue that is
// function's failure destination, leaving them there.
func (sb *Sandbox) DeadLetters(ctx context.Context, function string) ([]string, error) {
	f, ok := sb.dep.functions[function]
	if !ok || f.onFailure == "" {
		return nil, fmt.Errorf("sandbox: %s has no failure destination", function)
	}
	return sb.peek(ctx, sb.queueURL[f.onFailure])
}

// peek returns the bodies of the messages in a queue without consuming them.
func (sb *Sandbox) peek(ctx context.Context, queueURL string) ([]string, error) {
	admin := sb.sqsClient(adminKey, "admin")
	out, err := admin.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 0})
	if err != nil {
		return nil, fmt.Errorf("sandbox: receive from %s: %w", queueURL, err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	return bodies, nil
}

// maxPolls bounds the polling of one Deliver call (a poison message goes to its DLQ
// after maxReceiveCount receives; this only stops a runaway loop).
const maxPolls = 1000

// pollSources does what Lambda's SQS event source mappings do, with the function's own
// credentials as Lambda uses the execution role: receive a batch, invoke the function
// with it, delete the messages it did not report as failed and make those visible again
// at once (Lambda waits out the visibility timeout; the sandbox does not), until the
// queues are empty.
func (sb *Sandbox) pollSources(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for _, src := range sb.dep.sources {
		f := sb.dep.functions[src.function]
		client := sb.sqsClient(f.key, f.secret)
		queueURL := sb.queueURL[src.queueID]
		queueARN, err := sb.Stack.GetAtt(src.queueID, "Arn")
		if err != nil {
			return out, err
		}
		for range maxPolls {
			got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
				MaxNumberOfMessages: int32(min(src.batchSize, 10)), MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"},
				MessageAttributeNames: []string{"All"}})
			if err != nil {
				return out, fmt.Errorf("sandbox: event source %s → %s: receive: %w", queueURL, src.function, err)
			}
			if len(got.Messages) == 0 {
				break
			}
			d, err := sb.invokeBatch(ctx, client, src.function, queueURL, queueARN, got.Messages)
			out = append(out, d)
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// invokeBatch invokes function with one SQS batch and settles the messages.
func (sb *Sandbox) invokeBatch(ctx context.Context, client *sqs.Client, function, queueURL, queueARN string, msgs []sqstypes.Message) (Delivery, error) {
	ev := events.SQSEvent{}
	for _, m := range msgs {
		r := events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: sb.Region}
		ev.Records = append(ev.Records, r)
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return Delivery{}, fmt.Errorf("sandbox: encode SQS event: %w", err)
	}
	d := Delivery{Function: function, DetailType: "SQS", Event: payload, Attempts: 1}
	res, err := sb.Functions[function].Invoke(ctx, payload)
	if err != nil {
		return d, fmt.Errorf("sandbox: invoke %s: %w", function, err)
	}
	d.Result = res
	failed := map[string]bool{}
	if res.Error != nil {
		d.Err = res.Error
		for _, m := range msgs {
			failed[aws.ToString(m.MessageId)] = true
		}
	} else {
		var resp events.SQSEventResponse
		if len(res.Payload) > 0 && json.Unmarshal(res.Payload, &resp) == nil {
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
			}
		}
		if len(failed) > 0 {
			d.Err = fmt.Errorf("%s reported %d of %d messages failed", function, len(failed), len(msgs))
		}
	}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	var retry []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	for i, m := range msgs {
		id := aws.String(strconv.Itoa(i))
		if failed[aws.ToString(m.MessageId)] {
			retry = append(retry, sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		} else {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(del) > 0 {
		if _, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: del}); err != nil {
			return d, fmt.Errorf("sandbox: event source %s → %s: delete: %w", queueURL, function, err)
		}
	}
	if len(retry) > 0 {
		if _, err := client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: retry}); err != nil {
			return d, fmt.Errorf("sandbox: event source %s → %s: change visibility: %w", queueURL, function, err)
		}
	}
	return d, nil
}

// applyRBAC creates the policy's namespaces and applies the RBAC of the ecrwarden
// groups (internal/kube, as `ecrwarden rbac` prints it) to the control plane, and waits
// until the authorizer enforces it.
func (sb *Sandbox) applyRBAC(ctx context.Context) error {
	k := sb.Cluster.Kube
	var namespaces []string
	for _, c := range sb.Policy.Clusters {
		namespaces = append(namespaces, c.Namespaces...)
	}
	for _, ns := range namespaces {
		code, out, err := k.Request(ctx, k.Admin, http.MethodPost, "/api/v1/namespaces", "application/json",
			[]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`))
		if err != nil {
			return fmt.Errorf("sandbox: create namespace %s: %w", ns, err)
		}
		if code != http.StatusCreated && code != http.StatusConflict {
			return fmt.Errorf("sandbox: create namespace %s: %d %s", ns, code, out)
		}
	}
	for _, o := range rbac.Objects(namespaces) {
		if err := k.Apply(ctx, o.Path(), o.Metadata.Name, o); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	if len(namespaces) == 0 {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err1 := k.Allowed(ctx, "probe", []string{rbac.GroupDeployer}, "patch", "apps", "deployments", namespaces[len(namespaces)-1], "x")
		r, err2 := k.Allowed(ctx, "probe", []string{rbac.GroupReader}, "get", "", "namespaces", "", namespaces[len(namespaces)-1])
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if d && r {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("sandbox: the RBAC of the ecrwarden groups did not take effect within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RedriveSources moves the messages in the dead-letter queues of the SQS event
// sources (the queues' RedrivePolicy targets) back to their source queues, as an
// operator's "start DLQ redrive" does, and returns how many it moved. Deliver then
// polls them again.
func (sb *Sandbox) RedriveSources(ctx context.Context) (int, error) {
	admin := sb.sqsClient(adminKey, "admin")
	moved := 0
	for _, src := range sb.dep.sources {
		props, err := sb.Stack.Resolve(sb.dep.props(src.queueID))
		if err != nil {
			return moved, fmt.Errorf("sandbox: queue %s: %w", src.queueID, err)
		}
		pm, _ := props.(map[string]any)
		rp, _ := pm["RedrivePolicy"].(map[string]any)
		arn, _ := rp["deadLetterTargetArn"].(string)
		if arn == "" {
			continue
		}
		name := arn[strings.LastIndex(arn, ":")+1:]
		dlq := "https://sqs." + sb.Region + ".amazonaws.com/" + sb.Account + "/" + name
		for {
			out, err := admin.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10})
			if err != nil {
				return moved, fmt.Errorf("sandbox: receive from %s: %w", name, err)
			}
			if len(out.Messages) == 0 {
				break
			}
			for _, m := range out.Messages {
				if _, err := admin.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(sb.queueURL[src.queueID]), MessageBody: m.Body}); err != nil {
					return moved, fmt.Errorf("sandbox: redrive to %s: %w", src.queueID, err)
				}
				if _, err := admin.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(dlq), ReceiptHandle: m.ReceiptHandle}); err != nil {
					return moved, fmt.Errorf("sandbox: delete from %s: %w", name, err)
				}
				moved++
			}
		}
	}
	return moved, nil
}
