package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
)

// conditionFixture is the item every condition case is checked against.
var conditionFixture = map[string]types.AttributeValue{
	"pk": str("k"),
	"b":  &types.AttributeValueMemberB{Value: []byte{1, 2}},
	"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{str("x"), num(1)}},
	"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"a": str("x"),
		"n": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"c": num(5)}}}},
	}},
	"ss":  &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
	"ns":  &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
	"nul": &types.AttributeValueMemberNULL{Value: true},
	"s":   str("héllo"),
	"n":   num(10),
	"t":   &types.AttributeValueMemberBOOL{Value: true},
}

func bin(b ...byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: b} }
func n(v string) types.AttributeValue    { return &types.AttributeValueMemberN{Value: v} }
func vals(kv ...any) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(types.AttributeValue)
	}
	return m
}

// conditionCase is one ConditionExpression checked against
// conditionFixture. want is "true" (the write succeeds), "false"
// (ConditionalCheckFailedException) or the exact ValidationException
// message. moto is moto 5.2.1's answer when it differs from ours ("true",
// "false", "invalid" or "500"), with the reason the emulator keeps its own
// answer in why; empty when moto agrees.
type conditionCase struct {
	name   string
	expr   string
	names  map[string]string
	values map[string]types.AttributeValue
	want   string
	moto   string
	why    string
}

