package dynamodb

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
)

// UpdateItem, the subset of the DynamoDB Developer Guide's "Update
// expressions" that counters and conditional updates use:
//
//	update   = clause { clause }
//	clause   = SET action { "," action } | ADD path value { "," path value } | REMOVE path { "," path }
//	action   = path "=" operand [ ("+" | "-") operand ]
//	         | path "=" if_not_exists(path, operand)
//	operand  = path | :value
//	path     = name | #alias (top-level attributes only)
//
// SET arithmetic and ADD take numbers (ADD also number and string sets:
// union); a missing attribute counts as 0 for ADD and is an error for
// arithmetic, as in DynamoDB. The item is created when it does not exist.
// The ConditionExpression is checked against the item before the update
// (ConditionalCheckFailedException with ReturnValuesOnConditionCheckFailure
// ALL_OLD, like PutItem). ReturnValues NONE, ALL_OLD, ALL_NEW, UPDATED_OLD
// and UPDATED_NEW. DELETE clauses, list_append, nested paths and key
// attributes in the expression are refused with a ValidationException.

type updateInput struct {
	TableName                           string                     `json:"TableName"`
	Key                                 map[string]json.RawMessage `json:"Key"`
	UpdateExpression                    *string                    `json:"UpdateExpression"`
	ConditionExpression                 *string                    `json:"ConditionExpression"`
	ExpressionAttributeNames            map[string]string          `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues           map[string]json.RawMessage `json:"ExpressionAttributeValues"`
	ReturnValues                        string                     `json:"ReturnValues"`
	ReturnValuesOnConditionCheckFailure string                     `json:"ReturnValuesOnConditionCheckFailure"`
	ReturnConsumedCapacity              string                     `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics         string                     `json:"ReturnItemCollectionMetrics"`
	AttributeUpdates                    json.RawMessage            `json:"AttributeUpdates"`
	Expected                            json.RawMessage            `json:"Expected"`
	ConditionalOperator                 string                     `json:"ConditionalOperator"`
}

// updateAction is one action of an update expression.
type updateAction struct {
	kind string // SET, ADD, REMOVE
	attr string
	// SET: l [op r], or ifNotExists(l.attr, r) when ifNotExists.
	l, r        operand
	op          string
	ifNotExists bool
	// ADD: the value to add.
	add json.RawMessage
}

