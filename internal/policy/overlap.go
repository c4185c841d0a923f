package policy

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// maxOverlapStates bounds the search of Overlaps (patterns come from a
// policy file, but a check must not hang on one).
const maxOverlapStates = 20000

// tagAlphabet holds every character a tag may contain.
const tagAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

// filterRE compiles an ECR wildcard filter (such as an
// imageTagMutabilityExclusionFilters entry: "latest", "dev-*") to the
// regular expression of the tags it matches: "*" is any run of tag
// characters, everything else is literal.
func filterRE(filter string) string {
	parts := strings.Split(filter, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return "^" + strings.Join(parts, starRE) + "$"
}

// Overlaps reports whether some valid tag matches both the pattern and the
// ECR wildcard filter, and returns the shortest such tag. It decides on the
// languages of the two regular expressions, intersected breadth-first
// over their compiled programs (regexp/syntax), not on examples: "v{semver}"
// overlaps "*-latest" (v1.0.0-latest is a semver pre-release) and does not
// overlap "dev-*". A {date} placeholder counts as any 8 digits, so an
// overlap can be reported that only impossible dates make, and a search
// that would visit more than maxOverlapStates states reports an overlap
// without an example: the answer errs towards overlapping, never the other
// way.
func (p Pattern) Overlaps(filter string) (string, bool) {
	if p.re == nil {
		return "", false
	}
	a, err := progOf(p.re.String())
	if err != nil {
		return "", true // cannot tell: overlapping
	}
	b, err := progOf(filterRE(filter))
	if err != nil {
		return "", true
	}
	type state struct {
		a, b []uint32
		tag  string
	}
	// The empty tag is no tag, and its first character has rules of its
	// own: the start state never merges with a state reached by reading.
	key := func(s state) string {
		var k strings.Builder
		if s.tag == "" {
			k.WriteString("start|")
		}
		for _, pc := range s.a {
			k.WriteString(strconv.Itoa(int(pc)) + ",")
		}
		k.WriteByte('|')
		for _, pc := range s.b {
			k.WriteString(strconv.Itoa(int(pc)) + ",")
		}
		return k.String()
	}
	start := state{a: closure(a, []uint32{uint32(a.Start)}, true, false), b: closure(b, []uint32{uint32(b.Start)}, true, false)}
	seen := map[string]bool{key(start): true}
	queue := []state{start}
	for len(queue) > 0 {
		if len(seen) > maxOverlapStates {
			return "", true
		}
		s := queue[0]
		queue = queue[1:]
		if len(s.tag) > maxTagLength {
			continue
		}
		if s.tag != "" && accepts(a, s.a) && accepts(b, s.b) {
			return s.tag, true
		}
		for _, c := range tagAlphabet {
			if s.tag == "" && (c == '.' || c == '-') {
				continue // a tag cannot start with . or -
			}
			na, nb := step(a, s.a, c), step(b, s.b, c)
			if len(na) == 0 || len(nb) == 0 {
				continue
			}
			next := state{a: na, b: nb, tag: s.tag + string(c)}
			if k := key(next); !seen[k] {
				seen[k] = true
				queue = append(queue, next)
			}
		}
	}
	return "", false
}

func progOf(expr string) (*syntax.Prog, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(re.Simplify())
}

// closure follows the empty transitions of prog from pcs: alternations,
// captures, no-ops, and the empty-width assertions that hold at the start
// of the text (atBegin) or at its end (atEnd). The result is sorted.
func closure(prog *syntax.Prog, pcs []uint32, atBegin, atEnd bool) []uint32 {
	var flags syntax.EmptyOp
	if atBegin {
		flags |= syntax.EmptyBeginText | syntax.EmptyBeginLine
	}
	if atEnd {
		flags |= syntax.EmptyEndText | syntax.EmptyEndLine
	}
	seen := map[uint32]bool{}
	var out []uint32
	stack := slices.Clone(pcs)
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Out, in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, in.Out)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&^flags == 0 {
				stack = append(stack, in.Out)
			} else {
				out = append(out, pc) // may hold later, at the end of the text
			}
		default:
			out = append(out, pc)
		}
	}
	slices.Sort(out)
	return out
}

// step consumes c from the threads at pcs and returns the closure of where
// they go.
func step(prog *syntax.Prog, pcs []uint32, c rune) []uint32 {
	var next []uint32
	for _, pc := range pcs {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if in.MatchRune(c) {
				next = append(next, in.Out)
			}
		}
	}
	if len(next) == 0 {
		return nil
	}
	return closure(prog, next, false, false)
}

// accepts reports whether a thread at pcs reaches a match at the end of
// the text.
func accepts(prog *syntax.Prog, pcs []uint32) bool {
	for _, pc := range closure(prog, pcs, false, true) {
		if prog.Inst[pc].Op == syntax.InstMatch {
			return true
		}
	}
	return false
}
