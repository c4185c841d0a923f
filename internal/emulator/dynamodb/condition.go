package dynamodb

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"unicode"
)

// A condition is a parsed ConditionExpression. The emulator implements the
// subset of the grammar of the DynamoDB Developer Guide ("Condition
// expressions", "Comparison operator and function reference") that
// conditional writes use:
//
//	condition  = or
//	or         = and { OR and }
//	and        = not { AND not }
//	not        = NOT not | "(" condition ")" | function | comparison
//	function   = attribute_exists(path) | attribute_not_exists(path) | begins_with(path, operand)
//	comparison = operand ( = | <> | < | <= | > | >= ) operand
//	operand    = path | :value
//	path       = name | #alias        (top-level attributes only)
//
// Keywords are case-insensitive. Comparisons between different types, or
// with a missing attribute, are false, as in DynamoDB. BETWEEN, IN, size,
// attribute_type, contains and nested document paths are not modelled and
// are refused with a ValidationException naming the token.
type condition interface {
	holds(item map[string]json.RawMessage) bool
}

type (
	orCond  struct{ a, b condition }
	andCond struct{ a, b condition }
	notCond struct{ c condition }
	exists  struct {
		attr string
		want bool
	}
	beginsWith struct {
		attr   string
		prefix operand
	}
	compare struct {
		op   string
		l, r operand
	}
)

// operand is an attribute (attr set) or an expression value (val set).
type operand struct {
	attr string
	val  json.RawMessage
}

func (c orCond) holds(item map[string]json.RawMessage) bool {
	return c.a.holds(item) || c.b.holds(item)
}
func (c andCond) holds(item map[string]json.RawMessage) bool {
	return c.a.holds(item) && c.b.holds(item)
}
func (c notCond) holds(item map[string]json.RawMessage) bool { return !c.c.holds(item) }
func (c exists) holds(item map[string]json.RawMessage) bool {
	_, has := item[c.attr]
	return has == c.want
}

func (o operand) resolve(item map[string]json.RawMessage) (json.RawMessage, bool) {
	if o.attr != "" {
		v, ok := item[o.attr]
		return v, ok
	}
	return o.val, true
}

// scalar decodes an S or N attribute value for comparison.
func scalar(raw json.RawMessage) (typ string, s string, n *big.Float, ok bool) {
	var v value
	if json.Unmarshal(raw, &v) != nil {
		return "", "", nil, false
	}
	switch {
	case v.S != nil:
		return "S", *v.S, nil, true
	case v.N != nil:
		f, _, err := big.ParseFloat(strings.TrimSpace(*v.N), 10, 128, big.ToNearestEven)
		if err != nil {
			return "", "", nil, false
		}
		return "N", "", f, true
	case v.BOOL != nil:
		return "BOOL", fmt.Sprint(*v.BOOL), nil, true
	}
	return "", "", nil, false
}