func (s *Server) updateItem(body []byte) (any, *apiError) {
	var in updateInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.AttributeUpdates != nil || in.Expected != nil || in.ConditionalOperator != "" {
		return nil, validation("the legacy parameters AttributeUpdates, Expected and ConditionalOperator are not supported by this emulator; use UpdateExpression and ConditionExpression")
	}
	if in.Key == nil {
		return nil, validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", in.ReturnValues)
	}
	switch in.ReturnValuesOnConditionCheckFailure {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", in.ReturnValuesOnConditionCheckFailure)
	}
	if in.UpdateExpression == nil && in.ConditionExpression == nil && (in.ExpressionAttributeNames != nil || in.ExpressionAttributeValues != nil) {
		return nil, validation("ExpressionAttributeNames and ExpressionAttributeValues can only be specified when using expressions")
	}
	for name, raw := range in.ExpressionAttributeValues {
		if _, _, err := parseValue(raw, "ExpressionAttributeValues."+name, 1); err != nil {
			return nil, err
		}
	}
	p := &condParser{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
	var cond condition
	if in.ConditionExpression != nil {
		if strings.TrimSpace(*in.ConditionExpression) == "" {
			return nil, validation("Invalid ConditionExpression: The expression can not be empty;")
		}
		toks, err := tokenize(*in.ConditionExpression)
		if err == nil {
			p.toks, p.pos = toks, 0
			cond, err = p.or()
			if err == nil && p.pos < len(p.toks) {
				err = fmt.Errorf("Syntax error; token: %q", p.toks[p.pos])
			}
		}
		if err != nil {
			return nil, validation("Invalid ConditionExpression: %s", err)
		}
	}
	var actions []updateAction
	if in.UpdateExpression != nil {
		var err error
		if actions, err = parseUpdate(p, *in.UpdateExpression); err != nil {
			return nil, validation("Invalid UpdateExpression: %s", err)
		}
	}
	if unused := unusedKeys(in.ExpressionAttributeNames, p.usedNames); unused != "" {
		return nil, validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", unused)
	}
	if unused := unusedKeys(in.ExpressionAttributeValues, p.usedValues); unused != "" {
		return nil, validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", unused)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t, aerr := s.table(in.TableName)
	if aerr != nil {
		return nil, aerr
	}
	key, aerr := t.keyOf(in.Key, "Key", true)
	if aerr != nil {
		return nil, aerr
	}
	for _, a := range actions {
		for _, k := range t.keys {
			if a.attr == k.name {
				return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", k.name)
			}
		}
	}
	old := s.current(t, key)
	if cond != nil && !cond.holds(old) {
		e := &apiError{status: http.StatusBadRequest, typ: "ConditionalCheckFailedException", msg: "The conditional request failed"}
		if in.ReturnValuesOnConditionCheckFailure == "ALL_OLD" && old != nil {
			e.item = old
		}
		return nil, e
	}
	item := make(map[string]json.RawMessage, len(old)+len(in.Key)+len(actions))
	for k, v := range old {
		item[k] = v
	}
	for k, v := range in.Key {
		item[k] = v
	}
	for _, a := range actions {
		if err := a.apply(item, old); err != nil {
			return nil, err
		}
	}
	if _, _, aerr := parseItem(item, "Item"); aerr != nil {
		return nil, aerr
	}
	t.items[key] = item
	out := map[string]any{}
	updated := func(from map[string]json.RawMessage) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for _, a := range actions {
			if v, ok := from[a.attr]; ok {
				m[a.attr] = v
			}
		}
		return m
	}
	switch in.ReturnValues {
	case "ALL_OLD":
		if old != nil {
			out["Attributes"] = old
		}
	case "ALL_NEW":
		out["Attributes"] = item
	case "UPDATED_OLD":
		if m := updated(old); len(m) > 0 {
			out["Attributes"] = m
		}
	case "UPDATED_NEW":
		if m := updated(item); len(m) > 0 {
			out["Attributes"] = m
		}
	}
	return out, nil
}

// parseUpdate parses an update expression with the condition parser's
// tokens, aliases and values (so unused names and values are found across
// both expressions).
func parseUpdate(p *condParser, expr string) ([]updateAction, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("The expression can not be empty;")
	}
	toks, err := tokenizeUpdate(expr)
	if err != nil {
		return nil, err
	}
	p.toks, p.pos = toks, 0
	var actions []updateAction
	seenClause := map[string]bool{}
	for p.peek() != "" {
		clause := strings.ToUpper(p.next())
		switch clause {
		case "SET", "ADD", "REMOVE":
		case "DELETE":
			return nil, fmt.Errorf("DELETE clauses are not supported by this emulator")
		default:
			return nil, fmt.Errorf("Syntax error; token: %q, expected SET, ADD or REMOVE", clause)
		}
		if seenClause[clause] {
			return nil, fmt.Errorf("The %q section can only be used once in an update expression;", clause)
		}
		seenClause[clause] = true
		for {
			a := updateAction{kind: clause}
			if a.attr, err = p.path(); err != nil {
				return nil, err
			}
			switch clause {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				if strings.EqualFold(p.peek(), "if_not_exists") {
					p.next()
					a.ifNotExists = true
					if err := p.expect("("); err != nil {
						return nil, err
					}
					if a.l.attr, err = p.path(); err != nil {
						return nil, err
					}
					if err := p.expect(","); err != nil {
						return nil, err
					}
					if a.r, err = p.operand(); err != nil {
						return nil, err
					}
					if err := p.expect(")"); err != nil {
						return nil, err
					}
				} else {
					if a.l, err = p.operand(); err != nil {
						return nil, err
					}
					if op := p.peek(); op == "+" || op == "-" {
						p.next()
						a.op = op
						if a.r, err = p.operand(); err != nil {
							return nil, err
						}
					}
				}
			case "ADD":
				v := p.next()
				raw, ok := p.values[v]
				if !strings.HasPrefix(v, ":") || !ok {
					return nil, fmt.Errorf("An expression attribute value used in expression is not defined; attribute value: %s", v)
				}
				p.usedValues[v] = true
				a.add = raw
			}
			for _, prev := range actions {
				if prev.attr == a.attr {
					return nil, fmt.Errorf("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", a.attr, a.attr)
				}
			}
			actions = append(actions, a)
			if p.peek() != "," {
				break
			}
			p.next()
		}
	}
	return actions, nil
}

