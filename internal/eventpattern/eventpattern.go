package eventpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Pattern is a compiled EventBridge event pattern. It is safe for concurrent use.
type Pattern struct {
	root *object
}

// Compile parses and validates an EventBridge event pattern given as JSON.
func Compile(pattern []byte) (*Pattern, error) {
	v, err := decode(pattern)
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("event pattern: must be a JSON object, got %s", kind(v))
	}
	root, err := compileObject(m, "")
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return &Pattern{root: root}, nil
}

// New compiles a pattern given in its decoded form, e.g. the map a CDK stack passes as an
// EventPattern. Any value that encoding/json marshals to the JSON form is accepted
// ([]string as well as []any, int as well as float64).
func New(pattern map[string]any) (*Pattern, error) {
	b, err := json.Marshal(pattern)
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return Compile(b)
}

// Match reports whether event (a JSON object) matches pattern. It compiles the pattern on
// every call; compile once with New or Compile to match many events.
func Match(pattern map[string]any, event []byte) (bool, error) {
	p, err := New(pattern)
	if err != nil {
		return false, err
	}
	return p.Match(event)
}

// Match reports whether event, a JSON object, matches the pattern. It returns an error only
// when event is not a JSON object.
func (p *Pattern) Match(event []byte) (bool, error) {
	v, err := decode(event)
	if err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false, fmt.Errorf("event: must be a JSON object, got %s", kind(v))
	}
	return p.root.match(m), nil
}

// MatchValue is Match for an event already decoded with encoding/json (json.Number or
// float64 numbers).
func (p *Pattern) MatchValue(event map[string]any) bool {
	return p.root.match(event)
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

// object is a compiled pattern object: every field must match, and every $or group must
// have one matching alternative.
type object struct {
	fields []field
	ors    [][]*object
}

type field struct {
	name   string
	nested *object   // set when the pattern value is an object
	leaf   []matcher // set when the pattern value is an array of alternatives
}

func compileObject(m map[string]any, path string) (*object, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: empty object", where(path))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := &object{}
	for _, k := range keys {
		p := join(path, k)
		v := m[k]
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return nil, fmt.Errorf("%s: $or must be an array of at least two objects", p)
			}
			group := make([]*object, 0, len(alts))
			for i, a := range alts {
				am, ok := a.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s[%d]: must be an object, got %s", p, i, kind(a))
				}
				c, err := compileObject(am, fmt.Sprintf("%s[%d]", p, i))
				if err != nil {
					return nil, err
				}
				group = append(group, c)
			}
			o.ors = append(o.ors, group)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			c, err := compileObject(v, p)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{name: k, nested: c})
		case []any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: empty array matches nothing", p)
			}
			ms := make([]matcher, 0, len(v))
			for i, a := range v {
				mt, err := compileMatcher(a, fmt.Sprintf("%s[%d]", p, i))
				if err != nil {
					return nil, err
				}
				ms = append(ms, mt)
			}
			o.fields = append(o.fields, field{name: k, leaf: ms})
		default:
			return nil, fmt.Errorf("%s: must be an object or an array of match values, got %s", p, kind(v))
		}
	}
	return o, nil
}

