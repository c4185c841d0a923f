package gc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Budget counts a run's deletions and archivals across the invocations of
// a fan-out, so gc.maxDeletesPerRun bounds the run, not each repository.
type Budget interface {
	// Reserve records that repository's part of run runID will act on n
	// images and reports whether the run stays within limit. used is the
	// run's count before this reservation. A repeated reservation for the
	// same repository (a redelivered message) takes only what it adds.
	Reserve(ctx context.Context, runID, repository string, n, limit int) (ok bool, used int, err error)
}

// budgetPrefix starts the budget's items. It is not "gc#", which starts the
// reports' dedupe keys (gc#<run>#<repository>): a repository named "count"
// would otherwise share its report's key with the run's counter.
const budgetPrefix = "gc-budget#"

// BudgetAPI is the subset of the DynamoDB client DynamoBudget uses.
type BudgetAPI interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoBudget keeps the run's count in the dedupe table (hash key pk,
// TTL attribute expiresAt): one counter item per run, gc-budget#<run>#count, raised
// with a conditional UpdateItem ADD that fails when it would pass the limit,
// and one reservation item per repository, gc-budget#<run>#reserved#<repository>,
// so a redelivered message does not count its images twice.
//
// A message that dies between raising the counter and writing its
// reservation counts twice when redelivered: the run may then refuse a
// repository it had room for (an alert says so), never delete more than
// the cap. Which repositories a full budget refuses depends on the order SQS
// delivers the messages in.
type DynamoBudget struct {
	Client BudgetAPI
	Table  string
	// TTL is how long the items live; 7 days when zero.
	TTL time.Duration
	// Now is the clock for the TTL; time.Now when nil.
	Now func() time.Time
}

// Attribute names of the budget items.
const (
	budgetKey     = "pk"
	budgetCount   = "planned"
	budgetExpires = "expiresAt"
)

// Reserve implements Budget.
func (b *DynamoBudget) Reserve(ctx context.Context, runID, repository string, n, limit int) (bool, int, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	ttl := b.TTL
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	expires := &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(now().Add(ttl).Unix(), 10)}
	resKey := map[string]dbtypes.AttributeValue{budgetKey: &dbtypes.AttributeValueMemberS{Value: budgetPrefix + runID + "#reserved#" + repository}}
	got, err := b.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.Table), Key: resKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, 0, fmt.Errorf("read reservation of %s in run %s: %w", repository, runID, err)
	}
	prev := number(got.Item[budgetCount])
	need := n - prev
	if need <= 0 {
		return true, 0, nil // an earlier delivery of this message reserved enough
	}
	if need > limit {
		return false, 0, nil // over the cap on its own, whatever the run has used
	}
	_, err = b.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(b.Table),
		Key:                                 map[string]dbtypes.AttributeValue{budgetKey: &dbtypes.AttributeValueMemberS{Value: budgetPrefix + runID + "#count"}},
		UpdateExpression:                    aws.String("ADD #n :need SET #exp = :exp"),
		ConditionExpression:                 aws.String("attribute_not_exists(#n) OR #n <= :room"),
		ExpressionAttributeNames:            map[string]string{"#n": budgetCount, "#exp": budgetExpires},
		ExpressionAttributeValues:           map[string]dbtypes.AttributeValue{":need": num(need), ":room": num(limit - need), ":exp": expires},
		ReturnValuesOnConditionCheckFailure: dbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *dbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, number(ccf.Item[budgetCount]), nil
	case err != nil:
		return false, 0, fmt.Errorf("count %d images against run %s: %w", need, runID, err)
	}
	_, err = b.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.Table), Item: map[string]dbtypes.AttributeValue{
		budgetKey: resKey[budgetKey], budgetCount: num(n), budgetExpires: expires,
	}})
	if err != nil {
		return false, 0, fmt.Errorf("record reservation of %s in run %s: %w", repository, runID, err)
	}
	return true, 0, nil
}

func num(n int) dbtypes.AttributeValue {
	return &dbtypes.AttributeValueMemberN{Value: strconv.Itoa(n)}
}

func number(v dbtypes.AttributeValue) int {
	if n, ok := v.(*dbtypes.AttributeValueMemberN); ok {
		i, _ := strconv.Atoi(n.Value)
		return i
	}
	return 0
}
