package dedupe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// Reclaimed: the caller owns the work, taken over from an earlier
	// attempt that may have done it: its invocation died or timed out while
	// holding the lease, or it gave up without knowing whether the work took
	// effect (a request that timed out). Doing the work again may duplicate
	// it; callers count that.
	Reclaimed
)

func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case AlreadyDone:
		return "already done"
	case InProgress:
		return "in progress elsewhere"
	case Reclaimed:
		return "reclaimed"
	}
	return "unknown"
}

// Owned reports whether the caller owns the work (Claimed or Reclaimed).
func (s State) Owned() bool { return s == Claimed || s == Reclaimed }

// Errors of Once, matched with errors.Is.
var (
	// ErrInProgress: another invocation holds a live lease on the work. It is
	// retryable: the lease ends shortly after that invocation's deadline, so
	// a later attempt (Lambda retries after a minute or more) claims it.
	ErrInProgress = errors.New("held by another invocation")
	// ErrNoTime: too little time was left before the deadline to do the work
	// and record its outcome; nothing was claimed.
	ErrNoTime = errors.New("not enough time left before the deadline")
	// ErrUncertain marks a work error after which the work may still have
	// taken effect (a request that timed out or lost its connection after it
	// was sent). Work returns an error wrapping it; the next claim is then
	// Reclaimed, so a repeat is counted as a possible duplicate.
	ErrUncertain = errors.New("outcome unknown")
)

// Attribute names and values of a record.
const (
	attrKey       = "pk"
	attrExpires   = "expiresAt"
	attrState     = "state"
	attrLease     = "leaseUntil"
	attrOwner     = "owner"
	attrUncertain = "uncertain"
	statePend     = "pending"
	stateDone     = "done"
)

// Defaults.
const (
	// DefaultTTL is how long a done record suppresses repeats.
	DefaultTTL = 30 * 24 * time.Hour
	// DefaultLease is the lease of a claim made under a context without a
	// deadline (the CLI, tests); its work is bounded by it.
	DefaultLease = 2 * time.Minute
	// DefaultLeaseMargin is how long a claim outlives the deadline of the
	// invocation that made it. Lambda stops an invocation at its deadline and
	// retries an asynchronous one a minute later at the earliest (SQS
	// redelivers after the visibility timeout), so a retry always finds the
	// lease of a dead attempt expired.
	DefaultLeaseMargin = 2 * time.Second
	// DefaultReserve is the time kept back from the deadline to record the
	// outcome of the work (done, or released for a retry).
	DefaultReserve = 2 * time.Second
	// DefaultHeldWait bounds how long Once waits for a live lease of another
	// invocation to end (a concurrent duplicate delivery usually finishes
	// within it) before it gives up with ErrInProgress.
	DefaultHeldWait = 10 * time.Second
	// heldPoll is the first pause between claims while a lease is held,
	// doubled up to heldPollMax.
	heldPoll    = 200 * time.Millisecond
	heldPollMax = 2 * time.Second
)

// Store records units of work in one DynamoDB table.
type Store struct {
	client   API
	table    string
	ttl      time.Duration
	lease    time.Duration
	margin   time.Duration
	reserve  time.Duration
	heldWait time.Duration
	now      func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithTTL sets how long a done record suppresses repeats (default 30 days).
func WithTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// WithLease sets the lease of claims made under a context without a
// deadline (default 2 minutes). Under a deadline — every Lambda invocation —
// the lease is derived from it: it ends DefaultLeaseMargin after the
// deadline, so it always follows the function's configured timeout.
func WithLease(d time.Duration) Option { return func(s *Store) { s.lease = d } }

// WithLeaseMargin sets how long a claim outlives its invocation's deadline
// (default 2 s); keep it well below the retry delay (Lambda: one minute).
func WithLeaseMargin(d time.Duration) Option { return func(s *Store) { s.margin = d } }

// WithReserve sets the time kept back from the deadline to record the
// outcome of the work (default 2 s).
func WithReserve(d time.Duration) Option { return func(s *Store) { s.reserve = d } }

// WithHeldWait bounds how long Once waits for another invocation's lease to
// end before it returns ErrInProgress (default 10 s; 0 does not wait).
func WithHeldWait(d time.Duration) Option { return func(s *Store) { s.heldWait = d } }

// WithClock sets the clock, for tests. Deadlines are still measured on the
// real clock: a lease is the clock's now plus the time left until the
// context's deadline.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a store on the named table.
func New(client API, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, ttl: DefaultTTL, lease: DefaultLease, margin: DefaultLeaseMargin,
		reserve: DefaultReserve, heldWait: DefaultHeldWait, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// leaseFor returns how long a claim made now under ctx lasts: until
// DefaultLeaseMargin after ctx's deadline, or the configured lease without
// one.
func (s *Store) leaseFor(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), 0) + s.margin
	}
	return s.lease
}

func newOwner() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// Begin claims the work named key, with a lease that ends DefaultLeaseMargin
// after ctx's deadline (or after the configured lease without one).
func (s *Store) Begin(ctx context.Context, key string) (State, error) {
	st, _, err := s.begin(ctx, key)
	return st, err
}

func (s *Store) begin(ctx context.Context, key string) (State, string, error) {
	now := s.now()
	owner := newOwner()
	out, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrKey:     str(key),
			attrState:   str(statePend),
			attrLease:   epoch(now.Add(s.leaseFor(ctx))),
			attrExpires: epoch(now.Add(s.ttl)),
			attrOwner:   str(owner),
		},
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrKey, "#exp": attrExpires, "#state": attrState, "#lease": attrLease,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":     epoch(now),
			":pending": str(statePend),
		},
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		if out != nil && takesOver(out.Attributes, now) {
			return Reclaimed, owner, nil
		}
		return Claimed, owner, nil
	case errors.As(err, &ccf):
		if st, ok := ccf.Item[attrState].(*types.AttributeValueMemberS); ok && st.Value == stateDone {
			return AlreadyDone, "", nil
		}
		return InProgress, "", nil
	default:
		return 0, "", fmt.Errorf("claim %q in %s: %w", key, s.table, err)
	}
}

