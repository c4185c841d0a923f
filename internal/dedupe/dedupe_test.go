package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type fakeDB struct {
	putItem    func(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
	deleteItem func(in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error)
	puts       []*dynamodb.PutItemInput
	deletes    []*dynamodb.DeleteItemInput
}

func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	return f.putItem(in)
}

func (f *fakeDB) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.deletes = append(f.deletes, in)
	if f.deleteItem == nil {
		return &dynamodb.DeleteItemOutput{}, nil
	}
	return f.deleteItem(in)
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newStore(f *fakeDB) *Store {
	return New(f, "ecrwarden-dedupe", WithClock(func() time.Time { return t0 }), WithLease(time.Minute), WithTTL(time.Hour), WithHeldWait(0))
}

func conflict(state string) func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	return func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
		return nil, &types.ConditionalCheckFailedException{
			Message: aws.String("The conditional request failed"),
			Item:    map[string]types.AttributeValue{attrState: &types.AttributeValueMemberS{Value: state}},
		}
	}
}

func TestBegin(t *testing.T) {
	boom := errors.New("throttled for good")
	tests := []struct {
		name    string
		put     func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
		want    State
		wantErr error
	}{
		{"first claim", func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return &dynamodb.PutItemOutput{}, nil }, Claimed, nil},
		{"done before", conflict(stateDone), AlreadyDone, nil},
		{"pending elsewhere", conflict(statePend), InProgress, nil},
		{"lease of a dead attempt ran out", func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
			return &dynamodb.PutItemOutput{Attributes: map[string]types.AttributeValue{
				attrState: &types.AttributeValueMemberS{Value: statePend},
				attrLease: &types.AttributeValueMemberN{Value: strconv.FormatInt(t0.Add(-time.Second).Unix(), 10)},
			}}, nil
		}, Reclaimed, nil},
		{"expired done record", func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
			return &dynamodb.PutItemOutput{Attributes: map[string]types.AttributeValue{
				attrState:   &types.AttributeValueMemberS{Value: stateDone},
				attrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(t0.Add(-time.Hour).Unix(), 10)},
			}}, nil
		}, Claimed, nil},
		{"expired pending record", func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
			return &dynamodb.PutItemOutput{Attributes: map[string]types.AttributeValue{
				attrState:   &types.AttributeValueMemberS{Value: statePend},
				attrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(t0.Add(-time.Hour).Unix(), 10)},
			}}, nil
		}, Claimed, nil},
		{"dynamodb failure", func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return nil, boom }, 0, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDB{putItem: tt.put}
			got, err := newStore(f).Begin(context.Background(), "fp#abc")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("state = %v, want %v", got, tt.want)
			}
			in := f.puts[0]
			if aws.ToString(in.TableName) != "ecrwarden-dedupe" {
				t.Errorf("table = %q", aws.ToString(in.TableName))
			}
			if c := aws.ToString(in.ConditionExpression); !strings.Contains(c, "attribute_not_exists(#pk)") || !strings.Contains(c, "#exp < :now") {
				t.Errorf("condition = %q: must claim only absent, expired or stale records", c)
			}
			if n, want := in.Item[attrExpires].(*types.AttributeValueMemberN).Value, strconv.FormatInt(t0.Add(time.Hour).Unix(), 10); n != want {
				t.Errorf("expiresAt = %s, want now+1h = %s", n, want)
			}
			if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
				t.Error("Begin must ask for the old item on conflict to tell done from in progress")
			}
			if in.ReturnValues != types.ReturnValueAllOld {
				t.Error("Begin must ask for the replaced item to tell a takeover from a first claim")
			}
			if n, want := in.Item[attrLease].(*types.AttributeValueMemberN).Value, strconv.FormatInt(t0.Add(time.Minute).Unix(), 10); n != want {
				t.Errorf("leaseUntil without a deadline = %s, want now+lease = %s", n, want)
			}
		})
	}
}

func TestOnce(t *testing.T) {
	ok := func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return &dynamodb.PutItemOutput{}, nil }
	t.Run("success marks done", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		ran := 0
		st, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { ran++; return nil })
		if err != nil || st != Claimed || ran != 1 {
			t.Fatalf("state %v, err %v, ran %d", st, err, ran)
		}
		if len(f.puts) != 2 || f.puts[1].Item[attrState].(*types.AttributeValueMemberS).Value != stateDone {
			t.Error("work done must be recorded as done")
		}
	})
	t.Run("failure abandons", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		boom := errors.New("slack down")
		_, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if len(f.deletes) != 1 || len(f.puts) != 1 {
			t.Errorf("failed work must be abandoned, not marked done: puts %d deletes %d", len(f.puts), len(f.deletes))
		}
	})
	t.Run("done skips", func(t *testing.T) {
		f := &fakeDB{putItem: conflict(stateDone)}
		st, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { t.Error("work ran"); return nil })
		if err != nil || st != AlreadyDone {
			t.Errorf("state %v err %v", st, err)
		}
	})
	t.Run("abandon failure is reported with the work error", func(t *testing.T) {
		dbErr := errors.New("dynamodb down")
		f := &fakeDB{putItem: ok, deleteItem: func(*dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) { return nil, dbErr }}
		boom := errors.New("work failed")
		_, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { return boom })
		if !errors.Is(err, boom) || !errors.Is(err, dbErr) {
			t.Errorf("err = %v", err)
		}
	})
}

