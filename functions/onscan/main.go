package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	d, err := fnconfig.Load(context.Background(), log, metrics.FunctionOnscan)
	if err != nil {
		log.Error("onscan init failed", "error", err)
		os.Exit(1)
	}
	h := &handler{policy: d.Policy, scans: d.ECR, images: d.ECR, alerts: d.Alerts, audit: d.Audit, region: d.AWS.Region, now: time.Now, log: log,
		metrics: d.Metrics,
		roll:    rollout.NewEngine(d.Clusters, rollout.ECRLookup{Client: d.ECR}, d.Audit, log).WithMetrics(d.Metrics).VerifyWith(d.Verifier),
		discover: func(ctx context.Context, f *policy.File, repo string) ([]rollout.Target, []error, error) {
			return rollout.Discover(ctx, d.Clusters, f, repo)
		}}
	lambda.Start(metrics.WrapError(d.Metrics, h.Handle))
}
