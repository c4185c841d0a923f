package dedupe

import (
	"context"
	"errors"
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
	return New(f, "ecrwarden-dedupe", WithClock(func() time.Time { return t0 }), WithLease(time.Minute), WithTTL(time.Hour))
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
