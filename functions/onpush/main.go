// Command onpush is the Lambda function that runs on every ECR push: it
// checks the tag against the policy and rolls tracked Deployments forward.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	d, err := fnconfig.Load(context.Background(), log)
	if err != nil {
		log.Error("onpush init failed", "error", err)
		os.Exit(1)
	}
	lookup := rollout.ECRLookup{Client: d.ECR}
	h := &handler{policy: d.Policy, ecr: d.ECR, alerts: d.Alerts, audit: d.Audit, log: log,
		roll: rollout.NewEngine(d.Clusters, lookup, d.Audit, log),
		discover: func(ctx context.Context, f *policy.File, repo string) ([]rollout.Target, []error, error) {
			return rollout.Discover(ctx, d.Clusters, f, repo)
		}}
	lambda.Start(h.Handle)
}
