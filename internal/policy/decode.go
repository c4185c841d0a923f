package policy

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and validates the policy file at path. It returns either a
// fully valid policy or every problem found (as Errors), never both.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a policy from data; name is used in errors.
// It returns either a fully valid policy or every problem found (as Errors).
func Parse(name string, data []byte) (*File, error) {
	d := &decoder{file: name, pos: map[string]position{}}
	root, ok := d.document(data)
	if !ok {
		return nil, d.errs
	}
	f := &File{name: name}
	d.decode(root, reflect.ValueOf(f).Elem(), "")
	// Validate even when decoding found problems, so that every mistake is
	// reported at once; the validator stays quiet about paths whose
	// decoding already failed (see validator.errorf).
	for _, e := range d.errs {
		d.bad = append(d.bad, e.Path)
	}
	applyDefaults(f)
	v := validator{d: d, f: f}
	v.validate()
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return f, nil
}

type position struct{ line, column int }

// decoder walks a yaml.Node tree into the policy types by reflection, with
// strict rules (unknown and duplicate keys, wrong types) and a field path
// and position for every problem. yaml.v3's own Decode stops at the first
// problem and knows no field paths, hence this walker.
type decoder struct {
	file string
	errs Errors
	pos  map[string]position
	bad  []string // paths whose decoding failed
}

// unmarshaler is implemented by policy scalars that parse their own text.
type unmarshaler interface {
	unmarshalPolicy(n *yaml.Node) error
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(0, 0, "", "policy is empty")
			return nil, false
		}
		d.syntax(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(extra.Line, extra.Column, "", "a policy file holds one YAML document; found a second one")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
		return nil, false
	}
	if len(doc.Content) == 0 {
		d.add(0, 0, "", "policy is empty")
		return nil, false
	}
	return doc.Content[0], true
}

func (d *decoder) syntax(err error) {
	msg := err.Error()
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if m := yamlLineRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			d.add(n, 1, "", "YAML syntax: "+m[2])
			continue
		}
		if line != "" && line != "yaml: unmarshal errors:" {
			d.add(0, 0, "", "YAML syntax: "+strings.TrimPrefix(line, "yaml: "))
		}
	}
}

func (d *decoder) add(line, col int, path, msg string) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Column: col, Path: path, Msg: msg})
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.add(n.Line, n.Column, path, fmt.Sprintf(format, args...))
}

// at reports the position recorded for path, or for its nearest parent.
func (d *decoder) at(path string) position {
	for {
		if p, ok := d.pos[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.pos[""]
		}
		path = path[:i]
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		case "!!timestamp":
			return "a date"
		}
		return "a string"
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	patternType  = reflect.TypeFor[Pattern]()
	unmarshalerT = reflect.TypeFor[unmarshaler]()
)

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = position{n.Line, n.Column}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerT) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
			d.errorf(n, path, "want %s, got %s", scalarWant(v.Type()), kindName(n))
			return
		}
		if err := v.Addr().Interface().(unmarshaler).unmarshalPolicy(n); err != nil {
			d.errorf(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.ShortTag() == "!!null" {
			return
		}
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			hint := ""
			if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
				hint = fmt.Sprintf(" (quote it: %q)", n.Value)
			}
			d.errorf(n, path, "want a string, got %s%s", kindName(n), hint)
			return
		}
		if vals, ok := enumValues[v.Type().Name()]; ok && !slices.Contains(vals, n.Value) {
			d.errorf(n, path, "unknown %s %q%s: want one of %s", enumNoun(v.Type().Name()), n.Value, suggest(vals, n.Value), strings.Join(vals, ", "))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorf(n, path, "want an integer, got %s", kindName(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 32)
		if err != nil {
			d.errorf(n, path, "integer %s out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			d.errorf(n, path, "want a number, got %s", kindName(n))
			return
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.errorf(n, path, "number %s out of range", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errorf(n, path, "want true or false, got %s", kindName(n))
			return
		}
		b, _ := strconv.ParseBool(n.Value)
		v.SetBool(b)
	default:
		d.errorf(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

func scalarWant(t reflect.Type) string {
	switch t {
	case patternType:
		return "a tag pattern string"
	case reflect.TypeFor[Duration]():
		return "a duration such as 24h or 30d"
	case reflect.TypeFor[Date]():
		return "a date YYYY-MM-DD"
	}
	return "a string"
}

func enumNoun(typeName string) string {
	switch typeName {
	case "Severity":
		return "severity"
	case "Action":
		return "action"
	case "Disposal":
		return "retention action"
	case "Order":
		return "order"
	case "Pin":
		return "pin mode"
	case "Encryption":
		return "encryption type"
	case "ScanType":
		return "scan type"
	case "ScanFrequency":
		return "scan frequency"
	}
	return "value"
}

func suggest(vals []string, got string) string {
	for _, v := range vals {
		if strings.EqualFold(v, got) {
			return fmt.Sprintf(" (did you mean %s?)", v)
		}
	}
	return ""
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		known = append(known, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "mapping keys must be strings")
			continue
		}
		if k.Value == "<<" {
			d.errorf(k, path, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		fp := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, fp, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k, fp, "unknown key %q%s; known keys: %s", k.Value, suggestKey(known, k.Value), strings.Join(known, ", "))
			continue
		}
		d.decode(val, v.Field(idx), fp)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Tag.Get("required") == "true" && !seen[name] {
			d.errorf(n, join(path, name), "missing required key %q", name)
		}
	}
}

func suggestKey(known []string, got string) string {
	for _, k := range known {
		if strings.EqualFold(k, got) || strings.EqualFold(strings.ReplaceAll(k, "_", ""), strings.ReplaceAll(got, "_", "")) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	// A single pattern may stand for a one-element list: match: "v*".
	if n.Kind == yaml.ScalarNode && v.Type().Elem() == patternType && n.ShortTag() == "!!str" {
		s := reflect.MakeSlice(v.Type(), 1, 1)
		d.decode(n, s.Index(0), path)
		v.Set(s)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.errorf(k, path, "mapping keys must be strings")
			continue
		}
		fp := join(path, k.Value)
		key := reflect.ValueOf(k.Value).Convert(v.Type().Key())
		if m.MapIndex(key).IsValid() {
			d.errorf(k, fp, "duplicate key %q", k.Value)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, fp)
		m.SetMapIndex(key, elem)
	}
	v.Set(m)
}

func (p *Pattern) unmarshalPolicy(n *yaml.Node) error {
	if n.ShortTag() != "!!str" {
		return fmt.Errorf("want a tag pattern string, got %s (quote it: %q)", kindName(n), n.Value)
	}
	c, err := CompilePattern(n.Value)
	if err != nil {
		return err
	}
	*p = c
	return nil
}

func (d *Duration) unmarshalPolicy(n *yaml.Node) error {
	if n.ShortTag() == "!!int" && n.Value == "0" {
		*d = 0 // a bare 0 means none, as in "untaggedNewerThan: 0"
		return nil
	}
	if n.ShortTag() != "!!str" {
		return fmt.Errorf("want a duration such as 24h or 30d, got %s %s", kindName(n), n.Value)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d *Date) unmarshalPolicy(n *yaml.Node) error {
	if tag := n.ShortTag(); tag != "!!str" && tag != "!!timestamp" {
		return fmt.Errorf("want a date YYYY-MM-DD, got %s", kindName(n))
	}
	v, err := ParseDate(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
