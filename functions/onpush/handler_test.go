package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

type fakeAlerts struct {
	keys   []string
	alerts []alert.Alert
	err    error
}

func (f *fakeAlerts) Deliver(_ context.Context, key string, a alert.Alert) (bool, error) {
	f.keys, f.alerts = append(f.keys, key), append(f.alerts, a)
	return f.err == nil, f.err
}

type fakeAudit struct{ events []audit.Event }

func (f *fakeAudit) Publish(_ context.Context, events ...audit.Event) error {
	f.events = append(f.events, events...)
	return nil
}

type fakeRoller struct {
	images  []rollout.Image
	targets [][]rollout.Target
	err     error
}

func (f *fakeRoller) Roll(_ context.Context, img rollout.Image, targets []rollout.Target) ([]rollout.Outcome, error) {
	f.images, f.targets = append(f.images, img), append(f.targets, targets)
	return nil, f.err
}

// fakeECR is the registry: one image (the push fixture's digest) carrying
// tags, or none when gone; deletes are recorded as tag@digest.
type fakeECR struct {
	tags     []string
	pushedAt time.Time
	gone     bool
	describe []*ecr.DescribeImagesInput
	deleted  []string
	out      *ecr.BatchDeleteImageOutput
	err      error
}

func (f *fakeECR) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	f.describe = append(f.describe, in)
	if f.gone {
		return nil, &types.ImageNotFoundException{Message: aws.String("The image requested does not exist in the specified repository.")}
	}
	return &ecr.DescribeImagesOutput{ImageDetails: []types.ImageDetail{{
		RegistryId: in.RegistryId, RepositoryName: in.RepositoryName, ImageDigest: in.ImageIds[0].ImageDigest,
		ImageTags: f.tags, ImagePushedAt: aws.Time(f.pushedAt)}}}, nil
}

func (f *fakeECR) BatchDeleteImage(_ context.Context, in *ecr.BatchDeleteImageInput, _ ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	for _, id := range in.ImageIds {
		f.deleted = append(f.deleted, aws.ToString(id.ImageTag)+"@"+aws.ToString(id.ImageDigest))
	}
	if f.out == nil {
		return &ecr.BatchDeleteImageOutput{ImageIds: in.ImageIds}, f.err
	}
	return f.out, f.err
}

type fixture struct {
	h      *handler
	alerts *fakeAlerts
	audit  *fakeAudit
	roll   *fakeRoller
	ecr    *fakeECR
	// inUse is what the cluster runs; inUseErr fails the listing.
	inUse    []string
	inUseErr error
	// The other in-use sources: empty accounts unless a test fills them.
	ecs       *fakeECS
	lambda    *fakeLambda
	sagemaker *fakeSageMaker
	batch     *fakeBatch
	// rec is the handler's recorder; its documents go to metrics.
	rec     *metrics.Recorder
	metrics *metrics.Collector
}

// Where the function runs, as its invoked function ARN says.
const (
	testAccount     = "123456789012"
	testRegion      = "ap-southeast-1"
	testFunctionARN = "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:ecrwarden-onpush"
	// fixtureDigest is the digest of ecr-image-action-push.json.
	fixtureDigest = "sha256:1fe57ccde598e92184fb93d7f7861350b62df5254265d5e95936a809f9413c8a"
)

var (
	testOrigin = ecrevent.Origin{Partition: "aws", Account: testAccount, Region: testRegion}
	// testPushedAt is when the registry says the image was pushed.
	testPushedAt = time.Date(2026, 11, 20, 8, 15, 40, 0, time.UTC)
)

// invocation is the context of one Lambda invocation of onpush.
func invocation() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: "c6af9ac6-7b61-11e6-9a41-93e812345678", InvokedFunctionArn: testFunctionARN})
}

