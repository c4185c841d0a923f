package alert

import (
	neturl "net/url"
	"strings"
	"unicode/utf8"

	"github.com/ecrwarden/ecrwarden/internal/findings"
)

// Slack Block Kit limits (docs.slack.dev/reference/block-kit/blocks): a
// message has at most 50 blocks; a header's plain text at most 150
// characters; a section's text at most 3,000, its fields at most 10 of at
// most 2,000 each; a context block at most 10 elements. Slack also refuses a
// message whose blocks hold ~13,000 characters in all (msg_blocks_too_long,
// slackapi/bolt-js#2509), so the renderer keeps to SlackTextBudget.
const (
	SlackMaxBlocks          = 50
	SlackMaxHeader          = 150
	SlackMaxSectionText     = 3000
	SlackMaxFields          = 10
	SlackMaxFieldText       = 2000
	SlackMaxContextElements = 10
	// SlackTextBudget bounds the characters in all blocks together.
	SlackTextBudget = 11000
	// SlackMaxText bounds the notification fallback text.
	SlackMaxText = 3000
	// SlackMaxFindings is how many findings a message lists at most; the
	// rest is "and N more". Fewer when the text budget runs out first.
	SlackMaxFindings = 15
	// SlackMaxItems is how many items of a list (allowed patterns, ignored
	// findings, gc repositories) a message shows.
	SlackMaxItems = 10
	// slackMaxValue, slackMaxItem and slackMaxNote bound a field value, a
	// list item and a whole note, so that the fixed parts of a message
	// (≤10 fields, ≤4 notes, the header and context) stay near 9,000
	// characters and at least 2,000 remain for findings.
	slackMaxValue = 150
	slackMaxItem  = 150
	slackMaxNote  = 1600
)

