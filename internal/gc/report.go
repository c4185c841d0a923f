package gc

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// MaxAuditDigests is how many deleted digests one ImagesExpired event lists;
// the rest is counted. It keeps an entry well under EventBridge's 256 KB.
const MaxAuditDigests = 1000

// Noteworthy reports whether the run has something to tell people: a
// deletion or archival done or planned, a refused or raced delete, a
// warning, a failed listing or a cap refusal. A run with nothing to do and
// no error sends no report.
func (r *Result) Noteworthy() bool {
	if r.CapRefused || r.ClusterErr != nil || r.Planned > 0 {
		return true
	}
	for _, o := range r.Outcomes {
		if o.Err != nil || len(o.Deleted.Failed) > 0 || len(o.Deleted.Raced) > 0 || len(o.Warnings) > 0 || len(o.Archived.Failed) > 0 {
			return true
		}
	}
	return false
}

// ReportKey returns the dedupe key of the run's report under base (the
// run's key, gc#<run>[#<repository>]): base itself for a report that states
// no deletion or archival (a dry run, a plan the cap refused, a failure, a
// run whose images were gone or changed), and base#<hash of the digests
// deleted and archived> for one that does. An attempt that failed before
// deleting reports its failure under base, and the retry that then deletes
// reports its deletions under a key of their own instead of being taken for
// a repeat of the failure report (the fault schedule's seed 11: an in-use
// listing outage alerted, the redriven message deleted, and its report was
// deduplicated away). A repeat of an attempt that deleted finds nothing left
// to delete, so a report of deletions is never sent twice under two keys.
func (r *Result) ReportKey(base string) string {
	if r.DryRun || r.CapRefused || r.ClusterErr != nil {
		return base
	}
	var digests []string
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		if o.Refused != "" {
			continue
		}
		for _, d := range o.Deleted.Deleted {
			digests = append(digests, o.Repository+"@"+d)
		}
		for _, d := range o.Archived.Archived {
			digests = append(digests, o.Repository+"@archived:"+d)
		}
	}
	if len(digests) == 0 {
		return base
	}
	sort.Strings(digests)
	sum := sha256.Sum256([]byte(strings.Join(digests, "\n")))
	return base + "#" + hex.EncodeToString(sum[:8])
}

// Alert returns the run's KindGCReport alert: images and bytes deleted and
// archived per repository (planned ones in a dry run or a cap refusal), what
// that saves at prices, failures, warnings and errors, under the run's id
// (the runId of its audit events). Region and account come from the first
// repository read.
func (r *Result) Alert(prices Prices) alert.Alert {
	g := &alert.GCReport{RunID: r.RunID, DryRun: r.DryRun, Cap: r.Cap, CapRefused: r.CapRefused, Prices: prices.Source}
	s := r.Savings(prices)
	g.MonthlySavings, g.MinimumCharge = s.Monthly, s.MinimumCharge
	a := alert.Alert{Kind: alert.KindGCReport, GC: g}
	executed := !r.DryRun && !r.CapRefused && r.ClusterErr == nil
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		if a.Region == "" && o.Region != "" {
			a.Region, a.Account = o.Region, o.Account
		}
		rep := alert.GCRepository{Name: o.Repository, Failed: len(o.Deleted.Failed) + len(o.Archived.Failed),
			Kept: len(o.Deleted.Kept) + len(o.Archived.Kept)}
		switch {
		case executed && o.Acted():
			rep.Images, rep.Bytes = len(o.Deleted.Deleted), o.ReclaimedBytes()
			rep.Archived, rep.ArchivedBytes = o.ArchivedImages(), o.ArchivedBytes()
		case o.Plan != nil && (!executed || o.Refused != ""):
			rep.Images, rep.Bytes = o.Plan.Deletes, o.Plan.ReclaimBytes
			rep.Archived, rep.ArchivedBytes = o.Plan.Archives, o.Plan.ArchiveBytes
		}
		var errs []string
		if o.Refused != "" {
			errs = append(errs, "run-wide cap: "+o.Refused)
		}
		if o.Err != nil {
			errs = append(errs, o.Err.Error())
		}
		rep.Error = strings.Join(errs, "; ")
		for _, w := range o.Warnings {
			rep.Warnings = append(rep.Warnings, describe(w.Digest, w.Tags)+w.Detail)
		}
		for _, c := range o.Deleted.Raced {
			rep.Warnings = append(rep.Warnings, registry.ShortDigest(c.Digest)+": "+c.Why)
		}
		g.Repositories = append(g.Repositories, rep)
	}
	if len(r.Outcomes) == 1 {
		a.Repository = r.Outcomes[0].Repository
	}
	return a
}

func describe(digest string, tags []string) string {
	if digest == "" {
		return ""
	}
	s := registry.ShortDigest(digest)
	if len(tags) > 0 {
		s += " (" + strings.Join(tags, ", ") + ")"
	}
	return s + ": "
}

// AuditEvents returns one ImagesExpired event per repository in which images
// were deleted or archived; none for a dry run or a refused run.
func (r *Result) AuditEvents(runID string, prices Prices) []audit.Event {
	var events []audit.Event
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		archived := o.ArchivedImages()
		if len(o.Deleted.Deleted) == 0 && (len(o.Archived.Archived) == 0 || archived == 0) {
			continue
		}
		digests := o.Deleted.Deleted
		truncated := len(digests) > MaxAuditDigests
		if truncated {
			digests = digests[:MaxAuditDigests]
		}
		s := o.Savings(prices)
		detail := map[string]any{
			"repository": o.Repository, "runId": runID,
			"images": len(o.Deleted.Deleted), "bytes": o.ReclaimedBytes(),
			"failed": len(o.Deleted.Failed), "digests": digests,
			"archived": archived, "archivedBytes": o.ArchivedBytes(),
			"monthlySavingsUSD": round2(s.Monthly), "prices": prices.Source,
		}
		if s.MinimumCharge > 0 {
			detail["minimumChargeUSD"] = round2(s.MinimumCharge)
		}
		if n := len(o.Deleted.Kept) + len(o.Archived.Kept); n > 0 {
			detail["keptChanged"] = n
		}
		if n := len(o.Deleted.Raced); n > 0 {
			detail["raced"] = n
		}
		if truncated {
			detail["digestsTruncated"] = true
		}
		ev := audit.Event{DetailType: audit.ImagesExpired, Detail: detail}
		if o.Region != "" && o.Account != "" {
			ev.Resources = []string{"arn:aws:ecr:" + o.Region + ":" + o.Account + ":repository/" + o.Repository}
		}
		events = append(events, ev)
	}
	return events
}

func round2(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}
