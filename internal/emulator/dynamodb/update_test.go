package dynamodb

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestUpdateItem drives UpdateItem through the SDK the way a run-wide
// counter and the Developer Guide's update-expression examples use it.
func TestUpdateItem(t *testing.T) {
	s := start(t, Options{})
	c := client(s, 1)
	ctx := context.Background()
	if err := s.CreateTable("t", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"pk": str("run#1")}
	get := func() map[string]types.AttributeValue {
		t.Helper()
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	add := func(n, room int64) (*dynamodb.UpdateItemOutput, error) {
		return c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String("t"), Key: key,
			UpdateExpression:                    aws.String("ADD #n :n SET #e = :e"),
			ConditionExpression:                 aws.String("attribute_not_exists(#n) OR #n <= :room"),
			ExpressionAttributeNames:            map[string]string{"#n": "planned", "#e": "expiresAt"},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":n": num(n), ":room": num(room), ":e": num(1900000000)},
			ReturnValues:                        types.ReturnValueUpdatedNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
	}
	// A cap of 100: 60, then 30 (room 70), then 20 is refused (room 80 < 90).
	out, err := add(60, 40)
	if err != nil {
		t.Fatalf("first ADD creates the item: %v", err)
	}
	if diff := cmp.Diff(map[string]types.AttributeValue{"planned": num(60), "expiresAt": num(1900000000)}, out.Attributes,
		cmpopts.IgnoreUnexported(types.AttributeValueMemberN{})); diff != "" {
		t.Errorf("UPDATED_NEW (-want +got):\n%s", diff)
	}
	if _, err := add(30, 70); err != nil {
		t.Fatalf("second ADD: %v", err)
	}
	_, err = add(20, 80)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("over the cap: %v, want ConditionalCheckFailedException", err)
	}
	if got := ccf.Item["planned"].(*types.AttributeValueMemberN).Value; got != "90" {
		t.Errorf("ALL_OLD on failure says planned %s, want 90", got)
	}
	if got := get()["planned"].(*types.AttributeValueMemberN).Value; got != "90" {
		t.Errorf("stored planned = %s, want 90 (the refused ADD changed nothing)", got)
	}

	// SET with arithmetic and if_not_exists, REMOVE, and set ADD.
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("t"), Key: key,
		UpdateExpression:          aws.String("SET planned = planned - :two, first = if_not_exists(first, :now), ratio = :half ADD repos :r REMOVE expiresAt"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":two": num(2), ":now": num(7), ":half": &types.AttributeValueMemberN{Value: "0.50"}, ":r": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	item := get()
	if item["planned"].(*types.AttributeValueMemberN).Value != "88" || item["first"].(*types.AttributeValueMemberN).Value != "7" ||
		item["ratio"].(*types.AttributeValueMemberN).Value != "0.50" || item["expiresAt"] != nil {
		t.Errorf("item after SET/REMOVE = %#v", item)
	}
	if ss := item["repos"].(*types.AttributeValueMemberSS).Value; !cmp.Equal(ss, []string{"a", "b"}) {
		t.Errorf("repos = %v", ss)
	}
}

func TestUpdateItemErrors(t *testing.T) {
	s := start(t, Options{})
	c := client(s, 1)
	ctx := context.Background()
	if err := s.CreateTable("t", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"pk": str("k")}
	tests := []struct {
		name   string
		in     dynamodb.UpdateItemInput
		substr string
	}{
		{"unused value", dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET a = :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(1), ":b": num(2)}}, "unused in expressions: keys: {:b}"},
		{"undefined value", dynamodb.UpdateItemInput{UpdateExpression: aws.String("ADD a :x")}, "not defined"},
		{"key attribute", dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET pk = :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": str("x")}}, "part of the key"},
		{"overlapping paths", dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET a = :a ADD a :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(1)}}, "overlap"},
		{"arithmetic on a missing attribute", dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET a = a + :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(1)}}, "does not exist"},
		{"ADD a string", dynamodb.UpdateItemInput{UpdateExpression: aws.String("ADD a :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": str("x")}}, "operand type"},
		{"DELETE clause", dynamodb.UpdateItemInput{UpdateExpression: aws.String("DELETE a :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(1)}}, "not supported"},
		{"reserved word", dynamodb.UpdateItemInput{UpdateExpression: aws.String("SET status = :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(1)}}, "reserved keyword"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.TableName, in.Key = aws.String("t"), key
			_, err := c.UpdateItem(ctx, &in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("err = %v, want a ValidationException containing %q", err, tc.substr)
			}
		})
	}
	if n := s.ItemCount("t"); n != 0 {
		t.Errorf("%d items after refused updates", n)
	}
}
