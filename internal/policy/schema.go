package policy

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// SchemaID is the $id of the policy file's JSON Schema.
const SchemaID = "https://github.com/ecrwarden/ecrwarden/schema/ecrwarden.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the policy file,
// generated from the same Go types and struct tags the decoder reads, so
// the two cannot drift apart. Editors use it through the
// yaml-language-server comment at the top of ecrwarden.yaml.
//
// The schema checks shapes, names and spellings; the cross-field rules
// (unknown clusters or principals, rules without effect, duplicate names)
// are the decoder's, which reports them with positions.
func Schema() []byte {
	s := schemaFor(reflect.TypeFor[File](), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = SchemaID
	s["title"] = "ecrwarden policy"
	s["description"] = "One policy file describes an ecrwarden deployment: the guarded ECR repositories, their tag rules, scan alerting, gc retention and the workloads (Deployments, StatefulSets, DaemonSets, CronJobs) that pushes roll forward."
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // maps of strings, bools and numbers always marshal
	}
	return append(out, '\n')
}

const (
	patternSchemaRE  = `^(?:[A-Za-z0-9_.*-]|\{(?:semver|sha|date)\})+$`
	durationSchemaRE = `^(?:[0-9]+d)?(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms|us|ns))*$`
	dateSchemaRE     = `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
)

func schemaFor(t reflect.Type, doc string) map[string]any {
	s := map[string]any{}
	if doc != "" {
		s["description"] = doc
	}
	switch t {
	case patternType:
		s["type"] = "string"
		s["pattern"] = patternSchemaRE
		return s
	case reflect.TypeFor[Duration]():
		s["type"] = "string"
		s["pattern"] = durationSchemaRE
		return s
	case reflect.TypeFor[Date]():
		s["type"] = "string"
		s["format"] = "date"
		s["pattern"] = dateSchemaRE
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaFor(t.Elem(), doc)
	case reflect.Struct:
		s["type"] = "object"
		s["additionalProperties"] = false
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			ps := schemaFor(f.Type, f.Tag.Get("doc"))
			if m := f.Tag.Get("minimum"); m != "" {
				n, _ := strconv.Atoi(m)
				ps["minimum"] = n
			}
			props[name] = ps
			if f.Tag.Get("required") == "true" {
				required = append(required, name)
			}
		}
		s["properties"] = props
		if len(required) > 0 {
			s["required"] = required
		}
	case reflect.Slice:
		items := schemaFor(t.Elem(), "")
		if t.Elem() == patternType {
			// A single pattern may stand for a one-element list.
			s["anyOf"] = []any{items, map[string]any{"type": "array", "items": items, "minItems": 1}}
			return s
		}
		s["type"] = "array"
		s["items"] = items
	case reflect.Map:
		s["type"] = "object"
		s["additionalProperties"] = schemaFor(t.Elem(), "")
	case reflect.String:
		s["type"] = "string"
		if vals, ok := enumValues[t.Name()]; ok {
			s["enum"] = vals
		}
	case reflect.Int:
		s["type"] = "integer"
	case reflect.Float64:
		s["type"] = "number"
	case reflect.Bool:
		s["type"] = "boolean"
	}
	return s
}
