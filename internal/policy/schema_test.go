package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

const schemaFile = "../../schema/ecrwarden.schema.json"

// TestSchemaGolden keeps the committed schema in step with the Go types:
// regenerate with go test ./internal/policy -update.
func TestSchemaGolden(t *testing.T) {
	got := Schema()
	if *update {
		if err := os.MkdirAll("../../schema", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("read %s (regenerate with -update): %v", schemaFile, err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s is stale; run go test ./internal/policy -update (-want +got):\n%s", schemaFile, cmp.Diff(string(want), string(got)))
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// yamlToJSONValue decodes YAML the way an editor's schema validator sees
// it: dates stay strings.
func yamlToJSONValue(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = conv(e)
			}
		case []any:
			for i, e := range x {
				x[i] = conv(e)
			}
		case time.Time:
			return x.Format(time.DateOnly)
		case int:
			return json.Number(strconv.Itoa(x))
		}
		return v
	}
	return conv(v)
}

func TestSchemaValidatesExample(t *testing.T) {
	s := compileSchema(t)
	src, err := os.ReadFile("../../ecrwarden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(yamlToJSONValue(t, string(src))); err != nil {
		t.Errorf("ecrwarden.yaml does not validate against the schema: %v", err)
	}
}

func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	tests := []struct {
		name string
		yaml string
	}{
		{"unknown key", "repositories: [{ name: app, retension: [] }]"},
		{"unknown severity", "repositories: [{ name: app, scan: { alertAt: SEVERE } }]"},
		{"bad pattern placeholder", "repositories: [{ name: app, tags: { allow: [\"v{version}\"] } }]"},
		{"bad duration", "repositories: [{ name: app, retention: [{ untagged: true, maxAge: 1 week }] }]"},
		{"negative count", "repositories: [{ name: app, retention: [{ match: v*, keepNewest: -1 }] }]"},
		{"missing name", "repositories: [{ manage: true }]"},
		{"missing repositories", "version: 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Validate(yamlToJSONValue(t, tt.yaml)); err == nil {
				t.Errorf("schema accepted %q", tt.yaml)
			}
			if _, err := Parse("p.yaml", []byte(tt.yaml)); err == nil {
				t.Errorf("decoder accepted %q", tt.yaml)
			}
		})
	}
}
