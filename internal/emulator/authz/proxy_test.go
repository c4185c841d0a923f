package authz_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// moto serves SQS behind the proxy; nil with -short.
var moto *testenv.Moto

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	var err error
	moto, err = testenv.StartMoto(context.Background(), testenv.MotoOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

// TestProxySQSAgainstMoto: through the proxy, the gc principal may send to its queue
// (SendMessageBatch is sqs:SendMessage) and nothing else; the admin may do anything;
// denials reach the SDK as AccessDenied errors and nothing reaches moto.
func TestProxySQSAgainstMoto(t *testing.T) {
	if moto == nil {
		t.Skip("needs moto_server (skipped with -short)")
	}
	p, err := authz.NewProxy(moto.URL, region, account)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	queueName := strings.ReplaceAll(t.Name(), "/", "-")
	a := authz.New(
		authz.Principal{Name: "gc", AccessKeyID: "AKIDGC", SecretAccessKey: "s", ARN: caller, Account: account,
			Policies: policy(t, `{"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:ap-southeast-1:123456789012:`+queueName+`"}]}`)},
		authz.Principal{Name: "admin", AccessKeyID: "AKIDADMIN", SecretAccessKey: "s", ARN: "arn:aws:iam::123456789012:user/admin", Admin: true},
	)
	p.SetAuthorizer(a)
	client := func(key string) *sqs.Client {
		cfg := emulator.ClientConfig(srv.URL, 1)
		cfg.Credentials = credentials.NewStaticCredentialsProvider(key, "s", "")
		return sqs.NewFromConfig(cfg)
	}
	ctx := context.Background()
	admin, gc := client("AKIDADMIN"), client("AKIDGC")
	created, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queueName)})
	if err != nil {
		t.Fatalf("admin CreateQueue: %v", err)
	}
	q := created.QueueUrl
	if _, err := gc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q, Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("0"), MessageBody: aws.String(`{"repository":"a"}`)}, {Id: aws.String("1"), MessageBody: aws.String(`{"repository":"b"}`)}}}); err != nil {
		t.Fatalf("granted SendMessageBatch: %v", err)
	}
	_, err = gc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q})
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.ErrorCode(), "AccessDenied") {
		t.Fatalf("ReceiveMessage: %v, want AccessDenied", err)
	}
	want := "is not authorized to perform: sqs:receivemessage on resource: arn:aws:sqs:ap-southeast-1:123456789012:" + queueName
	if !strings.Contains(ae.ErrorMessage(), want) {
		t.Errorf("message %q, want %q", ae.ErrorMessage(), want)
	}
	_, err = gc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queueName + "-2")})
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.ErrorCode(), "AccessDenied") {
		t.Fatalf("CreateQueue: %v, want AccessDenied", err)
	}
	got, err := admin.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatalf("admin ReceiveMessage: %v", err)
	}
	if len(got.Messages) != 2 {
		t.Errorf("%d messages in the queue, want the 2 sent", len(got.Messages))
	}
	if _, err := admin.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queueName + "-2")}); err == nil {
		t.Error("the denied CreateQueue reached moto")
	}

	// The query protocol (AWS CLI v1) gets the XML AccessDenied.
	form := url.Values{"Action": {"PurgeQueue"}, "QueueUrl": {*q}, "Version": {"2012-11-05"}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDGC/20261129/ap-southeast-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("query PurgeQueue: status %d, want 403", resp.StatusCode)
	}
	denials := a.Denials()
	if len(denials) != 3 || denials[2].Action != "sqs:PurgeQueue" {
		t.Errorf("denials %v", denials)
	}
}
