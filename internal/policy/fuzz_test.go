package policy

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary documents to the decoder: it must never panic,
// and it returns either a policy or a non-empty list of located errors.
func FuzzParse(f *testing.F) {
	if src, err := os.ReadFile("../../ecrwarden.yaml"); err == nil {
		f.Add(src)
	}
	for _, s := range []string{
		"repositories:\n  - name: app\n",
		"repositories: [{ name: app, retention: [{ match: [v*, dev-*], keepNewest: 3, maxAge: 30d }] }]",
		"repositories: [{ name: a/b, tags: { allow: [\"v{semver}\", \"{sha}\"], onViolation: delete } }]",
		"clusters: [{ name: c, namespaces: [default] }]\nrepositories: [{ name: app, deploy: [{ cluster: c, namespace: default, deployment: d, container: c, tags: \"v{semver}\" }] }]",
		"a: &x [1]\nb: *x\n",
		"repositories:\n  - <<: {name: x}\n",
		"--- \n...\n---\n",
		"repositories: [{ name: app, scan: { ignore: [{ id: CVE-1, until: 2027-01-31, reason: r }] } }]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err == nil {
			if p == nil {
				t.Fatal("nil policy without error")
			}
			if p.Version != 1 {
				t.Fatalf("valid policy with version %d", p.Version)
			}
			return
		}
		if p != nil {
			t.Fatal("policy returned alongside errors")
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error is not a non-empty policy.Errors: %v", err)
		}
	})
}

// FuzzPatternMatch compiles arbitrary patterns and matches arbitrary tags:
// no panic, matched tags are valid tags, and a valid pattern matches its
// own example.
func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"v{semver}", "v1.2.3-rc.1"}, {"v{date}-{sha}", "v20241009-abc1234"}, {"feature-*-{sha}", "feature-x-0a1b2c3"},
		{"exp-*", "exp-1"}, {"{sha}", "12345678"}, {"*-*-*-*", "a-b-c-d"}, {"v{semver", "v1"}, {"{}", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, tag string) {
		p, err := CompilePattern(pattern)
		if err != nil {
			return
		}
		if m, ok := p.Match(tag); ok {
			if m.Tag != tag {
				t.Fatalf("match reports tag %q for %q", m.Tag, tag)
			}
			if !ValidTag(tag) {
				t.Fatalf("pattern %q matched invalid tag %q", pattern, tag)
			}
		}
		ex := p.Example()
		if len(ex) <= maxTagLength {
			if _, ok := p.Match(ex); !ok {
				t.Fatalf("pattern %q does not match its example %q", pattern, ex)
			}
		}
	})
}
