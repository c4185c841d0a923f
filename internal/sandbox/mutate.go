package sandbox

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/cfn"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// RemoveGrant returns a copy of t in which function's role no longer has action: the
// action is taken out of every statement of the role's policies that lists it (a
// statement left without actions goes). It fails when no statement lists the action
// literally (a wildcard that covers it cannot be narrowed here).
func RemoveGrant(t *cfn.Template, function, action string) (*cfn.Template, error) {
	c := t.Clone()
	fnID, err := c.FindByPath("AWS::Lambda::Function", function)
	if err != nil {
		return nil, err
	}
	roleID := cfn.RefTo(c.Resources[fnID].Properties["Role"])
	removed := 0
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, id := range c.OfType(typ) {
			props := c.Resources[id].Properties
			roles, _ := props["Roles"].([]any)
			attached := false
			for _, r := range roles {
				attached = attached || cfn.RefTo(r) == roleID
			}
			if !attached {
				continue
			}
			doc, _ := props["PolicyDocument"].(map[string]any)
			n, err := removeAction(doc, action)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			removed += n
		}
	}
	if removed == 0 {
		return nil, fmt.Errorf("no statement of %s's role lists %s", function, action)
	}
	return c, nil
}

// removeAction takes action out of the Allow statements of doc and returns how many
// statements listed it.
func removeAction(doc map[string]any, action string) (int, error) {
	var stmts []any
	switch s := doc["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	default:
		return 0, fmt.Errorf("policy document without statements")
	}
	n := 0
	var kept []any
	for _, st := range stmts {
		m, _ := st.(map[string]any)
		if m["Effect"] != iam.Allow {
			kept = append(kept, st)
			continue
		}
		var actions []any
		switch a := m["Action"].(type) {
		case string:
			actions = []any{a}
		case []any:
			actions = a
		}
		var left []any
		for _, a := range actions {
			if s, _ := a.(string); strings.EqualFold(s, action) {
				n++
				continue
			}
			left = append(left, a)
		}
		switch {
		case len(left) == len(actions):
			kept = append(kept, st)
		case len(left) > 0:
			m["Action"] = left
			kept = append(kept, m)
		}
	}
	doc["Statement"] = kept
	return n, nil
}

// Grants returns the actions the Allow statements of function's role policies list in
// the template, sorted, without duplicates.
func Grants(t *cfn.Template, function string) ([]string, error) {
	d, err := readDeployment(t, stackName, Account, Region)
	if err != nil {
		return nil, err
	}
	f, ok := d.functions[function]
	if !ok {
		return nil, fmt.Errorf("no function %s", function)
	}
	var out []string
	for _, p := range f.policies {
		for _, s := range p.Document.Statements {
			if s.Effect == iam.Allow {
				out = append(out, s.Action...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
