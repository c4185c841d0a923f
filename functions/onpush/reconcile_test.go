package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

type fakeReconciler struct {
	runs    []string
	results []rollout.TargetResult
	err     error
}

func (f *fakeReconciler) Reconcile(_ context.Context, o ecrevent.Origin, runID string) ([]rollout.TargetResult, error) {
	if o != testOrigin {
		return nil, fmt.Errorf("reconcile in %+v, want the function's own registry %+v", o, testOrigin)
	}
	f.runs = append(f.runs, runID)
	return f.results, f.err
}

func TestHandleScheduledPayload(t *testing.T) {
	boom := errors.New("listing failed")
	tests := []struct {
		name     string
		payload  string
		err      error
		wantRuns []string
		wantErr  string
		wantRoll int
	}{
		{name: "reconcile", payload: `{"action":"reconcile","runId":"2026-11-25T10:15:00Z"}`, wantRuns: []string{"2026-11-25T10:15:00Z"}},
		{name: "a failed reconcile fails the invocation", payload: `{"action":"reconcile","runId":"r1"}`, err: boom,
			wantRuns: []string{"r1"}, wantErr: "onpush reconcile r1: listing failed"},
		{name: "unknown action", payload: `{"action":"purge","runId":"r1"}`, wantErr: `unknown scheduled action "purge"`},
		{name: "no run id", payload: `{"action":"reconcile"}`, wantErr: "without runId"},
		{name: "gc's payload is not ECR and not ours", payload: `{"trigger":"schedule","runId":"r1"}`, wantErr: "onpush:"},
		{name: "unknown JSON stays an error", payload: `{"hello":"world"}`, wantErr: "onpush:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, policyWith("alert"))
			rec := &fakeReconciler{err: tt.err}
			f.h.reconcile = rec
			_, err := lambda.NewHandler(f.h.Handle).Invoke(invocation(), []byte(tt.payload))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantRuns, rec.runs); diff != "" {
				t.Errorf("reconcile runs (-want +got):\n%s", diff)
			}
			if len(f.roll.images) != 0 {
				t.Errorf("rolled %v on a scheduled payload", f.roll.images)
			}
		})
	}
}

func TestHandlePushIsNotAReconcile(t *testing.T) {
	f := newFixture(t, policyWith("alert"))
	rec := &fakeReconciler{}
	f.h.reconcile = rec
	if err := f.h.Handle(invocation(), readEvent(t, "ecr-image-action-push.json")); err != nil {
		t.Fatal(err)
	}
	if len(rec.runs) != 0 || len(f.roll.images) != 1 {
		t.Errorf("reconciles %v, rolls %d: want a push rollout only", rec.runs, len(f.roll.images))
	}
}

// listing serves DescribeImages from a fixed list, one page.
type listing struct{ images []types.ImageDetail }

func (l listing) DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	return &ecr.DescribeImagesOutput{ImageDetails: l.images}, nil
}

func (l listing) DescribeImageScanFindings(context.Context, *ecr.DescribeImageScanFindingsInput, ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	return nil, &types.ScanNotFoundException{Message: aws.String("never scanned")}
}

// patchingRoller reports every target patched.
type patchingRoller struct{ images []rollout.Image }

func (p *patchingRoller) Roll(_ context.Context, img rollout.Image, targets []rollout.Target) ([]rollout.Outcome, error) {
	p.images = append(p.images, img)
	out := make([]rollout.Outcome, len(targets))
	for i, t := range targets {
		out[i] = rollout.Outcome{Target: t, Patched: true, Reason: "old → " + img.Tag}
	}
	return out, nil
}

func TestHandleReconcileWithTheRealReconciler(t *testing.T) {
	f := newFixture(t, policyWith("alert"))
	pushed := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	img := func(d, tag string) types.ImageDetail {
		return types.ImageDetail{RegistryId: aws.String("123456789012"), ImageDigest: aws.String(d), ImageTags: []string{tag}, ImagePushedAt: aws.Time(pushed)}
	}
	roll := &patchingRoller{}
	f.h.reconcile = &rollout.Reconciler{Policy: f.h.policy, Images: listing{[]types.ImageDetail{img("sha256:a", "v1.2.0"), img("sha256:b", "v1.3.0"), img("sha256:c", "dev-abcdef0")}},
		Scans: listing{}, Discover: func(_ context.Context, p *policy.File, repo string) ([]rollout.Target, []error, error) {
			return rollout.PolicyTargets(p, repo), nil, nil
		}, Roll: roll, Log: slog.New(slog.DiscardHandler)}
	if err := f.h.Handle(invocation(), []byte(`{"action":"reconcile","runId":"r7"}`)); err != nil {
		t.Fatal(err)
	}
	// The ungated target gets v1.3.0; the gated canary has no scanned image and is skipped.
	want := []rollout.Image{{Registry: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com", Repository: "mlops/retail-api",
		Tag: "v1.3.0", Digest: "sha256:b", PushedAt: pushed, EventID: "reconcile:r7", Cause: rollout.CauseReconcile}}
	if diff := cmp.Diff(want, roll.images); diff != "" {
		t.Errorf("rolled (-want +got):\n%s", diff)
	}
}
