package iam

import (
	"fmt"
	"strings"
)

// Request is one authorization question: may the principal perform Action on Resource?
type Request struct {
	// Action is "service:Operation", such as "ecr:DescribeImages".
	Action string
	// Resource is the ARN the action acts on, or "*" for actions without resource types.
	Resource string
	// Context holds the request's condition keys ("aws:SourceAccount") and values; keys
	// are case-insensitive.
	Context map[string][]string
}

// Policy is a named policy document attached to a principal.
type Policy struct {
	// Name identifies the policy in decisions (the template's logical id, say).
	Name string
	// Document is the policy.
	Document Document
}

// Effect is the outcome of an evaluation.
type Effect int

// The outcomes, in AWS's words.
const (
	// ImplicitDeny: no statement allows the request.
	ImplicitDeny Effect = iota
	// Allowed: a statement allows it and none denies it.
	Allowed
	// ExplicitDeny: a Deny statement applies.
	ExplicitDeny
)

// String returns "allowed", "explicit deny" or "implicit deny".
func (e Effect) String() string {
	switch e {
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicit deny"
	default:
		return "implicit deny"
	}
}

// Decision is the result of evaluating a request.
type Decision struct {
	// Effect is the outcome.
	Effect Effect
	// Policy and Statement name the deciding statement (the first Deny that applies, or
	// the first Allow); empty for an implicit deny.
	Policy, Statement string
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Effect == Allowed }

// String describes the decision: "allowed by OnpushPolicy #3".
func (d Decision) String() string {
	if d.Effect == ImplicitDeny {
		return d.Effect.String()
	}
	by := "by"
	if d.Effect == ExplicitDeny {
		by = "in"
	}
	return fmt.Sprintf("%s %s %s %s", d.Effect, by, d.Policy, d.Statement)
}

// Evaluate decides req against the identity policies of one principal: an explicit deny
// in any policy wins, then any allow, else the request is implicitly denied.
func Evaluate(req Request, policies ...Policy) Decision {
	ctx := make(map[string][]string, len(req.Context))
	for k, v := range req.Context {
		ctx[strings.ToLower(k)] = v
	}
	var allow *Decision
	for _, p := range policies {
		for i, s := range p.Document.Statements {
			if !s.applies(req, ctx) {
				continue
			}
			d := Decision{Policy: p.Name, Statement: s.name(i)}
			if s.Effect == Deny {
				d.Effect = ExplicitDeny
				return d
			}
			if allow == nil {
				d.Effect = Allowed
				allow = &d
			}
		}
	}
	if allow != nil {
		return *allow
	}
	return Decision{Effect: ImplicitDeny}
}

// applies reports whether the statement covers the request. A condition this package
// cannot evaluate makes a Deny apply and an Allow not, so doubt always denies.
func (s Statement) applies(req Request, ctx map[string][]string) bool {
	if !matchesAny(s.Action, s.NotAction, req.Action, MatchAction) ||
		!matchesAny(s.Resource, s.NotResource, req.Resource, MatchResource) {
		return false
	}
	for op, keys := range s.Condition {
		ok, known := condition(op, keys, ctx)
		if !known {
			return s.Effect == Deny
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchesAny applies an element and its Not form: in matches when any pattern matches,
// notIn when none does.
func matchesAny(in, notIn []string, v string, match func(pattern, v string) bool) bool {
	if in != nil {
		for _, p := range in {
			if match(p, v) {
				return true
			}
		}
		return false
	}
	for _, p := range notIn {
		if match(p, v) {
			return false
		}
	}
	return true
}