func (o *object) match(ev map[string]any) bool {
	for _, f := range o.fields {
		v, present := ev[f.name]
		if !f.matchValue(v, present) {
			return false
		}
	}
	for _, group := range o.ors {
		ok := false
		for _, alt := range group {
			if alt.match(ev) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f field) matchValue(v any, present bool) bool {
	if f.nested != nil {
		switch v := v.(type) {
		case map[string]any:
			return f.nested.match(v)
		case []any:
			for _, e := range v {
				if m, ok := e.(map[string]any); ok && f.nested.match(m) {
					return true
				}
			}
			if hasObject(v) {
				return false
			}
		}
		// The field is absent or a leaf: only absence-style patterns (exists: false) can match.
		return f.nested.match(map[string]any{})
	}
	leaves, ok := leafValues(v, present)
	for _, m := range f.leaf {
		if m.matchLeaves(leaves, ok) {
			return true
		}
	}
	return false
}

func hasObject(a []any) bool {
	for _, e := range a {
		if _, ok := e.(map[string]any); ok {
			return true
		}
	}
	return false
}

// leafValues flattens an event value into its leaf values (arrays match element-wise) and
// reports whether the field holds at least one leaf.
func leafValues(v any, present bool) ([]any, bool) {
	if !present {
		return nil, false
	}
	switch v := v.(type) {
	case map[string]any:
		return nil, false
	case []any:
		var out []any
		for _, e := range v {
			sub, ok := leafValues(e, true)
			if ok {
				out = append(out, sub...)
			}
		}
		return out, len(out) > 0
	default:
		return []any{v}, true
	}
}

// matcher is one alternative of a leaf pattern.
type matcher interface {
	matchLeaves(leaves []any, exists bool) bool
}

// valueMatcher matches when any leaf satisfies ok.
type valueMatcher func(v any) bool

func (f valueMatcher) matchLeaves(leaves []any, _ bool) bool {
	for _, l := range leaves {
		if f(l) {
			return true
		}
	}
	return false
}

type existsMatcher bool

func (e existsMatcher) matchLeaves(_ []any, exists bool) bool { return exists == bool(e) }

func compileMatcher(v any, path string) (matcher, error) {
	switch v := v.(type) {
	case nil:
		return valueMatcher(func(l any) bool { return l == nil }), nil
	case bool:
		return valueMatcher(func(l any) bool { b, ok := l.(bool); return ok && b == v }), nil
	case string:
		return valueMatcher(func(l any) bool { s, ok := l.(string); return ok && s == v }), nil
	case json.Number:
		n, err := number(v, path)
		if err != nil {
			return nil, err
		}
		return valueMatcher(func(l any) bool { x, ok := toFloat(l); return ok && x == n }), nil
	case []any:
		return nil, fmt.Errorf("%s: nested arrays are not valid match values", path)
	case map[string]any:
		return compileOperator(v, path)
	}
	return nil, fmt.Errorf("%s: unsupported value %s", path, kind(v))
}

func compileOperator(m map[string]any, path string) (matcher, error) {
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("%s: a match object needs exactly one operator, got %q", path, keys)
	}
	for op, arg := range m {
		p := path + "." + op
		switch op {
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: must be true or false, got %s", p, kind(arg))
			}
			return existsMatcher(b), nil
		case "prefix", "suffix":
			f, err := affix(op, arg, p)
			if err != nil {
				return nil, err
			}
			return valueMatcher(stringMatch(f)), nil
		case "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string, got %s", p, kind(arg))
			}
			return valueMatcher(stringMatch(func(x string) bool { return strings.EqualFold(x, s) })), nil
		case "wildcard":
			s, ok := arg.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string, got %s", p, kind(arg))
			}
			w, err := compileWildcard(s, p)
			if err != nil {
				return nil, err
			}
			return valueMatcher(stringMatch(w)), nil
		case "anything-but":
			f, err := anythingBut(arg, p)
			if err != nil {
				return nil, err
			}
			return valueMatcher(func(l any) bool { return !f(l) }), nil
		case "numeric":
			f, err := numeric(arg, p)
			if err != nil {
				return nil, err
			}
			return valueMatcher(func(l any) bool { x, ok := toFloat(l); return ok && f(x) }), nil
		case "cidr":
			s, ok := arg.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string, got %s", p, kind(arg))
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			pfx = pfx.Masked()
			return valueMatcher(stringMatch(func(x string) bool {
				a, err := netip.ParseAddr(x)
				return err == nil && pfx.Contains(a.Unmap())
			})), nil
		default:
			return nil, fmt.Errorf("%s: unknown operator", p)
		}
	}
	return nil, fmt.Errorf("%s: empty match object", path)
}

func stringMatch(f func(string) bool) func(any) bool {
	return func(l any) bool {
		s, ok := l.(string)
		return ok && f(s)
	}
}

// affix compiles prefix/suffix with a string or {"equals-ignore-case": string} argument.
func affix(op string, arg any, path string) (func(string) bool, error) {
	has := strings.HasPrefix
	if op == "suffix" {
		has = strings.HasSuffix
	}
	switch a := arg.(type) {
	case string:
		return func(x string) bool { return has(x, a) }, nil
	case map[string]any:
		s, ok := a["equals-ignore-case"].(string)
		if len(a) != 1 || !ok {
			return nil, fmt.Errorf("%s: must be a string or {\"equals-ignore-case\": string}", path)
		}
		low := strings.ToLower(s)
		return func(x string) bool { return has(strings.ToLower(x), low) }, nil
	}
	return nil, fmt.Errorf("%s: must be a string, got %s", path, kind(arg))
}

// anythingBut compiles the excluded set; the returned func reports whether a leaf is excluded.
func anythingBut(arg any, path string) (func(any) bool, error) {
	switch a := arg.(type) {
	case string, json.Number:
		return anythingBut([]any{a}, path)
	case []any:
		if len(a) == 0 {
			return nil, fmt.Errorf("%s: empty list", path)
		}
		var strs []string
		var nums []float64
		for i, e := range a {
			switch e := e.(type) {
			case string:
				strs = append(strs, e)
			case json.Number:
				n, err := number(e, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return nil, err
				}
				nums = append(nums, n)
			default:
				return nil, fmt.Errorf("%s[%d]: must be a string or a number, got %s", path, i, kind(e))
			}
		}
		if len(strs) > 0 && len(nums) > 0 {
			return nil, fmt.Errorf("%s: mixes strings and numbers", path)
		}
		return func(l any) bool {
			switch l := l.(type) {
			case string:
				for _, s := range strs {
					if l == s {
						return true
					}
				}
			case json.Number, float64:
				x, _ := toFloat(l)
				for _, n := range nums {
					if x == n {
						return true
					}
				}
			}
			return false
		}, nil
	case map[string]any:
		if len(a) != 1 {
			return nil, fmt.Errorf("%s: must hold exactly one of prefix, suffix, equals-ignore-case, wildcard", path)
		}
		for op, v := range a {
			p := path + "." + op
			switch op {
			case "prefix", "suffix":
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("%s: must be a string, got %s", p, kind(v))
				}
				f, err := affix(op, s, p)
				if err != nil {
					return nil, err
				}
				return stringMatch(f), nil
			case "equals-ignore-case", "wildcard":
				list, err := stringList(v, p)
				if err != nil {
					return nil, err
				}
				fs := make([]func(string) bool, 0, len(list))
				for _, s := range list {
					if op == "wildcard" {
						w, err := compileWildcard(s, p)
						if err != nil {
							return nil, err
						}
						fs = append(fs, w)
						continue
					}
					fs = append(fs, func(x string) bool { return strings.EqualFold(x, s) })
				}
				return stringMatch(func(x string) bool {
					for _, f := range fs {
						if f(x) {
							return true
						}
					}
					return false
				}), nil
			default:
				return nil, fmt.Errorf("%s: unknown anything-but operator", p)
			}
		}
	}
	return nil, fmt.Errorf("%s: must be a string, a number, a list or an object, got %s", path, kind(arg))
}

