package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Pattern is a compiled tag pattern such as "v{semver}", "dev-{sha}",
// "v{date}-{sha}" or "feature-*-{sha}".
//
// Literal characters match themselves; "*" matches any run (possibly empty)
// of tag characters; placeholders match:
//
//	{semver}  MAJOR.MINOR.PATCH with an optional -pre.release (no +build: tags cannot hold '+')
//	{sha}     7 to 40 lowercase hex digits (a git commit id, short or full)
//	{date}    YYYYMMDD, a real calendar day
//
// A pattern is compiled once to an RE2 regular expression (Go's regexp), so
// matching is linear in the tag length: there is no backtracking and no
// pattern can make a match slow. Each placeholder may appear once.
type Pattern struct {
	src string
	re  *regexp.Regexp
	// prefix is the literal text before the first * or placeholder: a tag
	// without it is rejected before the regular expression runs. literal
	// says the whole pattern is that text, so equality decides.
	prefix  string
	literal bool
	semver  int // submatch index, 0 when absent
	date    int
	sha     int
}

// Match is the result of matching a tag against a pattern.
type Match struct {
	// Tag is the matched tag.
	Tag string
	// Semver is the {semver} value, or nil.
	Semver *semver.Version
	// Date is the {date} value, or the zero time.
	Date time.Time
	// SHA is the {sha} value, or "".
	SHA string
}

// Prerelease reports whether the match carries a semver pre-release.
func (m Match) Prerelease() bool { return m.Semver != nil && m.Semver.Prerelease() != "" }

// Docker and ECR tags: up to 128 characters from [A-Za-z0-9_.-], not
// starting with '.' or '-'.
const maxTagLength = 128

func isTagChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// ValidTag reports whether s is a syntactically valid image tag.
func ValidTag(s string) bool {
	if s == "" || len(s) > maxTagLength || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTagChar(s[i]) {
			return false
		}
	}
	return true
}

const (
	semverRE = `(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)` +
		`(?:-(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?`
	dateRE = `[0-9]{8}`
	// shaRE has no upper bound, which would unroll the expression 40
	// times (a tenth of a millisecond per pattern at every cold start);
	// Match checks maxSHA. A bound could only change which of several
	// parses is chosen if something before {sha} took hex digits lazily:
	// "*" and {semver} are greedy, so {sha} is already as short as it can be.
	shaRE  = `[0-9a-f]{7,}`
	maxSHA = 40
	starRE = `[A-Za-z0-9_.-]*`
)

// placeholderExample is a value each placeholder matches, used to build an
// example tag for a pattern.
var placeholderExample = map[string]string{"semver": "1.0.0", "date": "20240101", "sha": "0a1b2c3"}

// CompilePattern compiles a tag pattern. Errors say what is wrong with it.
func CompilePattern(src string) (Pattern, error) {
	if src == "" {
		return Pattern{}, fmt.Errorf("empty pattern")
	}
	var re strings.Builder
	re.WriteString("^")
	p := Pattern{src: src}
	group := 0
	minLen := 0
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '*':
			re.WriteString(starRE)
			i++
		case c == '{':
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				return Pattern{}, fmt.Errorf("pattern %q: unclosed '{' at offset %d", src, i)
			}
			name := src[i+1 : i+end]
			group++
			var idx *int
			switch name {
			case "semver":
				idx, minLen = &p.semver, minLen+5
				re.WriteString("(" + semverRE + ")")
			case "date":
				idx, minLen = &p.date, minLen+8
				re.WriteString("(" + dateRE + ")")
			case "sha":
				idx, minLen = &p.sha, minLen+7
				re.WriteString("(" + shaRE + ")")
			default:
				return Pattern{}, fmt.Errorf("pattern %q: unknown placeholder {%s}: use {semver}, {sha} or {date}", src, name)
			}
			if *idx != 0 {
				return Pattern{}, fmt.Errorf("pattern %q: placeholder {%s} appears twice", src, name)
			}
			*idx = group
			i += end + 1
		case c == '}':
			return Pattern{}, fmt.Errorf("pattern %q: '}' without '{' at offset %d", src, i)
		case isTagChar(c):
			re.WriteString(regexp.QuoteMeta(string(c)))
			minLen++
			i++
		default:
			return Pattern{}, fmt.Errorf("pattern %q can never match: %q is not a tag character (tags use A-Z a-z 0-9 _ . -)", src, string(rune(c)))
		}
	}
	if src[0] == '.' || src[0] == '-' {
		return Pattern{}, fmt.Errorf("pattern %q can never match: tags cannot start with %q", src, src[:1])
	}
	if minLen > maxTagLength {
		return Pattern{}, fmt.Errorf("pattern %q can never match: it needs at least %d characters and tags have at most %d", src, minLen, maxTagLength)
	}
	re.WriteString("$")
	compiled, err := regexp.Compile(re.String())
	if err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", src, err)
	}
	p.re = compiled
	if i := strings.IndexAny(src, "*{"); i < 0 {
		p.prefix, p.literal = src, true
	} else {
		p.prefix = src[:i]
	}
	return p, nil
}

