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

// cluster is the package's control plane, with controllers and kwok nodes so that
// rollouts really happen (cluster_test.go); nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTestsWith(m, "retail-forecast", sandbox.ClusterOptions{Controllers: &testenv.ControllerOptions{}},
		func(c *sandbox.Cluster) { cluster = c }))
}

const alertPolicy = `version: 1
clusters:
  - name: retail-forecast
    namespaces: [default]
notify: { slackSecret: ecrwarden/slack-webhook }
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
// emulator's leases, with Lambda's retry (one, after a delay):
//
//  1. The hanging post is cut at the invocation's deadline minus the
//     reserve: the invocation fails by itself (it is not killed at its
//     timeout), releases its claim, and the retry posts the alert.
//  2. Lambda kills an invocation in the middle of the post, holding the
//     lease. Redriven, the first attempt finds the lease held and fails (it
//     used to succeed as "already in progress", and the alert was never
//     sent); the retry comes after the lease — the dead invocation's
//     deadline plus 2 s — and posts the alert, logged as a possible
//     duplicate.
func TestAlertSurvivesTimeoutMidSend(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	if err := os.WriteFile(path, []byte(alertPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	const timeout = 5 * time.Second
	logs := &sandbox.LogBuffer{}
	oneRetry := 1
	sb, err := sandbox.Start(ctx, sandbox.Options{PolicyPath: path, Cluster: cluster, Logs: logs,
		Retries: &oneRetry, RetryDelay: timeout + 4*time.Second, Timeout: timeout})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
		sb.Close()
	})
	slack, topic := sb.Suite.Slack, sb.TopicARN
	counts := func() [2]int { return [2]int{len(sb.Suite.SNS.Messages(topic)), len(slack.Payloads())} }
	// hangNextPost makes the next Slack post hang (the fault is decided when
	// the post arrives) and calls then once it has arrived.
	hangNextPost := func(then func()) {
		posts := slack.Calls().Count(slackemu.Op)
		slack.Faults().Set(slackemu.Op, fault.Rule{Latency: time.Hour})
		go func() {
			for slack.Calls().Count(slackemu.Op) == posts {
				time.Sleep(5 * time.Millisecond)
			}
			slack.Faults().Clear()
			then()
		}()
	}

	// 1. The send is bounded by the deadline.
	hangNextPost(func() {})
	if _, err := sb.Push(ctx, "mlops/retail-api", "v1.0.0", critical("CVE-2026-4001")); err != nil {
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
	case strings.Contains(logs.String(), "Status: timeout"):
		t.Fatalf("onscan was killed at its timeout: the Slack post was not bounded by the deadline")
	case first.Err != nil || first.Attempts != 2:
		t.Fatalf("onscan: %v after %d attempts, want success on the retry", first.Err, first.Attempts)
	}
	if got := counts(); got != [2]int{1, 1} {
		t.Fatalf("SNS, Slack messages = %v, want [1 1]", got)
	}

	// 2. Killed mid-send, holding the lease.
	killCtx, kill := context.WithCancel(ctx)
	defer kill()
	hangNextPost(kill)
	digest, err := sb.Push(ctx, "mlops/retail-api", "v1.1.0", critical("CVE-2026-4002"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Deliver(killCtx); err == nil {
		t.Fatal("the invocation was not killed mid-send")
	}
	if got := counts(); got != [2]int{2, 1} {
		t.Fatalf("after the kill SNS, Slack messages = %v, want [2 1]", got)
	}
	d, err := sb.Invoke(ctx, "onscan", scanEvent(t, sb, digest))
	if err != nil {
		t.Fatal(err)
	}
	if d.Err != nil || d.Attempts != 2 {
		t.Fatalf("redrive: %v after %d attempts, want the first to find the lease held and the retry to succeed", d.Err, d.Attempts)
	}
	if got := counts(); got != [2]int{2, 2} {
		t.Errorf("SNS, Slack messages = %v, want [2 2]: every alert reached both", got)
	}
	if !strings.Contains(logs.String(), "possible duplicate") {
		t.Error("the repeated post after a killed invocation was not logged as a possible duplicate")
	}
}
