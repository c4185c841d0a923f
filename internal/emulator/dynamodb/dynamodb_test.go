package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// clock is a settable time source for TTL tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func start(t testing.TB, o Options) *Server {
	t.Helper()
	s := New(o)
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client returns a real DynamoDB client (CRC32 validation on) pointed at s
// whose retryer does not sleep.
func client(s *Server, maxAttempts int) *dynamodb.Client {
	return dynamodb.NewFromConfig(emuhttp.ClientConfig(s.URL(), maxAttempts))
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func createIdempotencyTable(t *testing.T, c *dynamodb.Client) {
	t.Helper()
	ctx := context.Background()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("ecrwarden-idempotency"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if _, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String("ecrwarden-idempotency"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)},
	}); err != nil {
		t.Fatalf("UpdateTimeToLive: %v", err)
	}
}

func TestTables(t *testing.T) {
	s := start(t, Options{})
	c := client(s, 1)
	ctx := context.Background()
	createIdempotencyTable(t, c)
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("ecrwarden-idempotency")})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	if d.Table.TableStatus != types.TableStatusActive || aws.ToString(d.Table.TableArn) != "arn:aws:dynamodb:ap-southeast-1:123456789012:table/ecrwarden-idempotency" {
		t.Errorf("DescribeTable = %s %s", d.Table.TableStatus, aws.ToString(d.Table.TableArn))
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("ecrwarden-idempotency")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expires" {
		t.Errorf("DescribeTimeToLive = %+v, %v", ttl, err)
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("ecrwarden-idempotency"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
	})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("CreateTable twice: error = %v, want ResourceInUseException", err)
	}
	_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("missing")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("DescribeTable(missing): error = %v, want ResourceNotFoundException", err)
	}
}

func TestIdempotencyRecord(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	s := start(t, Options{Now: clk.Now})
	c := client(s, 1)
	ctx := context.Background()
	createIdempotencyTable(t, c)

	put := func(pk string, expires int64, expr string, names map[string]string) error {
		in := &dynamodb.PutItemInput{
			TableName: aws.String("ecrwarden-idempotency"),
			Item: map[string]types.AttributeValue{
				"pk":      str(pk),
				"expires": num(expires),
				"detail":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"ok": &types.AttributeValueMemberBOOL{Value: true}, "n": &types.AttributeValueMemberNULL{Value: true}}},
				"tags":    &types.AttributeValueMemberSS{Value: []string{"v1", "latest"}},
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		if expr != "" {
			in.ConditionExpression = aws.String(expr)
			in.ExpressionAttributeNames = names
		}
		_, err := c.PutItem(ctx, in)
		return err
	}
	now := clk.Now().Unix()
	if err := put("push#sha256:aa", now+3600, "attribute_not_exists(#k)", map[string]string{"#k": "pk"}); err != nil {
		t.Fatalf("first PutItem: %v", err)
	}
	err := put("push#sha256:aa", now+3600, "attribute_not_exists(pk)", nil)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second PutItem: error = %v, want ConditionalCheckFailedException", err)
	}
	if got := ccf.Item["pk"]; !cmp.Equal(got, str("push#sha256:aa"), cmpopts.IgnoreUnexported(types.AttributeValueMemberS{})) {
		t.Errorf("ConditionalCheckFailedException.Item[pk] = %#v, want the old item", got)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != 400 {
		t.Errorf("status = %d, want 400", re.HTTPStatusCode())
	}

	get := func(consistent bool) map[string]types.AttributeValue {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("ecrwarden-idempotency"), Key: map[string]types.AttributeValue{"pk": str("push#sha256:aa")}, ConsistentRead: aws.Bool(consistent)})
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		return out.Item
	}
	item := get(true)
	if diff := cmp.Diff(map[string]types.AttributeValue{
		"pk":      str("push#sha256:aa"),
		"expires": num(now + 3600),
		"detail":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"ok": &types.AttributeValueMemberBOOL{Value: true}, "n": &types.AttributeValueMemberNULL{Value: true}}},
		"tags":    &types.AttributeValueMemberSS{Value: []string{"v1", "latest"}},
	}, item, cmpopts.IgnoreUnexported(types.AttributeValueMemberS{}, types.AttributeValueMemberN{}, types.AttributeValueMemberM{}, types.AttributeValueMemberBOOL{}, types.AttributeValueMemberNULL{}, types.AttributeValueMemberSS{})); diff != "" {
		t.Errorf("GetItem (-want +got):\n%s", diff)
	}

	// After the TTL passes the record is invisible and may be written again.
	clk.Set(time.Unix(now+3600, 0))
	if item := get(false); item != nil {
		t.Errorf("GetItem after expiry = %v, want no item", item)
	}
	if err := put("push#sha256:aa", now+7200, "attribute_not_exists(#k)", map[string]string{"#k": "pk"}); err != nil {
		t.Errorf("PutItem over an expired record: %v", err)
	}

	// DeleteItem with ReturnValues ALL_OLD, then the record is gone.
	del, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("ecrwarden-idempotency"), Key: map[string]types.AttributeValue{"pk": str("push#sha256:aa")}, ReturnValues: types.ReturnValueAllOld, ConditionExpression: aws.String("attribute_exists(pk)")})
	if err != nil || del.Attributes["expires"] == nil {
		t.Fatalf("DeleteItem = %v, %v; want the old attributes", del, err)
	}
	if item := get(true); item != nil {
		t.Errorf("GetItem after DeleteItem = %v, want no item", item)
	}
	_, err = c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("ecrwarden-idempotency"), Key: map[string]types.AttributeValue{"pk": str("push#sha256:aa")}, ConditionExpression: aws.String("attribute_exists(pk)")})
	if !errors.As(err, &ccf) {
		t.Errorf("conditional DeleteItem of a missing item: error = %v, want ConditionalCheckFailedException", err)
	}
}