func (c compare) holds(item map[string]json.RawMessage) bool {
	lr, ok1 := c.l.resolve(item)
	rr, ok2 := c.r.resolve(item)
	if !ok1 || !ok2 {
		return false
	}
	lt, ls, ln, ok1 := scalar(lr)
	rt, rs, rn, ok2 := scalar(rr)
	if !ok1 || !ok2 || lt != rt {
		return false
	}
	var cmp int
	if lt == "N" {
		cmp = ln.Cmp(rn)
	} else {
		cmp = strings.Compare(ls, rs)
	}
	if lt == "BOOL" && c.op != "=" && c.op != "<>" {
		return false
	}
	switch c.op {
	case "=":
		return cmp == 0
	case "<>":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

func (c beginsWith) holds(item map[string]json.RawMessage) bool {
	raw, ok := item[c.attr]
	if !ok {
		return false
	}
	pr, _ := c.prefix.resolve(item)
	t1, s1, _, ok1 := scalar(raw)
	t2, s2, _, ok2 := scalar(pr)
	return ok1 && ok2 && t1 == "S" && t2 == "S" && strings.HasPrefix(s1, s2)
}

// parseCondition parses a ConditionExpression and checks
// ExpressionAttributeNames and ExpressionAttributeValues the way DynamoDB
// does: every alias and value must be defined and used.
func parseCondition(expr *string, names map[string]string, values map[string]json.RawMessage) (condition, *apiError) {
	if expr == nil {
		if names != nil {
			return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
		}
		if values != nil {
			return nil, validation("ExpressionAttributeValues can only be specified when using expressions")
		}
		return nil, nil
	}
	if strings.TrimSpace(*expr) == "" {
		return nil, validation("Invalid ConditionExpression: The expression can not be empty;")
	}
	toks, err := tokenize(*expr)
	if err != nil {
		return nil, validation("Invalid ConditionExpression: %s", err)
	}
	p := &condParser{toks: toks, names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
	c, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("Syntax error; token: %q", p.toks[p.pos])
	}
	if err != nil {
		return nil, validation("Invalid ConditionExpression: %s", err)
	}
	if unused := unusedKeys(names, p.usedNames); unused != "" {
		return nil, validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", unused)
	}
	if unused := unusedKeys(values, p.usedValues); unused != "" {
		return nil, validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", unused)
	}
	return c, nil
}

func unusedKeys[V any](m map[string]V, used map[string]bool) string {
	var out []string
	for k := range m {
		if !used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case strings.ContainsRune("(),", c):
			toks = append(toks, string(c))
			i++
		case c == '<' || c == '>' || c == '=':
			j := i + 1
			if j < len(s) && (s[j] == '=' || (c == '<' && s[j] == '>')) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case c == '#' || c == ':' || c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '-' || isAlnum(s[j])) {
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

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

type condParser struct {
	toks       []string
	pos        int
	names      map[string]string
	values     map[string]json.RawMessage
	usedNames  map[string]bool
	usedValues map[string]bool
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *condParser) expect(t string) error {
	if got := p.next(); got != t {
		if got == "" {
			return fmt.Errorf("Syntax error; expected %q at the end of the expression", t)
		}
		return fmt.Errorf("Syntax error; token: %q, expected %q", got, t)
	}
	return nil
}

func (p *condParser) or() (condition, error) {
	c, err := p.and()
	for err == nil && strings.EqualFold(p.peek(), "OR") {
		p.next()
		var r condition
		if r, err = p.and(); err == nil {
			c = orCond{c, r}
		}
	}
	return c, err
}

func (p *condParser) and() (condition, error) {
	c, err := p.not()
	for err == nil && strings.EqualFold(p.peek(), "AND") {
		p.next()
		var r condition
		if r, err = p.not(); err == nil {
			c = andCond{c, r}
		}
	}
	return c, err
}

func (p *condParser) not() (condition, error) {
	t := p.peek()
	switch {
	case strings.EqualFold(t, "NOT"):
		p.next()
		c, err := p.not()
		return notCond{c}, err
	case t == "(":
		p.next()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	case strings.EqualFold(t, "attribute_exists"), strings.EqualFold(t, "attribute_not_exists"):
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		return exists{attr: attr, want: strings.EqualFold(t, "attribute_exists")}, p.expect(")")
	case strings.EqualFold(t, "begins_with"):
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		o, err := p.operand()
		if err != nil {
			return nil, err
		}
		return beginsWith{attr: attr, prefix: o}, p.expect(")")
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.next()
	switch op {
	case "=", "<>", "<", "<=", ">", ">=":
	case "":
		return nil, fmt.Errorf("Syntax error; expected a comparator at the end of the expression")
	default:
		return nil, fmt.Errorf("Syntax error; token: %q (this emulator supports =, <>, <, <=, >, >=, AND, OR, NOT, attribute_exists, attribute_not_exists and begins_with)", op)
	}
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	return compare{op: op, l: l, r: r}, nil
}

func (p *condParser) operand() (operand, error) {
	t := p.peek()
	if strings.HasPrefix(t, ":") {
		p.next()
		v, ok := p.values[t]
		if !ok {
			return operand{}, fmt.Errorf("An expression attribute value used in expression is not defined; attribute value: %s", t)
		}
		p.usedValues[t] = true
		return operand{val: v}, nil
	}
	attr, err := p.path()
	return operand{attr: attr}, err
}

func (p *condParser) path() (string, error) {
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
	case strings.HasPrefix(t, ":") || strings.ContainsAny(t, "(),<>="):
		return "", fmt.Errorf("Syntax error; token: %q, expected an attribute name", t)
	case reservedWords[strings.ToUpper(t)]:
		return "", fmt.Errorf("Attribute name is a reserved keyword; reserved keyword: %s", t)
	case strings.EqualFold(t, "AND") || strings.EqualFold(t, "OR") || strings.EqualFold(t, "NOT"):
		return "", fmt.Errorf("Syntax error; token: %q, expected an attribute name", t)
	}
	return t, nil
}
