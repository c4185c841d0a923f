package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	awseventbridge "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eventbridge"
)

func startSuite(t *testing.T, o Options) *Suite {
	t.Helper()
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start suite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close suite: %v", err)
		}
	})
	return s
}

func TestEndpoints(t *testing.T) {
	s := startSuite(t, Options{})
	var services []string
	for _, e := range s.Endpoints() {
		services = append(services, e.Service)
		u, err := url.Parse(e.URL)
		if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" {
			t.Errorf("%s URL = %q, want http://127.0.0.1:<port>", e.Service, e.URL)
		}
	}
	if diff := cmp.Diff([]string{"ECR", "SNS", "EventBridge", "Secrets Manager", "DynamoDB", "EKS", "Slack"}, services); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	var buf bytes.Buffer
	if err := s.WriteEndpoints(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:") {
		t.Errorf("printed endpoints lack the Secrets Manager variable:\n%s", buf.String())
	}
}

func TestFixedPortsAndLoopbackOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := startSuite(t, Options{Ports: Ports{SNS: port}})
	if got := s.Endpoints()[1].URL; got != "http://127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("SNS URL = %s, want port %d", got, port)
	}
	// The port is taken now, so a second suite on it must fail cleanly.
	if s2, err := Start(context.Background(), Options{Ports: Ports{SNS: port}}); err == nil {
		_ = s2.Close()
		t.Errorf("second suite on a taken port started")
	}
	if _, err := Start(context.Background(), Options{Host: "0.0.0.0"}); err == nil {
		t.Errorf("Start on 0.0.0.0 succeeded, want a loopback-only error")
	}
}

// TestEnvironmentPointsSDKAtSuite checks that config.LoadDefaultConfig with
// only the suite's environment reaches every emulator through the real
// clients, without BaseEndpoint in code.
func TestEnvironmentPointsSDKAtSuite(t *testing.T) {
	s := startSuite(t, Options{
		Topics:   []string{"ecrwarden-alerts"},
		Tables:   []Table{{Name: "ecrwarden-idempotency", HashKey: "pk", HashType: "S", TTLAttribute: "expires"}},
		Clusters: []eks.Cluster{{Name: "retail-forecast", Endpoint: "https://127.0.0.1:6443", CAPEM: []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")}},
	})
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_PROFILE", "")
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}

	if _, err := awsecr.NewFromConfig(cfg).CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String("mlops/retail-api")}); err != nil {
		t.Errorf("ECR CreateRepository: %v", err)
	}
	topic := "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts"
	if _, err := awssns.NewFromConfig(cfg).Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m")}); err != nil {
		t.Errorf("SNS Publish: %v", err)
	}
	if _, err := awseventbridge.NewFromConfig(cfg).PutEvents(ctx, &awseventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Source: aws.String("ecrwarden"), DetailType: aws.String("x"), Detail: aws.String("{}")}}}); err != nil {
		t.Errorf("EventBridge PutEvents: %v", err)
	}
	if _, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("ecrwarden-idempotency"), Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}}); err != nil {
		t.Errorf("DynamoDB PutItem: %v", err)
	}
	if out, err := awseks.NewFromConfig(cfg).DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: aws.String("retail-forecast")}); err != nil || aws.ToString(out.Cluster.Endpoint) != "https://127.0.0.1:6443" {
		t.Errorf("EKS DescribeCluster: %v", err)
	}
	secret, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(DefaultSlackSecretName)})
	if err != nil {
		t.Fatalf("Secrets Manager GetSecretValue: %v", err)
	}
	resp, err := s.Slack.Client().Post(aws.ToString(secret.SecretString), "application/json", strings.NewReader(`{"text":"hello"}`))
	if err != nil {
		t.Fatalf("post to the webhook from the secret: %v", err)
	}
	_ = resp.Body.Close()

	counts := map[string]int{
		"ECR":             s.ECR.Log().Count("CreateRepository"),
		"SNS":             len(s.SNS.Messages(topic)),
		"EventBridge":     len(s.EventBridge.Events(eventbridge.DefaultBus)),
		"DynamoDB":        s.DynamoDB.ItemCount("ecrwarden-idempotency"),
		"EKS":             s.EKS.Calls().Count("DescribeCluster"),
		"Secrets Manager": s.SecretsManager.Calls().Count("GetSecretValue"),
		"Slack":           len(s.Slack.Payloads()),
	}
	want := map[string]int{"ECR": 1, "SNS": 1, "EventBridge": 1, "DynamoDB": 1, "EKS": 1, "Secrets Manager": 1, "Slack": 1}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("requests reaching each emulator (-want +got):\n%s", diff)
	}
}

