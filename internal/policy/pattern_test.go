package policy

import (
	"strings"
	"testing"
	"time"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		tag     string
		want    bool
		semver  string // expected {semver} value, if any
		date    string
		sha     string
	}{
		{"v{semver}", "v1.2.3", true, "1.2.3", "", ""},
		{"v{semver}", "v1.2.3-rc.1", true, "1.2.3-rc.1", "", ""},
		{"v{semver}", "v1.2", false, "", "", ""},
		{"v{semver}", "v01.2.3", false, "", "", ""},
		{"v{semver}", "1.2.3", false, "", "", ""},
		{"v{semver}", "v1.2.3-", false, "", "", ""},
		{"v{semver}", "v20241009-abc1234", false, "", "", ""},
		{"v{date}-{sha}", "v20241009-abc1234", true, "", "2024-10-09", "abc1234"},
		{"v{date}-{sha}", "v20241009-abc123", false, "", "", ""}, // the seeds' 6-hex placeholder is not a git sha
		{"v{date}-{sha}", "v20241339-abc1234", false, "", "", ""},
		{"v{date}-{sha}", "v20240230-abc1234", false, "", "", ""},
		{"v{date}-{sha}", "v20240229-abc1234", true, "", "2024-02-29", "abc1234"},
		{"{sha}", "0a1b2c3", true, "", "", "0a1b2c3"},
		{"{sha}", "12345678", true, "", "", "12345678"},
		{"{sha}", "0A1B2C3", false, "", "", ""},
		{"{sha}", strings.Repeat("a", 40), true, "", "", strings.Repeat("a", 40)},
		{"{sha}", strings.Repeat("a", 41), false, "", "", ""},
		{"{sha}", "abc123", false, "", "", ""},
		{"dev-{sha}", "dev-0a1b2c3", true, "", "", "0a1b2c3"},
		{"dev-{sha}", "dev-latest", false, "", "", ""},
		{"feature-*-{sha}", "feature-x-0a1b2c3", true, "", "", "0a1b2c3"},
		{"feature-*-{sha}", "feature-my-branch-0a1b2c3", true, "", "", "0a1b2c3"},
		{"feature-*-{sha}", "Feature_X", false, "", "", ""},
		{"exp-*", "exp-", true, "", "", ""},
		{"exp-*", "exp-lr-0.01", true, "", "", ""},
		{"exp-*", "xexp-1", false, "", "", ""},
		{"*", "anything_at.all-1", true, "", "", ""},
		{"latest", "latest", true, "", "", ""},
		{"latest", "latest2", false, "", "", ""},
		{"v{semver}-{sha}", "v1.2.3-rc.1-abc1234", true, "1.2.3-rc.1", "", "abc1234"},
		{"v*", "v" + strings.Repeat("1", 128), false, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.tag, func(t *testing.T) {
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatalf("CompilePattern(%q): %v", tt.pattern, err)
			}
			m, ok := p.Match(tt.tag)
			if ok != tt.want {
				t.Fatalf("Match(%q) = %v, want %v", tt.tag, ok, tt.want)
			}
			if !ok {
				return
			}
			if m.Tag != tt.tag {
				t.Errorf("Tag = %q, want %q", m.Tag, tt.tag)
			}
			gotSemver := ""
			if m.Semver != nil {
				gotSemver = m.Semver.String()
			}
			if gotSemver != tt.semver {
				t.Errorf("semver = %q, want %q", gotSemver, tt.semver)
			}
			gotDate := ""
			if !m.Date.IsZero() {
				gotDate = m.Date.Format(time.DateOnly)
			}
			if gotDate != tt.date {
				t.Errorf("date = %q, want %q", gotDate, tt.date)
			}
			if m.SHA != tt.sha {
				t.Errorf("sha = %q, want %q", m.SHA, tt.sha)
			}
		})
	}
}

func TestCompilePatternErrors(t *testing.T) {
	tests := []struct {
		pattern string
		want    string
	}{
		{"", "empty pattern"},
		{"v{semver", "unclosed '{'"},
		{"v}", "'}' without '{'"},
		{"v{version}", "unknown placeholder {version}"},
		{"{sha}-{sha}", "appears twice"},
		{"release/v*", "can never match"},
		{"v 1", "can never match"},
		{"-v*", "cannot start with"},
		{strings.Repeat("a", 129), "needs at least 129 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			_, err := CompilePattern(tt.pattern)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CompilePattern(%q) error = %v, want it to contain %q", tt.pattern, err, tt.want)
			}
		})
	}
}

func TestPatternExampleMatches(t *testing.T) {
	for _, src := range []string{"v{semver}", "v{date}-{sha}", "{sha}", "dev-{sha}", "feature-*-{sha}", "exp-*", "latest"} {
		p := MustCompilePattern(src)
		if _, ok := p.Match(p.Example()); !ok {
			t.Errorf("pattern %q does not match its own example %q", src, p.Example())
		}
	}
}

