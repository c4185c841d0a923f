package dynamodb

import (
	"encoding/json"
	"fmt"
	"math/big"
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
	l, r        updOperand
	op          string
	ifNotExists bool
	// ADD: the value to add.
	add json.RawMessage
}

// updOperand is a top-level attribute (attr set) or an expression value.
type updOperand struct {
	attr string
	val  json.RawMessage
}

func (o updOperand) resolve(item map[string]json.RawMessage) (json.RawMessage, bool) {
	if o.attr != "" {
		v, ok := item[o.attr]
		return v, ok
	}
	return o.val, true
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
		return nil, nullMember("key")
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", in.ReturnValues)
	}
	if aerr := checkReturnOnFailure(in.ReturnValuesOnConditionCheckFailure); aerr != nil {
		return nil, aerr
	}
	if in.UpdateExpression == nil && in.ConditionExpression == nil && (in.ExpressionAttributeNames != nil || in.ExpressionAttributeValues != nil) {
		return nil, validation("ExpressionAttributeNames and ExpressionAttributeValues can only be specified when using expressions")
	}
	literals, aerr := expressionValues(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if aerr != nil {
		return nil, aerr
	}
	usedNames, usedValues := map[string]bool{}, map[string]bool{}
	var cond condition
	if in.ConditionExpression != nil {
		if cond, aerr = parseConditionExpr(*in.ConditionExpression, in.ExpressionAttributeNames, literals, usedNames, usedValues); aerr != nil {
			return nil, aerr
		}
	}
	var actions []updateAction
	if in.UpdateExpression != nil {
		u := &updParser{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, usedNames: usedNames, usedValues: usedValues}
		var err error
		if actions, err = u.parse(*in.UpdateExpression); err != nil {
			return nil, validation("Invalid UpdateExpression: %s", err)
		}
	}
	if aerr := checkUnused(in.ExpressionAttributeNames, in.ExpressionAttributeValues, usedNames, usedValues); aerr != nil {
		return nil, aerr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t, key, aerr := s.itemKey(in.TableName, in.Key, "Key", true)
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
		return nil, conditionFailed(in.ReturnValuesOnConditionCheckFailure, old)
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

// updParser parses an update expression.
type updParser struct {
	toks                  []string
	pos                   int
	names                 map[string]string
	values                map[string]json.RawMessage
	usedNames, usedValues map[string]bool
}

func (p *updParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *updParser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *updParser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("Syntax error; token: %q, expected %q", got, t)
	}
	return nil
}

// path parses a top-level attribute name or #alias.
func (p *updParser) path() (string, error) {
	t := p.next()
	switch {
	case t == "":
		return "", fmt.Errorf("Syntax error; expected an attribute at the end of the expression")
	case strings.HasPrefix(t, "#"):
		real, ok := p.names[t]
		if !ok {
			return "", fmt.Errorf("An expression attribute name used in the document path is not defined; attribute name: %s", t)
		}
		p.usedNames[t] = true
		return real, nil
	case strings.HasPrefix(t, ":") || !isIdentByte(t[0]) || t[0] >= '0' && t[0] <= '9':
		return "", fmt.Errorf("Syntax error; token: %q, expected an attribute name", t)
	case reservedWords[strings.ToUpper(t)]:
		return "", fmt.Errorf("Attribute name is a reserved keyword; reserved keyword: %s", t)
	}
	return t, nil
}

// value parses :name.
func (p *updParser) value() (json.RawMessage, error) {
	t := p.next()
	raw, ok := p.values[t]
	if !strings.HasPrefix(t, ":") || !ok {
		return nil, fmt.Errorf("An expression attribute value used in expression is not defined; attribute value: %s", t)
	}
	p.usedValues[t] = true
	return raw, nil
}

func (p *updParser) operand() (updOperand, error) {
	if strings.HasPrefix(p.peek(), ":") {
		v, err := p.value()
		return updOperand{val: v}, err
	}
	a, err := p.path()
	return updOperand{attr: a}, err
}

func (p *updParser) parse(expr string) ([]updateAction, error) {
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
				if a.add, err = p.value(); err != nil {
					return nil, err
				}
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

// tokenizeUpdate splits an update expression into names, #aliases,
// :values and the punctuation ( ) , = + -.
func tokenizeUpdate(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.IndexByte("(),=+-", c) >= 0:
			toks = append(toks, s[i:i+1])
			i++
		case c == '#' || c == ':' || isIdentByte(c):
			j := i + 1
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("Syntax error; token: %q, near: %q", string(c), s[max(0, i-5):min(len(s), i+5)])
		}
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
