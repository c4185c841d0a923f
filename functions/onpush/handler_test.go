package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
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

type fakeECR struct {
	deleted [][]types.ImageIdentifier
	out     *ecr.BatchDeleteImageOutput
	err     error
}

func (f *fakeECR) BatchDeleteImage(_ context.Context, in *ecr.BatchDeleteImageInput, _ ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	f.deleted = append(f.deleted, in.ImageIds)
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
}

func newFixture(t *testing.T, policyYAML string) *fixture {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{alerts: &fakeAlerts{}, audit: &fakeAudit{}, roll: &fakeRoller{}, ecr: &fakeECR{}}
	f.h = &handler{policy: p, ecr: f.ecr, alerts: f.alerts, audit: f.audit, roll: f.roll, log: slog.New(slog.DiscardHandler),
		discover: func(_ context.Context, p *policy.File, repo string) ([]rollout.Target, []error, error) {
			return rollout.PolicyTargets(p, repo), nil, nil
		}}
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
	if err := f.h.Handle(context.Background(), readEvent(t, "ecr-image-action-push.json")); err != nil {
		t.Fatal(err)
	}
	if len(f.roll.images) != 1 {
		t.Fatalf("rolls = %d, want 1", len(f.roll.images))
	}
	img := f.roll.images[0]
	want := rollout.Image{Registry: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com", Repository: "mlops/retail-api", Tag: "v1.3.0",
		Digest: "sha256:1fe57ccde598e92184fb93d7f7861350b62df5254265d5e95936a809f9413c8a", EventID: "0d4736f2-e095-4fdc-ad64-c50c4848acd5"}
	img.PushedAt = want.PushedAt
	if img != want {
		t.Errorf("image = %+v, want %+v", img, want)
	}
	if ts := f.roll.targets[0]; len(ts) != 1 || ts[0].Deployment != "retail-forecast-api" {
		t.Errorf("targets = %+v: the gated canary must wait for onscan", ts)
	}
	if len(f.alerts.alerts) != 0 {
		t.Errorf("alerts for an accepted tag: %+v", f.alerts.alerts)
	}
}

func TestHandleRejectedTag(t *testing.T) {
	tests := []struct {
		name       string
		action     string
		ecrErr     error
		wantAction alert.TagAction
		wantDelete bool
		wantErr    bool
	}{
		{name: "alert", action: "alert", wantAction: alert.TagAlerted},
		{name: "delete", action: "delete", wantAction: alert.TagDeleted, wantDelete: true},
		{name: "delete fails", action: "delete", ecrErr: errors.New("AccessDeniedException"), wantAction: alert.TagDeleteFailed, wantDelete: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, policyWith(tt.action))
			f.ecr.err = tt.ecrErr
			err := f.h.Handle(context.Background(), pushEvent(t, "mlops/retail-api", "Feature_X"))
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
			if a.Kind != alert.KindTagRejected || a.TagRejection.Tag != "Feature_X" || a.TagRejection.Action != tt.wantAction {
				t.Errorf("alert = %+v / %+v", a, a.TagRejection)
			}
			if len(f.audit.events) != 1 || f.audit.events[0].DetailType != audit.TagRejected {
				t.Errorf("audit = %+v, want one TagRejected", f.audit.events)
			}
			if tt.wantDelete {
				if len(f.ecr.deleted) != 1 || aws.ToString(f.ecr.deleted[0][0].ImageTag) != "Feature_X" || f.ecr.deleted[0][0].ImageDigest != nil {
					t.Errorf("deleted = %+v, want the tag only, never the digest", f.ecr.deleted)
				}
			} else if len(f.ecr.deleted) != 0 {
				t.Error("alert-only policy deleted something")
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
			f := newFixture(t, policyWith("delete"))
			if err := f.h.Handle(context.Background(), readEvent(t, name)); err != nil {
				t.Fatalf("err = %v", err)
			}
			if len(f.roll.images)+len(f.alerts.alerts)+len(f.ecr.deleted)+len(f.audit.events) != 0 {
				t.Error("an ignored event caused an action")
			}
		})
	}
	t.Run("unknown repository", func(t *testing.T) {
		f := newFixture(t, policyWith("delete"))
		if err := f.h.Handle(context.Background(), pushEvent(t, "other/repo", "Feature_X")); err != nil {
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
			f := newFixture(t, policyWith("delete"))
			err := f.h.Handle(context.Background(), []byte(raw))
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
	if err := f.h.Handle(context.Background(), readEvent(t, "ecr-image-action-push.json")); err == nil || !strings.Contains(err.Error(), "503") {
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
			if _, err := lambda.NewHandler(f.h.Handle).Invoke(context.Background(), raw); err != nil {
				t.Errorf("Invoke: %v", err)
			}
		})
	}
}
