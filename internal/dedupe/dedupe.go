package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the subset of the DynamoDB client the store uses.
type API interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// State is the outcome of Begin.
type State int

// States.
const (
	// Claimed: the caller owns the work and must call Done or Abandon.
	Claimed State = iota + 1
	// AlreadyDone: the work was done before; skip it.
	AlreadyDone
	// InProgress: another invocation holds a live lease on the work.
	InProgress
)

func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case AlreadyDone:
		return "already done"
	case InProgress:
		return "in progress elsewhere"
	}
	return "unknown"
}

// Attribute names of a record.
const (
	attrKey     = "pk"
	attrExpires = "expiresAt"
	attrState   = "state"
	attrLease   = "leaseUntil"
	statePend   = "pending"
	stateDone   = "done"
)

// Store records units of work in one DynamoDB table.
type Store struct {
	client API
	table  string
	ttl    time.Duration
	lease  time.Duration
	now    func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithTTL sets how long a done record suppresses repeats (default 30 days).
func WithTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// WithLease sets how long a pending record blocks others (default 2 minutes;
// keep it above the function timeout).
func WithLease(d time.Duration) Option { return func(s *Store) { s.lease = d } }

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a store on the named table.
func New(client API, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, ttl: 30 * 24 * time.Hour, lease: 2 * time.Minute, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// Begin claims the work named key.
func (s *Store) Begin(ctx context.Context, key string) (State, error) {
	now := s.now()
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrKey:     &types.AttributeValueMemberS{Value: key},
			attrState:   &types.AttributeValueMemberS{Value: statePend},
			attrLease:   epoch(now.Add(s.lease)),
			attrExpires: epoch(now.Add(s.ttl)),
		},
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrKey, "#exp": attrExpires, "#state": attrState, "#lease": attrLease,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":     epoch(now),
			":pending": &types.AttributeValueMemberS{Value: statePend},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return Claimed, nil
	case errors.As(err, &ccf):
		if st, ok := ccf.Item[attrState].(*types.AttributeValueMemberS); ok && st.Value == stateDone {
			return AlreadyDone, nil
		}
		return InProgress, nil
	default:
		return 0, fmt.Errorf("claim %q in %s: %w", key, s.table, err)
	}
}

// Done records the work named key as done.
func (s *Store) Done(ctx context.Context, key string) error {
	now := s.now()
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrKey:     &types.AttributeValueMemberS{Value: key},
			attrState:   &types.AttributeValueMemberS{Value: stateDone},
			attrExpires: epoch(now.Add(s.ttl)),
		},
	})
	if err != nil {
		return fmt.Errorf("mark %q done in %s: %w", key, s.table, err)
	}
	return nil
}

// Abandon deletes the claim on key so that a retry can do the work.
func (s *Store) Abandon(ctx context.Context, key string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
	})
	if err != nil {
		return fmt.Errorf("abandon %q in %s: %w", key, s.table, err)
	}
	return nil
}

// Once runs work unless the work named key is done or in progress
// elsewhere, and records the outcome: done when work succeeds, abandoned
// (so a retry runs it again) when it fails. ran reports whether work ran.
func (s *Store) Once(ctx context.Context, key string, work func(ctx context.Context) error) (state State, err error) {
	state, err = s.Begin(ctx, key)
	if err != nil || state != Claimed {
		return state, err
	}
	if werr := work(ctx); werr != nil {
		if aerr := s.Abandon(context.WithoutCancel(ctx), key); aerr != nil {
			return state, errors.Join(werr, aerr)
		}
		return state, werr
	}
	return state, s.Done(context.WithoutCancel(ctx), key)
}
