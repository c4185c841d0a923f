package dedupe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	ddbemu "github.com/ecrwarden/ecrwarden/internal/emulator/dynamodb"
)

// TestStoreAgainstEmulator runs the store's real requests through the SDK
// client against the DynamoDB emulator, with expired records left visible
// as real DynamoDB leaves them until its background deletion.
func TestStoreAgainstEmulator(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	srv := ddbemu.New(ddbemu.Options{Now: clock, LazyTTL: true})
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := dynamodb.NewFromConfig(aws.Config{
		Region: "ap-southeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String(srv.URL()),
	})
	ctx := context.Background()
	if _, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("dedupe"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	s := New(client, "dedupe", WithClock(clock), WithLease(2*time.Minute), WithTTL(24*time.Hour), WithHeldWait(300*time.Millisecond))

	step := func(name string, want State) {
		t.Helper()
		got, err := s.Begin(ctx, "findings#abc")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Fatalf("%s: state %v, want %v", name, got, want)
		}
	}
	step("first", Claimed)
	step("concurrent duplicate", InProgress)
	advance(3 * time.Minute)
	step("lease of a dead invocation ran out", Reclaimed)
	if err := s.Done(ctx, "findings#abc"); err != nil {
		t.Fatal(err)
	}
	step("redelivery", AlreadyDone)
	advance(25 * time.Hour)
	step("expired record still readable", Claimed)
	if err := s.Abandon(ctx, "findings#abc"); err != nil {
		t.Fatal(err)
	}
	step("after abandon", Claimed)

	// Once through the emulator: a definite failure is released for an
	// immediate retry; an uncertain one too, but the retry is Reclaimed; a
	// live lease is an error.
	work := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	once := func(name, key string, w func(context.Context) error, want State, wantErr error) {
		t.Helper()
		got, err := s.Once(ctx, key, w)
		if !errors.Is(err, wantErr) || got != want {
			t.Fatalf("%s: state %v err %v, want %v %v", name, got, err, want, wantErr)
		}
	}
	boom := errors.New("slack answered 400 invalid_payload")
	once("definite failure", "slack#1", work(boom), Claimed, boom)
	once("retry after a definite failure", "slack#1", work(nil), Claimed, nil)
	once("redelivery", "slack#1", work(nil), AlreadyDone, nil)
	unsure := fmt.Errorf("post webhook: %w: context deadline exceeded", ErrUncertain)
	once("uncertain failure", "slack#2", work(unsure), Claimed, ErrUncertain)
	once("retry after an uncertain failure", "slack#2", work(nil), Reclaimed, nil)
	if st, err := s.Begin(ctx, "slack#3"); err != nil || st != Claimed {
		t.Fatalf("claim slack#3: %v %v", st, err)
	}
	once("lease held by another invocation", "slack#3", work(nil), InProgress, ErrInProgress)
	// A concurrent duplicate: the holder finishes while Once waits.
	if st, err := s.Begin(ctx, "slack#4"); err != nil || st != Claimed {
		t.Fatalf("claim slack#4: %v %v", st, err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = s.Done(context.Background(), "slack#4")
	}()
	once("holder finishes meanwhile", "slack#4", work(errors.New("must not run")), AlreadyDone, nil)
}
