package fnconfig

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

// BenchmarkLoad is the configuration part of a function's cold start:
// environment, policy, AWS configuration and every client, as in Lambda
// (environment credentials, no shared config files).
func BenchmarkLoad(b *testing.B) {
	policy, err := filepath.Abs("../../ecrwarden.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range map[string]string{
		"ECRWARDEN_POLICY": policy, "ECRWARDEN_EVENT_BUS": "ecrwarden", "ECRWARDEN_DEDUPE_TABLE": "dedupe",
		"ECRWARDEN_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts", "ECRWARDEN_SLACK_SECRET": "slack",
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_CA_BUNDLE": "", "AWS_CONFIG_FILE": filepath.Join(b.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(b.TempDir(), "none"),
	} {
		b.Setenv(k, v)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for b.Loop() {
		if _, err := Load(context.Background(), log, metrics.FunctionOnpush); err != nil {
			b.Fatal(err)
		}
	}
}
