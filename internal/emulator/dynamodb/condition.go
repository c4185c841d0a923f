package dynamodb

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A condition is a parsed ConditionExpression. The emulator implements the
// whole grammar of the DynamoDB Developer Guide ("Comparison operator and
// function reference",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html):
//
//	condition  = or
//	or         = and { OR and }
//	and        = not { AND not }
//	not        = NOT not | "(" condition ")" | function | comparison
//	comparison = operand comparator operand
//	           | operand BETWEEN operand AND operand
//	           | operand IN "(" operand { "," operand } ")"      (1..100 values)
//	function   = attribute_exists(path) | attribute_not_exists(path)
//	           | attribute_type(path, :type) | begins_with(path, operand)
//	           | contains(path, operand)
//	operand    = path | :value | size(path) | "(" operand ")"
//	path       = name { "." name | "[" digits "]" }             (≤32 levels)
//	name       = identifier | #alias
//
// Keywords (AND, OR, NOT, BETWEEN, IN) are case-insensitive, function names
// case-sensitive, as the guide says. The semantics are in holds and
// compare; the checks DynamoDB makes before it reads the item (and their
// messages) are in parseCondition and condParser.
type condition interface {
	holds(item map[string]json.RawMessage) bool
}

type (
	orCond  struct{ a, b condition }
	andCond struct{ a, b condition }
	notCond struct{ c condition }
	// groupCond is a parenthesised condition; it is kept in the tree only
	// to recognise redundant parentheses, "((a = :v))".
	groupCond   struct{ c condition }
	compareCond struct {
		op   string
		l, r operand
	}
	betweenCond struct{ x, lo, hi operand }
	inCond      struct {
		x    operand
		list []operand
	}
	// funcCond is one of the functions that are conditions.
	funcCond struct {
		name string
		args []operand
	}
)

func (c orCond) holds(item map[string]json.RawMessage) bool {
	return c.a.holds(item) || c.b.holds(item)
}
func (c andCond) holds(item map[string]json.RawMessage) bool {
	return c.a.holds(item) && c.b.holds(item)
}
func (c notCond) holds(item map[string]json.RawMessage) bool   { return !c.c.holds(item) }
func (c groupCond) holds(item map[string]json.RawMessage) bool { return c.c.holds(item) }

// holds compares two operands. A comparison with an operand that does not
// resolve (a missing attribute, size of a number) is false, except <>,
// which is the negation of = and therefore true: DynamoDB and moto agree
// that "a <> :v" holds for an item without a. Values of different types are
// never equal; <, <=, > and >= order N, S and B only (numbers by value,
// strings and binaries by their bytes).
func (c compareCond) holds(item map[string]json.RawMessage) bool {
	l, lok := c.l.resolve(item)
	r, rok := c.r.resolve(item)
	switch c.op {
	case "=":
		return lok && rok && equal(l, r)
	case "<>":
		return !(lok && rok && equal(l, r))
	}
	if !lok || !rok {
		return false
	}
	n, ok := order(l, r)
	if !ok {
		return false
	}
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	default: // ">="
		return n >= 0
	}
}

// holds is lo <= x <= hi, all three of one orderable type.
func (c betweenCond) holds(item map[string]json.RawMessage) bool {
	x, ok1 := c.x.resolve(item)
	lo, ok2 := c.lo.resolve(item)
	hi, ok3 := c.hi.resolve(item)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	a, ok := order(x, lo)
	if !ok || a < 0 {
		return false
	}
	b, ok := order(x, hi)
	return ok && b <= 0
}

func (c inCond) holds(item map[string]json.RawMessage) bool {
	x, ok := c.x.resolve(item)
	if !ok {
		return false
	}
	for _, o := range c.list {
		if v, ok := o.resolve(item); ok && equal(x, v) {
			return true
		}
	}
	return false
}

