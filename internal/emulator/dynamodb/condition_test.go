package dynamodb

import (
	"encoding/json"
	"testing"
)

// TestDedupeCondition evaluates the dedupe store's claim condition
// (internal/dedupe) directly, over the item states it meets.
func TestDedupeCondition(t *testing.T) {
	item := map[string]json.RawMessage{
		"pk":         json.RawMessage(`{"S":"fp#1"}`),
		"state":      json.RawMessage(`{"S":"pending"}`),
		"leaseUntil": json.RawMessage(`{"N":"100"}`),
		"expiresAt":  json.RawMessage(`{"N":"1000"}`),
	}
	names := map[string]string{"#pk": "pk", "#exp": "expiresAt", "#state": "state", "#lease": "leaseUntil"}
	expr := "attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)"
	tests := []struct {
		name string
		now  string
		item map[string]json.RawMessage
		want bool
	}{
		{"absent item", "50", nil, true},
		{"live lease", "50", item, false},
		{"stale lease", "150", item, true},
		{"expired record", "1500", item, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[string]json.RawMessage{":now": json.RawMessage(`{"N":"` + tt.now + `"}`), ":pending": json.RawMessage(`{"S":"pending"}`)}
			c, aerr := parseCondition(&expr, names, values)
			if aerr != nil {
				t.Fatalf("parse: %s", aerr.msg)
			}
			if got := c.holds(tt.item); got != tt.want {
				t.Errorf("holds = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConditionParameterErrors covers the checks of
// ExpressionAttributeNames and ExpressionAttributeValues that come before
// the expression is parsed.
func TestConditionParameterErrors(t *testing.T) {
	expr := "attribute_exists(#a)"
	empty := "  "
	long := "attribute_exists(a)" + string(make([]byte, 4100))
	tests := []struct {
		name   string
		expr   *string
		names  map[string]string
		values map[string]json.RawMessage
		want   string
	}{
		{"names without expression", nil, map[string]string{"#a": "a"}, nil, "ExpressionAttributeNames can only be specified when using expressions"},
		{"values without expression", nil, nil, map[string]json.RawMessage{":v": json.RawMessage(`{"S":"x"}`)}, "ExpressionAttributeValues can only be specified when using expressions"},
		{"empty names", &expr, map[string]string{}, nil, "ExpressionAttributeNames must not be empty"},
		{"empty values", &expr, map[string]string{"#a": "a"}, map[string]json.RawMessage{}, "ExpressionAttributeValues must not be empty"},
		{"name key without #", &expr, map[string]string{"a": "a"}, nil, `ExpressionAttributeNames contains invalid key: Syntax error; key: "a"`},
		{"invalid value", &expr, map[string]string{"#a": "a"}, map[string]json.RawMessage{":v": json.RawMessage(`{}`)},
			"ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly one of the supported datatypes: :v for key :v"},
		{"empty expression", &empty, nil, nil, "Invalid ConditionExpression: The expression can not be empty;"},
		{"expression over 4 KB", &long, nil, nil, "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4119"},
		{"unknown character", ptrTo("a = :v ; b"), nil, map[string]json.RawMessage{":v": json.RawMessage(`{"S":"x"}`)}, `Invalid ConditionExpression: Syntax error; token: ";", near: ":v ;"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, aerr := parseCondition(tt.expr, tt.names, tt.values)
			if aerr == nil || aerr.msg != tt.want {
				t.Errorf("error = %v\nwant %s", aerr, tt.want)
			}
		})
	}
}

func ptrTo(s string) *string { return &s }