func newFixture(t *testing.T, policyYAML string) *fixture {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{alerts: &fakeAlerts{}, audit: &fakeAudit{}, roll: &fakeRoller{},
		ecr: &fakeECR{tags: []string{"v1.3.0", "Feature_X"}, pushedAt: testPushedAt}}
	f.metrics = metrics.NewCollector()
	f.rec = metrics.New(f.metrics.Writer(), metrics.FunctionOnpush, metrics.WithClassifier(fnconfig.ErrorKind))
	f.h = &handler{policy: p, ecr: f.ecr, alerts: f.alerts, audit: f.audit, roll: f.roll, log: slog.New(slog.DiscardHandler), region: testRegion,
		metrics: f.rec,
		discover: func(_ context.Context, p *policy.File, repo string) ([]rollout.Target, []error, error) {
			return rollout.PolicyTargets(p, repo), nil, nil
		},
	}
	f.ecs, f.lambda, f.sagemaker, f.batch = &fakeECS{}, &fakeLambda{}, &fakeSageMaker{}, &fakeBatch{}
	clusters := func(_ context.Context, cluster string) (kube.InUse, error) {
		if cluster != "retail-forecast" {
			return kube.InUse{}, fmt.Errorf("listed cluster %s", cluster)
		}
		var u kube.InUse
		for _, img := range f.inUse {
			ref, err := kube.ParseImageRef(img)
			if err != nil {
				return kube.InUse{}, err
			}
			u.Images = append(u.Images, kube.ImageUse{Image: img, Ref: ref, Kind: "Deployment", Namespace: "default", Name: "batch", Container: "scorer"})
		}
		return u, f.inUseErr
	}
	f.h.inUse = inuse.Sources(p, inuse.Clients{Clusters: clusters, ECS: f.ecs, Lambda: f.lambda, SageMaker: f.sagemaker, Batch: f.batch})
	return f
}

const testPolicy = `
clusters: [{ name: retail-forecast, namespaces: [default] }]
repositories:
  - name: mlops/retail-api
    tags:
      allow: ["v{semver}", "dev-{sha}", latest]
      onViolation: %s
    deploy:
      - { cluster: retail-forecast, namespace: default, deployment: retail-forecast-api, container: api, tags: "v{semver}" }
      - { cluster: retail-forecast, namespace: default, deployment: retail-forecast-canary, container: api, tags: "v{semver}", requireCleanScan: true }
`

func policyWith(action string) string { return strings.Replace(testPolicy, "%s", action, 1) }

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/events", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// pushEvent returns the push fixture with another repository and tag.
func pushEvent(t *testing.T, repo, tag string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readEvent(t, "ecr-image-action-push.json"), &ev); err != nil {
		t.Fatal(err)
	}
	d := ev["detail"].(map[string]any)
	d["repository-name"], d["image-tag"] = repo, tag
	b, _ := json.Marshal(ev)
	return b
}

func TestHandleRollsOutAcceptedTag(t *testing.T) {
	f := newFixture(t, policyWith("alert"))
	if err := f.h.Handle(invocation(), readEvent(t, "ecr-image-action-push.json")); err != nil {
		t.Fatal(err)
	}
	if len(f.roll.images) != 1 {
		t.Fatalf("rolls = %d, want 1", len(f.roll.images))
	}
	want := rollout.Image{Registry: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com", Repository: "mlops/retail-api", Tag: "v1.3.0",
		Digest: fixtureDigest, PushedAt: testPushedAt, EventID: "0d4736f2-e095-4fdc-ad64-c50c4848acd5"}
	if diff := cmp.Diff(want, f.roll.images[0]); diff != "" {
		t.Errorf("image (-want +got):\n%s", diff)
	}
	if ts := f.roll.targets[0]; len(ts) != 1 || ts[0].Deployment != "retail-forecast-api" {
		t.Errorf("targets = %+v: the gated canary must wait for onscan", ts)
	}
	if len(f.alerts.alerts) != 0 {
		t.Errorf("alerts for an accepted tag: %+v", f.alerts.alerts)
	}
	if len(f.ecr.describe) != 1 || aws.ToString(f.ecr.describe[0].RegistryId) != testAccount {
		t.Errorf("DescribeImages calls = %+v, want one in our registry %s", f.ecr.describe, testAccount)
	}
}