// tokenizeUpdate is tokenize with + and - as tokens of their own.
func tokenizeUpdate(s string) ([]string, error) {
	var toks []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '+' && s[i] != '-' {
			continue
		}
		// A - inside a name (tokenize keeps "a-b" whole) stays there.
		if i < len(s) && s[i] == '-' && i > 0 && (s[i-1] == '_' || isAlnum(s[i-1])) && i+1 < len(s) && (s[i+1] == '_' || isAlnum(s[i+1])) {
			continue
		}
		part, err := tokenize(s[start:i])
		if err != nil {
			return nil, err
		}
		toks = append(toks, part...)
		if i < len(s) {
			toks = append(toks, string(s[i]))
		}
		start = i + 1
	}
	return toks, nil
}

// apply carries out the action on item; old is the item before the update.
func (a updateAction) apply(item, old map[string]json.RawMessage) *apiError {
	switch a.kind {
	case "REMOVE":
		delete(item, a.attr)
		return nil
	case "ADD":
		return addTo(item, a.attr, a.add)
	}
	if a.ifNotExists {
		if v, ok := old[a.l.attr]; ok {
			item[a.attr] = v
			return nil
		}
		v, _ := a.r.resolve(old)
		item[a.attr] = v
		return nil
	}
	l, ok := a.l.resolve(old)
	if !ok {
		return validation("The provided expression refers to an attribute that does not exist in the item")
	}
	if a.op == "" {
		item[a.attr] = l
		return nil
	}
	r, ok := a.r.resolve(old)
	if !ok {
		return validation("The provided expression refers to an attribute that does not exist in the item")
	}
	x, okx := ratOf(l)
	y, oky := ratOf(r)
	if !okx || !oky {
		return validation("An operand in the update expression has an incorrect data type")
	}
	if a.op == "-" {
		y.Neg(y)
	}
	item[a.attr] = numberValue(x.Add(x, y))
	return nil
}

// addTo is ADD: number addition (a missing attribute is 0) or set union.
func addTo(item map[string]json.RawMessage, attr string, add json.RawMessage) *apiError {
	var v value
	_ = json.Unmarshal(add, &v)
	cur, exists := item[attr]
	switch {
	case v.N != nil:
		sum, _ := ratOf(add)
		if exists {
			c, ok := ratOf(cur)
			if !ok {
				return validation("An operand in the update expression has an incorrect data type")
			}
			sum.Add(sum, c)
		}
		item[attr] = numberValue(sum)
	case v.SS != nil || v.NS != nil:
		var c value
		if exists {
			_ = json.Unmarshal(cur, &c)
		}
		if exists && (c.SS == nil) != (v.SS == nil) {
			return validation("An operand in the update expression has an incorrect data type")
		}
		members := append(append([]string{}, c.SS...), c.NS...)
		for _, m := range append(append([]string{}, v.SS...), v.NS...) {
			if !slices.Contains(members, m) {
				members = append(members, m)
			}
		}
		kind := "SS"
		if v.NS != nil {
			kind = "NS"
		}
		b, _ := json.Marshal(map[string][]string{kind: members})
		item[attr] = b
	default:
		return validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: not a number or set")
	}
	return nil
}

func ratOf(raw json.RawMessage) (*big.Rat, bool) {
	var v value
	if json.Unmarshal(raw, &v) != nil || v.N == nil {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(strings.TrimSpace(*v.N))
	return r, ok
}

func numberValue(r *big.Rat) json.RawMessage {
	s := r.RatString()
	if !r.IsInt() {
		s = strings.TrimRight(strings.TrimRight(r.FloatString(38), "0"), ".")
	}
	b, _ := json.Marshal(map[string]string{"N": s})
	return b
}