// takesOver reports whether the record a claim replaced was a live unit of
// work that may have been done: a pending record (its lease ran out) that
// has not expired.
func takesOver(old map[string]types.AttributeValue, now time.Time) bool {
	st, ok := old[attrState].(*types.AttributeValueMemberS)
	if !ok || st.Value != statePend {
		return false
	}
	if exp, ok := old[attrExpires].(*types.AttributeValueMemberN); ok {
		if n, err := strconv.ParseInt(exp.Value, 10, 64); err == nil && n < now.Unix() {
			return false
		}
	}
	return true
}

// awaitHeld claims key again, with growing pauses, while another
// invocation's lease holds it, for at most the held wait and never past
// until; it returns the last claim's outcome.
func (s *Store) awaitHeld(ctx context.Context, key string, until time.Time) (State, string, error) {
	until = minTime(until, time.Now().Add(s.heldWait))
	pause := heldPoll
	for {
		if !time.Now().Add(pause).Before(until) {
			return InProgress, "", nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, "", fmt.Errorf("wait for %q: %w", key, ctx.Err())
		case <-t.C:
		}
		st, owner, err := s.begin(ctx, key)
		if err != nil || st != InProgress {
			return st, owner, err
		}
		pause = min(pause*2, heldPollMax)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Done records the work named key as done.
func (s *Store) Done(ctx context.Context, key string) error {
	now := s.now()
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrKey:     str(key),
			attrState:   str(stateDone),
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
		Key:       map[string]types.AttributeValue{attrKey: str(key)},
	})
	if err != nil {
		return fmt.Errorf("abandon %q in %s: %w", key, s.table, err)
	}
	return nil
}

// release gives up owner's claim on key so that a retry can claim it at
// once: a definite failure deletes the record; an uncertain one (the work
// may have taken effect) leaves it pending with an expired lease and the
// uncertain mark, so the next claim is Reclaimed and counts the repeat.
// Both are conditional on owner still holding the claim: a claim someone
// else took over is theirs, and is left alone.
func (s *Store) release(ctx context.Context, key, owner string, uncertain bool) error {
	names := map[string]string{"#owner": attrOwner}
	values := map[string]types.AttributeValue{":owner": str(owner)}
	var err error
	if uncertain {
		now := s.now()
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				attrKey:       str(key),
				attrState:     str(statePend),
				attrLease:     epoch(now.Add(-time.Second)),
				attrExpires:   epoch(now.Add(s.ttl)),
				attrUncertain: &types.AttributeValueMemberBOOL{Value: true},
			},
			ConditionExpression:       aws.String("#owner = :owner"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	} else {
		_, err = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{attrKey: str(key)},
			ConditionExpression:       aws.String("#owner = :owner"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	}
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil, errors.As(err, &ccf):
		return nil
	default:
		return fmt.Errorf("release %q in %s: %w", key, s.table, err)
	}
}

// Once runs work at most once per key across invocations, and at least
// once as long as the caller retries its errors:
//
//   - work that is done, or done now, is recorded done and skipped later
//     (AlreadyDone);
//   - work held by a live lease of another invocation is waited for (claims
//     are retried for up to the held wait, within the work deadline): done
//     meanwhile, it is AlreadyDone; released or expired, it is claimed;
//     still held, it is an ErrInProgress error, never a success — the
//     caller fails and is retried;
//   - work that fails is released, so a retry does it again; a failure
//     wrapping ErrUncertain (it may have taken effect) makes the next claim
//     Reclaimed, like a claim taken over from an invocation that died;
//   - work runs under a context whose deadline is the caller's deadline
//     minus the reserve (or the lease minus the reserve without one), so
//     that there is always time to record its outcome; with less time than
//     the reserve left, Once claims nothing and returns ErrNoTime.
//
// state says how the work was claimed (Claimed, Reclaimed) or why it did
// not run (AlreadyDone, InProgress).
func (s *Store) Once(ctx context.Context, key string, work func(ctx context.Context) error) (state State, err error) {
	workDeadline := time.Now().Add(s.lease - s.reserve)
	if dl, ok := ctx.Deadline(); ok {
		workDeadline = dl.Add(-s.reserve)
	}
	if left := time.Until(workDeadline); left <= 0 {
		return 0, fmt.Errorf("%q: %w (%s reserved to record the outcome)", key, ErrNoTime, s.reserve)
	}
	state, owner, err := s.begin(ctx, key)
	if err == nil && state == InProgress {
		state, owner, err = s.awaitHeld(ctx, key, workDeadline)
	}
	switch {
	case err != nil:
		return state, err
	case state == AlreadyDone:
		return state, nil
	case state == InProgress:
		return state, fmt.Errorf("%q: %w", key, ErrInProgress)
	}
	wctx, cancel := context.WithDeadline(ctx, workDeadline)
	werr := work(wctx)
	cancel()
	// Record the outcome even when ctx is done, within the reserve.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.reserve)
	defer cancel()
	if werr != nil {
		uncertain := errors.Is(werr, ErrUncertain)
		if rerr := s.release(rctx, key, owner, uncertain); rerr != nil {
			return state, errors.Join(werr, rerr)
		}
		return state, werr
	}
	return state, s.Done(rctx, key)
}
