// Command gc expires and archives images by the policy's retention rules, never one in use.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	d, err := fnconfig.Load(context.Background(), log, metrics.FunctionGC)
	if err != nil {
		log.Error("gc init failed", "error", err)
		os.Exit(1)
	}
	h := &handler{policy: d.Policy, dryRun: d.Config.DryRun, alerts: d.Alerts, audit: d.Audit, now: time.Now, log: log, metrics: d.Metrics,
		run: &gc.Runner{ECR: d.ECR, Sources: inuse.Sources(d.Policy, inuse.NewClients(d.AWS, d.Clusters)), Log: log,
			ArchiveOptions: fnconfig.ArchiveOptions()}}
	if d.Config.GCQueueURL != "" {
		h.fanOut(d.AWS, d.Config.GCQueueURL, d.Config.DedupeTable)
	}
	lambda.Start(metrics.Wrap(d.Metrics, h.Handle))
}