// SlackMessage is an incoming-webhook payload: the blocks people see and the
// text shown in notifications.
type SlackMessage struct {
	// Text is the notification fallback.
	Text string `json:"text"`
	// Blocks are the Block Kit blocks.
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is a header, section, divider or context block.
type SlackBlock struct {
	// Type is header, section, divider or context.
	Type string `json:"type"`
	// Text is the header's or section's text.
	Text *SlackText `json:"text,omitempty"`
	// Fields are a section's two-column fields.
	Fields []SlackText `json:"fields,omitempty"`
	// Elements are a context block's elements.
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a plain_text or mrkdwn text object.
type SlackText struct {
	// Type is plain_text or mrkdwn.
	Type string `json:"type"`
	// Text is the content.
	Text string `json:"text"`
	// Emoji lets plain_text render :emoji: codes.
	Emoji bool `json:"emoji,omitempty"`
	// Verbatim, on mrkdwn, stops Slack's automatic parsing of the text:
	// no mention, channel name or bare URL in it becomes one. The
	// renderer sets it on every mrkdwn text; only the links it writes
	// itself are links.
	Verbatim bool `json:"verbatim,omitempty"`
}

// TextLength returns the characters in all the blocks' texts, the figure
// Slack's total-length check applies to.
func (m SlackMessage) TextLength() int {
	n := 0
	for _, b := range m.Blocks {
		n += b.textLength()
	}
	return n
}

func (b SlackBlock) textLength() int {
	n := 0
	if b.Text != nil {
		n += utf8.RuneCountInString(b.Text.Text)
	}
	for _, t := range b.Fields {
		n += utf8.RuneCountInString(t.Text)
	}
	for _, t := range b.Elements {
		n += utf8.RuneCountInString(t.Text)
	}
	return n
}

// escapeMrkdwn escapes the three characters Slack's mrkdwn treats as markup
// delimiters.
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func esc(s string) string { return mrkdwnEscaper.Replace(s) }

// escTrunc escapes s for mrkdwn and cuts the result to at most n characters
// (ending in "…" when cut) without splitting an escape.
func escTrunc(s string, n int) string {
	if n <= 0 {
		return ""
	}
	e := esc(s)
	if utf8.RuneCountInString(e) <= n {
		return e
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		if count+utf8.RuneCountInString(piece) > n-1 {
			break
		}
		b.WriteString(piece)
		count += utf8.RuneCountInString(piece)
	}
	return b.String() + "…"
}

// code wraps s, escaped and cut to n characters, in backticks; backticks
// inside are replaced so they cannot end the span.
func code(s string, n int) string {
	return "`" + escTrunc(strings.ReplaceAll(s, "`", "'"), n) + "`"
}

// slackMaxURL is the longest link the renderer emits; a longer one (only
// from absurd input) is dropped rather than cut into a broken link.
const slackMaxURL = 1000

// link renders <url|label>, the label cut to n characters, when url is a
// safe link (safeURL); "|" and ">" cannot appear in either part. Without a
// safe URL it is the label alone: a finding's javascript:, data: or
// credential-carrying link never becomes a link.
func link(url, label string, n int) string {
	u, ok := safeURL(url)
	if !ok {
		return escTrunc(label, n)
	}
	u = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20").Replace(u)
	return "<" + u + "|" + escTrunc(strings.ReplaceAll(label, "|", "¦"), n) + ">"
}

// safeURL returns u when it may be shown as a link: an absolute http or
// https URL (advisories of the basic scanner still use http) with a host,
// without user info (https://nvd.nist.gov@evil.example/ reads as one host
// and goes to another), without control characters, and at most
// slackMaxURL bytes. Every other scheme (javascript:, data:, file:,
// slack:…) is refused.
func safeURL(u string) (string, bool) {
	u = strings.TrimSpace(u)
	if u == "" || len(u) > slackMaxURL || strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", false
	}
	p, err := neturl.Parse(u)
	if err != nil || p.User != nil || p.Host == "" || p.Opaque != "" {
		return "", false
	}
	switch strings.ToLower(p.Scheme) {
	case "https", "http":
		return u, true
	}
	return "", false
}

// plainText makes s safe for a plain_text object (the header), which has
// no escapes: the markup delimiters < and > become look-alikes that cannot
// open a control sequence.
var plainText = strings.NewReplacer("<", "‹", ">", "›")

// mrkdwnText is a mrkdwn text object that Slack does not parse for
// mentions, channel names or bare URLs (verbatim).
func mrkdwnText(s string) SlackText { return SlackText{Type: "mrkdwn", Text: s, Verbatim: true} }

func mrkdwn(s string) *SlackText {
	t := mrkdwnText(s)
	return &t
}

// Slack renders an alert as a Block Kit message within Slack's limits: a
// header, the image's facts as fields, notes (expired ignores, allowed
// patterns, gc figures), the most severe findings (id linked to its advisory,
// severity, score, package installed → fixed), "and N more" for the rest,
// and a context line with the console link.
func Slack(a Alert) SlackMessage {
	d := build(a)
	level := string(a.Level())
	// The fallback text is mrkdwn too (the default for a message's text):
	// escaped like every other text.
	msg := SlackMessage{Text: escTrunc("["+level+"] "+d.title, SlackMaxText)}

	head := []SlackBlock{{
		Type: "header",
		Text: &SlackText{Type: "plain_text", Text: truncate(plainText.Replace(d.emoji+" "+d.title), SlackMaxHeader), Emoji: true},
	}}
	if len(d.fields) > 0 {
		b := SlackBlock{Type: "section"}
		for _, f := range d.fields[:min(len(d.fields), SlackMaxFields)] {
			v := escTrunc(f.value, slackMaxValue)
			if f.code && f.value != "" {
				v = code(f.value, slackMaxValue)
			}
			if f.value == "" {
				v = "–"
			}
			b.Fields = append(b.Fields, mrkdwnText("*"+escTrunc(f.label, 50)+"*\n"+v))
		}
		head = append(head, b)
	}
	for _, s := range d.sections {
		head = append(head, slackSection(s))
	}

	var tail []SlackBlock
	for _, s := range d.after {
		tail = append(tail, slackSection(s))
	}
	var ctx []SlackText
	if d.link != "" {
		ctx = append(ctx, mrkdwnText(link(d.link, d.linkLabel, 100)))
	}
	for _, f := range d.footer {
		ctx = append(ctx, mrkdwnText(escTrunc(f, 200)))
	}
	ctx = append(ctx, mrkdwnText("ecrwarden · "+esc(string(a.Kind))+" · "+esc(level)))
	tail = append(tail, SlackBlock{Type: "context", Elements: ctx[:min(len(ctx), SlackMaxContextElements)]})

	used := 0
	for _, b := range head {
		used += b.textLength()
	}
	for _, b := range tail {
		used += b.textLength()
	}
	// Blocks left for findings: a divider, the findings, one "and N more".
	room := SlackMaxBlocks - len(head) - len(tail) - 2
	msg.Blocks = append(msg.Blocks, head...)
	if len(d.findings) > 0 && room > 0 {
		msg.Blocks = append(msg.Blocks, SlackBlock{Type: "divider"})
		// Reserve room for the "and N more" line.
		budget := SlackTextBudget - used - 100
		shown := 0
		for _, f := range d.findings {
			if shown == min(SlackMaxFindings, room) {
				break
			}
			b := SlackBlock{Type: "section", Text: mrkdwn(slackFinding(f))}
			n := b.textLength()
			if n > budget {
				break
			}
			budget -= n
			msg.Blocks = append(msg.Blocks, b)
			shown++
		}
		if rest := len(d.findings) - shown; rest > 0 {
			more := andMore(rest, "findings")
			if d.link != "" {
				more += " in the " + link(d.link, "ECR console", 100)
			}
			msg.Blocks = append(msg.Blocks, SlackBlock{Type: "context", Elements: []SlackText{mrkdwnText(more)}})
		}
	}
	msg.Blocks = append(msg.Blocks, tail...)
	return msg
}

// slackFinding is one finding as a section text: at most ~500 characters.
func slackFinding(f findings.Finding) string {
	var b strings.Builder
	b.WriteString("*" + link(f.URI, f.ID, 80) + "* · " + escTrunc(string(f.Severity), 20))
	if s := scoreText(f); s != "" {
		b.WriteString(" " + s)
	}
	if p := packageText(f, "→"); p != "" {
		b.WriteString(" · " + escTrunc(p, 200))
	}
	if f.Title != "" {
		b.WriteString("\n_" + escTrunc(f.Title, 150) + "_")
	}
	return b.String()
}

// slackSection renders a note: a bold heading and bulleted items, at most
// SlackMaxItems of them and slackMaxNote characters.
func slackSection(s section) SlackBlock {
	text := "*" + escTrunc(s.heading, 100) + "*"
	shown := 0
	for _, it := range s.items {
		if shown == SlackMaxItems {
			break
		}
		v := escTrunc(it, slackMaxItem)
		if s.code {
			v = code(it, slackMaxItem)
		}
		line := "\n• " + v
		// Keep 40 characters for the "and N more" line.
		if utf8.RuneCountInString(text)+utf8.RuneCountInString(line) > slackMaxNote-40 {
			break
		}
		text += line
		shown++
	}
	if rest := len(s.items) - shown; rest > 0 {
		text += "\n" + andMore(rest, "")
		text = strings.TrimRight(text, " ")
	}
	return SlackBlock{Type: "section", Text: mrkdwn(text)}
}
