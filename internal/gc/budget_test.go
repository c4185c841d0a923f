package gc

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	dynamoemu "github.com/ecrwarden/ecrwarden/internal/emulator/dynamodb"
)

func startBudget(t *testing.T) (*DynamoBudget, *dynamoemu.Server) {
	t.Helper()
	s := dynamoemu.New(dynamoemu.Options{Now: func() time.Time { return now }})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateTable("dedupe", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTTL("dedupe", "expiresAt"); err != nil {
		t.Fatal(err)
	}
	return &DynamoBudget{Client: dynamodb.NewFromConfig(emuhttp.ClientConfig(s.URL(), 3)), Table: "dedupe", Now: func() time.Time { return now }}, s
}

// TestDynamoBudget: repositories of one run share the cap; a redelivered
// message does not count twice; another run has its own.
func TestDynamoBudget(t *testing.T) {
	b, _ := startBudget(t)
	ctx := context.Background()
	steps := []struct {
		run, repo string
		n         int
		ok        bool
		used      int
	}{
		{"r1", "a", 60, true, 0},
		{"r1", "b", 30, true, 0},
		{"r1", "a", 60, true, 0},   // redelivered: already reserved
		{"r1", "c", 20, false, 90}, // 90 + 20 > 100
		{"r1", "c", 10, true, 0},   // exactly the cap
		{"r1", "d", 1, false, 100},
		{"r1", "b", 35, false, 100}, // a redelivery planning more needs room for 5
		{"r2", "a", 100, true, 0},
		{"r2", "b", 101, false, 0},   // over the cap on its own: not even counted
		{"r3", "big", 101, false, 0}, // over the cap alone
	}
	for i, s := range steps {
		ok, used, err := b.Reserve(ctx, s.run, s.repo, s.n, 100)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if ok != s.ok || used != s.used {
			t.Errorf("step %d (%s %s %d): ok %v used %d, want %v %d", i, s.run, s.repo, s.n, ok, used, s.ok, s.used)
		}
	}
}

// TestBudgetKeysAreNotReportKeys: the budget's items share the dedupe table with gc's reports, keyed
// gc#<run>#<repository>; a repository named "count" (or "reserved") must not find its report's key taken.
func TestBudgetKeysAreNotReportKeys(t *testing.T) {
	b, _ := startBudget(t)
	ctx := context.Background()
	for _, repo := range []string{"count", "reserved"} {
		if ok, _, err := b.Reserve(ctx, "r1", repo, 1, 100); err != nil || !ok {
			t.Fatalf("reserve %s: %v %v", repo, ok, err)
		}
		out, err := b.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("dedupe"),
			Key: map[string]dbtypes.AttributeValue{budgetKey: &dbtypes.AttributeValueMemberS{Value: "gc#r1#" + repo}}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Item != nil {
			t.Errorf("the budget wrote gc#r1#%s, the dedupe key of repository %s's report: %v", repo, repo, out.Item)
		}
	}
}
