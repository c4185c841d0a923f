package authz_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	eksemu "github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

const (
	account = "123456789012"
	region  = "ap-southeast-1"
	caller  = "arn:aws:sts::123456789012:assumed-role/ecrwarden-OnpushRole-1/onpush"
	keyARN  = "arn:aws:kms:ap-southeast-1:123456789012:key/00000000-0000-4000-8000-000000000001"
)

func policy(t *testing.T, doc string) []iam.Policy {
	t.Helper()
	d, err := iam.ParseDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return []iam.Policy{{Name: "OnpushRoleDefaultPolicy", Document: d}}
}

type world struct {
	s     *suite.Suite
	a     *authz.Authorizer
	topic string
}

// start runs the emulators with an onpush principal allowed stmts, an admin and an
// encrypted topic, an enhanced repository and a secret under a customer key.
func start(t *testing.T, stmts string) *world {
	t.Helper()
	s, err := suite.Start(context.Background(), suite.Options{Topics: []string{"alerts"}, Buses: []string{"audit"},
		Tables:   []suite.Table{{Name: "dedupe", HashKey: "pk", HashType: "S"}},
		Clusters: []eksemu.Cluster{{Name: "retail-forecast", Endpoint: "https://127.0.0.1:1", CAPEM: []byte("x")}},
		Secrets:  map[string]string{"cmk-secret": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &world{s: s, topic: s.SNS.TopicARN("alerts")}
	s.SNS.SetTopicKey(w.topic, keyARN)
	if err := s.SecretsManager.SetSecretKey("cmk-secret", keyARN); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name string
		scan ecremu.ScanType
	}{{"mlops/basic", ecremu.ScanBasic}, {"mlops/enhanced", ecremu.ScanEnhanced}} {
		if err := s.ECR.CreateRepository(r.name, ecremu.RepositoryOptions{ScanType: r.scan}); err != nil {
			t.Fatal(err)
		}
	}
	w.a = authz.New(
		authz.Principal{Name: "onpush", AccessKeyID: "AKIDONPUSH", SecretAccessKey: "s", ARN: caller, Account: account,
			Policies: policy(t, `{"Version": "2012-10-17", "Statement": `+stmts+`}`)},
		authz.Principal{Name: "admin", AccessKeyID: "AKIDADMIN", SecretAccessKey: "s", ARN: "arn:aws:iam::123456789012:user/admin", Admin: true},
	)
	s.SetAuthorizer(w.a)
	return w
}

func (w *world) config(t *testing.T, service, key string) aws.Config {
	t.Helper()
	var url string
	for _, e := range w.s.Endpoints() {
		if e.Service == service {
			url = e.URL
		}
	}
	cfg := emulator.ClientConfig(url, 1)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key, "s", "")
	return cfg
}

// denied checks err is the API error code with status and that its message names the
// caller, the action and the resource as AWS does.
func denied(t *testing.T, err error, code string, status int, action, resource string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Errorf("error code %q, want %q (%v)", ae.ErrorCode(), code, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Errorf("HTTP status %d, want %d", re.HTTPStatusCode(), status)
	}
	if action == "" {
		return
	}
	want := "User: " + caller + " is not authorized to perform: " + action + " on resource: " + resource + " because no identity-based policy allows the " + action + " action"
	if resource == "" { // the resource has a random part: check the rest
		head, tail, _ := strings.Cut(want, " because")
		if !strings.Contains(ae.ErrorMessage(), head) || !strings.HasSuffix(ae.ErrorMessage(), " because"+tail) {
			t.Errorf("message %q\nwant %q <resource> %q", ae.ErrorMessage(), head, tail)
		}
		return
	}
	if !strings.Contains(ae.ErrorMessage(), want) {
		t.Errorf("message %q\nwant it to contain %q", ae.ErrorMessage(), want)
	}
}

func TestECR(t *testing.T) {
	w := start(t, `[{"Effect": "Allow", "Action": ["ecr:DescribeImages", "ecr:DescribeImageScanFindings"], "Resource": "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/basic"},
	  {"Effect": "Allow", "Action": "ecr:DescribeImageScanFindings", "Resource": "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/enhanced"}]`)
	ctx := context.Background()
	c := ecr.NewFromConfig(w.config(t, "ECR", "AKIDONPUSH"))
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("mlops/basic")}); err != nil {
		t.Fatalf("granted DescribeImages: %v", err)
	}
	_, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("mlops/enhanced")})
	denied(t, err, "AccessDeniedException", http.StatusBadRequest, "ecr:DescribeImages", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/enhanced")
	_, err = c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("mlops/basic"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("x")}}})
	denied(t, err, "AccessDeniedException", http.StatusBadRequest, "ecr:BatchDeleteImage", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/basic")

	// Enhanced scanning: DescribeImageScanFindings also needs inspector2:ListFindings.
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("mlops/enhanced"), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1")}})
	denied(t, err, "AccessDeniedException", http.StatusBadRequest, "inspector2:ListFindings", "arn:aws:inspector2:ap-southeast-1:123456789012:/findings/list")
	// Basic scanning does not: the image is missing, which is the operation's answer.
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("mlops/basic"), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1")}})
	var nf *ecrtypes.ImageNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("basic scan findings of a missing image: %v, want ImageNotFoundException", err)
	}

	admin := ecr.NewFromConfig(w.config(t, "ECR", "AKIDADMIN"))
	if _, err := admin.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("mlops/enhanced")}); err != nil {
		t.Errorf("admin: %v", err)
	}
	wantDenials := []string{
		"onpush ecr:DescribeImages on arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/enhanced: implicit deny",
		"onpush ecr:BatchDeleteImage on arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/basic: implicit deny",
		"onpush inspector2:ListFindings on arn:aws:inspector2:ap-southeast-1:123456789012:/findings/list: implicit deny",
	}
	var got []string
	for _, d := range w.a.Denials() {
		got = append(got, d.String())
	}
	if diff := cmp.Diff(wantDenials, got); diff != "" {
		t.Errorf("denials (-want +got):\n%s", diff)
	}
}

