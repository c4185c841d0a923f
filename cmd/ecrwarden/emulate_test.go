package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// emulateRun is `ecrwarden emulate` running in the test process, and the
// env.sh it wrote for shells.
type emulateRun struct {
	out, errOut *sandbox.LogBuffer
	env         string
	home        string
	marker      string
	environ     []string // hostileEnv
}

var envFileRE = regexp.MustCompile(`(?m)^# In another shell: \. (\S+)$`)

// startEmulate runs `ecrwarden emulate args…` until the test ends and
// waits (up to timeout) for it to be ready.
func startEmulate(t *testing.T, timeout time.Duration, args ...string) *emulateRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &emulateRun{out: &sandbox.LogBuffer{}, errOut: &sandbox.LogBuffer{}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"emulate"}, args...), r.out, r.errOut) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("emulate exited %d on interrupt; stderr:\n%s", code, r.errOut)
		}
		if r.env != "" {
			if _, err := os.Stat(filepath.Dir(r.env)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("emulate left %s behind: %v", filepath.Dir(r.env), err)
			}
		}
	})
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.out.String(), "# Ready") {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("emulate exited %d before it was ready; stderr:\n%s", code, r.errOut)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulate not ready after %s; stdout:\n%s\nstderr:\n%s", timeout, r.out, r.errOut)
		}
	}
	m := envFileRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("emulate printed no env.sh; stdout:\n%s", r.out)
	}
	r.env = m[1]
	r.home = t.TempDir()
	r.marker = filepath.Join(r.home, "real-credentials-used")
	r.environ = r.hostileEnv(t)
	return r
}

// hostileEnv is the environment of a user's shell that could reach a real
// account: a profile whose credential_process would run (and leave a
// marker), a session token, keys, the switch that ignores endpoint
// variables. The emulator's env.sh must neutralise all of it.
func (r *emulateRun) hostileEnv(t *testing.T) []string {
	t.Helper()
	cfg := filepath.Join(r.home, "config")
	process := "credential_process = sh -c 'touch " + r.marker + "; echo {\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"AKIAPROD\\\",\\\"SecretAccessKey\\\":\\\"x\\\"}'\n"
	if err := os.WriteFile(cfg, []byte("[default]\n"+process+"[profile prod]\n"+process), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "AWS_") && !strings.HasSuffix(strings.ToLower(k), "_proxy") && k != "HOME" {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+r.home, "AWS_CONFIG_FILE="+cfg, "AWS_PROFILE=prod", "AWS_SESSION_TOKEN=real-session",
		"AWS_ACCESS_KEY_ID=AKIAREAL", "AWS_SECRET_ACCESS_KEY=real", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true", "AWS_DEFAULT_REGION=us-east-1")
}

// aws runs the AWS CLI in a shell that sourced env.sh.
func (r *emulateRun) aws(t *testing.T, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", `. "$0" && exec aws --output json "$@"`, r.env}, args...)...)
	cmd.Env = r.environ
	var errb strings.Builder
	cmd.Stderr = &errb
	stdout, err = cmd.Output()
	return stdout, errb.String(), err
}

// requireAWSCLI skips in -short mode; outside it, a missing aws fails.
func requireAWSCLI(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("the AWS CLI test runs outside -short")
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("aws not on PATH (.ci/run installs awscli with pip where it is missing): %v", err)
	}
}

// cliCall is one AWS CLI invocation and what it must answer: check parses
// stdout for a success, or code is the error code the CLI must report
// ("An error occurred (code) when calling the … operation").
type cliCall struct {
	op    string // "ecr DescribeImages": the service and the API operation
	args  []string
	check func(t *testing.T, out []byte)
	code  string
}