// withEnvelope returns the push fixture of tag with the envelope's account
// and Region replaced.
func withEnvelope(t *testing.T, tag, account, region string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(pushEvent(t, "mlops/retail-api", tag), &ev); err != nil {
		t.Fatal(err)
	}
	ev["account"], ev["region"] = account, region
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHandleRefusesUntrustedEvents: a push that does not name our account,
// our Region and an image of our registry carrying its tag is refused
// (EventRefused, nil so Lambda does not retry), and nothing else happens.
func TestHandleRefusesUntrustedEvents(t *testing.T) {
	tests := []struct {
		name       string
		event      func(t *testing.T) []byte
		policy     string
		ecr        func(*fakeECR)
		wantReason string
		wantLookup bool
	}{
		{name: "another account (a forwarded or crafted event)", event: func(t *testing.T) []byte { return withEnvelope(t, "v1.3.0", "210987654321", testRegion) },
			wantReason: `account "210987654321"`},
		{name: "another Region", event: func(t *testing.T) []byte { return withEnvelope(t, "v1.3.0", testAccount, "us-east-1") },
			wantReason: `Region "us-east-1"`},
		{name: "another account with a rejected tag and onViolation delete", event: func(t *testing.T) []byte { return withEnvelope(t, "Feature_X", "210987654321", testRegion) },
			policy: "delete", wantReason: `account "210987654321"`},
		{name: "a digest our registry does not have (a direct invoke)", event: func(t *testing.T) []byte { return readEvent(t, "ecr-image-action-push.json") },
			ecr: func(f *fakeECR) { f.gone = true }, wantReason: "is not in our registry", wantLookup: true},
		{name: "a redriven old event: the tag now names another image", event: func(t *testing.T) []byte { return readEvent(t, "ecr-image-action-push.json") },
			ecr: func(f *fakeECR) { f.tags = []string{"v1.2.9"} }, wantReason: "tag v1.3.0 no longer names sha256:1fe57ccde598", wantLookup: true},
		{name: "a rejected tag, alert only, on a gone image", event: func(t *testing.T) []byte { return pushEvent(t, "mlops/retail-api", "Feature_X") },
			ecr: func(f *fakeECR) { f.gone = true }, wantReason: "is not in our registry", wantLookup: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			action := tt.policy
			if action == "" {
				action = "alert"
			}
			f := newFixture(t, policyWith(action))
			if tt.ecr != nil {
				tt.ecr(f.ecr)
			}
			if err := f.h.Handle(invocation(), tt.event(t)); err != nil {
				t.Fatalf("err = %v, want nil: retrying cannot make a refused event valid", err)
			}
			if len(f.audit.events) != 1 || f.audit.events[0].DetailType != audit.EventRefused {
				t.Fatalf("audit = %+v, want one EventRefused", f.audit.events)
			}
			r := f.audit.events[0].Detail.(ecrevent.Refusal)
			if r.Function != "onpush" || r.EventID == "" || !strings.Contains(r.Reason, tt.wantReason) {
				t.Errorf("refusal = %+v, want onpush's with a reason containing %q", r, tt.wantReason)
			}
			if len(f.roll.images)+len(f.alerts.alerts)+len(f.ecr.deleted) != 0 {
				t.Errorf("a refused event rolled %v, alerted %v, deleted %v", f.roll.images, f.alerts.keys, f.ecr.deleted)
			}
			if got := len(f.ecr.describe) > 0; got != tt.wantLookup {
				t.Errorf("looked the image up: %v, want %v (an event of another account or Region makes no call)", got, tt.wantLookup)
			}
		})
	}
}

func TestHandleWithoutLambdaContext(t *testing.T) {
	f := newFixture(t, policyWith("delete"))
	err := f.h.Handle(context.Background(), pushEvent(t, "mlops/retail-api", "Feature_X"))
	if err == nil || !strings.Contains(err.Error(), "invoked function ARN") {
		t.Fatalf("err = %v, want an error: without its own ARN the function cannot tell its registry", err)
	}
	if len(f.ecr.describe)+len(f.ecr.deleted)+len(f.alerts.alerts) != 0 {
		t.Error("calls made without knowing the account")
	}
}

const deletePolicy = `
clusters: [{ name: retail-forecast, namespaces: [default] }]
repositories:
  - name: mlops/retail-api
    tags:
      allow: ["v{semver}"]
      onViolation: delete
      dryRun: false
`