func TestECRInspectorGranted(t *testing.T) {
	w := start(t, `[{"Effect": "Allow", "Action": "ecr:DescribeImageScanFindings", "Resource": "arn:aws:ecr:ap-southeast-1:123456789012:repository/*"},
	  {"Effect": "Allow", "Action": "inspector2:ListFindings", "Resource": "*"}]`)
	c := ecr.NewFromConfig(w.config(t, "ECR", "AKIDONPUSH"))
	_, err := c.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("mlops/enhanced"), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1")}})
	var nf *ecrtypes.ImageNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("got %v, want the operation's own ImageNotFoundException", err)
	}
}

func TestSNS(t *testing.T) {
	ctx := context.Background()
	t.Run("topic not granted", func(t *testing.T) {
		w := start(t, `[{"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "`+keyARN+`"}]`)
		_, err := sns.NewFromConfig(w.config(t, "SNS", "AKIDONPUSH")).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.topic), Message: aws.String("m")})
		var ae *snstypes.AuthorizationErrorException
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want AuthorizationErrorException", err)
		}
		denied(t, err, "AuthorizationError", http.StatusForbidden, "", "")
		if want := "is not authorized to perform: SNS:Publish on resource: " + w.topic; !strings.Contains(ae.ErrorMessage(), want) {
			t.Errorf("message %q, want %q", ae.ErrorMessage(), want)
		}
		if n := len(w.s.SNS.Messages(w.topic)); n != 0 {
			t.Errorf("%d messages published", n)
		}
	})
	t.Run("key not granted", func(t *testing.T) {
		w := start(t, `[{"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:aws:sns:ap-southeast-1:123456789012:alerts"},
		  {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "`+keyARN+`"}]`)
		_, err := sns.NewFromConfig(w.config(t, "SNS", "AKIDONPUSH")).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.topic), Message: aws.String("m")})
		var ke *snstypes.KMSAccessDeniedException
		if !errors.As(err, &ke) {
			t.Fatalf("err = %v, want KMSAccessDeniedException", err)
		}
		denied(t, err, "KMSAccessDenied", http.StatusBadRequest, "kms:GenerateDataKey", keyARN)
	})
	t.Run("topic and key granted", func(t *testing.T) {
		w := start(t, `[{"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:aws:sns:ap-southeast-1:123456789012:alerts"},
		  {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "`+keyARN+`"}]`)
		if _, err := sns.NewFromConfig(w.config(t, "SNS", "AKIDONPUSH")).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.topic), Message: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEventBridge(t *testing.T) {
	w := start(t, `[{"Effect": "Allow", "Action": "events:PutEvents", "Resource": "arn:aws:events:ap-southeast-1:123456789012:event-bus/audit",
	  "Condition": {"StringEquals": {"events:source": "ecrwarden"}}}]`)
	c := eventbridge.NewFromConfig(w.config(t, "EventBridge", "AKIDONPUSH"))
	ctx := context.Background()
	entry := func(bus, source string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{EventBusName: aws.String(bus), Source: aws.String(source), DetailType: aws.String("TagRejected"), Detail: aws.String("{}")}
	}
	if _, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("audit", "ecrwarden"), entry("arn:aws:events:ap-southeast-1:123456789012:event-bus/audit", "ecrwarden")}}); err != nil {
		t.Fatalf("granted bus by name and ARN: %v", err)
	}
	_, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("audit", "ecrwarden"), entry("default", "ecrwarden")}})
	var ae *ebtypes.AccessDeniedException
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want AccessDeniedException", err)
	}
	denied(t, err, "AccessDeniedException", http.StatusBadRequest, "events:PutEvents", "arn:aws:events:ap-southeast-1:123456789012:event-bus/default")
	_, err = c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("audit", "someone.else")}})
	denied(t, err, "AccessDeniedException", http.StatusBadRequest, "events:PutEvents", "arn:aws:events:ap-southeast-1:123456789012:event-bus/audit")
	if n := len(w.s.EventBridge.Events("audit")); n != 2 {
		t.Errorf("%d events on the bus, want the 2 of the allowed call only", n)
	}
}