// TestEmulateWithTheAWSCLI drives `ecrwarden emulate --seed` with the real
// AWS CLI through every operation ecrwarden calls (and those a user needs
// to set a situation up), their errors included, from a shell whose own
// AWS settings point at a real account, and checks that the CLI parses
// every answer and that nothing but the emulators is reached.
func TestEmulateWithTheAWSCLI(t *testing.T) {
	requireAWSCLI(t)
	r := startEmulate(t, time.Minute, "--seed", "testdata/emulate-cli.yaml")
	v110, err := os.ReadFile("../../docs/emulate/v1.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(v110)
	v110Digest := "sha256:" + hex.EncodeToString(sum[:])
	missing := "sha256:" + strings.Repeat("0", 64)
	dedupe := []string{"--table-name", "ecrwarden-dedupe", "--item", `{"pk":{"S":"push#1"},"state":{"S":"pending"},"leaseUntil":{"N":"100"},"expiresAt":{"N":"4000000000"}}`,
		"--condition-expression", "attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)",
		"--expression-attribute-names", `{"#pk":"pk","#exp":"expiresAt","#state":"state","#lease":"leaseUntil"}`,
		"--expression-attribute-values", `{":now":{"N":"50"},":pending":{"S":"pending"}}`,
		"--return-values-on-condition-check-failure", "ALL_OLD"}
	calls := []cliCall{
		// ECR.
		{op: "ecr DescribeRepositories", args: []string{"ecr", "describe-repositories"}, check: func(t *testing.T, out []byte) {
			var v struct {
				Repositories []struct{ RepositoryName, ImageTagMutability string }
			}
			decode(t, out, &v)
			if len(v.Repositories) != 2 || v.Repositories[0].ImageTagMutability != "IMMUTABLE_WITH_EXCLUSION" {
				t.Errorf("repositories = %+v", v.Repositories)
			}
		}},
		{op: "ecr DescribeRepositories", args: []string{"ecr", "describe-repositories", "--repository-names", "nope/nope"}, code: "RepositoryNotFoundException"},
		{op: "ecr CreateRepository", args: []string{"ecr", "create-repository", "--repository-name", "scratch/manual", "--image-scanning-configuration", "scanOnPush=false"}, check: func(t *testing.T, out []byte) {
			var v struct {
				Repository struct{ RepositoryURI string }
			}
			decode(t, out, &v)
			if v.Repository.RepositoryURI != "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/scratch/manual" {
				t.Errorf("repositoryUri = %q", v.Repository.RepositoryURI)
			}
		}},
		{op: "ecr PutImage", args: []string{"ecr", "put-image", "--repository-name", "mlops/retail-api", "--image-tag", "v1.1.0", "--image-manifest", "file://../../docs/emulate/v1.1.0.json"}, check: func(t *testing.T, out []byte) {
			var v struct {
				Image struct {
					ImageID struct{ ImageDigest string } `json:"imageId"`
				}
			}
			decode(t, out, &v)
			if v.Image.ImageID.ImageDigest != v110Digest {
				t.Errorf("digest = %s, want the sha256 of the manifest file, %s", v.Image.ImageID.ImageDigest, v110Digest)
			}
		}},
		{op: "ecr PutImage", args: []string{"ecr", "put-image", "--repository-name", "mlops/retail-api", "--image-tag", "v1.1.0", "--image-manifest", "file://../../docs/emulate/v1.2.0.json"}, code: "ImageTagAlreadyExistsException"},
		{op: "ecr DescribeImages", args: []string{"ecr", "describe-images", "--repository-name", "mlops/retail-api", "--page-size", "2"}, check: func(t *testing.T, out []byte) {
			var v struct {
				ImageDetails []struct{ ImageTags []string }
			}
			decode(t, out, &v)
			if len(v.ImageDetails) != 7 { // v1.0.0, the index and its 2 images, 2 untagged, v1.1.0: over 4 pages
				t.Errorf("%d images, want 7", len(v.ImageDetails))
			}
		}},
		{op: "ecr DescribeImages", args: []string{"ecr", "describe-images", "--repository-name", "mlops/retail-api", "--filter", "tagStatus=UNTAGGED"}, check: func(t *testing.T, out []byte) {
			var v struct{ ImageDetails []json.RawMessage }
			decode(t, out, &v)
			if len(v.ImageDetails) != 4 {
				t.Errorf("%d untagged images, want 4", len(v.ImageDetails))
			}
		}},
		{op: "ecr DescribeImages", args: []string{"ecr", "describe-images", "--repository-name", "mlops/retail-api", "--image-ids", "imageTag=nope"}, code: "ImageNotFoundException"},
		{op: "ecr DescribeImages", args: []string{"ecr", "describe-images", "--repository-name", "nope/nope"}, code: "RepositoryNotFoundException"},
		{op: "ecr ListImages", args: []string{"ecr", "list-images", "--repository-name", "mlops/retail-api", "--filter", "tagStatus=TAGGED"}, check: func(t *testing.T, out []byte) {
			var v struct {
				ImageIDs []struct{ ImageTag string } `json:"imageIds"`
			}
			decode(t, out, &v)
			if len(v.ImageIDs) != 3 {
				t.Errorf("%d tagged image ids, want 3", len(v.ImageIDs))
			}
		}},
		{op: "ecr BatchGetImage", args: []string{"ecr", "batch-get-image", "--repository-name", "mlops/retail-api", "--image-ids", "imageTag=latest", "imageTag=nope"}, check: func(t *testing.T, out []byte) {
			var v struct {
				Images   []struct{ ImageManifestMediaType string }
				Failures []struct{ FailureCode string }
			}
			decode(t, out, &v)
			if len(v.Images) != 1 || v.Images[0].ImageManifestMediaType != "application/vnd.oci.image.index.v1+json" || len(v.Failures) != 1 || v.Failures[0].FailureCode != "ImageNotFound" {
				t.Errorf("batch-get-image = %s", out)
			}
		}},
		{op: "ecr DescribeImageScanFindings", args: []string{"ecr", "describe-image-scan-findings", "--repository-name", "mlops/retail-api", "--image-id", "imageTag=v1.0.0"}, check: func(t *testing.T, out []byte) {
			var v struct {
				ImageScanFindings struct {
					Findings              []struct{ Name, Severity string }
					FindingSeverityCounts map[string]int
				}
			}
			decode(t, out, &v)
			if len(v.ImageScanFindings.Findings) != 1 || v.ImageScanFindings.FindingSeverityCounts["CRITICAL"] != 1 {
				t.Errorf("findings = %s", out)
			}
		}},
		{op: "ecr DescribeImageScanFindings", args: []string{"ecr", "describe-image-scan-findings", "--repository-name", "mlops/train-model", "--image-id", "imageTag=exp-1"}, check: func(t *testing.T, out []byte) {
			var v struct {
				ImageScanFindings struct {
					EnhancedFindings []struct {
						Severity                    string
						PackageVulnerabilityDetails struct{ VulnerabilityID string }
					}
				}
			}
			decode(t, out, &v)
			if f := v.ImageScanFindings.EnhancedFindings; len(f) != 1 || f[0].PackageVulnerabilityDetails.VulnerabilityID != "CVE-2023-0001" {
				t.Errorf("enhanced findings = %s", out)
			}
		}},
		{op: "ecr PutImage", args: []string{"ecr", "put-image", "--repository-name", "scratch/manual", "--image-tag", "v1", "--image-manifest", "file://../../docs/emulate/feature-x.json"}, check: func(*testing.T, []byte) {}},
		{op: "ecr DescribeImageScanFindings", args: []string{"ecr", "describe-image-scan-findings", "--repository-name", "scratch/manual", "--image-id", "imageTag=v1"}, code: "ScanNotFoundException"},
		{op: "ecr StartImageScan", args: []string{"ecr", "start-image-scan", "--repository-name", "scratch/manual", "--image-id", "imageTag=v1"}, check: func(t *testing.T, out []byte) {
			var v struct{ ImageScanStatus struct{ Status string } }
			decode(t, out, &v)
			if v.ImageScanStatus.Status != "IN_PROGRESS" {
				t.Errorf("start-image-scan = %s", out)
			}
		}},
		{op: "ecr PutLifecyclePolicy", args: []string{"ecr", "put-lifecycle-policy", "--repository-name", "scratch/manual", "--lifecycle-policy-text",
			`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`}, check: func(*testing.T, []byte) {}},
		{op: "ecr BatchDeleteImage", args: []string{"ecr", "batch-delete-image", "--repository-name", "mlops/retail-api", "--image-ids", "imageTag=v1.1.0", "imageDigest=" + missing}, check: func(t *testing.T, out []byte) {
			var v struct {
				ImageIDs []struct{ ImageDigest string } `json:"imageIds"`
				Failures []struct{ FailureCode string }
			}
			decode(t, out, &v)
			if len(v.ImageIDs) != 1 || v.ImageIDs[0].ImageDigest != v110Digest || len(v.Failures) != 1 || v.Failures[0].FailureCode != "ImageNotFound" {
				t.Errorf("batch-delete-image = %s", out)
			}
		}},
		// SNS.
		{op: "sns CreateTopic", args: []string{"sns", "create-topic", "--name", "ecrwarden-alerts"}, check: func(t *testing.T, out []byte) {
			var v struct{ TopicArn string }
			decode(t, out, &v)
			if v.TopicArn != "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts" {
				t.Errorf("TopicArn = %q", v.TopicArn)
			}
		}},
		{op: "sns Publish", args: []string{"sns", "publish", "--topic-arn", "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts", "--subject", "[HIGH] ecrwarden: test",
			"--message", "body", "--message-attributes", `{"repository":{"DataType":"String","StringValue":"mlops/retail-api"},"tags":{"DataType":"String.Array","StringValue":"[\"v1\",2]"}}`}, check: func(t *testing.T, out []byte) {
			var v struct {
				MessageID string `json:"MessageId"`
			}
			decode(t, out, &v)
			if v.MessageID == "" {
				t.Errorf("publish = %s", out)
			}
		}},
		{op: "sns PublishBatch", args: []string{"sns", "publish-batch", "--topic-arn", "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts", "--publish-batch-request-entries", "Id=a,Message=one", "Id=b,Message=two"}, check: func(t *testing.T, out []byte) {
			var v struct{ Successful []json.RawMessage }
			decode(t, out, &v)
			if len(v.Successful) != 2 {
				t.Errorf("publish-batch = %s", out)
			}
		}},
		{op: "sns Publish", args: []string{"sns", "publish", "--topic-arn", "arn:aws:sns:ap-southeast-1:123456789012:nope", "--message", "m"}, code: "NotFound"},
		{op: "sns Publish", args: []string{"sns", "publish", "--topic-arn", "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-alerts", "--message", "m",
			"--message-attributes", `{"AWS.mine":{"DataType":"String","StringValue":"x"}}`}, code: "ParameterValueInvalid"},
		// EventBridge.
		{op: "events PutEvents", args: []string{"events", "put-events", "--entries", `[{"Source":"ecrwarden","DetailType":"TagRejected","Detail":"{\"tag\":\"Feature_X\"}"}]`}, check: func(t *testing.T, out []byte) {
			var v struct{ FailedEntryCount int }
			decode(t, out, &v)
			if v.FailedEntryCount != 0 {
				t.Errorf("put-events = %s", out)
			}
		}},
		{op: "events PutEvents", args: []string{"events", "put-events", "--entries", `[{"Source":"ecrwarden","DetailType":"x","Detail":"{}","EventBusName":"nope"}]`}, check: func(t *testing.T, out []byte) {
			var v struct {
				FailedEntryCount int
				Entries          []struct{ ErrorCode string }
			}
			decode(t, out, &v)
			if v.FailedEntryCount != 1 || v.Entries[0].ErrorCode != "ResourceNotFoundException" {
				t.Errorf("put-events to a missing bus = %s", out)
			}
		}},
		// Secrets Manager.
		{op: "secretsmanager GetSecretValue", args: []string{"secretsmanager", "get-secret-value", "--secret-id", "ecrwarden/slack-webhook"}, check: func(t *testing.T, out []byte) {
			var v struct{ SecretString string }
			decode(t, out, &v)
			if !strings.HasPrefix(v.SecretString, "https://127.0.0.1:") || !strings.Contains(v.SecretString, "/services/") {
				t.Errorf("Slack secret = %q", v.SecretString)
			}
		}},
		{op: "secretsmanager GetSecretValue", args: []string{"secretsmanager", "get-secret-value", "--secret-id", "ecrwarden/extra"}, check: func(t *testing.T, out []byte) {
			var v struct{ SecretString string }
			decode(t, out, &v)
			if v.SecretString != "s3cr3t" {
				t.Errorf("secret = %q", v.SecretString)
			}
		}},
		{op: "secretsmanager GetSecretValue", args: []string{"secretsmanager", "get-secret-value", "--secret-id", "nope"}, code: "ResourceNotFoundException"},
		// DynamoDB.
		{op: "dynamodb CreateTable", args: []string{"dynamodb", "create-table", "--table-name", "ecrwarden-dedupe", "--attribute-definitions", "AttributeName=pk,AttributeType=S",
			"--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST"}, check: func(t *testing.T, out []byte) {
			var v struct{ TableDescription struct{ TableStatus string } }
			decode(t, out, &v)
			if v.TableDescription.TableStatus != "ACTIVE" {
				t.Errorf("create-table = %s", out)
			}
		}},
		{op: "dynamodb UpdateTimeToLive", args: []string{"dynamodb", "update-time-to-live", "--table-name", "ecrwarden-dedupe", "--time-to-live-specification", "Enabled=true,AttributeName=expiresAt"}, check: func(*testing.T, []byte) {}},
		{op: "dynamodb DescribeTimeToLive", args: []string{"dynamodb", "describe-time-to-live", "--table-name", "ecrwarden-dedupe"}, check: func(t *testing.T, out []byte) {
			var v struct {
				TimeToLiveDescription struct{ TimeToLiveStatus, AttributeName string }
			}
			decode(t, out, &v)
			if v.TimeToLiveDescription.TimeToLiveStatus != "ENABLED" || v.TimeToLiveDescription.AttributeName != "expiresAt" {
				t.Errorf("describe-time-to-live = %s", out)
			}
		}},
		{op: "dynamodb DescribeTable", args: []string{"dynamodb", "describe-table", "--table-name", "ecrwarden-dedupe"}, check: func(t *testing.T, out []byte) {
			var v struct{ Table struct{ TableArn string } }
			decode(t, out, &v)
			if v.Table.TableArn != "arn:aws:dynamodb:ap-southeast-1:123456789012:table/ecrwarden-dedupe" {
				t.Errorf("describe-table = %s", out)
			}
		}},
		{op: "dynamodb DescribeTable", args: []string{"dynamodb", "describe-table", "--table-name", "nope"}, code: "ResourceNotFoundException"},
		{op: "dynamodb PutItem", args: append([]string{"dynamodb", "put-item"}, dedupe...), check: func(*testing.T, []byte) {}},
		{op: "dynamodb PutItem", args: append([]string{"dynamodb", "put-item"}, dedupe...), code: "ConditionalCheckFailedException"},
		{op: "dynamodb PutItem", args: []string{"dynamodb", "put-item", "--table-name", "ecrwarden-dedupe", "--item", `{"pk":{"S":"x"}}`, "--condition-expression", "status = :v",
			"--expression-attribute-values", `{":v":{"S":"x"}}`}, code: "ValidationException"},
		{op: "dynamodb GetItem", args: []string{"dynamodb", "get-item", "--table-name", "ecrwarden-dedupe", "--key", `{"pk":{"S":"push#1"}}`, "--consistent-read"}, check: func(t *testing.T, out []byte) {
			var v struct{ Item map[string]map[string]string }
			decode(t, out, &v)
			if v.Item["state"]["S"] != "pending" {
				t.Errorf("get-item = %s", out)
			}
		}},
		{op: "dynamodb DeleteItem", args: []string{"dynamodb", "delete-item", "--table-name", "ecrwarden-dedupe", "--key", `{"pk":{"S":"push#1"}}`, "--return-values", "ALL_OLD"}, check: func(t *testing.T, out []byte) {
			var v struct{ Attributes map[string]map[string]string }
			decode(t, out, &v)
			if v.Attributes["pk"]["S"] != "push#1" {
				t.Errorf("delete-item = %s", out)
			}
		}},
		// EKS.
		{op: "eks DescribeCluster", args: []string{"eks", "describe-cluster", "--name", "retail-forecast"}, check: func(t *testing.T, out []byte) {
			var v struct {
				Cluster struct {
					Endpoint             string
					Status               string
					CertificateAuthority struct{ Data string }
				}
			}
			decode(t, out, &v)
			if v.Cluster.Endpoint != "https://127.0.0.1:6443" || v.Cluster.Status != "ACTIVE" || v.Cluster.CertificateAuthority.Data == "" {
				t.Errorf("describe-cluster = %s", out)
			}
		}},
		{op: "eks DescribeCluster", args: []string{"eks", "describe-cluster", "--name", "nope"}, code: "ResourceNotFoundException"},
		// Everything else stays on this machine.
		{op: "sts GetCallerIdentity", args: []string{"sts", "get-caller-identity"}, code: "NotEmulated"},
		{op: "s3 ListBuckets", args: []string{"s3api", "list-buckets"}, code: "NotEmulated"},
	}
	// The calls of one service run in order; services run side by side
	// (each CLI call is a Python start-up).
	var services []string
	byService := map[string][]cliCall{}
	for _, c := range calls {
		svc, _, _ := strings.Cut(c.op, " ")
		if byService[svc] == nil {
			services = append(services, svc)
		}
		byService[svc] = append(byService[svc], c)
	}
	var mu sync.Mutex
	ops := map[string]bool{}
	t.Run("services", func(t *testing.T) {
		for _, svc := range services {
			t.Run(svc, func(t *testing.T) {
				t.Parallel()
				for _, c := range byService[svc] {
					t.Run(strings.Join(c.args[1:2], " "), func(t *testing.T) {
						c.run(t, r)
						mu.Lock()
						ops[c.op] = true
						mu.Unlock()
					})
				}
			})
		}
	})
	// The AWS CLI v1 hard-wires SQS's endpoint (ignoring AWS_ENDPOINT_URL):
	// the proxy refuses the tunnel, so nothing leaves the machine.
	if _, stderr, err := r.aws(t, "sqs", "list-queues"); err == nil || !strings.Contains(stderr, "Failed to connect to proxy URL") {
		t.Errorf("aws sqs list-queues: %v %q; want the proxy to refuse", err, stderr)
	}
	if _, err := os.Stat(r.marker); err == nil {
		t.Errorf("the shell's credential_process ran: the CLI resolved the user's profile")
	}
	t.Logf("%d AWS CLI calls over %d operations", len(calls), len(ops))
}

// run makes the call and checks its answer.
func (c cliCall) run(t *testing.T, r *emulateRun) {
	t.Helper()
	out, stderr, err := r.aws(t, c.args...)
	if c.code == "" {
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(c.args, " "), err, stderr)
		}
		c.check(t, out)
		return
	}
	_, op, _ := strings.Cut(c.op, " ")
	want := "An error occurred (" + c.code + ") when calling the " + op + " operation"
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(stderr, want) {
		t.Fatalf("aws %s: %v, stderr %q; want %q", strings.Join(c.args, " "), err, stderr, want)
	}
}