func conditionCases() []conditionCase {
	inList := make([]string, 101)
	many := map[string]types.AttributeValue{}
	for i := range inList {
		inList[i] = ":v" + strconv.Itoa(i)
		many[inList[i]] = num(int64(i))
	}
	deep := "m" + strings.Repeat(".x", 32)
	const (
		undocumentedMoto = "moto raises an internal error (HTTP 500) where DynamoDB answers; no peer opinion"
		docsBinary       = "binary values: the guide's BEGINS_WITH and CONTAINS operators (API_Condition.html) take String or Binary; moto handles strings only"
		dynaliteMessage  = "DynamoDB refuses this before reading the item (message as recorded by dynalite's tests against DynamoDB); moto evaluates it"
	)
	return []conditionCase{
		// = and <> on every type.
		{name: "B equal", expr: "b = :v", values: vals(":v", bin(1, 2)), want: "true"},
		{name: "B not equal", expr: "b <> :v", values: vals(":v", bin(1, 3)), want: "true"},
		{name: "L equal", expr: "l = :v", values: vals(":v", &types.AttributeValueMemberL{Value: []types.AttributeValue{str("x"), num(1)}}), want: "true"},
		{name: "L order matters", expr: "l = :v", values: vals(":v", &types.AttributeValueMemberL{Value: []types.AttributeValue{num(1), str("x")}}), want: "false"},
		{name: "M equal, numbers by value", expr: "m = :v", values: vals(":v", &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"n": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"c": n("5.0")}}}}, "a": str("x"),
		}}), want: "true"},
		{name: "SS equal in any order", expr: "ss = :v", values: vals(":v", &types.AttributeValueMemberSS{Value: []string{"b", "a"}}), want: "true"},
		{name: "NS equal by value", expr: "ns = :v", values: vals(":v", &types.AttributeValueMemberNS{Value: []string{"2.0", "1"}}), want: "true"},
		{name: "NULL equal", expr: "nul = :v", values: vals(":v", &types.AttributeValueMemberNULL{Value: true}), want: "true"},
		{name: "NULL not unequal", expr: "nul <> :v", values: vals(":v", &types.AttributeValueMemberNULL{Value: true}), want: "false"},
		{name: "BOOL equal", expr: "t = :v", values: vals(":v", &types.AttributeValueMemberBOOL{Value: true}), want: "true"},
		// Missing attributes.
		{name: "<> missing attribute", expr: "nope <> :v", values: vals(":v", str("x")), want: "true"},
		{name: "= missing attribute", expr: "nope = :v", values: vals(":v", str("x")), want: "false"},
		{name: "< missing attribute", expr: "nope < :v", values: vals(":v", str("x")), want: "false"},
		{name: "NOT = missing attribute", expr: "NOT (nope = :v)", values: vals(":v", str("x")), want: "true"},
		// Types and order.
		{name: "<> across types", expr: "n <> :v", values: vals(":v", str("x")), want: "true"},
		{name: "< across types", expr: "n < :v", values: vals(":v", str("x")), want: "false", moto: "500", why: undocumentedMoto},
		{name: "< on BOOL", expr: "t < :v", values: vals(":v", &types.AttributeValueMemberBOOL{Value: true}), want: "false"},
		{name: "S order is byte order", expr: "s > :v", values: vals(":v", str("h")), want: "true"},
		{name: "B order", expr: "b < :v", values: vals(":v", bin(1, 3)), want: "true"},
		{name: "N order by value", expr: "n > :v", values: vals(":v", n("9.99e0")), want: "true"},
		// BETWEEN and IN.
		{name: "BETWEEN", expr: "n BETWEEN :a AND :b", values: vals(":a", num(1), ":b", num(20)), want: "true"},
		{name: "BETWEEN outside", expr: "n BETWEEN :a AND :b", values: vals(":a", num(11), ":b", num(20)), want: "false"},
		{name: "BETWEEN strings", expr: "s between :a and :b", values: vals(":a", str("a"), ":b", str("i")), want: "true"},
		{name: "BETWEEN reversed bounds", expr: "n BETWEEN :a AND :b", values: vals(":a", num(20), ":b", num(1)),
			want: "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:20}, upper bound operand: AttributeValue: {N:1}",
			moto: "false", why: dynaliteMessage},
		{name: "BETWEEN bounds of two types", expr: "n BETWEEN :a AND :b", values: vals(":a", num(1), ":b", str("x")),
			want: "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:x}",
			moto: "500", why: undocumentedMoto},
		{name: "IN", expr: "n IN (:a, :b)", values: vals(":a", num(1), ":b", n("10.0")), want: "true"},
		{name: "IN none", expr: "s IN (:a)", values: vals(":a", str("x")), want: "false"},
		{name: "IN a list value", expr: "l in (:a)", values: vals(":a", &types.AttributeValueMemberL{Value: []types.AttributeValue{str("x"), num(1)}}), want: "true"},
		{name: "IN more than 100 values", expr: "n IN (" + strings.Join(inList, ", ") + ")", values: many,
			want: "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101", moto: "true",
			why: "the guide: \"The list can contain up to 100 values\"; moto does not limit it"},
		// contains.
		{name: "contains SS", expr: "contains(ss, :v)", values: vals(":v", str("a")), want: "true"},
		{name: "contains substring", expr: "contains(s, :v)", values: vals(":v", str("él")), want: "true"},
		{name: "contains L element", expr: "contains(l, :v)", values: vals(":v", num(1)), want: "true"},
		{name: "contains NS by value", expr: "contains(ns, :v)", values: vals(":v", n("2.0")), want: "true"},
		{name: "contains binary", expr: "contains(b, :v)", values: vals(":v", bin(2)), want: "true", moto: "false", why: docsBinary},
		{name: "contains number in string", expr: "contains(s, :v)", values: vals(":v", num(1)), want: "false"},
		{name: "contains in a map", expr: "contains(m, :v)", values: vals(":v", str("x")), want: "false"},
		{name: "contains wrong element type", expr: "contains(ss, :v)", values: vals(":v", num(1)), want: "false"},
		// size.
		{name: "size of a string counts characters", expr: "size(s) = :v", values: vals(":v", num(5)), want: "true"},
		{name: "size of a binary", expr: "size(b) = :v", values: vals(":v", num(2)), want: "true"},
		{name: "size of a map", expr: "size(m) = :v", values: vals(":v", num(2)), want: "true"},
		{name: "size of a list", expr: "size(l) > :v", values: vals(":v", num(1)), want: "true"},
		{name: "size of a set", expr: "size(ss) = :v", values: vals(":v", num(2)), want: "true"},
		{name: "size of a number", expr: "size(n) = :v", values: vals(":v", num(2)), want: "false", moto: "500", why: undocumentedMoto},
		{name: "size of a missing attribute", expr: "size(nope) = :v", values: vals(":v", num(2)), want: "false", moto: "500", why: undocumentedMoto},
		// Document paths.
		{name: "nested path", expr: "m.n[0].c = :v", values: vals(":v", num(5)), want: "true"},
		{name: "nested path, index out of range", expr: "m.n[1].c = :v", values: vals(":v", num(5)), want: "false"},
		{name: "nested path of aliases", expr: "#m.#n[0].#c = :v", names: map[string]string{"#m": "m", "#n": "n", "#c": "c"}, values: vals(":v", num(5)), want: "true"},
		{name: "list element", expr: "l[1] = :v", values: vals(":v", num(1)), want: "true"},
		{name: "path through a string", expr: "m.a.b = :v", values: vals(":v", num(1)), want: "false"},
		{name: "attribute_exists nested", expr: "attribute_exists(m.n[0])", want: "true"},
		{name: "attribute_not_exists nested", expr: "attribute_not_exists(m.zz)", want: "true"},
		{name: "path deeper than 32 levels", expr: "attribute_exists(" + deep + ")",
			want: "Invalid ConditionExpression: The document path has too many nesting levels; nesting levels: 33", moto: "false",
			why: "\"DynamoDB supports nested attributes up to 32 levels deep\" (ServiceQuotas.html); moto does not limit paths"},
		// attribute_type and begins_with.
		{name: "attribute_type L", expr: "attribute_type(l, :t)", values: vals(":t", str("L")), want: "true"},
		{name: "attribute_type NULL", expr: "attribute_type(nul, :t)", values: vals(":t", str("NULL")), want: "true"},
		{name: "attribute_type unknown type", expr: "attribute_type(l, :t)", values: vals(":t", str("X")),
			want: "Invalid ConditionExpression: Invalid attribute type name found; type: X, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}", moto: "false", why: dynaliteMessage},
		{name: "attribute_type of a number value", expr: "attribute_type(l, :t)", values: vals(":t", num(1)),
			want: "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N", moto: "false", why: dynaliteMessage},
		{name: "begins_with", expr: "begins_with(s, :v)", values: vals(":v", str("hé")), want: "true"},
		{name: "begins_with binary", expr: "begins_with(b, :v)", values: vals(":v", bin(1)), want: "true", moto: "false", why: docsBinary},
		{name: "begins_with a number", expr: "begins_with(n, :v)", values: vals(":v", num(1)),
			want: "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N", moto: "false", why: dynaliteMessage},
		// Precedence and parentheses.
		{name: "the dedupe shape", expr: "attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)",
			names: map[string]string{"#pk": "pk", "#exp": "n", "#state": "s", "#lease": "n"}, values: vals(":now", num(5), ":pending", str("héllo")), want: "false"},
		{name: "AND binds tighter than OR", expr: "attribute_exists(nope) AND attribute_exists(n) OR attribute_exists(n)", want: "true"},
		{name: "NOT binds tighter than OR", expr: "NOT attribute_exists(n) OR n = :v", values: vals(":v", num(10)), want: "true"},
		{name: "parenthesised condition", expr: "(attribute_exists(n))", want: "true"},
		{name: "redundant parentheses", expr: "((attribute_exists(n)))", want: "Invalid ConditionExpression: The expression has redundant parentheses;"},
		{name: "parenthesised operand", expr: "(n) = :v", values: vals(":v", num(10)), want: "true", moto: "500", why: undocumentedMoto},
		{name: "redundant operand parentheses", expr: "((n)) = :v", values: vals(":v", num(10)), want: "Invalid ConditionExpression: The expression has redundant parentheses;", moto: "500", why: undocumentedMoto},
		{name: "the guide's example", expr: "(ProductCategory IN (:cat1, :cat2)) and (Price between :lo and :hi)",
			values: vals(":cat1", str("a"), ":cat2", str("b"), ":lo", num(1), ":hi", num(2)), want: "false"},
		{name: "values only", expr: ":a = :a", values: vals(":a", num(1)), want: "true"},
		// Invalid expressions.
		{name: "function names are case-sensitive", expr: "ATTRIBUTE_EXISTS(n)", want: "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS", moto: "500", why: undocumentedMoto},
		{name: "unknown function", expr: "foo(s)", want: "Invalid ConditionExpression: Invalid function name; function: foo", moto: "500", why: undocumentedMoto},
		{name: "size as a condition", expr: "size(s)", want: "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size", moto: "500", why: undocumentedMoto},
		{name: "a condition function as an operand", expr: "attribute_exists(s) = :v", values: vals(":v", &types.AttributeValueMemberBOOL{Value: true}),
			want: "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists", moto: "500", why: undocumentedMoto},
		{name: "contains(a, a)", expr: "contains(s, s)", want: "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: contains, first operand: [s]",
			moto: "true", why: "the guide: \"contains (a, a) will return an error\""},
		{name: "a path compared with itself", expr: "m.n[0] = m.n[0]", want: "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [m, n, [0]]",
			moto: "true", why: dynaliteMessage},
		{name: "wrong operand count", expr: "attribute_exists(s, n)", want: "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2", moto: "500", why: undocumentedMoto},
		{name: "attribute_exists of a value", expr: "attribute_exists(:v)", values: vals(":v", str("s")), want: "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists", moto: "500", why: undocumentedMoto},
		{name: "size of a number value", expr: "size(:v) = :w", values: vals(":v", num(1), ":w", num(1)), want: "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N", moto: "500", why: undocumentedMoto},
		{name: "reserved word", expr: "status = :v", values: vals(":v", num(1)), want: "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"},
		{name: "reserved word in a nested path", expr: "m.data = :v", values: vals(":v", num(1)), want: "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: data"},
		{name: "end of input", expr: "s =", want: "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\"", moto: "500", why: undocumentedMoto},
		{name: "dangling AND", expr: "s = :v AND", values: vals(":v", num(1)), want: "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\"", moto: "500", why: undocumentedMoto},
		{name: "hyphen in a name", expr: "my-attr = :v", values: vals(":v", num(1)), want: "Invalid ConditionExpression: Syntax error; token: \"-\", near: \"my-\"", moto: "false",
			why: "the guide (Expressions.ExpressionAttributeNames): a name with a special character such as - must be an expression attribute name; moto reads my-attr as a name"},
		{name: "undefined value", expr: "s = :nope", want: "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope", moto: "500", why: undocumentedMoto},
		{name: "undefined name", expr: "#nope = :v", values: vals(":v", num(1)), want: "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #nope", moto: "500", why: undocumentedMoto},
		{name: "unused value", expr: "attribute_exists(s)", values: vals(":v", num(1)), want: "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}",
			moto: "true", why: "DynamoDB refuses unused values (the message users report, and dynalite's); moto checks unused names only"},
		{name: "unused name", expr: "attribute_exists(s)", names: map[string]string{"#x": "x", "#a": "a"}, want: "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #x}"},
		{name: "malformed value key", expr: "attribute_exists(s)", values: vals("v", num(1)), want: "ExpressionAttributeValues contains invalid key: Syntax error; key: \"v\""},
		{name: "malformed index", expr: "l[x] = :v", values: vals(":v", num(1)), want: "Invalid ConditionExpression: Syntax error; token: \"x\", near: \"[x\"", moto: "500", why: undocumentedMoto},
	}
}