// TestECREventsReachTheBus pushes an image through the real ECR client and
// checks that the push event lands on the EventBridge default bus and runs
// through aws-lambda-go's decode path.
func TestECREventsReachTheBus(t *testing.T) {
	s := startSuite(t, Options{})
	var mu sync.Mutex
	var delivered [][]byte
	s.EventBridge.Subscribe(func(_ context.Context, env []byte) {
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, env)
	})
	ctx := context.Background()
	c := awsecr.NewFromConfig(aws.Config{Region: "ap-southeast-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(s.Endpoints()[0].URL)})
	if _, err := c.CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String("mlops/retail-api")}); err != nil {
		t.Fatalf("CreateRepository: %v", err)
	}
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":100},"layers":[]}`
	out, err := c.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String("mlops/retail-api"), ImageManifest: aws.String(manifest), ImageTag: aws.String("v1.0.0")})
	if err != nil {
		t.Fatalf("PutImage: %v", err)
	}
	onBus := s.EventBridge.Events(eventbridge.DefaultBus)
	if len(onBus) == 0 {
		t.Fatalf("no event on the default bus after a push")
	}
	var push events.ECRImageActionEvent
	h := lambda.NewHandler(func(_ context.Context, ev events.ECRImageActionEvent) error {
		push = ev
		return nil
	})
	if _, err := h.Invoke(ctx, onBus[0]); err != nil {
		t.Fatalf("invoke with the bus event: %v", err)
	}
	want := events.ECRImageActionEventDetailType{Result: "SUCCESS", RepositoryName: "mlops/retail-api", ImageDigest: aws.ToString(out.Image.ImageId.ImageDigest), ActionType: "PUSH", ImageTag: "v1.0.0"}
	if diff := cmp.Diff(want, push.Detail); diff != "" {
		t.Errorf("push detail (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != len(onBus) || !json.Valid(delivered[0]) {
		t.Errorf("subscriber got %d events, bus recorded %d", len(delivered), len(onBus))
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{}, w); _ = w.Close() }()
	// The first printed line names the ECR endpoint; it must answer.
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("read endpoints: %v", err)
	}
	fields := strings.Fields(line)
	ecrURL := fields[len(fields)-1]
	resp, err := http.Post(ecrURL, "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("ECR endpoint %s does not answer: %v", ecrURL, err)
	}
	_ = resp.Body.Close()
	go func() { _, _ = io.Copy(io.Discard, r) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Post(ecrURL, "application/x-amz-json-1.1", strings.NewReader("{}")); err == nil {
		t.Errorf("ECR endpoint still answers after Run returned")
	}
}

// TestShellEnvKeepsRealAccountsAway starts from a shell that could reach a
// real account (a profile whose credential_process would run, a session
// token, real-looking keys, the switch that ignores endpoint variables),
// applies ShellEnv as the printed unset/export lines do, and checks that
// the SDK uses the emulator's keys, reads no profile, and that services
// the suite does not emulate are answered locally with NotEmulated.
func TestShellEnvKeepsRealAccountsAway(t *testing.T) {
	s := startSuite(t, Options{})
	dir := t.TempDir()
	marker := filepath.Join(dir, "credential_process-ran")
	cfgFile := filepath.Join(dir, "config")
	process := "credential_process = sh -c 'touch " + marker + "; echo {\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"AKIAPROD\\\",\\\"SecretAccessKey\\\":\\\"x\\\"}'\n"
	if err := os.WriteFile(cfgFile, []byte("[default]\n"+process+"[profile prod]\n"+process), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": cfgFile, "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "real-session",
		"AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_SECRET_ACCESS_KEY": "real", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
	} {
		t.Setenv(k, v)
	}
	unset, set := s.ShellEnv()
	for _, k := range unset {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for _, kv := range set {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKIDEMULATOR" || creds.SessionToken != "" {
		t.Errorf("credentials = %+v, %v; want the emulator's keys and no session token", creds, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the user's credential_process ran")
	}
	if _, err := awsecr.NewFromConfig(cfg).CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String("a/b")}); err != nil {
		t.Errorf("ECR through the shell environment: %v", err)
	}
	_, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotEmulated" || !strings.Contains(ae.ErrorMessage(), "does not emulate sts") {
		t.Errorf("STS (awsQuery): error = %v, want NotEmulated naming sts", err)
	}
	_, err = sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotEmulated" || !strings.Contains(ae.ErrorMessage(), "does not emulate sqs") {
		t.Errorf("SQS (awsJson): error = %v, want NotEmulated naming sqs", err)
	}
	// A proxy tunnel to a real endpoint is refused.
	req, _ := http.NewRequest(http.MethodConnect, s.otherURL, nil)
	req.Host = "sqs.ap-southeast-1.amazonaws.com:443"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT: HTTP %d, want 403", resp.StatusCode)
	}
}