func TestSecretsManager(t *testing.T) {
	ctx := context.Background()
	secretPattern := "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:ecrwarden/slack-webhook-??????"
	t.Run("secret granted", func(t *testing.T) {
		w := start(t, `[{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "`+secretPattern+`"}]`)
		c := secretsmanager.NewFromConfig(w.config(t, "Secrets Manager", "AKIDONPUSH"))
		if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(suite.DefaultSlackSecretName)}); err != nil {
			t.Fatalf("granted secret: %v", err)
		}
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("cmk-secret")})
		denied(t, err, "AccessDeniedException", http.StatusBadRequest, "secretsmanager:GetSecretValue", "")
	})
	t.Run("customer key not granted", func(t *testing.T) {
		w := start(t, `[{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]`)
		_, err := secretsmanager.NewFromConfig(w.config(t, "Secrets Manager", "AKIDONPUSH")).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("cmk-secret")})
		denied(t, err, "AccessDeniedException", http.StatusBadRequest, "", "")
		if !strings.Contains(err.Error(), "Access to KMS is not allowed") {
			t.Errorf("err = %v, want AWS's KMS message", err)
		}
		if d := w.a.Denials(); len(d) != 1 || d[0].Action != "kms:Decrypt" || d[0].Resource != keyARN {
			t.Errorf("denials %v, want kms:Decrypt on the key", d)
		}
	})
}

func TestDynamoDBAndEKS(t *testing.T) {
	w := start(t, `[{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "arn:aws:dynamodb:ap-southeast-1:123456789012:table/dedupe"}]`)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(w.config(t, "DynamoDB", "AKIDONPUSH"))
	item := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("dedupe"), Item: item}); err != nil {
		t.Fatalf("granted PutItem: %v", err)
	}
	_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("dedupe"), Key: item})
	denied(t, err, "AccessDeniedException", http.StatusBadRequest, "dynamodb:DeleteItem", "arn:aws:dynamodb:ap-southeast-1:123456789012:table/dedupe")

	_, err = eks.NewFromConfig(w.config(t, "EKS", "AKIDONPUSH")).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("retail-forecast")})
	var ae *ekstypes.AccessDeniedException
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want eks AccessDeniedException", err)
	}
	denied(t, err, "AccessDeniedException", http.StatusForbidden, "eks:DescribeCluster", "arn:aws:eks:ap-southeast-1:123456789012:cluster/retail-forecast")
}

func TestUnknownAccessKey(t *testing.T) {
	w := start(t, `[{"Effect": "Allow", "Action": "*", "Resource": "*"}]`)
	ctx := context.Background()
	_, err := ecr.NewFromConfig(w.config(t, "ECR", "AKIDSTRANGER")).DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("mlops/basic")})
	denied(t, err, "UnrecognizedClientException", http.StatusBadRequest, "", "")
	_, err = sns.NewFromConfig(w.config(t, "SNS", "AKIDSTRANGER")).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.topic), Message: aws.String("m")})
	denied(t, err, "InvalidClientTokenId", http.StatusForbidden, "", "")
	if d := w.a.Denials(); len(d) != 2 || d[0].Principal != "" {
		t.Errorf("denials %v, want two of an unknown caller", d)
	}
}

func TestCredential(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/?X-Amz-Credential=AKIDQUERY%2F20261129%2Fus-east-1%2Fsts%2Faws4_request", nil)
	if key, reg := authz.Credential(r); key != "AKIDQUERY" || reg != "us-east-1" {
		t.Errorf("presigned: %q %q", key, reg)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDHEADER/20261129/ap-southeast-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	if key, reg := authz.Credential(r); key != "AKIDHEADER" || reg != region {
		t.Errorf("header: %q %q", key, reg)
	}
	if s := authz.Service(r); s != "sqs" {
		t.Errorf("service %q", s)
	}
	r.Header.Set("Authorization", "Bearer x")
	if key, _ := authz.Credential(r); key != "" {
		t.Errorf("bearer: %q", key)
	}
}

func TestNoAuthorizerAllowsEverything(t *testing.T) {
	var g authz.Guard
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if d := g.Check(r, "Op", iam.Request{Action: "x:Y", Resource: "*"}); d != nil {
		t.Errorf("zero Guard denied: %v", d)
	}
}