func stringList(v any, path string) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, fmt.Errorf("%s: empty list", path)
		}
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: must be a string, got %s", path, i, kind(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: must be a string or a list of strings, got %s", path, kind(v))
}

// numeric compiles [op, n] or [lowerOp, n, upperOp, m].
func numeric(arg any, path string) (func(float64) bool, error) {
	a, ok := arg.([]any)
	if !ok || (len(a) != 2 && len(a) != 4) {
		return nil, fmt.Errorf("%s: must be [op, number] or [op, number, op, number]", path)
	}
	type cmp struct {
		op string
		n  float64
	}
	var cs []cmp
	for i := 0; i < len(a); i += 2 {
		op, ok := a[i].(string)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: operator must be a string, got %s", path, i, kind(a[i]))
		}
		switch op {
		case "<", "<=", "=", ">", ">=":
		default:
			return nil, fmt.Errorf("%s[%d]: unknown operator %q", path, i, op)
		}
		nv, ok := a[i+1].(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: must be a number, got %s", path, i+1, kind(a[i+1]))
		}
		n, err := number(nv, fmt.Sprintf("%s[%d]", path, i+1))
		if err != nil {
			return nil, err
		}
		cs = append(cs, cmp{op, n})
	}
	if len(cs) == 2 {
		lower := func(op string) bool { return op == ">" || op == ">=" }
		upper := func(op string) bool { return op == "<" || op == "<=" }
		if !(lower(cs[0].op) && upper(cs[1].op)) && !(upper(cs[0].op) && lower(cs[1].op)) {
			return nil, fmt.Errorf("%s: a range needs one lower bound (>, >=) and one upper bound (<, <=)", path)
		}
	}
	return func(x float64) bool {
		for _, c := range cs {
			var ok bool
			switch c.op {
			case "<":
				ok = x < c.n
			case "<=":
				ok = x <= c.n
			case "=":
				ok = x == c.n
			case ">":
				ok = x > c.n
			case ">=":
				ok = x >= c.n
			}
			if !ok {
				return false
			}
		}
		return true
	}, nil
}

// compileWildcard compiles a pattern where * matches any run of characters, \* a literal
// star and \\ a literal backslash. Consecutive unescaped stars are invalid, as in EventBridge.
func compileWildcard(s, path string) (func(string) bool, error) {
	var parts []string // literal segments between stars
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, fmt.Errorf("%s: invalid escape in wildcard %q", path, s)
			}
			cur.WriteByte(s[i+1])
			i++
			prevStar = false
		case c == '*':
			if prevStar {
				return nil, fmt.Errorf("%s: consecutive wildcard characters in %q", path, s)
			}
			parts = append(parts, cur.String())
			cur.Reset()
			prevStar = true
		default:
			cur.WriteByte(c)
			prevStar = false
		}
	}
	parts = append(parts, cur.String())
	if len(parts) == 1 {
		lit := parts[0]
		return func(x string) bool { return x == lit }, nil
	}
	return func(x string) bool {
		first, last := parts[0], parts[len(parts)-1]
		if len(x) < len(first)+len(last) || !strings.HasPrefix(x, first) || !strings.HasSuffix(x, last) {
			return false
		}
		x = x[len(first) : len(x)-len(last)]
		for _, mid := range parts[1 : len(parts)-1] {
			i := strings.Index(x, mid)
			if i < 0 {
				return false
			}
			x = x[i+len(mid):]
		}
		return true
	}, nil
}

// number parses a pattern number, enforcing EventBridge's numeric range.
func number(n json.Number, path string) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s: invalid number %s", path, n)
	}
	if f < -5e9 || f > 5e9 {
		return 0, fmt.Errorf("%s: number %s is outside the range EventBridge supports (-5.0e9 to 5.0e9)", path, n)
	}
	return f, nil
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil
	case float64:
		return v, true
	}
	return 0, false
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func where(path string) string {
	if path == "" {
		return "pattern"
	}
	return path
}
