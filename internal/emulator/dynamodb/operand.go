package dynamodb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// An operand of a condition resolves against an item to an attribute
// value, or to nothing (ok false): a missing attribute, or the size of a
// value that has none.
type operand interface {
	resolve(item map[string]json.RawMessage) (attr, bool)
}

type (
	// pathOperand is a document path, a.b[0].c.
	pathOperand []pathElem
	// literal is an expression attribute value, :v.
	literal struct{ attr }
	// sizeOperand is size(path).
	sizeOperand struct{ arg operand }
	// misused stands for an operand that is already reported as an error
	// (an undefined value, a function other than size): it never resolves.
	misused struct{ name string }
)

func (p pathOperand) resolve(item map[string]json.RawMessage) (attr, bool) {
	raw, ok := item[p[0].name]
	if !ok {
		return attr{}, false
	}
	a, ok := decodeAttr(raw)
	for _, e := range p[1:] {
		if !ok {
			return attr{}, false
		}
		switch {
		case e.index >= 0 && a.typ == "L" && e.index < len(a.v.L):
			raw = a.v.L[e.index]
		case e.index < 0 && a.typ == "M":
			if raw, ok = a.v.M[e.name]; !ok {
				return attr{}, false
			}
		default:
			return attr{}, false
		}
		a, ok = decodeAttr(raw)
	}
	return a, ok
}

// String renders the path as DynamoDB's messages do: [a, b, [0], c].
func (p pathOperand) String() string {
	parts := make([]string, len(p))
	for i, e := range p {
		parts[i] = e.name
		if e.index >= 0 {
			parts[i] = "[" + strconv.Itoa(e.index) + "]"
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (l literal) resolve(map[string]json.RawMessage) (attr, bool) { return l.attr, true }
func (misused) resolve(map[string]json.RawMessage) (attr, bool)   { return attr{}, false }

// resolve is the size of the argument: the length of a String (in
// characters: the guide says "the length of the string" and moto counts
// characters), the bytes of a Binary, the elements of a set, List or Map.
// Numbers, booleans and NULL have no size.
func (s sizeOperand) resolve(item map[string]json.RawMessage) (attr, bool) {
	a, ok := s.arg.resolve(item)
	if !ok {
		return attr{}, false
	}
	var n int
	switch a.typ {
	case "S":
		n = utf8.RuneCountInString(*a.v.S)
	case "B":
		n = len(a.bytes())
	case "SS", "NS", "BS":
		n = len(a.members())
	case "L":
		n = len(a.v.L)
	case "M":
		n = len(a.v.M)
	default:
		return attr{}, false
	}
	s2 := strconv.Itoa(n)
	return attr{typ: "N", v: &value{N: &s2}}, true
}

// staticType is the type an operand has whatever the item: a literal's, or
// N for size(); "" for a path.
func staticType(o operand) string {
	switch o := o.(type) {
	case literal:
		return o.typ
	case sizeOperand:
		return "N"
	}
	return ""
}

// attr is a decoded attribute value and its type.
type attr struct {
	typ string
	v   *value
}

func decodeAttr(raw json.RawMessage) (attr, bool) {
	var v value
	if json.Unmarshal(raw, &v) != nil {
		return attr{}, false
	}
	typ, err := v.typeOf()
	if err != nil {
		return attr{}, false
	}
	return attr{typ: typ, v: &v}, true
}

// String renders a scalar as DynamoDB's messages do: {N:5}.
func (a attr) String() string {
	switch a.typ {
	case "S":
		return "{S:" + *a.v.S + "}"
	case "N":
		return "{N:" + *a.v.N + "}"
	case "B":
		return "{B:" + *a.v.B + "}"
	}
	return "{" + a.typ + "}"
}

// bytes is a Binary value's decoded bytes (as a string, to compare).
func (a attr) bytes() string {
	b, _ := base64.StdEncoding.DecodeString(*a.v.B)
	return string(b)
}

// key is a scalar's canonical form: numbers by value, binaries decoded.
func (a attr) key() string {
	switch a.typ {
	case "N":
		c, _ := canonicalNumber(*a.v.N)
		return c
	case "B":
		return a.bytes()
	case "S":
		return *a.v.S
	}
	return ""
}

// members are a set's elements in canonical form, sorted.
func (a attr) members() []string {
	var raw []string
	switch a.typ {
	case "SS":
		raw = a.v.SS
	case "NS":
		raw = a.v.NS
	case "BS":
		raw = a.v.BS
	}
	out := make([]string, len(raw))
	elem := a.typ[:1]
	for i, m := range raw {
		m := m
		out[i] = attr{typ: elem, v: &value{S: &m, N: &m, B: &m}}.key()
	}
	sort.Strings(out)
	return out
}

// equal is DynamoDB's = : same type and same value; numbers by value, sets
// regardless of order, lists element by element, maps key by key.
func equal(a, b attr) bool {
	if a.typ != b.typ {
		return false
	}
	switch a.typ {
	case "S", "N", "B":
		return a.key() == b.key()
	case "BOOL":
		return *a.v.BOOL == *b.v.BOOL
	case "NULL":
		return true
	case "SS", "NS", "BS":
		am, bm := a.members(), b.members()
		if len(am) != len(bm) {
			return false
		}
		for i := range am {
			if am[i] != bm[i] {
				return false
			}
		}
		return true
	case "L":
		if len(a.v.L) != len(b.v.L) {
			return false
		}
		for i := range a.v.L {
			x, ok1 := decodeAttr(a.v.L[i])
			y, ok2 := decodeAttr(b.v.L[i])
			if !ok1 || !ok2 || !equal(x, y) {
				return false
			}
		}
		return true
	case "M":
		if len(a.v.M) != len(b.v.M) {
			return false
		}
		for k, ra := range a.v.M {
			rb, ok := b.v.M[k]
			if !ok {
				return false
			}
			x, ok1 := decodeAttr(ra)
			y, ok2 := decodeAttr(rb)
			if !ok1 || !ok2 || !equal(x, y) {
				return false
			}
		}
		return true
	}
	return false
}

// order compares two values of the same orderable type (N by value, S and
// B by their bytes, as DynamoDB orders UTF-8 strings and binaries); ok is
// false for other types or different types.
func order(a, b attr) (int, bool) {
	if a.typ != b.typ {
		return 0, false
	}
	switch a.typ {
	case "N":
		x, ok1 := new(big.Rat).SetString(strings.TrimSpace(*a.v.N))
		y, ok2 := new(big.Rat).SetString(strings.TrimSpace(*b.v.N))
		if !ok1 || !ok2 {
			return 0, false
		}
		return x.Cmp(y), true
	case "S":
		return strings.Compare(*a.v.S, *b.v.S), true
	case "B":
		return bytes.Compare([]byte(a.bytes()), []byte(b.bytes())), true
	}
	return 0, false
}