func TestHandleRejectedTag(t *testing.T) {
	registryHost := testAccount + ".dkr.ecr." + testRegion + ".amazonaws.com"
	tests := []struct {
		name       string
		policy     string
		stackDry   bool
		ecr        func(*fakeECR)
		inUse      []string
		inUseErr   error
		wantAction alert.TagAction
		wantReason string // in the alert's TagRejection.Reason
		wantDelete bool
		wantErr    bool
	}{
		{name: "alert", policy: policyWith("alert"), wantAction: alert.TagAlerted},
		{name: "delete", policy: deletePolicy, wantAction: alert.TagDeleted, wantDelete: true},
		{name: "delete is a dry run unless tags.dryRun is false", policy: policyWith("delete"), wantAction: alert.TagKept, wantReason: "dry run (tags.dryRun"},
		{name: "the stack's dryRun forces a dry run", policy: deletePolicy, stackDry: true, wantAction: alert.TagKept, wantReason: "dry run (the stack's dryRun)"},
		{name: "delete fails", policy: deletePolicy, ecr: func(f *fakeECR) { f.err = errors.New("AccessDeniedException") },
			wantAction: alert.TagDeleteFailed, wantDelete: true, wantErr: true},
		{name: "in use by digest: kept", policy: deletePolicy, inUse: []string{registryHost + "/mlops/retail-api@" + fixtureDigest},
			wantAction: alert.TagKept, wantReason: "in use: EKS retail-forecast Deployment default/batch (digest sha256:1fe57ccde598): nothing deleted"},
		{name: "in use by tag: kept", policy: deletePolicy, inUse: []string{"nginx:1.27", registryHost + "/mlops/retail-api:Feature_X"},
			wantAction: alert.TagKept, wantReason: "in use: EKS retail-forecast Deployment default/batch"},
		{name: "in use through the dual-stack host: kept", policy: deletePolicy,
			inUse:      []string{testAccount + ".dkr-ecr." + testRegion + ".on.aws/mlops/retail-api@" + fixtureDigest},
			wantAction: alert.TagKept, wantReason: "in use: EKS retail-forecast Deployment default/batch"},
		{name: "same repository and tag in another registry does not count", policy: deletePolicy,
			inUse: []string{"210987654321.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/retail-api:Feature_X"}, wantAction: alert.TagDeleted, wantDelete: true},
		{name: "in-use listing failed: kept, alerted, retried", policy: deletePolicy, inUseErr: errors.New("kube-apiserver 503"),
			wantAction: alert.TagKept, wantReason: "could not tell whether a workload runs the image", wantErr: true},
		{name: "the tag no longer names the event's digest (a retried old event): kept", policy: deletePolicy,
			ecr: func(f *fakeECR) { f.tags = []string{"v1.3.0"} }, wantAction: alert.TagKept, wantReason: "the tag no longer names sha256:1fe57ccde598"},
		{name: "the image is gone (our own earlier delete, then a retry): kept, still alerted", policy: deletePolicy,
			ecr: func(f *fakeECR) { f.gone = true }, wantAction: alert.TagKept, wantReason: "no longer in the registry"},
		{name: "the tag is pushed again between the check and the delete: ECR refuses, kept", policy: deletePolicy,
			ecr: func(f *fakeECR) {
				f.out = &ecr.BatchDeleteImageOutput{Failures: []types.ImageFailure{{FailureCode: types.ImageFailureCodeImageTagDoesNotMatchDigest,
					FailureReason: aws.String("Invalid request parameters: image tag does not match digest")}}}
			},
			wantAction: alert.TagKept, wantReason: "pushed again", wantDelete: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy)
			f.h.dryRun = tt.stackDry
			f.inUse, f.inUseErr = tt.inUse, tt.inUseErr
			if tt.ecr != nil {
				tt.ecr(f.ecr)
			}
			err := f.h.Handle(invocation(), pushEvent(t, "mlops/retail-api", "Feature_X"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(f.roll.images) != 0 {
				t.Error("a rejected tag must not roll out")
			}
			if len(f.alerts.alerts) != 1 {
				t.Fatalf("alerts = %d, want 1", len(f.alerts.alerts))
			}
			a := f.alerts.alerts[0]
			if a.Kind != alert.KindTagRejected || a.TagRejection.Tag != "Feature_X" || a.TagRejection.Action != tt.wantAction ||
				!strings.Contains(a.TagRejection.Reason, tt.wantReason) || (tt.wantReason == "") != (a.TagRejection.Reason == "") {
				t.Errorf("alert = %+v / %+v, want action %s, reason containing %q", a, a.TagRejection, tt.wantAction, tt.wantReason)
			}
			if a.Account != testAccount || a.Region != testRegion {
				t.Errorf("alert names %s/%s, want our own account and Region", a.Account, a.Region)
			}
			if !strings.HasSuffix(f.alerts.keys[0], "#"+string(tt.wantAction)) {
				t.Errorf("alert key %s does not end in the action", f.alerts.keys[0])
			}
			if len(f.audit.events) != 1 || f.audit.events[0].DetailType != audit.TagRejected {
				t.Errorf("audit = %+v, want one TagRejected", f.audit.events)
			}
			if tt.wantDelete {
				if diff := cmp.Diff([]string{"Feature_X@" + fixtureDigest}, f.ecr.deleted); diff != "" {
					t.Errorf("deleted (-want +got): the tag, only while it names the event's digest:\n%s", diff)
				}
			} else if len(f.ecr.deleted) != 0 {
				t.Errorf("deleted %v, want nothing", f.ecr.deleted)
			}
		})
	}
}

