package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func daysAgo(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }

func mustParse(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// acted returns digest → "action@priority" for the images a policy acts on.
func acted(p *Policy, images []Image) map[string]string {
	out := map[string]string{}
	for i, v := range p.Evaluate(images, now) {
		if v.Action != "" {
			out[images[i].Digest] = v.Action + "@" + string(rune('0'+v.Priority))
		}
	}
	return out
}

// TestEvaluateDocumentedExamples runs the examples of the ECR user guide
// ("Examples of lifecycle policies in Amazon ECR") with their documented
// outcomes.
func TestEvaluateDocumentedExamples(t *testing.T) {
	abc := []Image{
		{Digest: "A", Tags: []string{"beta-1", "prod-1"}, PushedAt: daysAgo(10)},
		{Digest: "B", Tags: []string{"beta-2", "prod-2"}, PushedAt: daysAgo(9)},
		{Digest: "C", Tags: []string{"beta-3"}, PushedAt: daysAgo(8)},
	}
	abcAllProd := []Image{
		{Digest: "A", Tags: []string{"beta-1", "prod-1"}, PushedAt: daysAgo(10)},
		{Digest: "B", Tags: []string{"beta-2", "prod-2"}, PushedAt: daysAgo(9)},
		{Digest: "C", Tags: []string{"beta-3", "prod-3"}, PushedAt: daysAgo(8)},
	}
	tests := []struct {
		name   string
		policy string
		images []Image
		want   map[string]string
	}{
		{
			name:   "filtering on image age: prod* older than 14 days",
			policy: `{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "old-prod", Tags: []string{"prod-1"}, PushedAt: daysAgo(20)},
				{Digest: "new-prod", Tags: []string{"prod-2"}, PushedAt: daysAgo(3)},
				{Digest: "old-dev", Tags: []string{"dev-1"}, PushedAt: daysAgo(30)},
			},
			want: map[string]string{"old-prod": "expire@1"},
		},
		{
			name:   "filtering on image count: keep only one untagged image",
			policy: `{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "u1", PushedAt: daysAgo(3)},
				{Digest: "u2", PushedAt: daysAgo(2)},
				{Digest: "u3", PushedAt: daysAgo(1)},
				{Digest: "t", Tags: []string{"v1"}, PushedAt: daysAgo(9)},
			},
			want: map[string]string{"u1": "expire@1", "u2": "expire@1"},
		},
		{
			// Rule 1 marks A; rule 2 marks A and B, but A was already seen by
			// rule 1 and expiring B would violate rule 1: only A expires.
			name:   "multiple rules, example A",
			policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			images: abc,
			want:   map[string]string{"A": "expire@1"},
		},
		{
			// Rule 1 marks A and B; rule 2 would mark them too, but they are
			// rule 1's: A and B expire.
			name:   "multiple rules, example B",
			policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			images: abcAllProd,
			want:   map[string]string{"A": "expire@1", "B": "expire@1"},
		},
		{
			// Multiple tags in one rule: only images carrying both alpha* and
			// beta* tags are selected.
			name:   "multiple tags in a single rule",
			policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*","beta*"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "A", Tags: []string{"alpha-1"}, PushedAt: daysAgo(12)},
				{Digest: "B", Tags: []string{"beta-1"}, PushedAt: daysAgo(11)},
				{Digest: "C", Tags: []string{"alpha-2", "beta-2"}, PushedAt: daysAgo(10)},
				{Digest: "D", Tags: []string{"alpha-3"}, PushedAt: daysAgo(4)},
			},
			want: map[string]string{"C": "expire@1"},
		},
		{
			name:   "tag prefixes: every prefix must match a tag",
			policy: `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "A", Tags: []string{"alpha1", "beta1"}, PushedAt: daysAgo(3)},
				{Digest: "B", Tags: []string{"alpha2", "beta2"}, PushedAt: daysAgo(2)},
				{Digest: "C", Tags: []string{"alpha3"}, PushedAt: daysAgo(1)},
			},
			want: map[string]string{"A": "expire@1"},
		},
		{
			name:   "all images: any with imageCountMoreThan",
			policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "A", Tags: []string{"alpha-1"}, PushedAt: daysAgo(4)},
				{Digest: "B", PushedAt: daysAgo(3)},
				{Digest: "C", Tags: []string{"alpha-2"}, PushedAt: daysAgo(2)},
				{Digest: "D", PushedAt: daysAgo(1)},
			},
			want: map[string]string{"A": "expire@1", "B": "expire@1", "C": "expire@1"},
		},
		{
			name: "archive images not pulled for 90 days, delete after 365 days in archive",
			policy: `{"rules":[
				{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}},
				{"rulePriority":2,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}}]}`,
			images: []Image{
				{Digest: "pulled-yesterday", Tags: []string{"v1"}, PushedAt: daysAgo(400), LastPulled: daysAgo(1)},
				{Digest: "pulled-long-ago", Tags: []string{"v2"}, PushedAt: daysAgo(400), LastPulled: daysAgo(120)},
				{Digest: "never-pulled-old", PushedAt: daysAgo(100)},
				{Digest: "never-pulled-new", PushedAt: daysAgo(10)},
				{Digest: "archived-long", Tags: []string{"v0"}, PushedAt: daysAgo(900), Status: Archived, ArchivedAt: daysAgo(400)},
				{Digest: "archived-recent", Tags: []string{"v0.1"}, PushedAt: daysAgo(900), Status: Archived, ArchivedAt: daysAgo(100)},
				{Digest: "restoring", PushedAt: daysAgo(900), Status: Activating, ArchivedAt: daysAgo(500)},
			},
			want: map[string]string{"pulled-long-ago": "transition@2", "never-pulled-old": "transition@2", "archived-long": "expire@1"},
		},
		{
			name:   "children of an index stay while the index stays",
			policy: `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "child", PushedAt: daysAgo(30), ListedBy: true},
				{Digest: "loose", PushedAt: daysAgo(30)},
			},
			want: map[string]string{"loose": "expire@1"},
		},
		{
			name:   "rule order follows rulePriority, not position",
			policy: `{"rules":[{"rulePriority":9,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPatternList":["keep*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1000},"action":{"type":"expire"}}]}`,
			images: []Image{
				{Digest: "keep", Tags: []string{"keep-me"}, PushedAt: daysAgo(50)},
				{Digest: "other", Tags: []string{"x"}, PushedAt: daysAgo(40)},
				{Digest: "newest", Tags: []string{"y"}, PushedAt: daysAgo(1)},
			},
			// "keep" is identified by rule 2, so rule 9 cannot expire it even
			// though it counts it.
			want: map[string]string{"other": "expire@9"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := acted(mustParse(t, tc.policy), tc.images)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("acted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateReasons(t *testing.T) {
	p := mustParse(t, `{"rules":[{"rulePriority":3,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}`)
	got := p.Evaluate([]Image{
		{Digest: "a", PushedAt: daysAgo(50), LastPulled: daysAgo(40)},
		{Digest: "b", PushedAt: daysAgo(45)},
	}, now)
	want := []Verdict{
		{Action: "expire", Priority: 3, Reason: "rule 3: last pulled 40d ago, more than 30 days"},
		{Action: "expire", Priority: 3, Reason: "rule 3: never pulled, pushed 45d ago, more than 30 days"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	rule := func(sel, action string) string {
		return `{"rules":[{"rulePriority":1,"selection":` + sel + `,"action":` + action + `}]}`
	}
	expire := `{"type":"expire"}`
	tests := []struct {
		name, text, want string
	}{
		{"not JSON", `{"rules":`, "unexpected EOF"},
		{"unknown key", `{"rules":[],"x":1}`, `unknown field "x"`},
		{"no rules", `{"rules":[]}`, "no rules"},
		{"tagged without tags", rule(`{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}`, expire), "needs tagPatternList or tagPrefixList"},
		{"patterns and prefixes", rule(`{"tagStatus":"tagged","tagPatternList":["a*"],"tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1}`, expire), "cannot be used together"},
		{"five wildcards", rule(`{"tagStatus":"tagged","tagPatternList":["a*b*c*d*e*"],"countType":"imageCountMoreThan","countNumber":1}`, expire), "at most 4 wildcards"},
		{"untagged with tags", rule(`{"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1}`, expire), "must not have tagPatternList"},
		{"since without unit", rule(`{"tagStatus":"any","countType":"sinceImagePushed","countNumber":3}`, expire), "needs countUnit days"},
		{"zero count", rule(`{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0}`, expire), "at least 1"},
		{"archive under 90 days", rule(`{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":30}`, expire), "90-day minimum"},
		{"transitioned without archive class", rule(`{"tagStatus":"any","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100}`, expire), "go together"},
		{"transition without target", rule(`{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":100}`, `{"type":"transition"}`), "targetStorageClass archive"},
		{"transition of archived", rule(`{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100}`, `{"type":"transition","targetStorageClass":"archive"}`), "can only be expired"},
		{"duplicate priority", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`, "must be unique"},
		{"any not last", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`, "highest rulePriority"},
		{"two untagged rules", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`, "only one rule may select untagged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"prod*", "prod", true},
		{"prod*", "prod-1", true},
		{"prod*", "xprod", false},
		{"*test*1*2*3", "mytest-1-2-3", true},
		{"*test*1*2*3", "mytest-1-2-3x", false},
		{"a*b*b", "ab", false},
		{"a*b*b", "abb", true},
		{"exact", "exact", true},
		{"*", "", true},
	}
	for _, tc := range tests {
		if got := wildcard(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// FuzzParse: any text is a policy or an error, never a panic, and a policy
// evaluates.
func FuzzParse(f *testing.F) {
	f.Add(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`)
	f.Add(`{"rules":[{"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}},{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}`)
	f.Add(`{"rules":[]}`)
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text)
		if err != nil {
			return
		}
		p.Evaluate([]Image{{Digest: "a", Tags: []string{"prod-1"}, PushedAt: daysAgo(30)}, {Digest: "b", Status: Archived, ArchivedAt: daysAgo(400)}}, now)
	})
}
