package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// TestCompiledFunction runs the compiled gc binary through the Lambda
// Runtime API (internal/testenv) with its real SDK clients pointed at the
// emulators by AWS_ENDPOINT_URL_*: ECR, SNS for the report, EventBridge for
// the audit event and DynamoDB for notify.Once's records. The policy turns
// the AWS in-use sources off: this stack runs no moto (the sandbox tests in
// ./integration read them).
func TestCompiledFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function binary")
	}
	ctx := context.Background()
	s, err := suite.Start(ctx, suite.Options{
		Topics: []string{"ecrwarden-alerts"}, Buses: []string{"ecrwarden"},
		Tables: []suite.Table{{Name: "ecrwarden-dedupe", HashKey: "pk", HashType: "S", TTLAttribute: "expiresAt"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.ECR.CreateRepository("team/api", ecremu.RepositoryOptions{}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	for _, note := range []string{"a", "b"} {
		m := `{"schemaVersion":2,"mediaType":"` + ecremu.MediaTypeOCIManifest + `","annotations":{"n":"` + note + `"}}`
		if _, err := s.ECR.SeedImage("team/api", ecremu.Image{Manifest: m, PushedAt: old, Size: 5 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ECR.SeedImage("team/api", ecremu.Image{Tags: []string{"v1"}, PushedAt: old}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "ecrwarden.yaml")
	if err := os.WriteFile(policyPath, []byte("version: 1\ngc: { dryRun: false, inUse: { ecs: false, lambda: false, sagemaker: false, batch: false } }\nrepositories:\n  - name: team/api\n    retention:\n      - { untagged: true, maxAge: 1d }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := testenv.BuildFunction(ctx, "../..", "./functions/gc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })

	env := map[string]string{
		"ECRWARDEN_POLICY": policyPath, "ECRWARDEN_TOPIC_ARN": s.SNS.TopicARN("ecrwarden-alerts"),
		"ECRWARDEN_EVENT_BUS": "ecrwarden", "ECRWARDEN_DEDUPE_TABLE": "ecrwarden-dedupe",
	}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	start := func(dryRun string) *testenv.Function {
		env["ECRWARDEN_DRY_RUN"] = dryRun
		fn, err := testenv.StartFunction(ctx, testenv.FunctionOptions{Binary: bin, Name: "gc", Env: env,
			Region: ecremu.DefaultRegion, Timeout: 30 * time.Second, Logs: testWriter{t}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fn.Stop() })
		return fn
	}
	invoke := func(fn *testenv.Function, payload string) {
		t.Helper()
		res, err := fn.Invoke(ctx, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil {
			t.Fatalf("function error: %+v", res.Error)
		}
	}
	messages := func() []string {
		var kinds []string
		for _, m := range s.SNS.Messages(s.SNS.TopicARN("ecrwarden-alerts")) {
			kinds = append(kinds, m.Attributes["kind"].StringValue)
		}
		return kinds
	}

	// Dry run, invoked twice for the same run (a retry): one report, nothing deleted.
	dry := start("true")
	invoke(dry, `{"trigger":"schedule","runId":"run-1"}`)
	invoke(dry, `{"trigger":"schedule","runId":"run-1"}`)
	if n := len(s.ECR.Images("team/api")); n != 3 {
		t.Errorf("dry run left %d images, want 3", n)
	}
	if got := messages(); len(got) != 1 || got[0] != "gc-report" {
		t.Fatalf("SNS messages after a repeated dry run: %v, want one gc-report", got)
	}

	real := start("false")
	invoke(real, `{"trigger":"schedule","runId":"run-2"}`)
	if n := len(s.ECR.Images("team/api")); n != 1 {
		t.Errorf("real run left %d images, want 1", n)
	}
	if got := messages(); len(got) != 2 {
		t.Errorf("SNS messages: %v, want two reports", got)
	}
	// Each report names its run, as the run's audit events do.
	for i, run := range []string{"run-1", "run-2"} {
		if msgs := s.SNS.Messages(s.SNS.TopicARN("ecrwarden-alerts")); len(msgs) > i && !strings.Contains(msgs[i].Message, "\nrun "+run+"\n") {
			t.Errorf("report %d does not name its run %s:\n%s", i+1, run, msgs[i].Message)
		}
	}
	var expired int
	for _, raw := range s.EventBridge.Events("ecrwarden") {
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				Repository string `json:"repository"`
				Images     int    `json:"images"`
				RunID      string `json:"runId"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.DetailType == "ImagesExpired" && ev.Detail.Repository == "team/api" && ev.Detail.Images == 2 && ev.Detail.RunID == "run-2" {
			expired++
		}
	}
	if expired != 1 {
		t.Errorf("%d ImagesExpired events for 2 images, want 1", expired)
	}
}

// testWriter sends the function's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