func TestOrderCompare(t *testing.T) {
	sem := MustCompilePattern("v{semver}")
	date := MustCompilePattern("v{date}-{sha}")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	m := func(p Pattern, tag string) Match {
		t.Helper()
		mm, ok := p.Match(tag)
		if !ok {
			t.Fatalf("%q does not match %q", p, tag)
		}
		return mm
	}
	tests := []struct {
		name   string
		order  Order
		a      Match
		aTime  time.Time
		b      Match
		bTime  time.Time
		wantGT bool // a newer than b
		wantEq bool
	}{
		{"semver newer despite older push", OrderSemver, m(sem, "v1.10.0"), t0, m(sem, "v1.9.0"), t1, true, false},
		{"semver downgrade", OrderSemver, m(sem, "v1.2.9"), t1, m(sem, "v1.3.0"), t0, false, false},
		{"semver release beats its rc", OrderSemver, m(sem, "v1.3.0"), t0, m(sem, "v1.3.0-rc.2"), t1, true, false},
		{"semver equal", OrderSemver, m(sem, "v1.3.0"), t0, m(sem, "v1.3.0"), t1, false, true},
		{"date newer", OrderDate, m(date, "v20241010-abc1234"), t0, m(date, "v20241009-abc1234"), t1, true, false},
		{"same date, later push", OrderDate, m(date, "v20241009-bbbbbbb"), t1, m(date, "v20241009-aaaaaaa"), t0, true, false},
		{"pushed", OrderPushed, Match{Tag: "a"}, t1, Match{Tag: "b"}, t0, true, false},
		{"value beats none", OrderSemver, m(sem, "v0.0.1"), t0, Match{Tag: "latest"}, t1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.order.Compare(tt.a, tt.aTime, tt.b, tt.bTime)
			if got := c > 0; got != tt.wantGT {
				t.Errorf("Compare = %d, want a newer = %v", c, tt.wantGT)
			}
			if got := c == 0; got != tt.wantEq {
				t.Errorf("Compare = %d, want equal = %v", c, tt.wantEq)
			}
			if back := tt.order.Compare(tt.b, tt.bTime, tt.a, tt.aTime); back != -c {
				t.Errorf("Compare is not antisymmetric: %d vs %d", c, back)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"24h", 24 * time.Hour, false},
		{"30d", 720 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"0d", 0, false},
		{"1 week", 0, true},
		{"-1h", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"", 0, true},
		{"100000d", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDuration(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got.Std() != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got.Std(), tt.want)
			}
		})
	}
	if s := Duration(36 * time.Hour).String(); s != "1d12h" {
		t.Errorf("String() = %q, want 1d12h", s)
	}
}

func TestSeverity(t *testing.T) {
	if !SeverityCritical.AtLeast(SeverityHigh) || !SeverityHigh.AtLeast(SeverityHigh) || SeverityMedium.AtLeast(SeverityHigh) {
		t.Error("severity ordering is wrong")
	}
	if Severity("UNDEFINED").AtLeast(SeverityInformational) {
		t.Error("UNDEFINED must not reach any threshold")
	}
}

func TestIgnoreActive(t *testing.T) {
	ig := Ignore{ID: "CVE-1", Until: Date{time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}}
	if !ig.Active(time.Date(2027, 1, 31, 23, 59, 0, 0, time.UTC)) {
		t.Error("entry must apply through its last day")
	}
	if ig.Active(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("entry must expire after its last day")
	}
}

func BenchmarkPatternMatch(b *testing.B) {
	p := MustCompilePattern("feature-*-{sha}")
	tag := "feature-" + strings.Repeat("x-", 50) + "0a1b2c3"
	for b.Loop() {
		if _, ok := p.Match(tag); !ok {
			b.Fatal("no match")
		}
	}
}

// TestLengthLimits: the limits the expressions no longer count ({sha} 7 to
// 40 digits, cluster names, DNS labels, IAM names) still hold, and a long
// run of hex digits after "*" still parses with the shortest {sha}.
func TestLengthLimits(t *testing.T) {
	hex := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"{sha} of 40", matches("dev-{sha}", "dev-"+hex(40)), true},
		{"{sha} of 41", matches("dev-{sha}", "dev-"+hex(41)), false},
		{"{sha} of 6", matches("dev-{sha}", "dev-"+hex(6)), false},
		{"* then 60 hex digits", matches("*{sha}", hex(60)), true},
		{"* - then 41", matches("feature-*-{sha}", "feature-x-"+hex(41)), false},
		{"cluster name of 100", validClusterName("c" + hex(99)), true},
		{"cluster name of 101", validClusterName("c" + hex(100)), false},
		{"DNS label of 63", validDNSLabel(hex(63)), true},
		{"DNS label of 64", validDNSLabel(hex(64)), false},
		{"IAM name of 64", validIAMName("role/path/" + hex(64)), true},
		{"IAM name of 65", validIAMName("role/path/" + hex(65)), false},
		{"IAM path longer than 64", validIAMName("role/" + hex(80) + "/name"), true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if m, _ := MustCompilePattern("*{sha}").Match(hex(60)); m.SHA != hex(7) {
		t.Errorf("*{sha} on 60 digits: SHA %q, want the shortest (7)", m.SHA)
	}
}

func matches(pattern, tag string) bool {
	_, ok := MustCompilePattern(pattern).Match(tag)
	return ok
}
