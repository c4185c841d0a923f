package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Effects of a statement.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// Document is an IAM policy document.
type Document struct {
	// Version is the policy language version, "2012-10-17" in practice.
	Version string
	// Statements are the document's statements, in order.
	Statements []Statement
}

// Statement is one statement of a policy document.
type Statement struct {
	// Sid is the optional statement id.
	Sid string
	// Effect is Allow or Deny.
	Effect string
	// Action and NotAction: exactly one is set.
	Action, NotAction []string
	// Resource and NotResource: exactly one is set in an identity policy.
	Resource, NotResource []string
	// Condition maps an operator ("StringEquals") to condition keys and their values.
	Condition map[string]map[string][]string
}

// name is the statement's Sid, or its position ("#2") when it has none.
func (s Statement) name(i int) string {
	if s.Sid != "" {
		return s.Sid
	}
	return "#" + strconv.Itoa(i)
}

// ParseDocument reads a policy document in its JSON form. It refuses what AWS refuses in
// an identity policy: an unknown effect, a statement with both or neither of Action and
// NotAction (or Resource and NotResource), and values of the wrong type.
func ParseDocument(data []byte) (Document, error) {
	var raw struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Document{}, fmt.Errorf("policy document: %w", err)
	}
	doc := Document{Version: raw.Version}
	var stmts []json.RawMessage
	switch trimmed := bytes.TrimSpace(raw.Statement); {
	case len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")):
		return Document{}, errors.New("policy document: no Statement")
	case trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &stmts); err != nil {
			return Document{}, fmt.Errorf("policy document: Statement: %w", err)
		}
	default:
		stmts = []json.RawMessage{trimmed}
	}
	for i, rs := range stmts {
		s, err := parseStatement(rs)
		if err != nil {
			return Document{}, fmt.Errorf("policy document: statement %d: %w", i, err)
		}
		doc.Statements = append(doc.Statements, s)
	}
	return doc, nil
}

func parseStatement(data []byte) (Statement, error) {
	var raw struct {
		Sid          string                                `json:"Sid"`
		Effect       string                                `json:"Effect"`
		Action       stringList                            `json:"Action"`
		NotAction    stringList                            `json:"NotAction"`
		Resource     stringList                            `json:"Resource"`
		NotResource  stringList                            `json:"NotResource"`
		Principal    json.RawMessage                       `json:"Principal"`
		NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
		Condition    map[string]map[string]conditionValues `json:"Condition"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Statement{}, err
	}
	s := Statement{Sid: raw.Sid, Effect: raw.Effect, Action: raw.Action.v, NotAction: raw.NotAction.v,
		Resource: raw.Resource.v, NotResource: raw.NotResource.v}
	if s.Effect != Allow && s.Effect != Deny {
		return Statement{}, fmt.Errorf("Effect %q: want Allow or Deny", s.Effect)
	}
	if raw.Action.set == raw.NotAction.set {
		return Statement{}, errors.New("want exactly one of Action and NotAction")
	}
	if raw.Resource.set == raw.NotResource.set {
		return Statement{}, errors.New("want exactly one of Resource and NotResource")
	}
	if len(raw.Condition) > 0 {
		s.Condition = make(map[string]map[string][]string, len(raw.Condition))
		for op, keys := range raw.Condition {
			m := make(map[string][]string, len(keys))
			for k, v := range keys {
				m[k] = v
			}
			s.Condition[op] = m
		}
	}
	return s, nil
}

// stringList is a JSON string or list of strings.
type stringList struct {
	v   []string
	set bool
}

func (l *stringList) UnmarshalJSON(b []byte) error {
	l.set = true
	if string(bytes.TrimSpace(b)) == "null" {
		return errors.New("want a string or a list of strings, got null")
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		l.v = []string{one}
		return nil
	}
	if err := json.Unmarshal(b, &l.v); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	return nil
}

// conditionValues is a condition's value: a string, boolean or number, or a list of them.
type conditionValues []string

func (c *conditionValues) UnmarshalJSON(b []byte) error {
	var many []json.RawMessage
	if err := json.Unmarshal(b, &many); err != nil {
		many = []json.RawMessage{b}
	}
	out := make([]string, 0, len(many))
	for _, m := range many {
		var v any
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return err
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case bool:
			out = append(out, strconv.FormatBool(v))
		case json.Number:
			out = append(out, v.String())
		default:
			return fmt.Errorf("condition value %s: want a string, boolean or number", m)
		}
	}
	*c = out
	return nil
}

// String renders the statement's actions for messages.
func (s Statement) String() string {
	if len(s.Action) > 0 {
		return s.Effect + " " + strings.Join(s.Action, ",")
	}
	return s.Effect + " all but " + strings.Join(s.NotAction, ",")
}