// TestConditionExpressions checks every case against the emulator and, as
// a second opinion, against moto in server mode through the same SDK
// client; moto's answer must be ours unless the case records why not.
func TestConditionExpressions(t *testing.T) {
	ctx := context.Background()
	s := start(t, Options{})
	ours := client(s, 1)
	var peer *dynamodb.Client
	if moto != nil {
		peer = dynamodb.NewFromConfig(emuhttp.ClientConfig(moto.URL, 1))
	}
	for _, c := range []*dynamodb.Client{ours, peer} {
		if c == nil {
			continue
		}
		_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String("conditions"),
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		if err != nil {
			t.Fatalf("create table: %v", err)
		}
	}
	for _, tt := range conditionCases() {
		t.Run(tt.name, func(t *testing.T) {
			if got := conditionOutcome(t, ours, tt, false); got != tt.want {
				t.Errorf("emulator: %s\n got %s\nwant %s", tt.expr, got, tt.want)
			}
			if peer == nil {
				return
			}
			want := tt.moto
			if want == "" {
				want = tt.want
				if strings.Contains(want, " ") {
					want = "invalid"
				}
			}
			if got := conditionOutcome(t, peer, tt, true); got != want {
				t.Errorf("moto: %s\n got %s\nwant %s (%s)", tt.expr, got, want, tt.why)
			}
		})
	}
}

// conditionOutcome writes the fixture, then writes it again under the
// case's condition. coarse reduces a ValidationException to "invalid".
func conditionOutcome(t *testing.T, c *dynamodb.Client, tt conditionCase, coarse bool) string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("conditions"), Item: conditionFixture}); err != nil {
		t.Fatalf("put fixture: %v", err)
	}
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String("conditions"), Item: conditionFixture,
		ConditionExpression: aws.String(tt.expr), ExpressionAttributeNames: tt.names, ExpressionAttributeValues: tt.values,
	})
	var ccf *types.ConditionalCheckFailedException
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	switch {
	case err == nil:
		return "true"
	case errors.As(err, &ccf):
		return "false"
	case errors.As(err, &ae) && ae.ErrorCode() == "ValidationException":
		if coarse {
			return "invalid"
		}
		return ae.ErrorMessage()
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500:
		return strconv.Itoa(re.HTTPStatusCode())
	}
	return fmt.Sprintf("error %v", err)
}
