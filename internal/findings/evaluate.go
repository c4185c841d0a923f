package findings

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Ignored is a finding set aside by an ignore-list entry, or, in
// [Result.Expired], one whose entry has expired and which alerts again.
type Ignored struct {
	// Finding is the ignored finding.
	Finding Finding `json:"finding"`
	// Entry is the ignore-list entry that matched it.
	Entry policy.Ignore `json:"entry"`
}

// Result is the outcome of applying a scan policy to an image's findings.
type Result struct {
	// Repository is the repository the findings belong to.
	Repository string `json:"repository"`
	// Threshold is the severity at and above which findings alert.
	Threshold policy.Severity `json:"threshold"`
	// Alerting are the findings that alert, most severe first, then by id.
	// Findings whose ignore entry expired are included.
	Alerting []Finding `json:"alerting"`
	// Ignored are findings at or above the threshold set aside by an active
	// ignore entry, by id.
	Ignored []Ignored `json:"ignored,omitempty"`
	// Expired are the alerting findings whose ignore entry has expired, by
	// id; the alert says so.
	Expired []Ignored `json:"expired,omitempty"`
	// Unknown are the findings whose severity ranks nowhere (Inspector's
	// UNTRIAGED, ECR's UNDEFINED, or anything else the scanner may send) and
	// that no active ignore entry sets aside, by id. They do not alert by
	// themselves, but they close a scan gate: see [Result.Clean].
	Unknown []Finding `json:"unknown,omitempty"`
	// Counts counts the alerting findings by severity.
	Counts map[policy.Severity]int `json:"counts"`
	// Below counts findings of a known severity under the threshold
	// (ignored or not).
	Below int `json:"below"`
}

// Clean reports whether the result opens a scan gate: nothing alerts and
// no finding has an unknown severity. A finding nobody has ranked yet is
// doubt, and doubt is never clean. Clean says nothing about whether the
// scan was complete: callers check that first (rollout.ReadScan does).
func (r Result) Clean() bool { return len(r.Alerting) == 0 && len(r.Unknown) == 0 }

// Blocking returns the findings that keep a scan gate closed: the
// alerting ones, then those of unknown severity.
func (r Result) Blocking() []Finding {
	if len(r.Unknown) == 0 {
		return r.Alerting
	}
	return append(append(make([]Finding, 0, len(r.Alerting)+len(r.Unknown)), r.Alerting...), r.Unknown...)
}

// Highest returns the severity of the most severe alerting finding, or ""
// when nothing alerts.
func (r Result) Highest() policy.Severity {
	if len(r.Alerting) == 0 {
		return ""
	}
	return r.Alerting[0].Severity
}

// IDs returns the alerting ids as the fingerprint sees them: upper case,
// sorted, without duplicates.
func (r Result) IDs() []string {
	return sortedIDs(r.Alerting)
}

// Evaluate applies a repository's scan policy to an image's findings at now.
// A finding alerts when its severity is at or above sp.AlertAt (HIGH when
// unset or unknown) and no active ignore entry names its id; an entry is
// active through its until day (UTC), so a finding whose entry has expired
// alerts again and is also listed in Expired. A finding of unknown severity
// (UNTRIAGED, UNDEFINED, anything unranked) that no active entry ignores is
// listed in Unknown. Ids are compared without regard to case. Findings are
// merged by id first (see [Merge]), so pages of findings may be passed
// concatenated.
func Evaluate(repo string, sp policy.ScanPolicy, fs []Finding, now time.Time) Result {
	threshold := sp.AlertAt
	if threshold.Rank() == 0 {
		threshold = policy.SeverityHigh
	}
	threshold = policy.Severity(strings.ToUpper(string(threshold)))
	ignores := make(map[string]policy.Ignore, len(sp.Ignore))
	for _, ig := range sp.Ignore {
		id := idKey(ig.ID)
		// Several entries for one id: the one that lasts longest wins.
		if prev, ok := ignores[id]; !ok || ig.Until.After(prev.Until.Time) {
			ignores[id] = ig
		}
	}
	res := Result{Repository: repo, Threshold: threshold, Counts: map[policy.Severity]int{}}
	for _, f := range Merge(fs) {
		ig, listed := ignores[idKey(f.ID)]
		if f.Severity.Rank() == 0 {
			if listed && ig.Active(now) {
				res.Ignored = append(res.Ignored, Ignored{Finding: f, Entry: ig})
			} else {
				res.Unknown = append(res.Unknown, f)
			}
			continue
		}
		if !f.Severity.AtLeast(threshold) {
			res.Below++
			continue
		}
		switch {
		case listed && ig.Active(now):
			res.Ignored = append(res.Ignored, Ignored{Finding: f, Entry: ig})
			continue
		case listed:
			res.Expired = append(res.Expired, Ignored{Finding: f, Entry: ig})
		}
		res.Alerting = append(res.Alerting, f)
		res.Counts[f.Severity]++
	}
	// Merge sorted by id, so bucketing by severity, most severe first, keeps
	// ids ascending within a severity. Ignored and Expired follow id order.
	res.Alerting = bySeverity(res.Alerting)
	return res
}

// fingerprintVersion prefixes the hashed data so that a change of encoding
// can never collide with keys written by an older one.
const fingerprintVersion = "ecrwarden/findings/v1"

// Fingerprint identifies one alerting finding set of one image: the hex
// SHA-256 of the repository, the digest and the alerting ids (upper-cased,
// sorted and de-duplicated, so the order of findings does not matter). Each
// part is length-prefixed, so no two different inputs hash the same bytes.
// The 64-character result is fit for a DynamoDB key.
func Fingerprint(repository, digest string, alerting []Finding) string {
	h := sha256.New()
	var buf []byte
	write := func(s string) {
		buf = strconv.AppendInt(buf[:0], int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
		buf = append(buf, '\n')
		h.Write(buf)
	}
	write(fingerprintVersion)
	write(repository)
	write(digest)
	for _, id := range sortedIDs(alerting) {
		write(id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bySeverity reorders fs, most severe first, keeping the order within a
// severity (a stable counting sort: ranks are 0 to 5).
func bySeverity(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	var start [7]int // start[6-r] is where rank r begins in the output
	for _, f := range fs {
		start[6-f.Severity.Rank()]++
	}
	for i, n := 0, 0; i < len(start); i++ {
		start[i], n = n, n+start[i]
	}
	out := make([]Finding, len(fs))
	for _, f := range fs {
		k := 6 - f.Severity.Rank()
		out[start[k]] = f
		start[k]++
	}
	return out
}

func sortedIDs(fs []Finding) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = idKey(f.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// BlockingIDs returns the ids of Blocking as IDs does: upper case, sorted,
// without duplicates.
func (r Result) BlockingIDs() []string {
	return sortedIDs(r.Blocking())
}