func decode(t *testing.T, out []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("the CLI's output is not JSON: %v\n%s", err, out)
	}
}

// TestEmulateSeedProblems checks that a broken seed file stops emulate
// with every problem at its line, before anything starts.
func TestEmulateSeedProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(path, []byte("repositories:\n  - name: a/b\n    scanning: fancy\n    images: [{ age: 3 weeks }]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "emulate", "--seed", path)
	want := path + ":3:15: repositories[0].scanning: unknown scanning \"fancy\": want basic or enhanced\n" +
		path + ":4:21: repositories[0].images[0].age: invalid duration \"3 weeks\": want a number of days (30d) or hours (24h), such as 30d, 24h or 1d12h\n" +
		path + ": 2 problems\n"
	if code != exitFail || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and:\n%s", code, out, errOut, want)
	}
	if code, _, _ := runCLI(t, "emulate", "--logs", "x"); code != exitUsage {
		t.Errorf("--logs without --functions: exit %d, want %d", code, exitUsage)
	}
}

// waitFor waits until emulate has printed want.
func (r *emulateRun) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(r.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("emulate did not print %q; stdout:\n%s", want, r.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEmulateFunctionsWithTheAWSCLI plays README's walk-through: `ecrwarden
// emulate --functions --seed docs/emulate/seed.yaml`, then pushes with
// `aws ecr put-image` and checks what the compiled functions did: a
// rejected tag alerted in the Slack sink, a CRITICAL image held, a clean
// one rolled out to the Deployment (read back with kubectl).
func TestEmulateFunctionsWithTheAWSCLI(t *testing.T) {
	requireAWSCLI(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not on PATH: %v", err)
	}
	r := startEmulate(t, 20*time.Minute, "--functions", "--seed", "../../docs/emulate/seed.yaml")
	push := func(tag, manifest string) {
		t.Helper()
		if _, stderr, err := r.aws(t, "ecr", "put-image", "--repository-name", "mlops/retail-api", "--image-tag", tag, "--image-manifest", "file://../../docs/emulate/"+manifest); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, stderr)
		}
	}
	push("Feature_X", "feature-x.json")
	r.waitFor(t, "Slack │ :no_entry: Tag rejected (alerted): mlops/retail-api:Feature_X")
	push("v1.2.0", "v1.2.0.json")
	r.waitFor(t, "Slack │ :construction: Rollout held: mlops/retail-api:v1.2.0")
	push("v1.1.0", "v1.1.0.json")
	r.waitFor(t, "audit │ DeploymentPatched")

	kubeconfig := regexp.MustCompile(`KUBECONFIG=(\S+)`).FindStringSubmatch(r.out.String())
	if kubeconfig == nil {
		t.Fatalf("emulate printed no KUBECONFIG:\n%s", r.out)
	}
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig[1], "get", "deployment", "retail-forecast-api",
		"-o", "jsonpath={.spec.template.spec.containers[0].image}").CombinedOutput()
	v110, _ := os.ReadFile("../../docs/emulate/v1.1.0.json")
	sum := sha256.Sum256(v110)
	want := "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/retail-api@sha256:" + hex.EncodeToString(sum[:])
	if err != nil || string(out) != want {
		t.Errorf("kubectl: %s, %v; want %s", out, err, want)
	}
	if _, err := os.Stat(r.marker); err == nil {
		t.Errorf("the shell's credential_process ran")
	}
}