// TestLeaseFollowsDeadline: under a deadline the lease ends the margin
// after it, whatever the configured lease: a Lambda retry (a minute later)
// always finds the lease of a timed-out attempt expired.
func TestLeaseFollowsDeadline(t *testing.T) {
	f := &fakeDB{putItem: func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return &dynamodb.PutItemOutput{}, nil }}
	s := New(f, "t", WithClock(func() time.Time { return t0 }), WithLease(10*time.Minute), WithLeaseMargin(2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.Begin(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(f.puts[0].Item[attrLease].(*types.AttributeValueMemberN).Value, 10, 64)
	got := time.Unix(n, 0).Sub(t0)
	if got < 60*time.Second || got > 62*time.Second {
		t.Errorf("lease = %s after now, want the 60 s left until the deadline plus the 2 s margin", got)
	}
}

func TestOnceBoundsAndFailures(t *testing.T) {
	ok := func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return &dynamodb.PutItemOutput{}, nil }
	t.Run("in progress elsewhere is a retryable error", func(t *testing.T) {
		f := &fakeDB{putItem: conflict(statePend)}
		st, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { t.Error("work ran"); return nil })
		if st != InProgress || !errors.Is(err, ErrInProgress) {
			t.Errorf("state %v, err %v; want InProgress and ErrInProgress", st, err)
		}
	})
	t.Run("a holder that finishes while we wait", func(t *testing.T) {
		claims := 0
		f := &fakeDB{putItem: func(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
			if claims++; claims < 3 {
				return conflict(statePend)(in)
			}
			return conflict(stateDone)(in)
		}}
		s := New(f, "t", WithHeldWait(5*time.Second))
		st, err := s.Once(context.Background(), "k", func(context.Context) error { t.Error("work ran"); return nil })
		if st != AlreadyDone || err != nil || claims != 3 {
			t.Errorf("state %v, err %v after %d claims; want AlreadyDone after 3", st, err, claims)
		}
	})
	t.Run("the wait is bounded by the work deadline", func(t *testing.T) {
		f := &fakeDB{putItem: conflict(statePend)}
		s := New(f, "t", WithReserve(time.Second), WithHeldWait(time.Minute))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := s.Once(ctx, "k", func(context.Context) error { t.Error("work ran"); return nil })
		if st != InProgress || !errors.Is(err, ErrInProgress) || ctx.Err() != nil {
			t.Errorf("state %v, err %v, ctx %v; want ErrInProgress before the deadline", st, err, ctx.Err())
		}
	})
	t.Run("work runs under the deadline minus the reserve", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		s := New(f, "t", WithReserve(3*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ctxDL, _ := ctx.Deadline()
		var workDL time.Time
		if _, err := s.Once(ctx, "k", func(ctx context.Context) error { workDL, _ = ctx.Deadline(); return nil }); err != nil {
			t.Fatal(err)
		}
		if got := ctxDL.Sub(workDL); got != 3*time.Second {
			t.Errorf("work deadline is %s before the invocation's, want the 3 s reserve", got)
		}
	})
	t.Run("no time left claims nothing", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := New(f, "t", WithReserve(2*time.Second)).Once(ctx, "k", func(context.Context) error { t.Error("work ran"); return nil })
		if !errors.Is(err, ErrNoTime) || len(f.puts) != 0 {
			t.Errorf("err %v, %d writes; want ErrNoTime and no claim", err, len(f.puts))
		}
	})
	t.Run("outcome recorded after the caller's context ended", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		ctx, cancel := context.WithCancel(context.Background())
		_, err := newStore(f).Once(ctx, "k", func(context.Context) error { cancel(); return nil })
		if err != nil || len(f.puts) != 2 {
			t.Errorf("err %v, %d puts; want the done record written anyway", err, len(f.puts))
		}
	})
	t.Run("definite failure deletes only our own claim", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		boom := errors.New("slack answered 400")
		_, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { return boom })
		if !errors.Is(err, boom) || len(f.deletes) != 1 {
			t.Fatalf("err %v, deletes %d", err, len(f.deletes))
		}
		del := f.deletes[0]
		owner := f.puts[0].Item[attrOwner].(*types.AttributeValueMemberS).Value
		if aws.ToString(del.ConditionExpression) != "#owner = :owner" || del.ExpressionAttributeValues[":owner"].(*types.AttributeValueMemberS).Value != owner {
			t.Errorf("delete condition %q %v, want it conditional on our owner %q", aws.ToString(del.ConditionExpression), del.ExpressionAttributeValues, owner)
		}
	})
	t.Run("a claim taken over meanwhile is left alone", func(t *testing.T) {
		f := &fakeDB{putItem: ok, deleteItem: func(*dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
			return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		}}
		boom := errors.New("slack answered 400")
		if _, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { return boom }); !errors.Is(err, boom) || strings.Contains(err.Error(), "conditional") {
			t.Errorf("err = %v, want only the work's error", err)
		}
	})
	t.Run("uncertain failure leaves a reclaimable mark", func(t *testing.T) {
		f := &fakeDB{putItem: ok}
		werr := fmt.Errorf("post webhook: %w: context deadline exceeded", ErrUncertain)
		_, err := newStore(f).Once(context.Background(), "k", func(context.Context) error { return werr })
		if !errors.Is(err, ErrUncertain) || len(f.deletes) != 0 || len(f.puts) != 2 {
			t.Fatalf("err %v, puts %d, deletes %d; want the claim rewritten, not deleted", err, len(f.puts), len(f.deletes))
		}
		in := f.puts[1]
		lease, _ := strconv.ParseInt(in.Item[attrLease].(*types.AttributeValueMemberN).Value, 10, 64)
		if in.Item[attrState].(*types.AttributeValueMemberS).Value != statePend || lease >= t0.Unix() ||
			aws.ToString(in.ConditionExpression) != "#owner = :owner" {
			t.Errorf("release = %+v, want a pending record with an expired lease, conditional on our owner", in.Item)
		}
	})
}
