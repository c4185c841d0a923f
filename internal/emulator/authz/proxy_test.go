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
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

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

// TestProxyInUseMapping: the calls gc's in-use readers (internal/inuse) make are
// authorized as the Service Authorization Reference names them: the action, and the
// resource type's ARN where the action has one (ECS services and tasks under their
// cluster, Lambda functions with their version, SageMaker resources in lower case),
// "*" where it has none.
func TestProxyInUseMapping(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
	p := authz.NewProxyTo(ok, region, account)
	a := authz.New(authz.Principal{Name: "admin", AccessKeyID: "AKIDADMIN", SecretAccessKey: "s", ARN: "arn:aws:iam::123456789012:user/admin", Admin: true})
	p.SetAuthorizer(a)
	srv := httptest.NewServer(p)
	defer srv.Close()
	cfg := emulator.ClientConfig(srv.URL, 1)
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDADMIN", "s", "")
	ctx := context.Background()
	e, l, s, b := ecs.NewFromConfig(cfg), lambda.NewFromConfig(cfg), sagemaker.NewFromConfig(cfg), batch.NewFromConfig(cfg)
	arn := func(svc, res string) string { return "arn:aws:" + svc + ":" + region + ":" + account + ":" + res }
	tests := []struct {
		name string
		call func() error
		want []string // action on resource
	}{
		{"ecs ListClusters", func() error { _, err := e.ListClusters(ctx, &ecs.ListClustersInput{}); return err },
			[]string{"ecs:ListClusters on *"}},
		{"ecs ListServices", func() error {
			_, err := e.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String(arn("ecs", "cluster/retail"))})
			return err
		}, []string{"ecs:ListServices on *"}},
		{"ecs DescribeServices by ARN and name", func() error {
			_, err := e.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(arn("ecs", "cluster/retail")),
				Services: []string{arn("ecs", "service/retail/api"), "web"}})
			return err
		}, []string{"ecs:DescribeServices on " + arn("ecs", "service/retail/api"), "ecs:DescribeServices on " + arn("ecs", "service/retail/web")}},
		{"ecs ListTasks", func() error {
			_, err := e.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("retail")})
			return err
		},
			[]string{"ecs:ListTasks on *"}},
		{"ecs DescribeTasks", func() error {
			_, err := e.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("retail"), Tasks: []string{"0123abcd"}})
			return err
		}, []string{"ecs:DescribeTasks on " + arn("ecs", "task/retail/0123abcd")}},
		{"ecs DescribeTaskDefinition", func() error {
			_, err := e.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("retail-api:42")})
			return err
		}, []string{"ecs:DescribeTaskDefinition on *"}},
		{"lambda ListFunctions", func() error {
			_, err := l.ListFunctions(ctx, &lambda.ListFunctionsInput{FunctionVersion: lambdatypes.FunctionVersionAll})
			return err
		}, []string{"lambda:ListFunctions on *"}},
		{"lambda GetFunction of a version", func() error {
			_, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("scorer"), Qualifier: aws.String("3")})
			return err
		}, []string{"lambda:GetFunction on " + arn("lambda", "function:scorer:3")}},
		{"lambda GetFunction by ARN", func() error {
			_, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(arn("lambda", "function:scorer"))})
			return err
		}, []string{"lambda:GetFunction on " + arn("lambda", "function:scorer")}},
		{"sagemaker ListModels", func() error { _, err := s.ListModels(ctx, &sagemaker.ListModelsInput{}); return err },
			[]string{"sagemaker:ListModels on *"}},
		{"sagemaker DescribeModel", func() error {
			_, err := s.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String("Retail-Model")})
			return err
		}, []string{"sagemaker:DescribeModel on " + arn("sagemaker", "model/retail-model")}},
		{"sagemaker DescribeEndpoint", func() error {
			_, err := s.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String("retail")})
			return err
		}, []string{"sagemaker:DescribeEndpoint on " + arn("sagemaker", "endpoint/retail")}},
		{"sagemaker DescribeEndpointConfig", func() error {
			_, err := s.DescribeEndpointConfig(ctx, &sagemaker.DescribeEndpointConfigInput{EndpointConfigName: aws.String("retail")})
			return err
		}, []string{"sagemaker:DescribeEndpointConfig on " + arn("sagemaker", "endpoint-config/retail")}},
		{"sagemaker DescribeTrainingJob", func() error {
			_, err := s.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String("train-1")})
			return err
		}, []string{"sagemaker:DescribeTrainingJob on " + arn("sagemaker", "training-job/train-1")}},
		{"sagemaker DescribeProcessingJob", func() error {
			_, err := s.DescribeProcessingJob(ctx, &sagemaker.DescribeProcessingJobInput{ProcessingJobName: aws.String("prep-1")})
			return err
		}, []string{"sagemaker:DescribeProcessingJob on " + arn("sagemaker", "processing-job/prep-1")}},
		{"sagemaker DescribeHyperParameterTuningJob", func() error {
			_, err := s.DescribeHyperParameterTuningJob(ctx, &sagemaker.DescribeHyperParameterTuningJobInput{HyperParameterTuningJobName: aws.String("Tune-1")})
			return err
		}, []string{"sagemaker:DescribeHyperParameterTuningJob on " + arn("sagemaker", "hyper-parameter-tuning-job/tune-1")}},
		{"batch DescribeJobDefinitions", func() error {
			_, err := b.DescribeJobDefinitions(ctx, &batch.DescribeJobDefinitionsInput{Status: aws.String("ACTIVE")})
			return err
		}, []string{"batch:DescribeJobDefinitions on *"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.Decisions())
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range a.Decisions()[before:] {
				got = append(got, d.Action+" on "+d.Resource)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
		})
	}
}
