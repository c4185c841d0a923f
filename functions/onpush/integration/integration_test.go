package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eventbridge"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// clusterName is the EKS cluster of the sandbox and of testdata/ecrwarden.yaml.
const clusterName = "retail-forecast"

// Names from testdata/ecrwarden.yaml.
const (
	apiRepo     = "mlops/retail-api"
	scratchRepo = "mlops/scratch"
	deployment  = "retail-forecast-api"
	sidecar     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"
)

// cluster is the package's control plane with its EKS token authenticator;
// nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, clusterName, func(c *sandbox.Cluster) { cluster = c }))
}

// env is one sandbox: the emulators, the compiled functions (onpush among
// them) behind the Lambda Runtime API, and an ECR client to push with.
type env struct {
	tb   testing.TB
	sb   *sandbox.Sandbox
	kube *testenv.Kube
	ns   string
	logs *sandbox.LogBuffer
	seq  int
}

// startSandbox starts a sandbox with testdata/ecrwarden.yaml, closed when
// the test ends, and skips when there is no control plane (-short).
func startSandbox(tb testing.TB) *env {
	tb.Helper()
	e, closeSandbox := openSandbox(tb)
	tb.Cleanup(closeSandbox)
	return e
}

// openSandbox starts a sandbox with testdata/ecrwarden.yaml and returns it
// with the function that closes it (and logs the functions' output if tb
// failed); it skips when there is no control plane (-short).
func openSandbox(tb testing.TB) (*env, func()) {
	tb.Helper()
	testenv.RequireControlPlane(tb, cluster != nil)
	if ns := cluster.Kube.Namespace; ns != "default" {
		tb.Fatalf("the control plane binds the least-privilege Role in %q; testdata/ecrwarden.yaml expects default", ns)
	}
	policyPath, err := filepath.Abs(filepath.Join("testdata", "ecrwarden.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	logs := &sandbox.LogBuffer{}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{PolicyPath: policyPath, Cluster: cluster, Logs: logs})
	if err != nil {
		tb.Fatalf("sandbox: %v", err)
	}
	closeSandbox := func() {
		if tb.Failed() {
			tb.Logf("function logs:\n%s", logs.String())
		}
		if err := sb.Close(); err != nil {
			tb.Errorf("close sandbox: %v", err)
		}
	}
	return &env{tb: tb, sb: sb, logs: logs, kube: cluster.Kube, ns: cluster.Kube.Namespace}, closeSandbox
}

// ref returns the image reference of digest in repository apiRepo.
func (e *env) ref(digest string) string { return e.sb.Registry + "/" + apiRepo + "@" + digest }

// tagRef returns the image reference of tag in repository apiRepo.
func (e *env) tagRef(tag string) string { return e.sb.Registry + "/" + apiRepo + ":" + tag }

// push stores a new image as repo:tag through the real PutImage, which
// makes the ECR emulator emit the push event, and returns its digest.
func (e *env) push(repo, tag string) string {
	e.tb.Helper()
	manifest, digest := e.sb.NewManifest()
	e.put(repo, tag, manifest)
	return digest
}

// lastPushEvent returns the last push event of repo:tag the ECR emulator
// put on the default bus.
func (e *env) lastPushEvent(repo, tag string) []byte {
	e.tb.Helper()
	evs := e.sb.Suite.EventBridge.Events(eventbridge.DefaultBus)
	for i := len(evs) - 1; i >= 0; i-- {
		k, err := ecrevent.Classify(evs[i])
		if err != nil || k != ecrevent.KindPush {
			continue
		}
		p, err := ecrevent.DecodePush(evs[i])
		if err == nil && p.Repository == repo && p.Tag == tag {
			return evs[i]
		}
	}
	e.tb.Fatalf("no push event of %s:%s on the default bus", repo, tag)
	return nil
}

func (e *env) put(repo, tag, manifest string) {
	e.tb.Helper()
	if err := e.sb.PutImage(context.Background(), repo, tag, manifest); err != nil {
		e.tb.Fatal(err)
	}
}

// deliver routes the queued events to the functions and returns onpush's
// deliveries; a delivery that failed after its retries fails the test.
func (e *env) deliver() []sandbox.Delivery {
	e.tb.Helper()
	ds, err := e.sb.Deliver(context.Background())
	if err != nil {
		e.tb.Fatalf("deliver: %v", err)
	}
	var out []sandbox.Delivery
	for _, d := range ds {
		if d.Err != nil {
			e.tb.Fatalf("%s failed on %s after %d attempts: %v", d.Function, d.DetailType, d.Attempts, d.Err)
		}
		if d.Function == "onpush" {
			out = append(out, d)
		}
	}
	return out
}

// deliverOne delivers the queued events and requires exactly one onpush
// delivery, made in one attempt.
func (e *env) deliverOne(step string) sandbox.Delivery {
	e.tb.Helper()
	ds := e.deliver()
	if len(ds) != 1 {
		e.tb.Fatalf("%s: onpush deliveries = %d, want 1", step, len(ds))
	}
	if ds[0].DetailType != ecrevent.DetailTypeImageAction || ds[0].Attempts != 1 {
		e.tb.Fatalf("%s: onpush got %q in %d attempts, want one %q", step, ds[0].DetailType, ds[0].Attempts, ecrevent.DetailTypeImageAction)
	}
	return ds[0]
}

// eventID returns the id of an EventBridge event. The rollout records it
// on the Deployment, which tells a patch by onpush (the push event's id)
// from one by onscan (a scan event's id) releasing a gated rule.
func (e *env) eventID(raw []byte) string {
	e.tb.Helper()
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || ev.ID == "" {
		e.tb.Fatalf("event without id (%v): %s", err, raw)
	}
	return ev.ID
}

// container is one container of a test Deployment.
type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// deploymentState is what the tests read back from a Deployment.
type deploymentState struct {
	Metadata struct {
		Generation  int64             `json:"generation"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []container `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// createDeployment creates a Deployment as admin and deletes it when the
// test ends.
func (e *env) createDeployment(name string, annotations map[string]string, containers ...container) {
	e.tb.Helper()
	labels := map[string]any{"app": name}
	meta := map[string]any{"name": name}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
		"spec": map[string]any{
			"replicas": 1, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": containers}},
		},
	}
	body, err := json.Marshal(obj)
	if err != nil {
		e.tb.Fatalf("encode deployment: %v", err)
	}
	k := e.kube
	path := "/apis/apps/v1/namespaces/" + e.ns + "/deployments"
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodPost, path, "application/json", body)
	if err != nil || code != http.StatusCreated {
		e.tb.Fatalf("create deployment %s: %d %s %v", name, code, out, err)
	}
	e.tb.Cleanup(func() {
		code, out, err := k.Request(context.Background(), k.Admin, http.MethodDelete, path+"/"+name, "", nil)
		if err != nil || code != http.StatusOK {
			e.tb.Errorf("delete deployment %s: %d %s %v", name, code, out, err)
		}
	})
}

// deployment reads a Deployment back with the admin credentials.
func (e *env) deployment(name string) deploymentState {
	e.tb.Helper()
	k := e.kube
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodGet, "/apis/apps/v1/namespaces/"+e.ns+"/deployments/"+name, "", nil)
	if err != nil || code != http.StatusOK {
		e.tb.Fatalf("get deployment %s: %d %s %v", name, code, out, err)
	}
	var d deploymentState
	if err := json.Unmarshal(out, &d); err != nil {
		e.tb.Fatalf("decode deployment %s: %v %s", name, err, out)
	}
	return d
}

// images returns the Deployment's containers as name → image.
func (d deploymentState) images() map[string]string {
	out := map[string]string{}
	for _, c := range d.Spec.Template.Spec.Containers {
		out[c.Name] = c.Image
	}
	return out
}

// auditEvents returns the details of the audit events of detailType on
// the ecrwarden bus.
func (e *env) auditEvents(detailType string) []map[string]any {
	e.tb.Helper()
	var out []map[string]any
	for _, raw := range e.sb.Suite.EventBridge.Events(e.sb.EventBus) {
		var ev struct {
			Source     string         `json:"source"`
			DetailType string         `json:"detail-type"`
			Detail     map[string]any `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			e.tb.Fatalf("decode audit event: %v\n%s", err, raw)
		}
		if ev.Source == audit.Source && ev.DetailType == detailType {
			out = append(out, ev.Detail)
		}
	}
	return out
}

// messages returns how many messages the SNS topic and the Slack sink got.
func (e *env) messages() (sns, slack int) {
	return len(e.sb.Suite.SNS.Messages(e.sb.TopicARN)), len(e.sb.Suite.Slack.Payloads())
}

func (e *env) wantMessages(step string, sns, slack int) {
	e.tb.Helper()
	gotSNS, gotSlack := e.messages()
	if gotSNS != sns || gotSlack != slack {
		e.tb.Fatalf("%s: SNS got %d messages and Slack %d, want %d and %d", step, gotSNS, gotSlack, sns, slack)
	}
}

// startAt creates the tracked Deployment running v1.2.0 by tag, with a
// sidecar, pushes v1.2.0 and delivers its event, which rolls nothing out
// (the container already runs that version).
func (e *env) startAt() string {
	e.tb.Helper()
	e.createDeployment(deployment, nil, container{"api", e.tagRef("v1.2.0")}, container{"otel", sidecar})
	digest := e.push(apiRepo, "v1.2.0")
	e.deliverOne("push v1.2.0")
	if d := e.deployment(deployment); d.Metadata.Generation != 1 || d.images()["api"] != e.tagRef("v1.2.0") {
		e.tb.Fatalf("push of the running v1.2.0 changed the Deployment: generation %d, images %v", d.Metadata.Generation, d.images())
	}
	return digest
}

// TestIntegrationForwardOnly: a push of v1.3.0 pins the api container to
// its digest and records why; v1.2.9 pushed afterwards is not rolled out.
func TestIntegrationForwardOnly(t *testing.T) {
	e := startSandbox(t)
	e.startAt()

	d130 := e.push(apiRepo, "v1.3.0")
	pushID := e.eventID(e.deliverOne("push v1.3.0").Event)
	d := e.deployment(deployment)
	if diff := cmp.Diff(map[string]string{"api": e.ref(d130), "otel": sidecar}, d.images()); diff != "" {
		t.Fatalf("images after v1.3.0 (-want +got):\n%s", diff)
	}
	if d.Metadata.Generation != 2 {
		t.Errorf("generation after v1.3.0 = %d, want 2", d.Metadata.Generation)
	}
	wantAnn := map[string]string{
		kube.AnnotationChangeCause:   "ecrwarden: " + apiRepo + ":v1.3.0 (" + d130[:19] + ")",
		kube.AnnotationTag:           "v1.3.0",
		kube.AnnotationDigest:        d130,
		kube.AnnotationPreviousImage: e.tagRef("v1.2.0"),
		kube.AnnotationEventID:       pushID,
	}
	gotAnn := map[string]string{}
	for k := range wantAnn {
		if v, ok := d.Metadata.Annotations[k]; ok {
			gotAnn[k] = v
		}
	}
	if diff := cmp.Diff(wantAnn, gotAnn); diff != "" {
		t.Errorf("annotations after v1.3.0 (-want +got):\n%s", diff)
	}
	patched := e.auditEvents(audit.DeploymentPatched)
	if len(patched) != 1 {
		t.Fatalf("DeploymentPatched events = %d, want 1: %v", len(patched), patched)
	}
	wantDetail := map[string]any{
		"cluster": clusterName, "namespace": e.ns, "deployment": deployment, "container": "api",
		"repository": apiRepo, "tag": "v1.3.0", "digest": d130, "image": e.ref(d130), "previousImage": e.tagRef("v1.2.0"), "eventId": pushID,
	}
	gotDetail := map[string]any{}
	for k := range wantDetail {
		gotDetail[k] = patched[0][k]
	}
	if diff := cmp.Diff(wantDetail, gotDetail); diff != "" {
		t.Errorf("DeploymentPatched detail (-want +got):\n%s", diff)
	}

	e.push(apiRepo, "v1.2.9")
	e.deliverOne("push v1.2.9")
	d = e.deployment(deployment)
	if got := d.images()["api"]; got != e.ref(d130) {
		t.Errorf("after v1.2.9 the api container runs %s, want it kept at %s", got, e.ref(d130))
	}
	if d.Metadata.Generation != 2 {
		t.Errorf("generation after v1.2.9 = %d, want 2 (no rollout)", d.Metadata.Generation)
	}
	if n := len(e.auditEvents(audit.DeploymentPatched)); n != 1 {
		t.Errorf("DeploymentPatched events after v1.2.9 = %d, want 1", n)
	}
	e.wantMessages("valid pushes", 0, 0)
}

// TestIntegrationBadTag: a tag no pattern allows alerts once on each
// channel and is audited; with onViolation: delete the tag is removed
// while the digest, still tagged otherwise, stays.
func TestIntegrationBadTag(t *testing.T) {
	e := startSandbox(t)

	digest := e.push(apiRepo, "Feature_X")
	e.deliverOne("push Feature_X")
	e.wantMessages("Feature_X in "+apiRepo, 1, 1)
	if text := string(e.sb.Suite.Slack.Payloads()[0].Body); !strings.Contains(text, "Feature_X") {
		t.Errorf("Slack message does not name the tag: %s", text)
	}
	if msg := e.sb.Suite.SNS.Messages(e.sb.TopicARN)[0].Message; !strings.Contains(msg, "Feature_X") {
		t.Errorf("SNS message does not name the tag: %s", msg)
	}
	rejected := e.auditEvents(audit.TagRejected)
	if len(rejected) != 1 || rejected[0]["tag"] != "Feature_X" || rejected[0]["action"] != string(alert.TagAlerted) || rejected[0]["digest"] != digest {
		t.Fatalf("TagRejected events = %v, want one for Feature_X, alerted", rejected)
	}
	if diff := cmp.Diff(map[string][]string{digest: {"Feature_X"}}, e.sb.Suite.ECR.Images(apiRepo)); diff != "" {
		t.Errorf("%s with onViolation: alert (-want +got):\n%s", apiRepo, diff)
	}

	manifest, kept := e.sb.NewManifest()
	e.put(scratchRepo, "v2.0.0", manifest)
	e.deliverOne("push v2.0.0 to " + scratchRepo)
	e.put(scratchRepo, "Feature_X", manifest)
	e.deliverOne("push Feature_X to " + scratchRepo)
	e.wantMessages("Feature_X in "+scratchRepo, 2, 2)
	rejected = e.auditEvents(audit.TagRejected)
	if len(rejected) != 2 || rejected[1]["repository"] != scratchRepo || rejected[1]["action"] != string(alert.TagDeleted) {
		t.Fatalf("TagRejected events = %v, want a second one for %s, deleted", rejected, scratchRepo)
	}
	if diff := cmp.Diff(map[string][]string{kept: {"v2.0.0"}}, e.sb.Suite.ECR.Images(scratchRepo)); diff != "" {
		t.Errorf("%s with onViolation: delete (-want +got):\n%s", scratchRepo, diff)
	}
}

// TestIntegrationDuplicateEvent: the same push event delivered twice rolls
// out once.
func TestIntegrationDuplicateEvent(t *testing.T) {
	e := startSandbox(t)
	e.startAt()
	d140 := e.push(apiRepo, "v1.4.0")
	first := e.deliverOne("push v1.4.0")
	if d := e.deployment(deployment); d.Metadata.Generation != 2 || d.images()["api"] != e.ref(d140) ||
		d.Metadata.Annotations[kube.AnnotationEventID] != e.eventID(first.Event) {
		t.Fatalf("after v1.4.0: generation %d, images %v, annotations %v; want 2, %s and the push event's id",
			d.Metadata.Generation, d.images(), d.Metadata.Annotations, e.ref(d140))
	}

	again, err := e.sb.Invoke(context.Background(), "onpush", first.Event)
	if err != nil || again.Err != nil || again.Attempts != 1 {
		t.Fatalf("redelivery: %v, function error %v after %d attempts", err, again.Err, again.Attempts)
	}
	d := e.deployment(deployment)
	if d.Metadata.Generation != 2 {
		t.Errorf("generation after the duplicate = %d, want 2 (one rollout)", d.Metadata.Generation)
	}
	if got := d.images()["api"]; got != e.ref(d140) {
		t.Errorf("api container after the duplicate runs %s, want %s", got, e.ref(d140))
	}
	if n := len(e.auditEvents(audit.DeploymentPatched)); n != 1 {
		t.Errorf("DeploymentPatched events = %d, want 1", n)
	}
}

// TestIntegrationThrottledCallsRetried: AWS calls that are throttled a few
// times are retried by the SDK inside the one invocation, which succeeds.
func TestIntegrationThrottledCallsRetried(t *testing.T) {
	const throttled = 2
	for _, tt := range []struct {
		name string
		// op is the throttled operation; fault.AnyOp for every one.
		op     string
		faults func(*sandbox.Sandbox) (*fault.Injector, *fault.Log)
		// act pushes and delivers after the faults are set, and checks the outcome.
		act func(t *testing.T, e *env)
	}{
		{
			name: "ECR DescribeImages of the running image", op: "DescribeImages",
			faults: func(sb *sandbox.Sandbox) (*fault.Injector, *fault.Log) {
				return sb.Suite.ECR.Faults(), sb.Suite.ECR.Log()
			},
			act: func(t *testing.T, e *env) {
				digest := e.push(apiRepo, "v1.3.0")
				pushID := e.eventID(e.deliverOne("push v1.3.0").Event)
				d := e.deployment(deployment)
				if got := d.images()["api"]; got != e.ref(digest) || d.Metadata.Annotations[kube.AnnotationEventID] != pushID {
					t.Errorf("api container runs %s (annotations %v), want %s patched by onpush", got, d.Metadata.Annotations, e.ref(digest))
				}
			},
		},
		{
			name: "SNS Publish of the alert", op: "Publish",
			faults: func(sb *sandbox.Sandbox) (*fault.Injector, *fault.Log) {
				return sb.Suite.SNS.Faults(), sb.Suite.SNS.Calls()
			},
			act: rejectOnce,
		},
		{
			name: "DynamoDB calls of the alert dedupe", op: fault.AnyOp,
			faults: func(sb *sandbox.Sandbox) (*fault.Injector, *fault.Log) {
				return sb.Suite.DynamoDB.Faults(), sb.Suite.DynamoDB.Calls()
			},
			act: rejectOnce,
		},
		{
			name: "EventBridge PutEvents of the audit event", op: "PutEvents",
			faults: func(sb *sandbox.Sandbox) (*fault.Injector, *fault.Log) {
				return sb.Suite.EventBridge.Faults(), sb.Suite.EventBridge.Calls()
			},
			act: rejectOnce,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startSandbox(t)
			e.startAt()
			inj, log := tt.faults(e.sb)
			log.Reset()
			inj.Set(tt.op, fault.Rule{Throttle: throttled})
			tt.act(t, e)
			calls := log.Calls(tt.op)
			var faults []string
			for _, c := range calls {
				faults = append(faults, c.Op+":"+c.Fault.String())
			}
			n := 0
			for _, c := range calls {
				if c.Fault == fault.Throttle {
					n++
				}
			}
			if n != throttled || len(calls) <= throttled || calls[len(calls)-1].Fault != fault.None {
				t.Errorf("calls = %v, want %d throttled, then served ones", faults, throttled)
			}
		})
	}
}

// rejectOnce pushes a bad tag and checks it alerted and was audited once.
func rejectOnce(t *testing.T, e *env) {
	t.Helper()
	e.push(apiRepo, "Feature_X")
	e.deliverOne("push Feature_X")
	e.wantMessages("Feature_X", 1, 1)
	if n := len(e.auditEvents(audit.TagRejected)); n != 1 {
		t.Errorf("TagRejected events = %d, want 1", n)
	}
}

// TestIntegrationMalformedEvent: a malformed event fails the invocation
// with a Lambda error, is retried, lands in the DLQ, and changes nothing.
func TestIntegrationMalformedEvent(t *testing.T) {
	e := startSandbox(t)
	e.startAt()
	var push map[string]any
	if err := json.Unmarshal(e.lastPushEvent(apiRepo, "v1.2.0"), &push); err != nil {
		t.Fatal(err)
	}
	with := func(key string, v any) []byte {
		ev := map[string]any{}
		for k, v := range push {
			ev[k] = v
		}
		detail := map[string]any{}
		for k, v := range push["detail"].(map[string]any) {
			detail[k] = v
		}
		detail[key] = v
		detail["image-tag"] = "v9.9.9"
		ev["detail"] = detail
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, tt := range []struct {
		name    string
		payload []byte
	}{
		{"not JSON", []byte(`{"version":"0","source":"aws.ecr","detail-type":"ECR Image Action","detail":{`)},
		{"digest is not a digest", with("image-digest", "sha256:EXAMPLE")},
		{"repository name is a number", with("repository-name", 42)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.sb.Invoke(context.Background(), "onpush", tt.payload)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			var fe *testenv.FunctionError
			if !errors.As(d.Err, &fe) || fe.Type == "" || fe.Message == "" {
				t.Fatalf("invocation error = %#v, want a Lambda function error (errorType, errorMessage)", d.Err)
			}
			if d.Attempts != 3 {
				t.Errorf("attempts = %d, want 3 (Lambda's 2 retries)", d.Attempts)
			}
			dlq := e.sb.DLQ()
			if len(dlq) != i+1 || !bytes.Equal(dlq[i].Event, tt.payload) {
				t.Errorf("DLQ holds %d, want %d ending with this event", len(dlq), i+1)
			}
			dep := e.deployment(deployment)
			if dep.Metadata.Generation != 1 || dep.images()["api"] != e.tagRef("v1.2.0") {
				t.Errorf("the Deployment changed: generation %d, images %v", dep.Metadata.Generation, dep.images())
			}
			e.wantMessages("malformed event", 0, 0)
			if evs := e.sb.Suite.EventBridge.Events(e.sb.EventBus); len(evs) != 0 {
				t.Errorf("audit events: %s", evs)
			}
		})
	}
}

// TestIntegrationOptInAnnotation: a Deployment that opts in with
// ecrwarden.io/track is rolled forward with the one the policy names.
func TestIntegrationOptInAnnotation(t *testing.T) {
	e := startSandbox(t)
	e.startAt()
	const optIn = "retail-forecast-batch"
	e.createDeployment(optIn, map[string]string{kube.AnnotationTrack: apiRepo + ":v{semver}"},
		container{"scorer", e.tagRef("v1.2.0")}, container{"otel", sidecar})

	d130 := e.push(apiRepo, "v1.3.0")
	pushID := e.eventID(e.deliverOne("push v1.3.0").Event)
	d := e.deployment(optIn)
	if diff := cmp.Diff(map[string]string{"scorer": e.ref(d130), "otel": sidecar}, d.images()); diff != "" {
		t.Errorf("opted-in Deployment (-want +got):\n%s", diff)
	}
	if d.Metadata.Generation != 2 || d.Metadata.Annotations[kube.AnnotationDigest] != d130 || d.Metadata.Annotations[kube.AnnotationEventID] != pushID {
		t.Errorf("opted-in Deployment: generation %d, annotations %v; want 2, digest %s and the push event's id %s",
			d.Metadata.Generation, d.Metadata.Annotations, d130, pushID)
	}
	if d := e.deployment(deployment); d.images()["api"] != e.ref(d130) || d.Metadata.Annotations[kube.AnnotationEventID] != pushID {
		t.Errorf("policy Deployment runs %s (annotations %v), want %s patched by onpush", d.images()["api"], d.Metadata.Annotations, e.ref(d130))
	}
	var sources []string
	for _, ev := range e.auditEvents(audit.DeploymentPatched) {
		sources = append(sources, fmt.Sprint(ev["deployment"]))
	}
	slices.Sort(sources)
	if diff := cmp.Diff([]string{deployment, optIn}, sources); diff != "" {
		t.Errorf("DeploymentPatched deployments (-want +got):\n%s", diff)
	}
}

// craft returns a copy of the event raw with one field set (sandbox.WithField).
func (e *env) craft(raw []byte, key string, v any) []byte {
	e.tb.Helper()
	b, err := sandbox.WithField(raw, key, v)
	if err != nil {
		e.tb.Fatal(err)
	}
	return b
}

// TestIntegrationRefusedEvents: events that do not name our account, our
// Region and an image of our registry that carries their tag are refused by
// the compiled function, however they arrive (a direct invoke, a forward
// from another account's bus, a DLQ redrive): one attempt, nothing in the
// DLQ, an EventRefused audit event, and the Deployment untouched.
func TestIntegrationRefusedEvents(t *testing.T) {
	e := startSandbox(t)
	e.startAt()
	ctx := context.Background()
	valid := e.lastPushEvent(apiRepo, "v1.2.0")

	// v1.4.0 is pushed, its event lost, and the image deleted: the event
	// is redriven afterwards.
	gone := e.push(apiRepo, "v1.4.0")
	old := e.lastPushEvent(apiRepo, "v1.4.0")
	if _, err := e.sb.ECR.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(apiRepo),
		ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(gone)}}}); err != nil {
		t.Fatal(err)
	}
	// v1.5.0 is pushed twice: the tag moves to the second image and the
	// first push's event arrives late.
	e.push(apiRepo, "v1.5.0")
	moved := e.lastPushEvent(apiRepo, "v1.5.0")
	e.push(apiRepo, "v1.5.0")
	e.deliver() // the rule routes them: the late and the deleted push are refused, v1.5.0 rolls out
	generation := e.deployment(deployment).Metadata.Generation
	image := e.deployment(deployment).images()["api"]
	before := len(e.auditEvents(audit.EventRefused))

	tests := []struct {
		name       string
		event      []byte
		wantReason string
	}{
		{"another account", e.craft(e.craft(valid, "account", "210987654321"), "detail.image-tag", "v9.0.0"), `account "210987654321"`},
		{"another Region", e.craft(e.craft(valid, "region", "us-east-1"), "detail.image-tag", "v9.0.0"), `Region "us-east-1"`},
		{"a digest our registry never had", e.craft(e.craft(valid, "detail.image-digest", "sha256:"+strings.Repeat("ab", 32)), "detail.image-tag", "v9.0.0"), "is not in our registry"},
		{"a redriven event of a deleted image", old, "is not in our registry"},
		{"a late event whose tag moved to another image", moved, "no longer names"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.sb.Invoke(ctx, "onpush", tt.event)
			if err != nil || d.Err != nil || d.Attempts != 1 {
				t.Fatalf("invoke: %v, function error %v after %d attempts; want success at once (not retried)", err, d.Err, d.Attempts)
			}
			refused := e.auditEvents(audit.EventRefused)
			if len(refused) != before+i+1 {
				t.Fatalf("EventRefused events = %d, want %d", len(refused), before+i+1)
			}
			last := refused[len(refused)-1]
			if last["function"] != "onpush" || !strings.Contains(fmt.Sprint(last["reason"]), tt.wantReason) {
				t.Errorf("EventRefused detail = %v, want onpush's with a reason containing %q", last, tt.wantReason)
			}
			dep := e.deployment(deployment)
			if dep.Metadata.Generation != generation || dep.images()["api"] != image {
				t.Errorf("the Deployment changed: generation %d, images %v", dep.Metadata.Generation, dep.images())
			}
		})
	}
	if dlq := e.sb.DLQ(); len(dlq) != 0 {
		t.Errorf("DLQ holds %d events, want none: a refused event is not retried", len(dlq))
	}
	if !strings.HasPrefix(image, e.sb.Registry+"/") {
		t.Errorf("the api container runs %s, outside our registry %s", image, e.sb.Registry)
	}
}

// TestIntegrationDeleteOnViolationSafety: onViolation delete removes a
// rejected tag only while it names the event's digest and no workload runs
// the image; otherwise the tag stays and the alert says why.
func TestIntegrationDeleteOnViolationSafety(t *testing.T) {
	e := startSandbox(t)

	// A workload runs the image by digest: its rejected tag stays.
	manifest, used := e.sb.NewManifest()
	e.put(scratchRepo, "v2.0.0", manifest)
	e.deliverOne("push v2.0.0")
	e.createDeployment("scratch-user", nil, container{"worker", e.sb.Registry + "/" + scratchRepo + "@" + used})
	e.put(scratchRepo, "Feature_X", manifest)
	e.deliverOne("push Feature_X on a running image")
	if diff := cmp.Diff(map[string][]string{used: {"Feature_X", "v2.0.0"}}, e.sb.Suite.ECR.Images(scratchRepo), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("a rejected tag of a running image was deleted (-want +got):\n%s", diff)
	}
	rejected := e.auditEvents(audit.TagRejected)
	if len(rejected) != 1 || rejected[0]["action"] != string(alert.TagKept) ||
		!strings.Contains(fmt.Sprint(rejected[0]["reason"]), "in use: EKS "+clusterName+" Deployment "+e.ns+"/scratch-user (digest "+used[:19]+")") {
		t.Fatalf("TagRejected = %v, want one kept because scratch-user runs it", rejected)
	}
	if text := string(e.sb.Suite.Slack.Payloads()[0].Body); !strings.Contains(text, "scratch-user") {
		t.Errorf("Slack does not say which workload kept the tag: %s", text)
	}

	// Feature_Y is pushed on one image, then moved to another before the
	// first event arrives: the late event deletes nothing, the second
	// deletes the tag it names.
	first, firstDigest := e.sb.NewManifest()
	second, secondDigest := e.sb.NewManifest()
	e.put(scratchRepo, "Feature_Y", first)
	e.put(scratchRepo, "Feature_Y", second)
	ds := e.deliver()
	if len(ds) != 2 {
		t.Fatalf("deliveries = %d, want 2", len(ds))
	}
	rejected = e.auditEvents(audit.TagRejected)
	if len(rejected) != 3 || rejected[1]["digest"] != firstDigest || rejected[1]["action"] != string(alert.TagKept) ||
		rejected[2]["digest"] != secondDigest || rejected[2]["action"] != string(alert.TagDeleted) {
		t.Fatalf("TagRejected = %v, want the late event kept and the current one deleted", rejected[1:])
	}
	images := e.sb.Suite.ECR.Images(scratchRepo)
	if _, ok := images[secondDigest]; ok {
		t.Errorf("Feature_Y (the second image's only tag) is still there: %v", images)
	}
	if tags, ok := images[firstDigest]; !ok || len(tags) != 0 {
		t.Errorf("the first image = %v (present %v), want it kept untagged: the late event must not delete what the tag names now", tags, ok)
	}
	for _, r := range e.auditEvents(audit.EventRefused) {
		// onscan refuses the scan event of the image the delete removed.
		if r["function"] == "onpush" {
			t.Errorf("onpush refused %v: a rejected tag under onViolation delete is alerted, never silently refused", r)
		}
	}
}

// TestIntegrationRolledBackImageNeverComesBack: after `ecrwarden rollback`
// and `ecrwarden release`, neither the scheduled reconcile nor a redelivered
// push event puts the rolled-back digest back; a newer push rolls out.
func TestIntegrationRolledBackImageNeverComesBack(t *testing.T) {
	e := startSandbox(t)
	e.startAt()
	ctx := context.Background()
	d130 := e.push(apiRepo, "v1.3.0")
	pushed := e.deliverOne("push v1.3.0")
	if got := e.deployment(deployment).images()["api"]; got != e.ref(d130) {
		t.Fatalf("api runs %s after v1.3.0, want %s", got, e.ref(d130))
	}

	// The operator rolls back and releases, as the CLI does.
	client, err := kube.New(kube.Config{Host: e.kube.Admin.Host, CAData: e.kube.Admin.CAData, Token: kube.StaticToken(e.kube.Admin.Token)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rollout.Rollback(ctx, client, rollout.RollbackRequest{Namespace: e.ns, Deployment: deployment, Container: "api", By: "alice", At: time.Now(), Reason: "p99 doubled"})
	if err != nil || res.Blocked != d130 {
		t.Fatalf("rollback = %+v, %v; want %s blocked", res, err, d130)
	}
	if _, err := rollout.Release(ctx, client, e.ns, deployment, false); err != nil {
		t.Fatal(err)
	}
	generation := e.deployment(deployment).Metadata.Generation

	d, err := e.sb.Invoke(ctx, "onpush", []byte(`{"action":"reconcile","runId":"after-rollback"}`))
	if err != nil || d.Err != nil {
		t.Fatalf("reconcile: %v %v", err, d.Err)
	}
	if d, err := e.sb.Invoke(ctx, "onpush", pushed.Event); err != nil || d.Err != nil {
		t.Fatalf("redelivered v1.3.0 push: %v %v", err, d.Err)
	}
	dep := e.deployment(deployment)
	if got := dep.images()["api"]; got != e.tagRef("v1.2.0") || dep.Metadata.Generation != generation {
		t.Fatalf("after release, the reconcile and a redelivered push: api runs %s (generation %d, was %d), want it kept at %s",
			got, dep.Metadata.Generation, generation, e.tagRef("v1.2.0"))
	}
	if !strings.Contains(e.logs.String(), `blocked: `+d130+` is blocked for container api`) {
		t.Errorf("the functions' logs do not say the digest is blocked")
	}

	d140 := e.push(apiRepo, "v1.4.0")
	e.deliverOne("push v1.4.0")
	if got := e.deployment(deployment).images()["api"]; got != e.ref(d140) {
		t.Errorf("a newer push after the rollback: api runs %s, want %s", got, e.ref(d140))
	}
}
