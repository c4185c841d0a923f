package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// legend explains each state that is not self-evident, printed under the
// table only for the states it shows.
var legend = []struct {
	state State
	text  string
}{
	{Behind, "a newer allowed image is not rolled out yet: the next push or reconcile does it"},
	{Verifying, "rolled out; ecrwarden follows the rollout until it is available or fails"},
	{WaitingScan, "the rule requires a clean scan and the newest image has none yet"},
	{Findings, "the rule requires a clean scan and the newest image's has findings at or above the threshold"},
	{Held, "ecrwarden moves nothing until `ecrwarden release WORKLOAD`"},
	{Failed, "the last rollout failed verification; see the reason, then `ecrwarden release WORKLOAD`"},
	{Blocked, "this digest never rolls out to the container until `ecrwarden release --digest DIGEST WORKLOAD`"},
	{Foreign, "runs an image of another registry: ecrwarden never moves it"},
	{NoCandidate, "no image in the repository matches the rule"},
	{Unknown, "could not be read: doubt is not shown as current"},
}

// WriteTable prints the report as one table, ages relative to now, with a
// legend of the states it shows and the problems after it.
func WriteTable(w io.Writer, rep *Report, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tNAMESPACE\tWORKLOAD\tCONTAINER\tRUNNING\tCANDIDATE\tSTATE\tVERIFY\tLAST CHANGE\tWHY")
	seen := map[State]bool{}
	for _, r := range rep.Rows {
		seen[r.State] = true
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Cluster, r.Namespace, r.Kind, r.Workload, r.Container,
			running(r.Running), candidate(r.Running, r.Candidate), r.State, verify(r.Verification, now), change(r.LastChange, now), why(r.Reason))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if len(rep.Rows) == 0 {
		fmt.Fprintln(w, "(no targets: the policy has no deploy rules and no workload opts in)")
	}
	var lines []string
	for _, l := range legend {
		if seen[l.state] {
			lines = append(lines, fmt.Sprintf("  %-9s %s", l.state, l.text))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(lines, "\n"))
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	return nil
}

// WriteJSON prints the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// short is the first 12 hex digits of a digest.
func short(digest string) string {
	_, hex, ok := strings.Cut(digest, ":")
	if !ok {
		return digest
	}
	return hex[:min(12, len(hex))]
}

func version(tag, digest string) string {
	switch {
	case tag != "" && digest != "":
		return tag + "@" + short(digest)
	case tag != "":
		return tag
	case digest != "":
		return "@" + short(digest)
	}
	return "-"
}

func running(im *Image) string {
	if im == nil {
		return "-"
	}
	if im.Tag == "" && im.Digest == "" {
		return im.Reference
	}
	return version(im.Tag, im.Digest)
}

func candidate(run, cand *Image) string {
	switch {
	case cand == nil:
		return "-"
	case run != nil && run.Digest != "" && run.Digest == cand.Digest:
		return "="
	}
	return version(cand.Tag, cand.Digest)
}

func verify(v *Verification, now time.Time) string {
	if v == nil {
		return "-"
	}
	at := v.At
	if at.IsZero() {
		at = v.Since
	}
	if at.IsZero() {
		return v.State
	}
	return v.State + " " + Age(now, at)
}

func change(c *Change, now time.Time) string {
	if c == nil {
		return "-"
	}
	var parts []string
	if !c.Time.IsZero() {
		parts = append(parts, Age(now, c.Time))
	}
	if c.Cause != "" && !strings.Contains(c.Cause, " ") {
		parts = append(parts, c.Cause)
	}
	if c.EventID != "" {
		id := c.EventID
		if len(id) > 12 {
			id = id[:12] + "…"
		}
		parts = append(parts, id)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// maxWhy is the widest WHY cell, in characters: a Pod's message can be
// long; --json keeps it whole.
const maxWhy = 160

func why(s string) string {
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > maxWhy {
		return string(r[:maxWhy-1]) + "…"
	}
	return s
}

// Age says how long before now t was, in the largest whole unit: "40s
// ago", "3m ago", "5h ago", "2d ago"; "just now" under a second, and "in
// 3m" for a time after now (a clock ahead of ours).
func Age(now, t time.Time) string {
	d := now.Sub(t)
	suffix, prefix := " ago", ""
	if d < 0 {
		d, suffix, prefix = -d, "", "in "
	}
	var s string
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return prefix + s + suffix
}
