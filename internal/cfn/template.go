package cfn

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Template is a CloudFormation template.
type Template struct {
	// Resources by logical id.
	Resources map[string]Resource `json:"Resources"`
	// Conditions by name, for Fn::If.
	Conditions map[string]any `json:"Conditions,omitempty"`
	// Outputs by logical id: Value, Description, Export.
	Outputs map[string]map[string]any `json:"Outputs,omitempty"`
	// Parameters by name (the CDK's BootstrapVersion); their Default answers Ref.
	Parameters map[string]map[string]any `json:"Parameters,omitempty"`
	// Rest keeps every other top-level key, so a modified template marshals whole.
	Rest map[string]json.RawMessage `json:"-"`
}

// Resource is one resource of a template.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties,omitempty"`
	Metadata   map[string]any `json:"Metadata,omitempty"`
	DependsOn  any            `json:"DependsOn,omitempty"`
	Condition  string         `json:"Condition,omitempty"`
	// DeletionPolicy and UpdateReplacePolicy are kept for round trips.
	DeletionPolicy      string `json:"DeletionPolicy,omitempty"`
	UpdateReplacePolicy string `json:"UpdateReplacePolicy,omitempty"`
}

// Parse reads a template in its JSON form.
func Parse(data []byte) (*Template, error) {
	var t Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if err := json.Unmarshal(data, &t.Rest); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	for _, k := range []string{"Resources", "Conditions", "Outputs", "Parameters"} {
		delete(t.Rest, k)
	}
	if len(t.Resources) == 0 {
		return nil, fmt.Errorf("template: no Resources")
	}
	return &t, nil
}

// MarshalJSON writes the template back, with every key it was read with.
func (t *Template) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range t.Rest {
		m[k] = v
	}
	m["Resources"] = t.Resources
	if t.Conditions != nil {
		m["Conditions"] = t.Conditions
	}
	if t.Outputs != nil {
		m["Outputs"] = t.Outputs
	}
	if t.Parameters != nil {
		m["Parameters"] = t.Parameters
	}
	return json.Marshal(m)
}

// Clone returns a deep copy, for tests that change a template.
func (t *Template) Clone() *Template {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("cfn: clone template: %v", err)) // the template was read from JSON
	}
	c, err := Parse(b)
	if err != nil {
		panic(fmt.Sprintf("cfn: clone template: %v", err))
	}
	return c
}

// OfType returns the logical ids of the resources of a type, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Path returns a resource's construct path (the aws:cdk:path metadata the CDK writes
// when path metadata is enabled), or "".
func (t *Template) Path(id string) string {
	p, _ := t.Resources[id].Metadata["aws:cdk:path"].(string)
	return p
}

// FindByPath returns the only resource of typ whose construct path has a segment equal,
// ignoring case, to segment ("onpush" finds ecrwarden/Onpush/Function/Resource).
func (t *Template) FindByPath(typ, segment string) (string, error) {
	var found []string
	for _, id := range t.OfType(typ) {
		for _, s := range strings.Split(t.Path(id), "/") {
			if strings.EqualFold(s, segment) {
				found = append(found, id)
				break
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("template: no %s under a construct named %q (is path metadata on?)", typ, segment)
	default:
		return "", fmt.Errorf("template: %d %s resources under a construct named %q: %s", len(found), typ, segment, strings.Join(found, ", "))
	}
}

// RefTo returns the logical id v refers to when v is {"Ref": id} or {"Fn::GetAtt": [id,
// attr]} (or "id.attr"), else "".
func RefTo(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	switch a := m["Fn::GetAtt"].(type) {
	case []any:
		if len(a) == 2 {
			id, _ := a[0].(string)
			return id
		}
	case string:
		id, _, _ := strings.Cut(a, ".")
		return id
	}
	return ""
}
