package alert

import (
	"fmt"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Kind says what an alert is about; it is the SNS attribute "kind".
type Kind string

// Alert kinds.
const (
	// KindFindings: a scan found vulnerabilities at or above the threshold.
	KindFindings Kind = "findings"
	// KindScanFailed: an image scan failed; exposure is unknown.
	KindScanFailed Kind = "scan-failed"
	// KindTagRejected: a pushed tag matched no allowed pattern.
	KindTagRejected Kind = "tag-rejected"
	// KindRolloutBlocked: a deploy rule requiring a clean scan was held back.
	KindRolloutBlocked Kind = "rollout-blocked"
	// KindGCReport: what gc deleted, or would delete in dry-run mode.
	KindGCReport Kind = "gc-report"
	// KindRolloutFailed: a rollout failed verification; Verification says
	// whether it was rolled back, and why not.
	KindRolloutFailed Kind = "rollout-failed"
	// KindRolloutVerified: a rollout became available (a rule's
	// verify.notifySuccess).
	KindRolloutVerified Kind = "rollout-verified"
)

// Alert is one message for people. Fill the common fields and the detail
// that matches Kind; the renderings ignore the other details.
type Alert struct {
	// Kind says what the alert is about.
	Kind Kind `json:"kind"`
	// Repository is the ECR repository name (slashes included). Empty for a
	// gc report covering several repositories.
	Repository string `json:"repository,omitempty"`
	// Tags are the image's tags, if any.
	Tags []string `json:"tags,omitempty"`
	// Digest is the image digest, sha256:….
	Digest string `json:"digest,omitempty"`
	// Region and Account locate the registry for the console link; without
	// them the alert has no link.
	Region  string `json:"region,omitempty"`
	Account string `json:"account,omitempty"`
	// Severity overrides the severity derived from the kind (see
	// [Alert.Level]); leave it empty as a rule.
	Severity policy.Severity `json:"severity,omitempty"`
	// Fingerprint identifies the finding set (findings.Fingerprint); shown
	// in the footer so a message can be traced to its dedupe record.
	Fingerprint string `json:"fingerprint,omitempty"`

	// Findings is the evaluated scan for KindFindings and KindRolloutBlocked.
	Findings *findings.Result `json:"findings,omitempty"`
	// ScanFailure details KindScanFailed.
	ScanFailure *ScanFailure `json:"scanFailure,omitempty"`
	// TagRejection details KindTagRejected.
	TagRejection *TagRejection `json:"tagRejection,omitempty"`
	// Rollout details KindRolloutBlocked.
	Rollout *Rollout `json:"rollout,omitempty"`
	// GC details KindGCReport.
	GC *GCReport `json:"gc,omitempty"`
	// Verification details KindRolloutFailed and KindRolloutVerified.
	Verification *Verification `json:"verification,omitempty"`
}

// Rollback outcomes of a failed rollout (Verification.Action).
const (
	// RolledBack: the previous image is back, the target held, the failed
	// digest blocked.
	RolledBack = "rolled-back"
	// AlertOnly: the rule says onFailure: alert; nothing was changed.
	AlertOnly = "alert-only"
	// RollbackRefused: the rule says rollback, but ecrwarden did not
	// (Refusal says why: the previous image is gone, or the image was
	// changed by other hands).
	RollbackRefused = "rollback-refused"
)

// Verification describes a verified or failed rollout.
type Verification struct {
	// Cluster, Kind, Namespace, Deployment (the workload's name, of any
	// kind) and Container locate the container; an empty Kind is a
	// Deployment.
	Cluster    string `json:"cluster"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace"`
	Deployment string `json:"deployment"`
	Container  string `json:"container"`
	// Image is the image rolled out; Previous the one before it.
	Image    string `json:"image"`
	Previous string `json:"previous,omitempty"`
	// Action is RolledBack, AlertOnly or RollbackRefused for a failure.
	Action string `json:"action,omitempty"`
	// Refusal says why a rollback was not done.
	Refusal string `json:"refusal,omitempty"`
	// Hold is the hold set on the target by a rollback.
	Hold string `json:"hold,omitempty"`
	// Reasons are the Pods' failure reasons.
	Reasons []string `json:"reasons,omitempty"`
	// Events are the last Kubernetes Events of the failing Pods.
	Events []string `json:"events,omitempty"`
	// Seconds is the time from push to available, for a verified rollout.
	Seconds float64 `json:"seconds,omitempty"`
}

// ScanFailure describes a failed scan.
type ScanFailure struct {
	// Status is the scan status ECR or Inspector reported, such as FAILED or
	// UNSUPPORTED_IMAGE.
	Status string `json:"status"`
	// Reason is the status description, if any.
	Reason string `json:"reason,omitempty"`
	// Scanner is basic or enhanced.
	Scanner findings.Source `json:"scanner,omitempty"`
}

// TagAction is what onpush did about a rejected tag.
type TagAction string

// Tag actions.
const (
	// TagAlerted: the tag stays; people are told.
	TagAlerted TagAction = "alerted"
	// TagDeleted: the tag was removed (the image stays if other tags
	// reference it).
	TagDeleted TagAction = "deleted"
	// TagDeleteFailed: the policy said delete, but the delete failed.
	TagDeleteFailed TagAction = "delete-failed"
	// TagKept: the policy said delete, but something cast doubt on it (a
	// dry run, a workload running the image, an in-use check that failed,
	// a tag that no longer names the image): nothing was deleted, and
	// TagRejection.Reason says why.
	TagKept TagAction = "kept"
)

// TagRejection describes a pushed tag that no pattern allows.
type TagRejection struct {
	// Tag is the rejected tag.
	Tag string `json:"tag"`
	// Allowed are the accepted patterns, as written in the policy.
	Allowed []string `json:"allowed"`
	// Action is what was done.
	Action TagAction `json:"action"`
	// Error says why a delete failed, for TagDeleteFailed.
	Error string `json:"error,omitempty"`
	// Reason says why the tag was kept, for TagKept.
	Reason string `json:"reason,omitempty"`
}

// Rollout names the workload a blocked rollout would have patched.
type Rollout struct {
	// Cluster, Namespace, Deployment (the workload's name, of Kind) and
	// Container locate the container.
	Cluster    string `json:"cluster"`
	Namespace  string `json:"namespace"`
	Deployment string `json:"deployment"`
	// Kind is the workload's kind (StatefulSet, DaemonSet, CronJob); empty
	// for a Deployment.
	Kind      string `json:"kind,omitempty"`
	Container string `json:"container"`
	// Tag is the pushed tag that would have rolled out.
	Tag string `json:"tag"`
}

// GCReport is the outcome of one gc run.
type GCReport struct {
	// RunID names the run, as its ImagesExpired audit events do (detail
	// "runId"), so that an alert can be matched to the audit trail; shown
	// in the context line. Empty for a plan outside a run (gc plan).
	RunID string `json:"runId,omitempty"`
	// DryRun: nothing was deleted; the figures are the plan.
	DryRun bool `json:"dryRun"`
	// Cap is the most images one run may delete.
	Cap int `json:"cap"`
	// CapRefused: the plan exceeded Cap, so nothing was deleted.
	CapRefused bool `json:"capRefused,omitempty"`
	// Repositories are the per-repository figures, in the order given.
	Repositories []GCRepository `json:"repositories"`
	// MonthlySavings is the storage cost, in US dollars a month, the run
	// removes (or would remove), at Prices.
	MonthlySavings float64 `json:"monthlySavings,omitempty"`
	// MinimumCharge is what ECR still bills once for archived images
	// deleted before their 90-day minimum, in US dollars.
	MinimumCharge float64 `json:"minimumCharge,omitempty"`
	// Prices names the prices the savings are stated at.
	Prices string `json:"prices,omitempty"`
}

// GCRepository is what gc did, or planned, in one repository.
type GCRepository struct {
	// Name is the repository name.
	Name string `json:"name"`
	// Images is how many images were deleted (or planned to be).
	Images int `json:"images"`
	// Bytes is their total size.
	Bytes int64 `json:"bytes"`
	// Failed counts images BatchDeleteImage reported as not deleted.
	Failed int `json:"failed,omitempty"`
	// Error is why nothing was deleted here (a listing failed), if so.
	Error string `json:"error,omitempty"`
	// Archived is how many images were archived (or planned to be), and
	// ArchivedBytes their size.
	Archived      int   `json:"archived,omitempty"`
	ArchivedBytes int64 `json:"archivedBytes,omitempty"`
	// Kept counts planned images left alone because they changed since
	// planning (a new tag, another status).
	Kept int `json:"kept,omitempty"`
	// Warnings are hazards a person must act on: an image in use that is
	// archived, or that the native lifecycle policy will expire.
	Warnings []string `json:"warnings,omitempty"`
}

// Totals returns the images and bytes summed over the repositories.
func (g GCReport) Totals() (images int, bytes int64) {
	for _, r := range g.Repositories {
		images += r.Images
		bytes += r.Bytes
	}
	return images, bytes
}

func (g GCReport) troubled() bool {
	if g.CapRefused {
		return true
	}
	for _, r := range g.Repositories {
		if r.Error != "" || r.Failed > 0 || len(r.Warnings) > 0 {
			return true
		}
	}
	return false
}

// Level is the alert's severity: Severity when set; otherwise, for findings
// the most severe alerting finding (the threshold when none), for a blocked
// rollout the same (HIGH when no findings are attached), HIGH for a failed
// scan (exposure unknown), MEDIUM for a rejected tag, and for a gc report
// HIGH when the cap refused the plan or something failed, else
// INFORMATIONAL.
func (a Alert) Level() policy.Severity {
	if a.Severity != "" {
		return policy.Severity(strings.ToUpper(string(a.Severity)))
	}
	switch a.Kind {
	case KindFindings, KindRolloutBlocked:
		if a.Findings != nil {
			if h := a.Findings.Highest(); h != "" {
				return h
			}
			if a.Findings.Threshold != "" {
				return a.Findings.Threshold
			}
		}
		return policy.SeverityHigh
	case KindScanFailed:
		return policy.SeverityHigh
	case KindTagRejected:
		return policy.SeverityMedium
	case KindRolloutFailed:
		return policy.SeverityHigh
	case KindRolloutVerified:
		return policy.SeverityInformational
	case KindGCReport:
		if a.GC != nil && a.GC.troubled() {
			return policy.SeverityHigh
		}
		return policy.SeverityInformational
	}
	return policy.SeverityMedium
}

// ConsoleURL links to the image in the ECR console, or to the repository when
// the digest is unknown; "" without a valid region, account or repository
// (the link is built from them, so none of them may carry a host, a path or
// markup). The format is the console's own:
// https://<region>.console.aws.amazon.com/ecr/repositories/private/<account>/<repo>/_/image/<digest>/details?region=<region>.
func (a Alert) ConsoleURL() string {
	if !ecrevent.ValidRegion(a.Region) || !ecrevent.ValidAccount(a.Account) || ecrevent.CheckRepositoryName(a.Repository) != nil {
		return ""
	}
	base := fmt.Sprintf("https://%s.console.aws.amazon.com/ecr/repositories/private/%s/%s", a.Region, a.Account, a.Repository)
	if a.Digest == "" || ecrevent.CheckDigest(a.Digest) != nil {
		return base + "?region=" + a.Region
	}
	return base + "/_/image/" + a.Digest + "/details?region=" + a.Region
}

// repositoryAttr is the value of the SNS attribute "repository": the
// repository, or for a gc report the only repository it covers, else
// "multiple" (SNS attributes may not be empty).
func (a Alert) repositoryAttr() string {
	if a.Repository != "" {
		return a.Repository
	}
	if a.GC != nil && len(a.GC.Repositories) == 1 {
		return a.GC.Repositories[0].Name
	}
	return "multiple"
}
