package ecrevent

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// matchPattern is a deliberately small EventBridge matcher for these tests: exact
// strings, {"wildcard": ...}, nested objects, and arrays in the event matching when
// any element matches. internal/eventpattern is the real one.
func matchPattern(t *testing.T, pattern map[string]any, event any) bool {
	t.Helper()
	obj, ok := event.(map[string]any)
	if !ok {
		return false
	}
	for key, want := range pattern {
		got, present := obj[key]
		if !present {
			return false
		}
		switch want := want.(type) {
		case map[string]any:
			if !anyElement(got, func(v any) bool { return matchPattern(t, want, v) }) {
				return false
			}
		case []any:
			if !anyElement(got, func(v any) bool { return matchValue(t, want, v) }) {
				return false
			}
		default:
			t.Fatalf("pattern key %q has %T, want an object or an array", key, want)
		}
	}
	return true
}

func anyElement(v any, f func(any) bool) bool {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if f(e) {
				return true
			}
		}
		return false
	}
	return f(v)
}

func matchValue(t *testing.T, alternatives []any, v any) bool {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		return false
	}
	for _, alt := range alternatives {
		switch alt := alt.(type) {
		case string:
			if alt == s {
				return true
			}
		case map[string]any:
			w, ok := alt["wildcard"].(string)
			if !ok || len(alt) != 1 {
				t.Fatalf("unsupported pattern operator %v", alt)
			}
			re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), `\*`, ".*") + "$")
			if re.MatchString(s) {
				return true
			}
		default:
			t.Fatalf("unsupported pattern value %T", alt)
		}
	}
	return false
}

func TestPatternsAreJSONData(t *testing.T) {
	for name, p := range map[string]map[string]any{
		"push":      PushPattern(exAccount, []string{exRepository}),
		"basic":     BasicScanPattern(exAccount, []string{exRepository}),
		"inspector": InspectorPattern(exAccount, []string{exRepository}),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if got, want := mustJSON(t, back), string(b); got != want {
				t.Errorf("pattern is not in JSON-decoded form:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPatternsRouteFixtures(t *testing.T) {
	retail := []string{exRepository}
	other := []string{"mlops/train-model"}
	patterns := []struct {
		name    string
		pattern map[string]any
		matches []string
	}{
		{"push", PushPattern(exAccount, retail), []string{"ecr-image-action-push.json"}},
		{"push other repository", PushPattern(exAccount, other), nil},
		{"push any repository", PushPattern(exAccount, nil), []string{"ecr-image-action-push.json"}},
		{"basic scan", BasicScanPattern(exAccount, retail), []string{"ecr-image-scan-complete.json", "ecr-image-scan-failed.json"}},
		{"basic scan other repository", BasicScanPattern(exAccount, other), nil},
		{"inspector", InspectorPattern(exAccount, retail), []string{
			"inspector2-scan-ecr.json", "inspector2-scan-ecr-clean.json", "inspector2-finding-ecr.json", "inspector2-finding-ecr-2021.json"}},
		{"inspector prefix of a repository name", InspectorPattern(exAccount, []string{"mlops/retail"}), nil},
		{"inspector parent repository", InspectorPattern(exAccount, []string{"mlops"}), nil},
		{"inspector any repository", InspectorPattern(exAccount, nil), []string{
			"inspector2-scan-ecr.json", "inspector2-scan-ecr-clean.json", "inspector2-finding-ecr.json", "inspector2-finding-ecr-2021.json"}},
		{"push of another account", PushPattern("210987654321", retail), nil},
		{"basic scan of another account", BasicScanPattern("210987654321", retail), nil},
		{"inspector of another account", InspectorPattern("210987654321", retail), nil},
		{"push of any account (tools only)", PushPattern("", retail), []string{"ecr-image-action-push.json"}},
	}
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			for _, fx := range fixtures {
				want := false
				for _, m := range p.matches {
					want = want || m == fx.file
				}
				if got := matchPattern(t, p.pattern, generic(t, readFixture(t, fx.file))); got != want {
					t.Errorf("%s: match = %v, want %v", fx.file, got, want)
				}
			}
		})
	}
}

func TestPatternsRouteEmittedEvents(t *testing.T) {
	retail := []string{exRepository}
	push, err := NewPushEvent(ImageActionInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest, Tag: "v1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	scanIn := ScanInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest}
	basic, err := NewBasicScanEvent(scanIn)
	if err != nil {
		t.Fatal(err)
	}
	enhanced, err := NewInspectorScanEvent(scanIn)
	if err != nil {
		t.Fatal(err)
	}
	finding, err := NewInspectorFindingEvent(FindingInput{EnvelopeInput: exampleEnvelope, Repository: exRepository, Digest: exDigest,
		VulnerabilityID: "CVE-2024-6119", Severity: "HIGH"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pattern map[string]any
		event   []byte
	}{
		{"push", PushPattern(exAccount, retail), push},
		{"basic scan", BasicScanPattern(exAccount, retail), basic},
		{"inspector scan", InspectorPattern(exAccount, retail), enhanced},
		{"inspector finding", InspectorPattern(exAccount, retail), finding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !matchPattern(t, tt.pattern, generic(t, tt.event)) {
				t.Errorf("emitted event %s does not match pattern %v", tt.event, tt.pattern)
			}
			if matchPattern(t, tt.pattern, generic(t, []byte(strings.ReplaceAll(string(tt.event), exRepository, "mlops/train-model")))) {
				t.Error("the same event for another repository matches too")
			}
			var foreign map[string]any
			if err := json.Unmarshal(tt.event, &foreign); err != nil {
				t.Fatal(err)
			}
			foreign["account"] = "210987654321"
			if matchPattern(t, tt.pattern, foreign) {
				t.Error("the same event in another account's envelope matches too")
			}
		})
	}
}