func (c funcCond) holds(item map[string]json.RawMessage) bool {
	a, ok := c.args[0].resolve(item)
	switch c.name {
	case "attribute_exists":
		return ok
	case "attribute_not_exists":
		return !ok
	}
	b, ok2 := c.args[1].resolve(item)
	if !ok || !ok2 {
		return false
	}
	switch c.name {
	case "attribute_type":
		return b.typ == "S" && a.typ == *b.v.S
	case "begins_with":
		// "begins_with (path, substr)": a string prefix, or, as the
		// BEGINS_WITH comparison operator documents, a binary prefix
		// (API_Condition.html). moto 5.2.1 answers false for binaries.
		switch {
		case a.typ == "S" && b.typ == "S":
			return strings.HasPrefix(*a.v.S, *b.v.S)
		case a.typ == "B" && b.typ == "B":
			return strings.HasPrefix(a.bytes(), b.bytes())
		}
		return false
	default: // contains
		return contains(a, b)
	}
}

// contains is true if a is a String containing the substring b, a Binary
// containing the byte sequence b (the CONTAINS comparison operator,
// API_Condition.html; moto 5.2.1 answers false), a set containing the
// element b of its element type, or a List with an element equal to b.
func contains(a, b attr) bool {
	switch a.typ {
	case "S":
		return b.typ == "S" && strings.Contains(*a.v.S, *b.v.S)
	case "B":
		return b.typ == "B" && strings.Contains(a.bytes(), b.bytes())
	case "SS", "NS", "BS":
		if b.typ != a.typ[:1] {
			return false
		}
		for _, m := range a.members() {
			if m == b.key() {
				return true
			}
		}
		return false
	case "L":
		for _, raw := range a.v.L {
			if e, ok := decodeAttr(raw); ok && equal(e, b) {
				return true
			}
		}
	}
	return false
}

// syntaxError is a parse failure at token index at; the parser reports the
// one that got furthest.
type syntaxError struct {
	at  int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// The classes of non-syntax errors, in the order DynamoDB reports them when
// an expression has several (the order dynalite, a DynamoDB emulator whose
// tests were run against DynamoDB, reproduces).
const (
	errParens = iota
	errUnknownFunction
	errMisusedFunction
	errReserved
	errNameValue
	errOperandCount
	errDistinct
	errFunction
	errClasses
)

// Limits of expressions (Service quotas, "Expression parameters",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
const (
	maxExpressionBytes = 4096 // "The maximum length of any expression string is 4 KB"
	maxInValues        = 100  // "The list can contain up to 100 values" (OperatorsAndFunctions)
)

var (
	nameKeyRE  = regexp.MustCompile(`^#[A-Za-z0-9_]+$`)
	valueKeyRE = regexp.MustCompile(`^:[A-Za-z0-9_]+$`)
)

// parseCondition parses a ConditionExpression and checks
// ExpressionAttributeNames and ExpressionAttributeValues the way DynamoDB
// does: maps given without an expression, empty maps, malformed keys,
// invalid values, undefined and unused names and values are
// ValidationExceptions, and so is every expression DynamoDB refuses before
// it reads the item (a syntax error, redundant parentheses, an unknown or
// misused function, a reserved word, the wrong number or type of operands, a
// comparison of a path with itself, an empty BETWEEN range).
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
	literals, aerr := expressionValues(names, values)
	if aerr != nil {
		return nil, aerr
	}
	usedNames, usedValues := map[string]bool{}, map[string]bool{}
	c, aerr := parseConditionExpr(*expr, names, literals, usedNames, usedValues)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkUnused(names, values, usedNames, usedValues); aerr != nil {
		return nil, aerr
	}
	return c, nil
}

// expressionValues checks ExpressionAttributeNames and
// ExpressionAttributeValues (not empty, well-formed keys, valid values) and
// returns the values decoded.
func expressionValues(names map[string]string, values map[string]json.RawMessage) (map[string]attr, *apiError) {
	if names != nil && len(names) == 0 {
		return nil, validation("ExpressionAttributeNames must not be empty")
	}
	if values != nil && len(values) == 0 {
		return nil, validation("ExpressionAttributeValues must not be empty")
	}
	for _, k := range sortedKeys(names) {
		if !nameKeyRE.MatchString(k) {
			return nil, validation("ExpressionAttributeNames contains invalid key: Syntax error; key: %q", k)
		}
	}
	literals := make(map[string]attr, len(values))
	for _, k := range sortedKeys(values) {
		if !valueKeyRE.MatchString(k) {
			return nil, validation("ExpressionAttributeValues contains invalid key: Syntax error; key: %q", k)
		}
		v, typ, aerr := parseValue(values[k], k, 1)
		if aerr != nil {
			return nil, validation("ExpressionAttributeValues contains invalid value: %s for key %s", aerr.msg, k)
		}
		literals[k] = attr{typ: typ, v: v}
	}
	return literals, nil
}