func TestLazyTTL(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	s := start(t, Options{Now: clk.Now, LazyTTL: true})
	if err := s.CreateTable("t1", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTTL("t1", "expires"); err != nil {
		t.Fatal(err)
	}
	c := client(s, 1)
	ctx := context.Background()
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a"), "expires": num(1)}}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t1"), Key: map[string]types.AttributeValue{"pk": str("a")}})
	if err != nil || out.Item == nil {
		t.Errorf("GetItem of an expired item with LazyTTL = %v, %v; want the item", out, err)
	}
}

func TestValidation(t *testing.T) {
	s := start(t, Options{})
	if err := s.CreateTable("t1", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	c := client(s, 1)
	tests := []struct {
		name    string
		in      *dynamodb.PutItemInput
		code    string
		mention string
	}{
		{name: "unknown table", in: &dynamodb.PutItemInput{TableName: aws.String("nope"), Item: map[string]types.AttributeValue{"pk": str("a")}}, code: "ResourceNotFoundException", mention: "nope"},
		{name: "missing key", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"x": str("a")}}, code: "ValidationException", mention: "Missing the key pk"},
		{name: "key type mismatch", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": num(1)}}, code: "ValidationException", mention: "Type mismatch for key pk"},
		{name: "empty key", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("")}}, code: "ValidationException", mention: "Key: pk"},
		{name: "bad number", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a"), "n": &types.AttributeValueMemberN{Value: "twelve"}}}, code: "ValidationException", mention: "Item.n"},
		{name: "syntax error", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a")}, ConditionExpression: aws.String("attribute_type(pk, :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": str("S")}}, code: "ValidationException", mention: "Syntax error; token: \"<EOF>\""},
		{name: "undefined alias", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a")}, ConditionExpression: aws.String("attribute_not_exists(#k)")}, code: "ValidationException", mention: "#k"},
		{name: "unused alias", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a")}, ConditionExpression: aws.String("attribute_not_exists(pk)"), ExpressionAttributeNames: map[string]string{"#x": "x"}}, code: "ValidationException", mention: "{#x}"},
		{name: "reserved word", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a")}, ConditionExpression: aws.String("attribute_not_exists(status)")}, code: "ValidationException", mention: "reserved keyword: status"},
		{name: "names without expression", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a")}, ExpressionAttributeNames: map[string]string{"#k": "pk"}}, code: "ValidationException", mention: "ExpressionAttributeNames"},
		{name: "item too large", in: &dynamodb.PutItemInput{TableName: aws.String("t1"), Item: map[string]types.AttributeValue{"pk": str("a"), "big": str(strings.Repeat("x", maxItemBytes))}}, code: "ValidationException", mention: "Item size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutItem(context.Background(), tt.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code || !strings.Contains(ae.ErrorMessage(), tt.mention) {
				t.Errorf("PutItem error = %v, want %s mentioning %q", err, tt.code, tt.mention)
			}
		})
	}
	_, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t1"), Key: map[string]types.AttributeValue{"pk": str("a"), "extra": str("b")}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), "does not match the schema") {
		t.Errorf("GetItem with an extra key attribute: error = %v, want a schema mismatch", err)
	}
}

func TestFaultsAndRetryer(t *testing.T) {
	s := start(t, Options{Seed: 5})
	if err := s.CreateTable("t1", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	in := &dynamodb.GetItemInput{TableName: aws.String("t1"), Key: map[string]types.AttributeValue{"pk": str("a")}}
	s.Faults().Set("GetItem", fault.Rule{Throttle: 2})
	if _, err := client(s, 3).GetItem(context.Background(), in); err != nil {
		t.Fatalf("GetItem after 2 throttles: %v", err)
	}
	if got := s.Calls().Count("GetItem"); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	s.Calls().Reset()
	s.Faults().Set("GetItem", fault.Rule{ServerError: 10})
	_, err := client(s, 3).GetItem(context.Background(), in)
	var ise *types.InternalServerError
	if !errors.As(err, &ise) {
		t.Fatalf("error = %v, want InternalServerError", err)
	}
	if got := s.Calls().Count("GetItem"); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
}

func TestMalformedRequests(t *testing.T) {
	s := start(t, Options{})
	if err := s.CreateTable("t1", "pk", "S"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, op, body, code, mention string }{
		{name: "not JSON", op: "PutItem", body: `{"TableName":`, code: "SerializationException", mention: "malformed"},
		{name: "item not a map", op: "PutItem", body: `{"TableName":"t1","Item":[1]}`, code: "SerializationException", mention: "Item"},
		{name: "empty attribute value", op: "PutItem", body: `{"TableName":"t1","Item":{"pk":{}}}`, code: "ValidationException", mention: "Item.pk"},
		{name: "two data types", op: "PutItem", body: `{"TableName":"t1","Item":{"pk":{"S":"a","N":"1"}}}`, code: "ValidationException", mention: "more than one datatypes"},
		{name: "NULL false", op: "PutItem", body: `{"TableName":"t1","Item":{"pk":{"S":"a"},"x":{"NULL":false}}}`, code: "ValidationException", mention: "Item.x"},
		{name: "empty set", op: "PutItem", body: `{"TableName":"t1","Item":{"pk":{"S":"a"},"x":{"SS":[]}}}`, code: "ValidationException", mention: "Item.x"},
		{name: "missing table name", op: "GetItem", body: `{"Key":{"pk":{"S":"a"}}}`, code: "ValidationException", mention: "tableName"},
		{name: "unknown op", op: "Scan", body: `{}`, code: "UnknownOperationException", mention: "Scan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+tt.op)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 400 || e.Type != errPrefix+tt.code || !strings.Contains(e.Message, tt.mention) {
				t.Errorf("got %d %s, want 400 %s mentioning %q", resp.StatusCode, b, tt.code, tt.mention)
			}
		})
	}
}
