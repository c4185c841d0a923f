package iam

import "strings"

// glob reports whether s matches pattern, where * matches any run of characters and ?
// any one character. With noColon, neither wildcard matches a colon.
func glob(pattern, s string, noColon bool) bool {
	// Iterative matching with one backtrack point for the last *: linear in practice,
	// O(len(pattern)·len(s)) at worst, no recursion for the fuzzer to blow up.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == s[i] || pattern[p] == '?' && !(noColon && s[i] == ':')):
			p++
			i++
		case star >= 0 && !(noColon && s[mark] == ':'):
			mark++
			i = mark
			p = star + 1
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MatchAction reports whether an action pattern of a policy ("ecr:Describe*", "*")
// matches an action ("ecr:DescribeImages"); actions are case-insensitive.
func MatchAction(pattern, action string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(action), false)
}

// MatchResource reports whether a resource pattern of a policy matches a resource ARN.
// "*" matches everything. Otherwise the ARN's first five colon-separated segments
// (arn, partition, service, region, account) are matched one by one, wildcards staying
// within their segment, except that a pattern ending early with a segment that ends in *
// matches everything after it; the sixth segment, the resource, is matched whole,
// colons included. Matching is case-sensitive.
func MatchResource(pattern, resource string) bool {
	if pattern == "*" {
		return true
	}
	p := strings.SplitN(pattern, ":", 6)
	a := strings.SplitN(resource, ":", 6)
	if len(a) < len(p) {
		return false
	}
	last := len(p) - 1
	for i := range last {
		if !glob(p[i], a[i], true) {
			return false
		}
	}
	switch {
	case last == 5:
		return glob(p[5], a[5], false)
	case len(a) == len(p):
		return glob(p[last], a[last], true)
	default:
		// A pattern with fewer segments than the ARN matches only through a
		// trailing * that runs over the rest.
		return strings.HasSuffix(p[last], "*") && glob(p[last], a[last], true)
	}
}
