package dynamodb

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
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
		UpdateExpression:          aws.String("SET planned = planned - :two, firstAt = if_not_exists(firstAt, :now), part = :half ADD repoSet :r REMOVE expiresAt"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":two": num(2), ":now": num(7), ":half": &types.AttributeValueMemberN{Value: "0.50"}, ":r": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	item := get()
	if item["planned"].(*types.AttributeValueMemberN).Value != "88" || item["firstAt"].(*types.AttributeValueMemberN).Value != "7" ||
		item["part"].(*types.AttributeValueMemberN).Value != "0.50" || item["expiresAt"] != nil {
		t.Errorf("item after SET/REMOVE = %#v", item)
	}
	if ss := item["repoSet"].(*types.AttributeValueMemberSS).Value; !cmp.Equal(ss, []string{"a", "b"}) {
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

// TestUpdateItemAgainstMoto plays the same updates on the emulator and on
// moto in server mode (the second opinion) and compares each outcome and
// the item after it.
func TestUpdateItemAgainstMoto(t *testing.T) {
	if moto == nil {
		t.Skip("moto runs outside -short")
	}
	ctx := context.Background()
	s := start(t, Options{})
	clients := map[string]*dynamodb.Client{"emulator": client(s, 1), "moto": dynamodb.NewFromConfig(emuhttp.ClientConfig(moto.URL, 1))}
	type step struct {
		update, cond string
		names        map[string]string
		values       map[string]types.AttributeValue
	}
	steps := []step{
		{update: "ADD #n :n SET #e = :e", cond: "attribute_not_exists(#n) OR #n <= :room", names: map[string]string{"#n": "planned", "#e": "expiresAt"},
			values: vals(":n", num(60), ":room", num(40), ":e", num(1900000000))},
		{update: "ADD #n :n", cond: "attribute_not_exists(#n) OR #n <= :room", names: map[string]string{"#n": "planned"}, values: vals(":n", num(30), ":room", num(70))},
		{update: "ADD #n :n", cond: "attribute_not_exists(#n) OR #n <= :room", names: map[string]string{"#n": "planned"}, values: vals(":n", num(20), ":room", num(80))},
		{update: "SET planned = planned - :two, firstAt = if_not_exists(firstAt, :now) REMOVE expiresAt", values: vals(":two", num(2), ":now", num(7))},
		{update: "SET firstAt = if_not_exists(firstAt, :later) ADD repoSet :r", values: vals(":later", num(9), ":r", &types.AttributeValueMemberSS{Value: []string{"a"}})},
		{update: "ADD repoSet :r", values: vals(":r", &types.AttributeValueMemberSS{Value: []string{"b", "a"}})},
	}
	results := map[string][]string{}
	for name, c := range clients {
		if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String("updates"),
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			BillingMode:          types.BillingModePayPerRequest,
		}); err != nil {
			t.Fatalf("%s: create table: %v", name, err)
		}
		key := map[string]types.AttributeValue{"pk": str("run#1")}
		for _, st := range steps {
			in := &dynamodb.UpdateItemInput{TableName: aws.String("updates"), Key: key, UpdateExpression: aws.String(st.update),
				ExpressionAttributeNames: st.names, ExpressionAttributeValues: st.values}
			if st.cond != "" {
				in.ConditionExpression = aws.String(st.cond)
			}
			_, err := c.UpdateItem(ctx, in)
			outcome := "ok"
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				outcome = "condition failed"
			} else if err != nil {
				outcome = "error " + err.Error()
			}
			out, gerr := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("updates"), Key: key})
			if gerr != nil {
				t.Fatalf("%s: get: %v", name, gerr)
			}
			results[name] = append(results[name], outcome+" "+describeItem(out.Item))
		}
	}
	if diff := cmp.Diff(results["moto"], results["emulator"]); diff != "" {
		t.Errorf("emulator and moto disagree (-moto +emulator):\n%s", diff)
	}
}

// describeItem renders an item's attributes in name order.
func describeItem(item map[string]types.AttributeValue) string {
	var parts []string
	for _, k := range sortedKeys(item) {
		switch v := item[k].(type) {
		case *types.AttributeValueMemberN:
			parts = append(parts, k+"=N:"+v.Value)
		case *types.AttributeValueMemberS:
			parts = append(parts, k+"=S:"+v.Value)
		case *types.AttributeValueMemberSS:
			ss := append([]string(nil), v.Value...)
			sort.Strings(ss)
			parts = append(parts, k+"=SS:"+strings.Join(ss, ","))
		default:
			parts = append(parts, k+"=?")
		}
	}
	return strings.Join(parts, " ")
}