func TestHandleIgnores(t *testing.T) {
	for _, name := range []string{
		"ecr-image-action-delete.json", "ecr-image-action-push-failure.json", "ecr-image-action-update-storage-class.json",
		"ecr-replication-action.json", "ecr-pull-through-cache-action.json", "ecr-referrer-action.json",
		"ecr-image-scan-complete.json", "inspector2-finding-ecr.json",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, deletePolicy)
			if err := f.h.Handle(invocation(), readEvent(t, name)); err != nil {
				t.Fatalf("err = %v", err)
			}
			if len(f.roll.images)+len(f.alerts.alerts)+len(f.ecr.deleted)+len(f.audit.events)+len(f.ecr.describe) != 0 {
				t.Error("an ignored event caused an action")
			}
		})
	}
	t.Run("unknown repository", func(t *testing.T) {
		f := newFixture(t, deletePolicy)
		if err := f.h.Handle(invocation(), pushEvent(t, "other/repo", "Feature_X")); err != nil {
			t.Fatal(err)
		}
		if len(f.alerts.alerts)+len(f.ecr.deleted) != 0 {
			t.Error("a repository outside the policy was acted on")
		}
	})
}

func TestHandleMalformed(t *testing.T) {
	for name, raw := range map[string]string{
		"truncated":       `{"source":"aws.ecr","detail-type":"ECR Image Action"`,
		"no source":       `{"detail-type":"ECR Image Action","detail":{}}`,
		"bad digest":      strings.Replace(string(readEvent(t, "ecr-image-action-push.json")), "sha256:1fe5", "sha256:XYZ", 1),
		"detail an array": `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, deletePolicy)
			err := f.h.Handle(invocation(), []byte(raw))
			if err == nil || !strings.Contains(err.Error(), "onpush") {
				t.Fatalf("err = %v, want a clear error", err)
			}
			if len(f.roll.images)+len(f.alerts.alerts)+len(f.ecr.deleted) != 0 {
				t.Error("a malformed event caused an action")
			}
		})
	}
}

func TestHandleRollErrorIsReturned(t *testing.T) {
	f := newFixture(t, policyWith("alert"))
	f.roll.err = errors.New("kube-apiserver 503")
	if err := f.h.Handle(invocation(), readEvent(t, "ecr-image-action-push.json")); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v: a failed rollout must fail the invocation so Lambda retries it", err)
	}
}

// TestFixturesThroughLambda runs every fixture through the real
// aws-lambda-go decode path.
func TestFixturesThroughLambda(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/events/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f := newFixture(t, policyWith("alert"))
			raw, _ := os.ReadFile(file)
			if _, err := lambda.NewHandler(f.h.Handle).Invoke(invocation(), raw); err != nil {
				t.Errorf("Invoke: %v", err)
			}
			if k, _ := ecrevent.Classify(raw); k != ecrevent.KindPush {
				return
			}
			if len(f.roll.images) != 1 {
				t.Errorf("the push sample rolled %d times, want 1", len(f.roll.images))
			}
			// The same sample in another account's envelope is refused.
			var ev map[string]any
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			ev["account"] = "210987654321"
			foreign, _ := json.Marshal(ev)
			f = newFixture(t, policyWith("alert"))
			if _, err := lambda.NewHandler(f.h.Handle).Invoke(invocation(), foreign); err != nil {
				t.Errorf("Invoke in another account: %v, want nil (refused, not retried)", err)
			}
			if len(f.audit.events) != 1 || f.audit.events[0].DetailType != audit.EventRefused || len(f.roll.images) != 0 {
				t.Errorf("in another account: audit %+v, %d rolls; want one EventRefused and no rollout", f.audit.events, len(f.roll.images))
			}
		})
	}
}

// TestPushVerdictMetrics: every push event is counted by verdict, and a
// malformed one as an error of its kind, through the wrapper main uses.
func TestPushVerdictMetrics(t *testing.T) {
	f := newFixture(t, policyWith("alert"))
	handle := metrics.WrapError(f.rec, f.h.Handle)
	for _, ev := range [][]byte{
		pushEvent(t, "mlops/retail-api", "v1.3.0"),
		pushEvent(t, "mlops/retail-api", "Feature_X"),
		pushEvent(t, "mlops/retail-api", "v9.9.9"), // not a tag of the image: refused
		pushEvent(t, "other/repo", "v1.0.0"),
		readEvent(t, "ecr-image-action-delete.json"),
	} {
		if err := handle(invocation(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := handle(invocation(), []byte(`{"source":"aws.ecr","detail-type":"ECR Image Action"`)); err == nil {
		t.Fatal("a truncated event was accepted")
	}
	got := f.metrics.Sums()
	want := map[string]float64{
		"Pushes Verdict=accepted": 1, "Pushes Verdict=rejected": 1, "Pushes Verdict=refused": 1, "Pushes Verdict=ignored": 2,
		"Errors Function=onpush,Kind=event": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if p := f.metrics.Problems(); len(p) > 0 {
		t.Errorf("invalid EMF: %v", p)
	}
}
