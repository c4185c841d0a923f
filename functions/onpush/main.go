// Command onpush is the Lambda function that runs on every ECR push: it
// checks the tag against the policy (alerting on, or with gc's safeties
// deleting, a rejected tag) and rolls tracked Deployments forward. Pushes
// that do not name its own account, Region and an image of its registry
// carrying the tag are refused (EventRefused). On its schedule it
// reconciles: tracked Deployments that lag behind the newest allowed image
// (a push event was lost) are moved forward, and a pending verification
// whose check was lost is re-armed. From its verification queue (SQS) it
// follows each rollout to its end and rolls a failed one back
// (rollout.Verifier).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	d, err := fnconfig.Load(context.Background(), log, metrics.FunctionOnpush)
	if err != nil {
		log.Error("onpush init failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(metrics.Wrap(d.Metrics, newHandler(d, log).Invoke))
}