// MustCompilePattern is CompilePattern for patterns known to be valid,
// such as literals in tests; it panics on error.
func MustCompilePattern(src string) Pattern {
	p, err := CompilePattern(src)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern source.
func (p Pattern) String() string { return p.src }

// IsZero reports whether the pattern is unset.
func (p Pattern) IsZero() bool { return p.re == nil }

// HasSemver reports whether the pattern contains {semver}.
func (p Pattern) HasSemver() bool { return p.semver != 0 }

// HasDate reports whether the pattern contains {date}.
func (p Pattern) HasDate() bool { return p.date != 0 }

// Match matches a whole tag against the pattern. Strings that are not
// valid tags never match.
func (p Pattern) Match(tag string) (Match, bool) {
	if p.re == nil || !strings.HasPrefix(tag, p.prefix) || !ValidTag(tag) {
		return Match{}, false
	}
	if p.literal {
		if tag != p.prefix {
			return Match{}, false
		}
		return Match{Tag: tag}, true
	}
	sub := p.re.FindStringSubmatch(tag)
	if sub == nil {
		return Match{}, false
	}
	m := Match{Tag: tag}
	if p.semver != 0 {
		v, err := semver.StrictNewVersion(sub[p.semver])
		if err != nil {
			return Match{}, false
		}
		m.Semver = v
	}
	if p.date != 0 {
		d, err := time.Parse("20060102", sub[p.date])
		if err != nil {
			return Match{}, false
		}
		m.Date = d
	}
	if p.sha != 0 {
		if len(sub[p.sha]) > maxSHA {
			return Match{}, false
		}
		m.SHA = sub[p.sha]
	}
	return m, true
}

// Example returns a tag the pattern matches, with "x" for each "*".
func (p Pattern) Example() string {
	var b strings.Builder
	for i := 0; i < len(p.src); {
		switch c := p.src[i]; c {
		case '*':
			b.WriteByte('x')
			i++
		case '{':
			end := strings.IndexByte(p.src[i:], '}')
			b.WriteString(placeholderExample[p.src[i+1:i+end]])
			i += end + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func (p Pattern) defaultOrder(explicit Order) Order {
	switch {
	case explicit != "":
		return explicit
	case p.HasSemver():
		return OrderSemver
	case p.HasDate():
		return OrderDate
	default:
		return OrderPushed
	}
}

// Compare ranks two matches by order: negative when a is older than b,
// positive when newer, 0 when the order cannot tell them apart. A match
// without the order's value ranks below one with it. For OrderPushed, and
// as the tie-break of OrderDate, the push times decide.
func (o Order) Compare(a Match, aPushed time.Time, b Match, bPushed time.Time) int {
	switch o {
	case OrderSemver:
		switch {
		case a.Semver == nil && b.Semver == nil:
			return 0
		case a.Semver == nil:
			return -1
		case b.Semver == nil:
			return 1
		}
		return a.Semver.Compare(b.Semver)
	case OrderDate:
		switch {
		case a.Date.IsZero() && b.Date.IsZero():
			return 0
		case a.Date.IsZero():
			return -1
		case b.Date.IsZero():
			return 1
		}
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		return aPushed.Compare(bPushed)
	default:
		return aPushed.Compare(bPushed)
	}
}

// MatchAny matches tag against each pattern in turn and returns the first match.
func MatchAny(patterns []Pattern, tag string) (Match, bool) {
	for _, p := range patterns {
		if m, ok := p.Match(tag); ok {
			return m, true
		}
	}
	return Match{}, false
}
