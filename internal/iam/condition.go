package iam

import "strings"

// condition evaluates one operator block of a statement's Condition against ctx (keys
// lowercased). known is false when the operator is not supported.
func condition(op string, keys map[string][]string, ctx map[string][]string) (ok, known bool) {
	if strings.Contains(op, ":") { // ForAnyValue:, ForAllValues: set operators
		return false, false
	}
	ifExists := false
	if op != "Null" {
		op, ifExists = strings.CutSuffix(op, "IfExists")
	}
	match, negated, known := operator(op)
	if !known {
		return false, false
	}
	for key, want := range keys {
		got, present := ctx[strings.ToLower(key)]
		var keyOK bool
		switch {
		case op == "Null":
			keyOK = nullMatches(want, present)
		case !present:
			keyOK = ifExists || negated
		case negated:
			keyOK = !anyMatch(match, want, got)
		default:
			keyOK = anyMatch(match, want, got)
		}
		if !keyOK {
			return false, true
		}
	}
	return true, true
}

// operator returns the value matcher of a condition operator and whether it is negated.
func operator(op string) (match func(want, got string) bool, negated, known bool) {
	switch op {
	case "StringEquals", "StringNotEquals":
		return func(w, g string) bool { return w == g }, op == "StringNotEquals", true
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold, op == "StringNotEqualsIgnoreCase", true
	case "StringLike", "StringNotLike":
		return func(w, g string) bool { return glob(w, g, false) }, op == "StringNotLike", true
	case "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike":
		return MatchResource, strings.HasPrefix(op, "ArnNot"), true
	case "Bool":
		return strings.EqualFold, false, true
	case "Null":
		return nil, false, true
	}
	return nil, false, false
}

// anyMatch reports whether any request value matches any policy value.
func anyMatch(match func(want, got string) bool, want, got []string) bool {
	for _, g := range got {
		for _, w := range want {
			if match(w, g) {
				return true
			}
		}
	}
	return false
}

// nullMatches: "true" means the key must be absent, "false" that it must be present.
func nullMatches(want []string, present bool) bool {
	for _, w := range want {
		if strings.EqualFold(w, "true") && !present || strings.EqualFold(w, "false") && present {
			return true
		}
	}
	return false
}
