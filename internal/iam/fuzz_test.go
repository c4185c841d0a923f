package iam

import (
	"strings"
	"testing"
)

// FuzzEvaluate checks properties that hold for any document and request: parsing and
// evaluating never panic; an evaluation is deterministic; adding an Allow-all policy
// never turns an explicit deny into anything else; adding a Deny of the request's action
// on every resource always denies; and a literal pattern matches exactly itself.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"Statement": {"Effect": "Allow", "Action": "ecr:Describe*", "Resource": "arn:aws:ecr:*:1:repository/*"}}`,
		"ecr:DescribeImages", "arn:aws:ecr:eu-west-1:1:repository/a", "aws:SourceAccount", "1")
	f.Add(`{"Statement": [{"Effect": "Deny", "NotAction": "iam:*", "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}`,
		"s3:GetObject", "*", "aws:MultiFactorAuthPresent", "true")
	f.Add(`{"Statement": {"Effect": "Allow", "Action": "*", "NotResource": ["a:*:?"], "Condition": {"StringLike": {"k": "*?*"}}}}`,
		"x:y", "a:b:c", "k", "")
	f.Fuzz(func(t *testing.T, doc, action, resource, key, value string) {
		d, err := ParseDocument([]byte(doc))
		if err != nil {
			return
		}
		req := Request{Action: action, Resource: resource, Context: map[string][]string{key: {value}}}
		p := Policy{Name: "fuzz", Document: d}
		first := Evaluate(req, p)
		if again := Evaluate(req, p); again != first {
			t.Fatalf("not deterministic: %v then %v", first, again)
		}
		all := Policy{Name: "all", Document: Document{Statements: []Statement{{Effect: Allow, Action: []string{"*"}, Resource: []string{"*"}}}}}
		if first.Effect == ExplicitDeny && Evaluate(req, p, all).Effect != ExplicitDeny {
			t.Fatalf("an Allow policy overrode an explicit deny")
		}
		if !strings.ContainsAny(action, "*?") {
			deny := Policy{Name: "deny", Document: Document{Statements: []Statement{{Effect: Deny, Action: []string{action}, Resource: []string{"*"}}}}}
			if got := Evaluate(req, all, p, deny); got.Effect != ExplicitDeny {
				t.Fatalf("a Deny of %q on * gave %v", action, got)
			}
			if isASCII(action) && !MatchAction(action, strings.ToUpper(action)) {
				t.Fatalf("literal action %q does not match its upper case", action)
			}
		}
		if !strings.ContainsAny(resource, "*?") && !MatchResource(resource, resource) {
			t.Fatalf("literal resource %q does not match itself", resource)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