// parseConditionExpr parses one ConditionExpression, recording the names
// and values it uses in usedNames and usedValues (UpdateItem shares them
// with its update expression).
func parseConditionExpr(expr string, names map[string]string, literals map[string]attr, usedNames, usedValues map[string]bool) (condition, *apiError) {
	if strings.TrimSpace(expr) == "" {
		return nil, validation("Invalid ConditionExpression: The expression can not be empty;")
	}
	if len(expr) > maxExpressionBytes {
		return nil, validation("Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: %d", len(expr))
	}
	toks, err := tokenize(expr)
	if err != nil {
		return nil, validation("Invalid ConditionExpression: %s", err)
	}
	p := &condParser{src: expr, toks: toks, names: names, values: literals, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
	c, err := p.or()
	if err == nil && p.peek().kind != tEOF {
		err = p.syntax(p.pos)
	}
	// The parser swaps its sets when it backtracks (save, restore): copy
	// the final ones out.
	for k := range p.usedNames {
		usedNames[k] = true
	}
	for k := range p.usedValues {
		usedValues[k] = true
	}
	if err != nil {
		return nil, validation("Invalid ConditionExpression: %s", err)
	}
	for _, msg := range p.errs {
		if msg != "" {
			return nil, validation("Invalid ConditionExpression: %s", msg)
		}
	}
	return c, nil
}

// checkUnused refuses names and values no expression used.
func checkUnused(names map[string]string, values map[string]json.RawMessage, usedNames, usedValues map[string]bool) *apiError {
	if unused := unusedKeys(names, usedNames); unused != "" {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", unused)
	}
	if unused := unusedKeys(values, usedValues); unused != "" {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", unused)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unusedKeys[V any](m map[string]V, used map[string]bool) string {
	var out []string
	for _, k := range sortedKeys(m) {
		if !used[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // attribute name, keyword or function name
	tName           // #alias
	tValue          // :value
	tNumber         // a list index
	tPunct          // ( ) , . [ ]
	tComp           // = <> < <= > >=
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// tokenize splits an expression; a character that starts no token is a
// syntax error naming it.
func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case strings.IndexByte("(),.[]", c) >= 0:
			i++
			toks = append(toks, token{tPunct, s[start:i], start})
			continue
		case c == '=':
			i++
		case c == '<':
			i++
			if i < len(s) && (s[i] == '=' || s[i] == '>') {
				i++
			}
		case c == '>':
			i++
			if i < len(s) && s[i] == '=' {
				i++
			}
		case c == '#' || c == ':' || isIdentByte(c):
			i++
			for i < len(s) && isIdentByte(s[i]) {
				i++
			}
			kind := tIdent
			switch {
			case c == '#':
				kind = tName
			case c == ':':
				kind = tValue
			case c >= '0' && c <= '9':
				kind = tNumber
			}
			toks = append(toks, token{kind, s[start:i], start})
			continue
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			from := i
			if len(toks) > 0 {
				from = toks[len(toks)-1].pos
			}
			return nil, fmt.Errorf("Syntax error; token: \"%s\", near: \"%s\"", s[i:i+size], s[from:i+size])
		}
		toks = append(toks, token{tComp, s[start:i], start})
	}
	return append(toks, token{tEOF, "<EOF>", len(s)}), nil
}

// pathElem is one step of a document path: an attribute name, or a list
// index when index >= 0.
type pathElem struct {
	name  string
	index int
}

// maxPathDepth is DynamoDB's nesting limit for documents ("up to 32
// levels deep", ServiceQuotas.html).
const maxPathDepth = 32

type condParser struct {
	src        string
	toks       []token
	pos        int
	names      map[string]string
	values     map[string]attr
	usedNames  map[string]bool
	usedValues map[string]bool
	errs       [errClasses]string
}

func (p *condParser) peek() token { return p.toks[p.pos] }
func (p *condParser) at(i int) token {
	return p.toks[min(i, len(p.toks)-1)]
}
func (p *condParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// syntax is DynamoDB's syntax error for the token at index i: the token and
// the text from the previous token to it ("near").
func (p *condParser) syntax(i int) *syntaxError {
	t := p.toks[i]
	near := t.text
	if i > 0 {
		prev := p.toks[i-1]
		near = p.src[prev.pos:]
		if t.kind != tEOF {
			near = p.src[prev.pos : t.pos+len(t.text)]
		}
	}
	return &syntaxError{at: i, msg: fmt.Sprintf("Syntax error; token: \"%s\", near: \"%s\"", t.text, strings.TrimSpace(near))}
}

func (p *condParser) expect(text string) error {
	if t := p.peek(); t.kind == tEOF || t.text != text {
		return p.syntax(p.pos)
	}
	p.next()
	return nil
}

func (p *condParser) fail(class int, format string, args ...any) {
	if p.errs[class] == "" {
		p.errs[class] = fmt.Sprintf(format, args...)
	}
}

func isKeyword(t token, kw string) bool { return t.kind == tIdent && strings.EqualFold(t.text, kw) }

func isAnyKeyword(t token) bool {
	for _, kw := range []string{"AND", "OR", "NOT", "BETWEEN", "IN"} {
		if isKeyword(t, kw) {
			return true
		}
	}
	return false
}

func (p *condParser) or() (condition, error) {
	c, err := p.and()
	for err == nil && isKeyword(p.peek(), "OR") {
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
	for err == nil && isKeyword(p.peek(), "AND") {
		p.next()
		var r condition
		if r, err = p.not(); err == nil {
			c = andCond{c, r}
		}
	}
	return c, err
}

func (p *condParser) not() (condition, error) {
	if isKeyword(p.peek(), "NOT") {
		p.next()
		c, err := p.not()
		return notCond{c}, err
	}
	if p.peek().text != "(" || p.peek().kind != tPunct {
		return p.comparison()
	}
	// "(" starts either a comparison whose first operand is parenthesised,
	// "(a) = :v", or a parenthesised condition. Try the first, then the
	// second, and report the error of the one that got further.
	start, saved := p.pos, p.save()
	c, err := p.comparison()
	if err == nil {
		return c, nil
	}
	first := err.(*syntaxError)
	p.pos = start
	p.restore(saved)
	p.next()
	inner, err := p.or()
	if err == nil {
		err = p.expect(")")
	}
	if err != nil {
		if se := err.(*syntaxError); first.at > se.at {
			return nil, first
		}
		return nil, err
	}
	if _, ok := inner.(groupCond); ok {
		p.fail(errParens, "The expression has redundant parentheses;")
	}
	return groupCond{inner}, nil
}

type parserState struct {
	errs              [errClasses]string
	usedNames, usedVa map[string]bool
}

func (p *condParser) save() parserState {
	return parserState{errs: p.errs, usedNames: cloneSet(p.usedNames), usedVa: cloneSet(p.usedValues)}
}

func (p *condParser) restore(s parserState) {
	p.errs, p.usedNames, p.usedValues = s.errs, s.usedNames, s.usedVa
}

func cloneSet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// comparison parses a comparison, BETWEEN, IN or a function used as a
// condition.
func (p *condParser) comparison() (condition, error) {
	if t := p.peek(); t.kind == tIdent && !isAnyKeyword(t) && p.at(p.pos+1).text == "(" {
		name, args, err := p.call()
		if err != nil {
			return nil, err
		}
		if nt := p.peek(); nt.kind != tComp && !isKeyword(nt, "BETWEEN") && !isKeyword(nt, "IN") {
			return p.functionCondition(name, args), nil
		}
		return p.rest(p.functionOperand(name, args))
	}
	x, err := p.operandParens()
	if err != nil {
		return nil, err
	}
	return p.rest(x)
}

// rest parses what follows the first operand of a comparison.
func (p *condParser) rest(x operand) (condition, error) {
	t := p.peek()
	switch {
	case t.kind == tComp:
		p.next()
		y, err := p.operandParens()
		if err != nil {
			return nil, err
		}
		p.checkMisused(x, y)
		p.checkDistinct(t.text, x, y)
		return compareCond{op: t.text, l: x, r: y}, nil
	case isKeyword(t, "BETWEEN"):
		p.next()
		lo, err := p.operandParens()
		if err != nil {
			return nil, err
		}
		if !isKeyword(p.peek(), "AND") {
			return nil, p.syntax(p.pos)
		}
		p.next()
		hi, err := p.operandParens()
		if err != nil {
			return nil, err
		}
		p.checkMisused(x, lo, hi)
		p.checkBetween(lo, hi)
		return betweenCond{x: x, lo: lo, hi: hi}, nil
	case isKeyword(t, "IN"):
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		list, err := p.operandList()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		p.checkMisused(append([]operand{x}, list...)...)
		if len(list) > maxInValues {
			p.fail(errOperandCount, "The IN operator is provided with too many operands; number of operands: %d", len(list))
		}
		return inCond{x: x, list: list}, nil
	}
	return nil, p.syntax(p.pos)
}

func (p *condParser) operandList() ([]operand, error) {
	var list []operand
	for {
		o, err := p.operandParens()
		if err != nil {
			return nil, err
		}
		list = append(list, o)
		if p.peek().text != "," || p.peek().kind != tPunct {
			return list, nil
		}
		p.next()
	}
}

// call parses name(arg, …).
func (p *condParser) call() (string, []operand, error) {
	name := p.next().text
	p.next() // "("
	args, err := p.operandList()
	if err != nil {
		return "", nil, err
	}
	return name, args, p.expect(")")
}

// functionArity is the number of operands of each function.
var functionArity = map[string]int{
	"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2,
	"begins_with": 2, "contains": 2, "size": 1,
}

// validTypes is attribute_type's list, in DynamoDB's message order.
const validTypes = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"

// checkCall checks the function name, its operand count and that its
// operands are not misused functions; ok is false if it cannot be
// evaluated.
func (p *condParser) checkCall(name string, args []operand) bool {
	n, known := functionArity[name]
	if !known {
		p.fail(errUnknownFunction, "Invalid function name; function: %s", name)
		return false
	}
	p.checkMisused(args...)
	if len(args) != n {
		p.fail(errOperandCount, "Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", name, len(args))
		return false
	}
	if n == 2 {
		p.checkDistinct(name, args[0], args[1])
	}
	return true
}

func (p *condParser) functionCondition(name string, args []operand) condition {
	if !p.checkCall(name, args) {
		return funcCond{name: "attribute_exists", args: []operand{misused{}}}
	}
	switch name {
	case "size":
		p.fail(errMisusedFunction, "The function is not allowed to be used this way in an expression; function: size")
	case "attribute_exists", "attribute_not_exists":
		if _, ok := args[0].(pathOperand); !ok {
			p.fail(errFunction, "Operator or function requires a document path; operator or function: %s", name)
		}
	case "begins_with":
		for _, a := range args {
			if t := staticType(a); t != "" && t != "S" && t != "B" {
				p.fail(errFunction, "Incorrect operand type for operator or function; operator or function: %s, operand type: %s", name, t)
			}
		}
	case "attribute_type":
		lit, ok := args[1].(literal)
		switch {
		case !ok:
			t := staticType(args[1])
			if t == "" {
				t = "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
			}
			p.fail(errFunction, "Incorrect operand type for operator or function; operator or function: %s, operand type: %s", name, t)
		case lit.typ != "S":
			p.fail(errFunction, "Incorrect operand type for operator or function; operator or function: %s, operand type: %s", name, lit.typ)
		case !strings.Contains(","+validTypes[1:len(validTypes)-1]+",", ","+*lit.v.S+","):
			p.fail(errFunction, "Invalid attribute type name found; type: %s, valid types: %s", *lit.v.S, validTypes)
		}
	}
	return funcCond{name: name, args: args}
}

// functionOperand is a function used where an operand is expected: size,
// or a misuse of any other function.
func (p *condParser) functionOperand(name string, args []operand) operand {
	if !p.checkCall(name, args) {
		return misused{}
	}
	if name != "size" {
		return misused{name: name}
	}
	if t := staticType(args[0]); t == "N" || t == "BOOL" || t == "NULL" {
		p.fail(errFunction, "Incorrect operand type for operator or function; operator or function: size, operand type: %s", t)
	}
	return sizeOperand{arg: args[0]}
}

// checkMisused reports a function other than size used as an operand.
func (p *condParser) checkMisused(ops ...operand) {
	for _, o := range ops {
		if m, ok := o.(misused); ok && m.name != "" {
			p.fail(errMisusedFunction, "The function is not allowed to be used this way in an expression; function: %s", m.name)
		}
	}
}

// checkDistinct refuses an operator or function whose first two operands
// are the same path: "contains (a, a) will return an error" (the guide), and
// so does "a = a".
func (p *condParser) checkDistinct(op string, a, b operand) {
	pa, ok1 := a.(pathOperand)
	pb, ok2 := b.(pathOperand)
	if ok1 && ok2 && pa.String() == pb.String() {
		p.fail(errDistinct, "The first operand must be distinct from the remaining operands for this operator or function; operator: %s, first operand: %s", op, pa)
	}
}

// checkBetween refuses literal bounds of different types, or a lower bound
// above the upper one.
func (p *condParser) checkBetween(lo, hi operand) {
	l, ok1 := lo.(literal)
	h, ok2 := hi.(literal)
	if !ok1 || !ok2 {
		return
	}
	if l.typ != h.typ {
		p.fail(errFunction, "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s", l.attr, h.attr)
		return
	}
	if n, ok := order(l.attr, h.attr); ok && n > 0 {
		p.fail(errFunction, "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: %s, upper bound operand: AttributeValue: %s", l.attr, h.attr)
	}
}

// operandParens parses an operand, optionally in (one pair of) parentheses.
func (p *condParser) operandParens() (operand, error) {
	if t := p.peek(); t.kind != tPunct || t.text != "(" {
		return p.operand()
	}
	p.next()
	redundant := p.peek().text == "(" && p.peek().kind == tPunct
	o, err := p.operandParens()
	if err != nil {
		return nil, err
	}
	if redundant {
		p.fail(errParens, "The expression has redundant parentheses;")
	}
	return o, p.expect(")")
}

func (p *condParser) operand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		p.next()
		v, ok := p.values[t.text]
		if !ok {
			p.fail(errNameValue, "An expression attribute value used in expression is not defined; attribute value: %s", t.text)
			return misused{}, nil
		}
		p.usedValues[t.text] = true
		return literal{v}, nil
	case t.kind == tIdent && !isAnyKeyword(t) && p.at(p.pos+1).text == "(":
		name, args, err := p.call()
		if err != nil {
			return nil, err
		}
		return p.functionOperand(name, args), nil
	}
	return p.path()
}

func (p *condParser) path() (operand, error) {
	var elems []pathElem
	name, err := p.pathName()
	if err != nil {
		return nil, err
	}
	elems = append(elems, pathElem{name: name, index: -1})
	for {
		t := p.peek()
		if t.kind != tPunct || (t.text != "." && t.text != "[") {
			break
		}
		p.next()
		if t.text == "." {
			if name, err = p.pathName(); err != nil {
				return nil, err
			}
			elems = append(elems, pathElem{name: name, index: -1})
			continue
		}
		n := p.peek()
		idx, cerr := strconv.Atoi(n.text)
		if n.kind != tNumber || cerr != nil {
			return nil, p.syntax(p.pos)
		}
		p.next()
		if err := p.expect("]"); err != nil {
			return nil, err
		}
		elems = append(elems, pathElem{index: idx})
	}
	if len(elems) > maxPathDepth {
		p.fail(errFunction, "The document path has too many nesting levels; nesting levels: %d", len(elems))
	}
	return pathOperand(elems), nil
}

// pathName parses one attribute name of a path: an identifier that starts
// with a letter and is not a reserved word, or an #alias.
func (p *condParser) pathName() (string, error) {
	t := p.peek()
	switch {
	case t.kind == tName:
		p.next()
		real, ok := p.names[t.text]
		if !ok {
			p.fail(errNameValue, "An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
			return t.text, nil
		}
		p.usedNames[t.text] = true
		return real, nil
	case t.kind == tIdent && !isAnyKeyword(t) && (t.text[0] < '0' || t.text[0] > '9') && t.text[0] != '_':
		p.next()
		if reservedWords[strings.ToUpper(t.text)] {
			p.fail(errReserved, "Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		return t.text, nil
	}
	return "", p.syntax(p.pos)
}
