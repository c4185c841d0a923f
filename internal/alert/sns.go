package alert

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ecrwarden/ecrwarden/internal/findings"
)

// SNS limits (sns Publish): the subject must be ASCII without line breaks or
// control characters and "less than 100 characters long"; the message and its
// attributes together at most 262,144 bytes.
const (
	SNSMaxSubject = 99
	// SNSMaxPayload is the byte limit on message plus attributes.
	SNSMaxPayload = 262144
	// snsMargin is kept free below the limit for the attribute encoding.
	snsMargin = 1024
)

// SNS attribute names that subscription filter policies match on.
const (
	AttrRepository = "repository"
	AttrSeverity   = "severity"
	AttrKind       = "kind"
)

// SNS renders an alert as an SNS notification: a subject for email
// subscribers (ASCII, one line, under 100 characters), a plain-text body, and
// the message attributes repository, severity and kind (String values, never
// empty). The body lists every alerting finding that fits in 256 KiB minus
// the attributes, most severe first, then "and N more".
func SNS(a Alert) (subject, body string, attrs map[string]string) {
	d := build(a)
	level := string(a.Level())
	attrs = map[string]string{
		AttrRepository: a.repositoryAttr(),
		AttrSeverity:   level,
		AttrKind:       string(a.Kind),
	}
	subject = snsSubject("[" + level + "] ecrwarden: " + d.title)

	var head strings.Builder
	head.WriteString(truncate(d.title, snsMaxValue) + "\n\n")
	width := 0
	for _, f := range d.fields {
		width = max(width, utf8.RuneCountInString(f.label))
	}
	for _, f := range d.fields {
		v := truncate(f.value, snsMaxValue)
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(&head, "%-*s  %s\n", width+1, f.label+":", v)
	}
	if d.link != "" {
		fmt.Fprintf(&head, "%-*s  %s\n", width+1, "Console:", d.link)
	}
	for _, s := range d.sections {
		head.WriteString("\n" + snsSection(s))
	}

	var tail strings.Builder
	for _, s := range d.after {
		tail.WriteString("\n" + snsSection(s))
	}
	if len(d.footer) > 0 {
		tail.WriteString("\n")
		for _, f := range d.footer {
			tail.WriteString(f + "\n")
		}
	}
	tail.WriteString("\n-- ecrwarden (" + string(a.Kind) + ")\n")

	budget := SNSMaxPayload - snsMargin - head.Len() - tail.Len()
	for k, v := range attrs {
		budget -= len(k) + len("String") + len(v)
	}
	var list strings.Builder
	if len(d.findings) > 0 {
		fmt.Fprintf(&list, "\n%s (%d):\n", d.findingsHeading, len(d.findings))
		// Keep room for the "and N more" line.
		budget -= list.Len() + 100
		list.Grow(min(budget, 200*len(d.findings)))
		shown := 0
		var line []byte
		for _, f := range d.findings {
			line = appendSNSFinding(line[:0], f)
			if len(line) > budget {
				break
			}
			budget -= len(line)
			list.Write(line)
			shown++
		}
		if rest := len(d.findings) - shown; rest > 0 {
			more := "  " + andMore(rest, "findings")
			if d.link != "" {
				more += ": see the console link above"
			}
			list.WriteString(more + "\n")
		}
	}
	body = strings.ToValidUTF8(head.String()+list.String()+tail.String(), "?")
	return subject, body, attrs
}

// appendSNSFinding appends one finding, up to three lines: severity, score,
// id and package; the title; the link.
func appendSNSFinding(b []byte, f findings.Finding) []byte {
	b = append(b, "  "...)
	b = appendPadded(b, truncate(string(f.Severity), 20), 8)
	b = append(b, ' ')
	score := scoreText(f)
	for range 4 - len(score) {
		b = append(b, ' ')
	}
	b = append(b, score...)
	b = append(b, "  "...)
	b = append(b, truncate(f.ID, 100)...)
	if p := packageText(f, "->"); p != "" {
		b = append(b, "  "...)
		b = append(b, truncate(p, 200)...)
	}
	b = append(b, '\n')
	if f.Title != "" {
		b = append(b, "      "...)
		b = append(b, truncate(f.Title, 200)...)
		b = append(b, '\n')
	}
	if u, ok := safeURL(f.URI); ok && len(u) <= snsMaxValue*2 {
		b = append(b, "      "...)
		b = append(b, u...)
		b = append(b, '\n')
	}
	return b
}

// appendPadded appends s padded with spaces to width bytes.
func appendPadded(b []byte, s string, width int) []byte {
	b = append(b, s...)
	for range width - len(s) {
		b = append(b, ' ')
	}
	return b
}

// Bounds on the parts of an SNS body other than the findings: a field value
// or list item, the items of a note (gc repositories, ignored findings) and
// a note's bytes. With at most four notes, at least 120 KiB remain for the
// findings list, which is bounded by the payload limit instead.
const (
	snsMaxValue     = 500
	snsMaxItems     = 500
	snsMaxNoteBytes = 32 << 10
)

func snsSection(s section) string {
	var b strings.Builder
	b.WriteString(truncate(s.heading, 100) + ":\n")
	for i, it := range s.items {
		line := "  - " + truncate(it, snsMaxValue) + "\n"
		if i == snsMaxItems || b.Len()+len(line) > snsMaxNoteBytes-100 {
			b.WriteString("  " + strings.TrimSpace(andMore(len(s.items)-i, "")) + "\n")
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// snsSubject makes s a valid SNS subject: printable ASCII only (other
// characters become "?", line breaks and controls spaces), runs of spaces
// collapsed, at most SNSMaxSubject characters ending in "..." when cut.
func snsSubject(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		case r > 0x7e:
			switch r {
			case '…':
				b.WriteString("...")
			case '→':
				b.WriteString("->")
			default:
				b.WriteByte('?')
			}
		default:
			b.WriteRune(r)
		}
		space = false
	}
	out := strings.TrimSpace(b.String())
	if len(out) > SNSMaxSubject {
		out = strings.TrimSpace(out[:SNSMaxSubject-3]) + "..."
	}
	if out == "" {
		out = "ecrwarden alert"
	}
	return out
}
