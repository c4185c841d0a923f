package audit

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	ebemu "github.com/ecrwarden/ecrwarden/internal/emulator/eventbridge"
)

// TestPublishAtTheLimitAgainstEmulator puts audit events with 20,000
// finding ids and a gc run's 15,000 digests through the real SDK client on
// the EventBridge emulator, which refuses requests of 256 KB or more as
// EventBridge does: both arrive, bounded and marked.
func TestPublishAtTheLimitAgainstEmulator(t *testing.T) {
	srv := ebemu.New(ebemu.Options{Region: "ap-southeast-1", AccountID: "123456789012"})
	srv.CreateBus("ecrwarden")
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := eventbridge.NewFromConfig(aws.Config{
		Region: "ap-southeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String(srv.URL()),
	})
	p := New(client, "ecrwarden")
	err := p.Publish(context.Background(),
		Event{DetailType: FindingsAlerted, Detail: map[string]any{"repository": "mlops/train-model", "findings": findingIDs(20000)}},
		Event{DetailType: ImagesExpired, Detail: map[string]any{"repository": "mlops/train-model", "digests": findingIDs(15000)}},
	)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	events := srv.Events("ecrwarden")
	if len(events) != 2 {
		t.Fatalf("bus got %d events, want 2", len(events))
	}
	for i, list := range []string{"findings", "digests"} {
		var env struct {
			Detail map[string]any `json:"detail"`
		}
		if err := json.Unmarshal(events[i], &env); err != nil {
			t.Fatal(err)
		}
		if env.Detail[list+TruncatedSuffix] != true || env.Detail[list+TotalSuffix] == nil {
			t.Errorf("event %d: %s not marked truncated: %v %v", i, list, env.Detail[list+TruncatedSuffix], env.Detail[list+TotalSuffix])
		}
	}
}
