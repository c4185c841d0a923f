package policy

import (
	"strings"
	"testing"
)

func TestPatternOverlaps(t *testing.T) {
	tests := []struct {
		pattern, filter string
		want            bool
		example         string
	}{
		{"v{semver}", "latest", false, ""},
		{"v{semver}", "dev-*", false, ""},
		{"v{semver}", "*-latest", true, "v0.0.0-latest"},
		{"v{semver}", "v1.*", true, "v1.0.0"},
		{"v{semver}", "v*", true, "v0.0.0"},
		{"v{semver}", "*", true, "v0.0.0"},
		{"v{semver}", "V1.0.0", false, ""},
		{"latest", "latest", true, "latest"},
		{"latest", "late*", true, "latest"},
		{"latest", "dev-latest", false, ""},
		{"{sha}", "dev-*", false, ""},
		{"{sha}", "*f", true, "aaaaaaf"},
		{"dev-{sha}", "dev-*", true, "dev-aaaaaaa"},
		{"feature-*-{sha}", "feature-x*", true, "feature-x-aaaaaaa"},
		{"v{date}-{sha}", "v2024*", true, "v20240000-aaaaaaa"},
		{"v{date}-{sha}", "v*-latest", false, ""},
		{"*-*", "*", true, "A-"},
		{"*-*-*-*-*-*-*-*", "*.*.*.*.*.*", true, "A.....-------"},
		{"exp-*", "*", true, "exp-"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.filter, func(t *testing.T) {
			p := MustCompilePattern(tt.pattern)
			got, ok := p.Overlaps(tt.filter)
			if ok != tt.want || got != tt.example {
				t.Fatalf("Overlaps = %q, %v; want %q, %v", got, ok, tt.example, tt.want)
			}
			if ok {
				if !filterMatches(tt.filter, got) || !p.re.MatchString(got) || !ValidTag(got) {
					t.Errorf("example %q does not match both", got)
				}
			}
		})
	}
}

// filterMatches matches a tag against an ECR wildcard filter with the
// validator's own matcher, independent of Overlaps' automata.
func filterMatches(filter, tag string) bool { return mutable([]string{filter}, tag) }

// FuzzPatternOverlaps: whenever a tag matches both a pattern and an ECR
// wildcard filter, Overlaps says so, and the example it gives matches both.
func FuzzPatternOverlaps(f *testing.F) {
	for _, s := range [][3]string{
		{"v{semver}", "*-latest", "v1.0.0-latest"}, {"latest", "late*", "latest"}, {"dev-{sha}", "dev-*", "dev-abc1234"},
		{"{sha}", "*f", "abcdef0f"}, {"v{date}-{sha}", "v2024*", "v20240101-abc1234"}, {"feature-*-{sha}", "*", "feature-x-abc1234"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, filter, tag string) {
		p, err := CompilePattern(pattern)
		if err != nil || filter == "" || len(filter) > 64 || !ecrFilterRE.MatchString(filter) || strings.Contains(filter, "/") {
			return
		}
		example, ok := p.Overlaps(filter)
		if _, m := p.Match(tag); m && filterMatches(filter, tag) && !ok {
			t.Fatalf("%q matches pattern %q and filter %q, but Overlaps says no", tag, pattern, filter)
		}
		if ok && example != "" && (!p.re.MatchString(example) || !filterMatches(filter, example) || !ValidTag(example)) {
			t.Fatalf("Overlaps(%q, %q) example %q does not match both", pattern, filter, example)
		}
	})
}
