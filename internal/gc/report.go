package gc

import (
	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
)

// MaxAuditDigests is how many deleted digests one ImagesExpired event lists;
// the rest is counted. It keeps an entry well under EventBridge's 256 KB.
const MaxAuditDigests = 1000

// Noteworthy reports whether the run has something to tell people: a
// deletion done or planned, a refused delete, a failed listing or a cap
// refusal. A run with nothing to delete and no error sends no report.
func (r *Result) Noteworthy() bool {
	if r.CapRefused || r.ClusterErr != nil || r.Planned > 0 {
		return true
	}
	for _, o := range r.Outcomes {
		if o.Err != nil || len(o.Deleted.Failed) > 0 {
			return true
		}
	}
	return false
}

// Alert returns the run's KindGCReport alert: images and bytes deleted per
// repository (planned ones in a dry run or a cap refusal), failures and
// errors. Region and account come from the first repository read.
func (r *Result) Alert() alert.Alert {
	g := &alert.GCReport{DryRun: r.DryRun, Cap: r.Cap, CapRefused: r.CapRefused}
	a := alert.Alert{Kind: alert.KindGCReport, GC: g}
	executed := !r.DryRun && !r.CapRefused && r.ClusterErr == nil
	for _, o := range r.Outcomes {
		if a.Region == "" && o.Region != "" {
			a.Region, a.Account = o.Region, o.Account
		}
		rep := alert.GCRepository{Name: o.Repository, Failed: len(o.Deleted.Failed)}
		switch {
		case executed:
			rep.Images, rep.Bytes = len(o.Deleted.Deleted), o.ReclaimedBytes()
		case o.Plan != nil:
			rep.Images, rep.Bytes = o.Plan.Deletes, o.Plan.ReclaimBytes
		}
		if o.Err != nil {
			rep.Error = o.Err.Error()
		}
		g.Repositories = append(g.Repositories, rep)
	}
	if len(r.Outcomes) == 1 {
		a.Repository = r.Outcomes[0].Repository
	}
	return a
}

// AuditEvents returns one ImagesExpired event per repository in which images
// were deleted; none for a dry run or a refused run.
func (r *Result) AuditEvents(runID string) []audit.Event {
	var events []audit.Event
	for _, o := range r.Outcomes {
		if len(o.Deleted.Deleted) == 0 {
			continue
		}
		digests := o.Deleted.Deleted
		truncated := len(digests) > MaxAuditDigests
		if truncated {
			digests = digests[:MaxAuditDigests]
		}
		detail := map[string]any{
			"repository": o.Repository, "runId": runID,
			"images": len(o.Deleted.Deleted), "bytes": o.ReclaimedBytes(),
			"failed": len(o.Deleted.Failed), "digests": digests,
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
