package dynamodb

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FuzzServeHTTP feeds arbitrary bodies to every operation's decoder: the
// emulator must never panic and must answer 200 or 400 with a JSON document.
func FuzzServeHTTP(f *testing.F) {
	s := New(Options{})
	if err := s.CreateTable("t1", "pk", "N"); err != nil {
		f.Fatal(err)
	}
	if err := s.SetTTL("t1", "ttl"); err != nil {
		f.Fatal(err)
	}
	ops := []string{"PutItem", "GetItem", "DeleteItem", "CreateTable", "DescribeTable", "UpdateTimeToLive", "DescribeTimeToLive", "UpdateItem"}
	f.Add(uint8(0), `{"TableName":"t1","Item":{"pk":{"N":"1.50"},"ttl":{"N":"1e3"},"m":{"M":{"l":{"L":[{"NS":["1","2"]},{"BS":["AQ=="]}]}}}},"ConditionExpression":"attribute_not_exists(#k)","ExpressionAttributeNames":{"#k":"pk"},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"}`)
	f.Add(uint8(1), `{"TableName":"t1","Key":{"pk":{"N":"15e-1"}},"ConsistentRead":true}`)
	f.Add(uint8(2), `{"TableName":"t1","Key":{"pk":{"N":"1"}},"ReturnValues":"ALL_OLD","ConditionExpression":"attribute_exists(pk)"}`)
	f.Add(uint8(3), `{"TableName":"t2","KeySchema":[{"AttributeName":"a","KeyType":"HASH"},{"AttributeName":"b","KeyType":"RANGE"}],"AttributeDefinitions":[{"AttributeName":"a","AttributeType":"S"},{"AttributeName":"b","AttributeType":"B"}]}`)
	f.Add(uint8(5), `{"TableName":"t1","TimeToLiveSpecification":{"AttributeName":"x","Enabled":false}}`)
	f.Add(uint8(0), `{"TableName":"t1","Item":{"pk":{"N":"1"},"m":{"M":{"l":{"L":[{"S":"ab"}]}}}},"ConditionExpression":"(#m.l[0] BETWEEN :a AND :b) AND (size(m) IN (:a, :b) OR NOT contains(m.l, :s)) OR ((begins_with(m.l[0], :s)))","ExpressionAttributeNames":{"#m":"m"},"ExpressionAttributeValues":{":a":{"N":"1"},":b":{"N":"2"},":s":{"S":"a"}}}`)
	f.Add(uint8(7), `{"TableName":"t1","Key":{"pk":{"N":"1"}},"UpdateExpression":"ADD #n :n SET #e = :e, c = c - :n, f = if_not_exists(f, :n) REMOVE g","ConditionExpression":"attribute_not_exists(#n) OR #n <= :n","ExpressionAttributeNames":{"#n":"planned","#e":"expiresAt"},"ExpressionAttributeValues":{":n":{"N":"3"},":e":{"N":"9"}},"ReturnValues":"UPDATED_NEW","ReturnValuesOnConditionCheckFailure":"ALL_OLD"}`)
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+ops[int(op)%len(ops)])
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body.String())
		}
	})
}

// BenchmarkPutGetItem measures a conditional PutItem plus a GetItem (the
// idempotency check) over loopback with the real SDK client.
func BenchmarkPutGetItem(b *testing.B) {
	s := start(b, Options{})
	if err := s.CreateTable("bench", "pk", "S"); err != nil {
		b.Fatal(err)
	}
	c := client(s, 1)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := map[string]types.AttributeValue{"pk": str("k" + strconv.FormatInt(n.Add(1), 10))}
			item := map[string]types.AttributeValue{"pk": key["pk"], "expires": num(4_000_000_000)}
			if _, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("bench"), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
				b.Error(err)
				return
			}
			if _, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("bench"), Key: key}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// FuzzCondition parses arbitrary condition expressions and evaluates the
// valid ones against an item of every type: neither may panic.
func FuzzCondition(f *testing.F) {
	item := map[string]json.RawMessage{
		"a": json.RawMessage(`{"M":{"b":{"L":[{"S":"x"},{"N":"1"},{"B":"AQI="},{"NULL":true}]}}}`),
		"s": json.RawMessage(`{"SS":["x","y"]}`), "n": json.RawMessage(`{"NS":["1","2"]}`),
	}
	names := map[string]string{"#a": "a", "#b": "b"}
	values := map[string]json.RawMessage{":s": json.RawMessage(`{"S":"x"}`), ":n": json.RawMessage(`{"N":"1"}`), ":l": json.RawMessage(`{"L":[{"S":"x"}]}`), ":t": json.RawMessage(`{"S":"L"}`)}
	for _, seed := range []string{
		"#a.#b[0] = :s AND size(a) BETWEEN :n AND :n",
		"contains(s, :s) OR attribute_type(a.b, :t) AND NOT (a.b[1] IN (:n, :s, :l))",
		"((a)) <> :s", "begins_with(a.b[0], :s)", "size(a.b[2]) >= :n", "x[", "#a.", "a.b[99999999999999999999] = :n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		c, aerr := parseCondition(&expr, names, values)
		if aerr != nil {
			if aerr.typ != "ValidationException" {
				t.Fatalf("error type %s for %q", aerr.typ, expr)
			}
			return
		}
		c.holds(item)
		c.holds(nil)
	})
}
