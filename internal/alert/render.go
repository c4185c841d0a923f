package alert

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// doc is what both renderings show, decided once per alert: the Slack and
// SNS renderers only lay it out and cut it to their limits.
type doc struct {
	emoji    string
	title    string
	fields   []field
	sections []section // before the findings
	// findingsHeading introduces findings; total is the number of alerting
	// findings (findings may be all of them, the renderers cut).
	findingsHeading string
	findings        []findings.Finding
	after           []section // after the findings
	linkLabel, link string
	footer          []string
}

type field struct {
	label, value string
	code         bool
}

type section struct {
	heading string
	items   []string
	code    bool // items are identifiers: shown as code in Slack
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func tagsValue(tags []string) string {
	if len(tags) == 0 {
		return "(untagged)"
	}
	return strings.Join(tags, ", ")
}

var severityOrder = []policy.Severity{
	policy.SeverityCritical, policy.SeverityHigh, policy.SeverityMedium, policy.SeverityLow, policy.SeverityInformational,
}

// countsValue lists the alerting counts, most severe first.
func countsValue(r *findings.Result) string {
	var parts []string
	for _, s := range severityOrder {
		if n := r.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// HumanBytes formats a size as the alerts state it: binary units, one
// decimal ("50.0 MiB"), bytes below 1 KiB ("512 B").
func HumanBytes(n int64) string { return humanBytes(n) }

// humanBytes formats a size with binary units, one decimal.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func build(a Alert) doc {
	d := doc{link: a.ConsoleURL()}
	if d.link != "" {
		d.linkLabel = "Open in the ECR console"
	}
	if a.Fingerprint != "" {
		d.footer = append(d.footer, "fingerprint "+a.Fingerprint)
	}
	image := []field{
		{label: "Repository", value: a.Repository, code: true},
		{label: "Tags", value: tagsValue(a.Tags), code: len(a.Tags) > 0},
		{label: "Digest", value: registry.ShortDigest(a.Digest), code: true},
	}
	switch a.Kind {
	case KindFindings:
		r := a.Findings
		if r == nil {
			r = &findings.Result{}
		}
		d.emoji = ":rotating_light:"
		d.title = fmt.Sprintf("%s at or above %s in %s", plural(len(r.Alerting), "vulnerability", "vulnerabilities"), r.Threshold, a.Repository)
		d.fields = append(image,
			field{label: "Severity", value: string(a.Level())},
			field{label: "Alerting", value: countsValue(r)},
			field{label: "Threshold", value: string(r.Threshold)},
			field{label: "Ignored", value: ignoredValue(r)},
		)
		d.sections = expiredSections(r)
		d.findingsHeading = "Findings"
		d.findings = r.Alerting
		d.after = append(unknownSections(r), ignoredSections(r)...)
	case KindRolloutBlocked:
		r := a.Findings
		if r == nil {
			r = &findings.Result{}
		}
		ro := Rollout{}
		if a.Rollout != nil {
			ro = *a.Rollout
		}
		d.emoji = ":construction:"
		d.title = fmt.Sprintf("Rollout held: %s:%s to %s/%s (container %s)", a.Repository, ro.Tag, ro.Namespace, ro.Deployment, ro.Container)
		d.fields = append(image,
			field{label: cmp.Or(ro.Kind, "Deployment"), value: fmt.Sprintf("%s/%s/%s", ro.Cluster, ro.Namespace, ro.Deployment), code: true},
			field{label: "Container", value: ro.Container, code: true},
			field{label: "Alerting", value: countsValue(r)},
			field{label: "Threshold", value: string(r.Threshold)},
		)
		why := fmt.Sprintf("The deploy rule requires a clean scan: nothing at or above %s after ignores, and no finding of unknown severity. "+
			"The rollout proceeds when a later scan of this image is clean.", r.Threshold)
		if n := len(r.Unknown); n > 0 {
			why += fmt.Sprintf(" Findings of unknown severity (%d, not ranked yet, such as UNTRIAGED or UNDEFINED) hold it too: "+
				"doubt is never clean. They stop holding it once the scanner ranks them or an ignore entry accepts them.", n)
		}
		d.sections = append([]section{{heading: "Why", items: []string{why}}}, expiredSections(r)...)
		d.findingsHeading = "Findings"
		d.findings = r.Alerting
		d.after = append(unknownSections(r), ignoredSections(r)...)
	case KindScanFailed:
		sf := ScanFailure{}
		if a.ScanFailure != nil {
			sf = *a.ScanFailure
		}
		d.emoji = ":x:"
		d.title = "Image scan failed in " + a.Repository
		d.fields = append(image, field{label: "Status", value: sf.Status, code: true})
		if sf.Scanner != "" {
			d.fields = append(d.fields, field{label: "Scanner", value: string(sf.Scanner)})
		}
		items := []string{"The image's vulnerabilities are unknown until a scan completes."}
		if sf.Reason != "" {
			items = append([]string{sf.Reason}, items...)
		}
		d.sections = []section{{heading: "Reason", items: items}}
	case KindTagRejected:
		tr := TagRejection{}
		if a.TagRejection != nil {
			tr = *a.TagRejection
		}
		d.emoji = ":no_entry:"
		d.title = fmt.Sprintf("Tag rejected (%s): %s:%s", tr.Action, a.Repository, tr.Tag)
		d.fields = []field{
			{label: "Repository", value: a.Repository, code: true},
			{label: "Tag", value: tr.Tag, code: true},
			{label: "Digest", value: registry.ShortDigest(a.Digest), code: true},
			{label: "Action", value: tagActionValue(tr.Action)},
		}
		if len(a.Tags) > 0 {
			d.fields = append(d.fields, field{label: "Image tags", value: tagsValue(a.Tags), code: true})
		}
		d.sections = []section{{heading: "Allowed patterns", items: tr.Allowed, code: true}}
		if tr.Error != "" {
			d.sections = append(d.sections, section{heading: "Delete failed", items: []string{tr.Error}})
		}
		if tr.Reason != "" {
			d.sections = append(d.sections, section{heading: "Not deleted", items: []string{tr.Reason}})
		}
	case KindGCReport:
		g := GCReport{}
		if a.GC != nil {
			g = *a.GC
		}
		d.emoji = ":wastebasket:"
		images, bytes := g.Totals()
		repos := plural(len(g.Repositories), "repository", "repositories")
		archived := 0
		warned := 0
		for _, r := range g.Repositories {
			archived += r.Archived
			warned += len(r.Warnings)
		}
		switch {
		case g.CapRefused:
			d.emoji = ":octagonal_sign:"
			d.title = fmt.Sprintf("gc refused: %s planned, over the cap of %d; nothing deleted", plural(images+archived, "image", "images"), g.Cap)
		case g.DryRun:
			d.title = fmt.Sprintf("gc dry run: %s (%s) would be deleted in %s", plural(images, "image", "images"), humanBytes(bytes), repos)
		default:
			d.title = fmt.Sprintf("gc deleted %s (%s) in %s", plural(images, "image", "images"), humanBytes(bytes), repos)
		}
		if archived > 0 {
			verb := "archived"
			if g.DryRun || g.CapRefused {
				verb = "to archive"
			}
			d.title += fmt.Sprintf(", %d %s", archived, verb)
		}
		if warned > 0 && !g.CapRefused {
			d.emoji = ":warning:"
		}
		mode := "delete"
		if g.DryRun {
			mode = "dry run (nothing deleted)"
		}
		d.fields = []field{
			{label: "Mode", value: mode},
			{label: "Images", value: strconv.Itoa(images)},
			{label: "Size", value: humanBytes(bytes)},
			{label: "Cap per run", value: strconv.Itoa(g.Cap)},
		}
		if archived > 0 {
			d.fields = append(d.fields, field{label: "Archived", value: strconv.Itoa(archived)})
		}
		if g.Prices != "" {
			cost := fmt.Sprintf("saves $%.2f/month", g.MonthlySavings)
			if g.MinimumCharge > 0 {
				cost += fmt.Sprintf(", less $%.2f once (archive minimum)", g.MinimumCharge)
			}
			d.fields = append(d.fields, field{label: "Storage cost", value: cost + " at " + g.Prices})
		}
		if a.Repository != "" {
			d.fields = append([]field{{label: "Repository", value: a.Repository, code: true}}, d.fields...)
		}
		items := make([]string, 0, len(g.Repositories))
		for _, r := range g.Repositories {
			s := fmt.Sprintf("%s: %s, %s", r.Name, plural(r.Images, "image", "images"), humanBytes(r.Bytes))
			if r.Archived > 0 {
				s += fmt.Sprintf("; %d archived, %s", r.Archived, humanBytes(r.ArchivedBytes))
			}
			if r.Failed > 0 {
				s += fmt.Sprintf(", %d failed to delete", r.Failed)
			}
			if r.Kept > 0 {
				s += fmt.Sprintf(", %d left alone (changed since planning)", r.Kept)
			}
			if r.Error != "" {
				s += "; nothing deleted: " + r.Error
			}
			items = append(items, s)
		}
		heading := "Deleted"
		if g.DryRun || g.CapRefused {
			heading = "Planned"
		}
		d.sections = []section{{heading: heading + " by repository", items: items}}
		var warnings []string
		for _, r := range g.Repositories {
			for _, w := range r.Warnings {
				warnings = append(warnings, r.Name+": "+w)
			}
		}
		if len(warnings) > 0 {
			d.sections = append(d.sections, section{heading: "Needs attention", items: warnings})
		}
		if g.RunID != "" {
			d.footer = append(d.footer, "run "+truncate(oneLine(g.RunID), 150))
		}
	case KindRolloutFailed, KindRolloutVerified:
		v := Verification{}
		if a.Verification != nil {
			v = *a.Verification
		}
		where := fmt.Sprintf("%s/%s (container %s)", v.Namespace, v.Deployment, v.Container)
		if v.Kind != "" && v.Kind != "Deployment" {
			where = strings.ToLower(v.Kind) + " " + where
		}
		d.fields = append(image,
			field{label: cmp.Or(v.Kind, "Deployment"), value: fmt.Sprintf("%s/%s/%s", v.Cluster, v.Namespace, v.Deployment), code: true},
			field{label: "Container", value: v.Container, code: true},
			field{label: "Image", value: v.Image, code: true},
		)
		if a.Kind == KindRolloutVerified {
			d.emoji = ":white_check_mark:"
			d.title = fmt.Sprintf("Rollout verified: %s:%s on %s", a.Repository, tagsValue(a.Tags), where)
			d.fields = append(d.fields, field{label: "Push to available", value: fmt.Sprintf("%.0f s", v.Seconds)})
			break
		}
		d.emoji = ":rotating_light:"
		switch v.Action {
		case RolledBack:
			d.title = fmt.Sprintf("Rollout failed and rolled back: %s:%s on %s", a.Repository, tagsValue(a.Tags), where)
		case AlertOnly:
			d.title = fmt.Sprintf("Rollout failed: %s:%s on %s (onFailure: alert, not rolled back)", a.Repository, tagsValue(a.Tags), where)
		default:
			d.title = fmt.Sprintf("Rollout failed, NOT rolled back: %s:%s on %s", a.Repository, tagsValue(a.Tags), where)
		}
		if v.Previous != "" {
			d.fields = append(d.fields, field{label: "Previous image", value: v.Previous, code: true})
		}
		d.sections = []section{{heading: "Why it failed", items: v.Reasons}}
		if len(v.Events) > 0 {
			d.sections = append(d.sections, section{heading: "Last Kubernetes Events", items: v.Events})
		}
		switch v.Action {
		case RolledBack:
			d.sections = append(d.sections, section{heading: "What ecrwarden did", items: []string{
				"Restored " + v.Previous + ", held the target and blocked the failed digest for this container.",
				"Hold: " + v.Hold,
				"`ecrwarden release` lets the next version through; `ecrwarden release --digest` unblocks this one.",
			}})
		case AlertOnly:
			d.sections = append(d.sections, section{heading: "What ecrwarden did", items: []string{"Nothing: the rule says onFailure: alert."}})
		default:
			d.sections = append(d.sections, section{heading: "Not rolled back", items: []string{v.Refusal}})
		}
	default:
		d.emoji = ":bell:"
		d.title = fmt.Sprintf("%s in %s", a.Kind, a.Repository)
		d.fields = image
	}
	return d
}

// oneLine replaces line breaks and other control characters with spaces,
// so that a value from an invocation's payload (a run id) stays on its line
// in both renderings.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

func tagActionValue(a TagAction) string {
	switch a {
	case TagAlerted:
		return "alerted (tag kept)"
	case TagDeleted:
		return "tag deleted"
	case TagDeleteFailed:
		return "delete failed (tag kept)"
	case TagKept:
		return "not deleted (tag kept)"
	}
	return string(a)
}

func ignoredValue(r *findings.Result) string {
	s := strconv.Itoa(len(r.Ignored))
	if n := len(r.Expired); n > 0 {
		s += fmt.Sprintf(" (%d expired)", n)
	}
	return s
}

func expiredSections(r *findings.Result) []section {
	if len(r.Expired) == 0 {
		return nil
	}
	items := make([]string, len(r.Expired))
	for i, e := range r.Expired {
		items[i] = fmt.Sprintf("%s: ignore entry expired after %s (reason: %s)", e.Finding.ID, e.Entry.Until, e.Entry.Reason)
	}
	return []section{{heading: "Ignore entries expired: alerting again", items: items}}
}

// unknownSections lists the findings of unknown severity, which hold
// scan-gated rollouts.
func unknownSections(r *findings.Result) []section {
	if len(r.Unknown) == 0 {
		return nil
	}
	items := make([]string, len(r.Unknown))
	for i, f := range r.Unknown {
		sev := string(f.Severity)
		if sev == "" {
			sev = "no severity"
		}
		items[i] = f.ID + " (" + sev + ")"
		if p := packageText(f, "->"); p != "" {
			items[i] += " " + p
		}
	}
	return []section{{heading: "Unknown severity: holds scan-gated rollouts", items: items}}
}

func ignoredSections(r *findings.Result) []section {
	var out []section
	if len(r.Ignored) > 0 {
		items := make([]string, len(r.Ignored))
		for i, e := range r.Ignored {
			items[i] = fmt.Sprintf("%s (%s) until %s: %s", e.Finding.ID, e.Finding.Severity, e.Entry.Until, e.Entry.Reason)
		}
		out = append(out, section{heading: "Ignored", items: items})
	}
	if r.Below > 0 {
		out = append(out, section{heading: "Below threshold", items: []string{
			fmt.Sprintf("%s below %s, not alerting", plural(r.Below, "finding", "findings"), r.Threshold),
		}})
	}
	return out
}

// packageText is "openssl 3.0.1 -> 3.0.7 (+2 more packages)".
func packageText(f findings.Finding, arrow string) string {
	if len(f.Packages) == 0 {
		return ""
	}
	p := f.Packages[0]
	s := p.Name
	if p.InstalledVersion != "" {
		s += " " + p.InstalledVersion
	}
	if p.FixedVersion != "" {
		s += " " + arrow + " " + p.FixedVersion
	} else {
		s += " (no fix)"
	}
	if n := len(f.Packages) - 1; n > 0 {
		s += " (+" + plural(n, "more package", "more packages") + ")"
	}
	return s
}

func scoreText(f findings.Finding) string {
	if f.Score == 0 {
		return ""
	}
	return strconv.FormatFloat(f.Score, 'f', 1, 64)
}

// truncate cuts s to at most n runes, ending in "…" when cut.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}

func andMore(n int, what string) string {
	return fmt.Sprintf("…and %d more %s", n, what)
}
