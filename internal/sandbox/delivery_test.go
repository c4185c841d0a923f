package sandbox_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eventbridge"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	slackemu "github.com/ecrwarden/ecrwarden/internal/emulator/slack"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// cluster is the package's control plane; nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, "retail-forecast", func(c *sandbox.Cluster) { cluster = c }))
}

const alertPolicy = `version: 1
clusters:
  - name: retail-forecast
    namespaces: [default]
repositories:
  - name: mlops/retail-api
    scan: { alertAt: HIGH }
`

func critical(id string) ecremu.Finding {
	return ecremu.Finding{Name: id, Severity: "CRITICAL", Description: id + " in openssl", URI: "https://www.cve.org/CVERecord?id=" + id,
		PackageName: "openssl", PackageVersion: "3.0.13", FixedInVersion: "3.0.14", CVSS2Score: "9.8", Score: 9.8}
}

// scanEvent returns the "ECR Image Scan" event the registry emitted for
// digest.
func scanEvent(t *testing.T, sb *sandbox.Sandbox, digest string) []byte {
	t.Helper()
	for _, ev := range sb.Suite.EventBridge.Events(eventbridge.DefaultBus) {
		var head struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				Digest string `json:"image-digest"`
			} `json:"detail"`
		}
		if json.Unmarshal(ev, &head) == nil && head.DetailType == "ECR Image Scan" && head.Detail.Digest == digest {
			return ev
		}
	}
	t.Fatalf("no ECR Image Scan event for %s", digest)
	return nil
}

// TestAlertSurvivesTimeoutMidSend drives the compiled onscan function with
// a CRITICAL finding while the Slack webhook hangs, through the DynamoDB
// emulator's leases:
//
//  1. The hanging post is cut at the invocation's deadline minus the
//     reserve: the invocation fails by itself (it is not killed), releases
//     its claim, and Lambda's retry posts the alert.
//  2. Lambda kills an invocation in the middle of the post, holding the
//     lease. A retry inside the lease fails (it used to succeed as "already
//     in progress", and the alert was never sent); once the lease — its
//     deadline plus a margin — has passed, a retry posts the alert and
//     logs it as a possible duplicate.
func TestAlertSurvivesTimeoutMidSend(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	if err := os.WriteFile(path, []byte(alertPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &sandbox.LogBuffer{}
	noRetries := 0
	sb, err := sandbox.Start(ctx, sandbox.Options{PolicyPath: path, Cluster: cluster, Logs: logs, Retries: &noRetries, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
		sb.Close()
	})
	slack, topic := sb.Suite.Slack, sb.Suite.SNS.TopicARN(sandbox.TopicName)
	counts := func() [2]int { return [2]int{len(sb.Suite.SNS.Messages(topic)), len(slack.Payloads())} }

	// 1. The send is bounded by the deadline.
	slack.Faults().Set(slackemu.Op, fault.Rule{Latency: time.Hour})
	digest, err := sb.Push(ctx, "mlops/retail-api", "v1.0.0", critical("CVE-2026-4001"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := sb.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first *sandbox.Delivery
	for i := range ds {
		if ds[i].Function == "onscan" {
			first = &ds[i]
		}
	}
	switch {
	case first == nil:
		t.Fatal("onscan was not invoked")
	case first.Result.TimedOut:
		t.Fatalf("onscan was killed at its timeout: the Slack post was not bounded by the deadline")
	case first.Err == nil || !strings.Contains(first.Err.Error(), "slack"):
		t.Fatalf("onscan with Slack hanging: %v, want a Slack error", first.Err)
	}
	if got := counts(); got != [2]int{1, 0} {
		t.Fatalf("SNS, Slack messages = %v, want [1 0]", got)
	}
	slack.Faults().Clear()
	d, err := sb.Invoke(ctx, "onscan", first.Event)
	if err != nil || d.Err != nil {
		t.Fatalf("retry with Slack back: %v %v", err, d.Err)
	}
	if got := counts(); got != [2]int{1, 1} {
		t.Fatalf("after the retry SNS, Slack messages = %v, want [1 1]", got)
	}

	// 2. Killed mid-send, holding the lease.
	slack.Faults().Set(slackemu.Op, fault.Rule{Latency: time.Hour})
	posts := slack.Calls().Count(slackemu.Op)
	digest, err = sb.Push(ctx, "mlops/retail-api", "v1.1.0", critical("CVE-2026-4002"))
	if err != nil {
		t.Fatal(err)
	}
	killCtx, kill := context.WithCancel(ctx)
	go func() {
		defer kill()
		for slack.Calls().Count(slackemu.Op) == posts && killCtx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := sb.Deliver(killCtx); err == nil {
		t.Fatal("the invocation was not killed mid-send")
	}
	slack.Faults().Clear()
	ev := scanEvent(t, sb, digest)
	d, err = sb.Invoke(ctx, "onscan", ev)
	if err != nil {
		t.Fatal(err)
	}
	if d.Err == nil || !strings.Contains(d.Err.Error(), "held by another invocation") {
		t.Fatalf("retry inside the dead invocation's lease = %v, want a retryable 'held by another invocation' error", d.Err)
	}
	if got := counts(); got != [2]int{2, 1} {
		t.Fatalf("SNS, Slack messages = %v, want [2 1]", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err = sb.Invoke(ctx, "onscan", ev)
		if err != nil {
			t.Fatal(err)
		}
		if d.Err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if d.Err != nil {
		t.Fatalf("retry after the lease: %v", d.Err)
	}
	if got := counts(); got != [2]int{2, 2} {
		t.Errorf("SNS, Slack messages = %v, want [2 2]: every alert reached both", got)
	}
	if !strings.Contains(logs.String(), "possible duplicate") {
		t.Error("the repeated post after a killed invocation was not logged as a possible duplicate")
	}
}
