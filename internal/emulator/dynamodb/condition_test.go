package dynamodb

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConditionExpressions(t *testing.T) {
	item := map[string]json.RawMessage{
		"pk":         json.RawMessage(`{"S":"fp#1"}`),
		"state":      json.RawMessage(`{"S":"pending"}`),
		"leaseUntil": json.RawMessage(`{"N":"100"}`),
		"expiresAt":  json.RawMessage(`{"N":"1000"}`),
	}
	names := map[string]string{"#pk": "pk", "#exp": "expiresAt", "#state": "state", "#lease": "leaseUntil"}
	dedupe := "attribute_not_exists(#pk) OR #exp < :now OR (#state = :pending AND #lease < :now)"
	tests := []struct {
		name   string
		expr   string
		names  map[string]string
		values map[string]string
		item   map[string]json.RawMessage
		want   bool
	}{
		{"absent item", dedupe, names, map[string]string{":now": `{"N":"50"}`, ":pending": `{"S":"pending"}`}, nil, true},
		{"live lease", dedupe, names, map[string]string{":now": `{"N":"50"}`, ":pending": `{"S":"pending"}`}, item, false},
		{"stale lease", dedupe, names, map[string]string{":now": `{"N":"150"}`, ":pending": `{"S":"pending"}`}, item, true},
		{"expired record", dedupe, names, map[string]string{":now": `{"N":"1500"}`, ":pending": `{"S":"pending"}`}, item, true},
		{"done record", dedupe, names, map[string]string{":now": `{"N":"150"}`, ":pending": `{"S":"done"}`}, item, false},
		{"numeric, not lexical", "#exp > :v", map[string]string{"#exp": "expiresAt"}, map[string]string{":v": `{"N":"999.5"}`}, item, true},
		{"type mismatch is false", "#exp = :v", map[string]string{"#exp": "expiresAt"}, map[string]string{":v": `{"S":"1000"}`}, item, false},
		{"missing attribute compares false", "nope <> :v", nil, map[string]string{":v": `{"S":"x"}`}, item, false},
		{"not", "NOT attribute_exists(pk)", nil, nil, item, false},
		{"begins_with", "begins_with(pk, :p)", nil, map[string]string{":p": `{"S":"fp#"}`}, item, true},
		{"precedence: AND binds tighter", "attribute_exists(nope) AND attribute_exists(pk) OR attribute_exists(pk)", nil, nil, item, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]json.RawMessage{}
			for k, v := range tt.values {
				vals[k] = json.RawMessage(v)
			}
			if len(vals) == 0 {
				vals = nil
			}
			c, aerr := parseCondition(&tt.expr, tt.names, vals)
			if aerr != nil {
				t.Fatalf("parse: %s", aerr.msg)
			}
			if got := c.holds(tt.item); got != tt.want {
				t.Errorf("holds = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConditionErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"attribute_exists(pk":     "expected \")\"",
		"pk = ":                   "expected an attribute",
		"pk = :missing":           "not defined; attribute value: :missing",
		"pk BETWEEN :a AND :b":    "this emulator supports",
		"(pk = pk":                "expected \")\"",
		"pk = pk extra":           "Syntax error",
		"status = pk":             "reserved keyword",
		"attribute_exists(#x) ; ": "Syntax error",
	} {
		t.Run(expr, func(t *testing.T) {
			e := expr
			_, aerr := parseCondition(&e, map[string]string{"#x": "x"}, nil)
			if aerr == nil || !strings.Contains(aerr.msg, want) {
				t.Errorf("error = %v, want %q", aerr, want)
			}
		})
	}
}
