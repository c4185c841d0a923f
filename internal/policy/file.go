package policy

import (
	"fmt"
	"strings"
	"time"
)

// File is a fully validated policy file. Load and Parse return one only when
// the whole file is valid; a broken file never half-loads.
type File struct {
	// Version is the schema version of the file; only 1 exists.
	Version int `yaml:"version" doc:"Schema version of this file. Only 1 exists."`
	// Principals names the IAM principals that repository access lists refer to.
	Principals map[string]string `yaml:"principals" doc:"IAM principals by short name, for the access lists of managed repositories. A value is a role or user of the account the stack deploys to (role/name, role/path/name, user/name), a full ARN (arn:aws:iam::123456789012:role/name, for another account), or empty: then the CDK app needs it from context (-c principal:<name>=<ARN>) and refuses to synthesize without it. Context principal:<name> overrides any value."`
	// Clusters are the EKS clusters ecrwarden patches and scans for images in use.
	Clusters []Cluster `yaml:"clusters" doc:"EKS clusters that deploy rules patch and that gc scans for images in use."`
	// Registry holds the account-wide ECR settings the CDK app may manage.
	Registry Registry `yaml:"registry" doc:"Account-wide ECR settings (scanning configuration, replication). The CDK app manages them only when manage is true, because they affect every repository in the account and region."`
	// Notify configures where alerts go.
	Notify Notify `yaml:"notify" doc:"Where alerts go besides the SNS topic the stack creates."`
	// GC configures the scheduled garbage collector.
	GC GC `yaml:"gc" doc:"The scheduled garbage collector."`
	// Repositories are the ECR repositories ecrwarden guards. Events for
	// repositories not listed here are ignored.
	Repositories []Repository `yaml:"repositories" doc:"The ECR repositories ecrwarden guards. Events for repositories not listed are ignored." required:"true"`

	name string
}

// Name reports the file name the policy was loaded from.
func (f *File) Name() string { return f.name }

// Repository returns the repository policy with the given name.
func (f *File) Repository(name string) (*Repository, bool) {
	for i := range f.Repositories {
		if f.Repositories[i].Name == name {
			return &f.Repositories[i], true
		}
	}
	return nil, false
}

// PrincipalARN resolves a principals value to an IAM ARN: a full ARN stays
// as it is; role/name or user/name becomes the ARN of that role or user in
// account (of partition). Both may be CDK tokens for the stack's own
// account and partition. An empty value resolves to "": it must come from
// elsewhere (CDK context).
func PrincipalARN(value, partition, account string) string {
	if value == "" || strings.HasPrefix(value, "arn:") {
		return value
	}
	return "arn:" + partition + ":iam::" + account + ":" + value
}

// Cluster returns the cluster with the given name.
func (f *File) Cluster(name string) (*Cluster, bool) {
	for i := range f.Clusters {
		if f.Clusters[i].Name == name {
			return &f.Clusters[i], true
		}
	}
	return nil, false
}

// RepositoryNames lists the names of all repositories, in file order.
func (f *File) RepositoryNames() []string {
	names := make([]string, len(f.Repositories))
	for i, r := range f.Repositories {
		names[i] = r.Name
	}
	return names
}

// Cluster is an EKS cluster that ecrwarden talks to.
type Cluster struct {
	// Name is the EKS cluster name (eks:DescribeCluster).
	Name string `yaml:"name" doc:"EKS cluster name, as eks:DescribeCluster knows it." required:"true"`
	// Namespaces limits where ecrwarden reads workloads and discovers
	// Deployments that opt in by annotation. Required: ecrwarden's access
	// is namespace-scoped.
	Namespaces []string `yaml:"namespaces" doc:"Namespaces ecrwarden may read and patch in. Access entries are scoped to them; in-use discovery and annotation opt-in look only here." required:"true"`
}

// Registry holds account-wide ECR settings.
type Registry struct {
	// Manage lets the CDK app own the account-wide settings below.
	Manage bool `yaml:"manage" doc:"Let the CDK app own the registry-wide scanning and replication configuration. They affect every repository in the account and region, so the stack refuses to set them unless this is true."`
	// Scanning is the registry scanning configuration.
	Scanning *Scanning `yaml:"scanning" doc:"Registry scanning configuration (aws_ecr_registry_scanning_configuration in the seeds' Terraform)."`
	// Replication lists cross-region or cross-account replication rules.
	Replication []Replication `yaml:"replication" doc:"Replication rules (aws_ecr_replication_configuration in the seeds' Terraform)."`
}

// Scanning is the registry scanning configuration.
type Scanning struct {
	// Type is BASIC or ENHANCED.
	Type ScanType `yaml:"type" doc:"BASIC (ECR's own scanner) or ENHANCED (Amazon Inspector)." required:"true"`
	// Rules select repositories by wildcard filter and set a scan frequency.
	Rules []ScanRule `yaml:"rules" doc:"Which repositories are scanned and how often."`
}

// ScanRule selects repositories for registry scanning.
type ScanRule struct {
	// Filter is an ECR wildcard repository filter, such as "mlops/*".
	Filter string `yaml:"filter" doc:"ECR wildcard repository filter, such as mlops/*." required:"true"`
	// Frequency is SCAN_ON_PUSH, CONTINUOUS_SCAN (enhanced only) or MANUAL.
	Frequency ScanFrequency `yaml:"frequency" doc:"SCAN_ON_PUSH, CONTINUOUS_SCAN (ENHANCED only) or MANUAL." required:"true"`
}

// Replication is one replication rule.
type Replication struct {
	// Destinations are the regions and registries images are copied to.
	Destinations []Destination `yaml:"destinations" doc:"Where images are copied." required:"true"`
	// Prefix limits the rule to repositories whose names start with it.
	Prefix string `yaml:"prefix" doc:"Only repositories whose names start with this prefix are replicated; empty means all."`
}

// Destination is a replication target.
type Destination struct {
	// Region is the AWS region to replicate to.
	Region string `yaml:"region" doc:"AWS region, such as us-west-2." required:"true"`
	// RegistryID is the 12-digit account id of the target registry.
	RegistryID string `yaml:"registryId" doc:"12-digit account id of the target registry." required:"true"`
}

// Notify configures alert destinations.
type Notify struct {
	// SlackSecret is the name of the Secrets Manager secret holding the
	// Slack incoming-webhook URL. Empty disables Slack.
	SlackSecret string `yaml:"slackSecret" doc:"Name of the Secrets Manager secret whose SecretString is the Slack incoming-webhook URL. Empty: alerts go to SNS only."`
}

// GC configures the scheduled garbage collector.
type GC struct {
	// Schedule is an EventBridge Scheduler expression.
	Schedule string `yaml:"schedule" doc:"EventBridge Scheduler expression: rate(...) or cron(...). Default rate(1 day)."`
	// DryRun plans and reports without deleting. Defaults to true.
	DryRun *bool `yaml:"dryRun" doc:"Plan and report without deleting. Default true: set false deliberately."`
	// MaxDeletesPerRun caps how many images one run may delete or archive,
	// across every repository of the run (the fan-out included); a plan
	// over the cap deletes nothing and alerts.
	MaxDeletesPerRun int `yaml:"maxDeletesPerRun" doc:"A run that would delete or archive more images than this, over all its repositories (fanned out or not), deletes nothing more and alerts instead. Default 100." minimum:"1"`
	// InUse chooses the AWS services gc reads for images in use, besides
	// the clusters; onpush reads the same before it deletes a rejected tag.
	InUse InUseSources `yaml:"inUse" doc:"AWS services gc reads for images in use in the account and region, besides the clusters (which are always read); onpush reads the same before it deletes a rejected tag (tags.onViolation: delete). Each is read unless set false; a source that cannot be read stops every deletion of the gc run, and keeps onpush's rejected tag."`
	// Prices override the ECR storage prices gc states savings in.
	Prices Prices `yaml:"prices" doc:"ECR storage prices (USD per GB-month) the plan's savings are stated in. Defaults: the published prices the code carries (see docs/gc-scale.md), for your region and volume tier set them here."`
}

// Prices are ECR storage prices in US dollars per GB-month; nil fields
// keep the built-in defaults.
type Prices struct {
	// StandardPerGBMonth is the price of the standard storage class.
	StandardPerGBMonth *float64 `yaml:"standardPerGBMonth" doc:"Standard storage, USD per GB-month (default 0.10)." minimum:"0"`
	// ArchivePerGBMonth is the price of the archive storage class.
	ArchivePerGBMonth *float64 `yaml:"archivePerGBMonth" doc:"Archive storage, USD per GB-month (default 0.10: the first 150 TB of archive cost what standard does; 0.07 beyond)." minimum:"0"`
}

// Dry reports whether gc runs in dry-run mode (the default).
func (g GC) Dry() bool { return g.DryRun == nil || *g.DryRun }

// Names of gc's in-use sources among AWS services, as gc.inUse spells them.
const (
	InUseECS       = "ecs"
	InUseLambda    = "lambda"
	InUseSageMaker = "sagemaker"
	InUseBatch     = "batch"
)

// InUseSources turns gc's readers of AWS services on or off. A source is
// read unless its key is false: gc cannot know where a registry's images
// run, and an unread place is doubt, not proof that an image is unused.
type InUseSources struct {
	// ECS reads every ECS service's task definitions and running tasks.
	ECS *bool `yaml:"ecs" doc:"ECS: the task definitions of every service (current, deployments, task sets) and the containers of running tasks, by tag and resolved digest. Default true."`
	// Lambda reads every function version packaged as an image.
	Lambda *bool `yaml:"lambda" doc:"Lambda: every version of every function packaged as a container image, by image URI and resolved digest. Default true."`
	// SageMaker reads models, endpoints and jobs in progress.
	SageMaker *bool `yaml:"sagemaker" doc:"SageMaker: every model's containers and the endpoints serving them (with the digests they were deployed with), and training, processing and tuning jobs in progress. Default true."`
	// Batch reads every active job definition.
	Batch *bool `yaml:"batch" doc:"AWS Batch: the images of every ACTIVE job definition revision (container, ECS, EKS and multi-node properties). Default true."`
}

// Enabled lists the sources to read, in a fixed order.
func (s InUseSources) Enabled() []string {
	var out []string
	for _, src := range []struct {
		name string
		on   *bool
	}{{InUseECS, s.ECS}, {InUseLambda, s.Lambda}, {InUseSageMaker, s.SageMaker}, {InUseBatch, s.Batch}} {
		if src.on == nil || *src.on {
			out = append(out, src.name)
		}
	}
	return out
}

// Repository is the policy of one ECR repository.
type Repository struct {
	// Name is the repository name, slashes included.
	Name string `yaml:"name" doc:"ECR repository name, such as mlops/retail-api." required:"true"`
	// Manage makes the CDK app create and configure the repository.
	Manage bool `yaml:"manage" doc:"Create and configure the repository in the CDK app: scan on push, immutable tags (except mutableTags), encryption, access policy, and a native lifecycle backstop for untagged images."`
	// Encryption is AES256 (default) or KMS; managed repositories only.
	Encryption Encryption `yaml:"encryption" doc:"AES256 (default) or KMS. Managed repositories only."`
	// MutableTags are tag filters excluded from tag immutability; managed
	// repositories only.
	MutableTags []string `yaml:"mutableTags" doc:"Tags that may move (such as latest, dev-latest): excluded from tag immutability. Managed repositories only; ECR wildcard filters."`
	// Access grants pull and push to named principals; managed repositories only.
	Access Access `yaml:"access" doc:"Repository policy: principals (by name from principals) allowed to pull or push. Managed repositories only."`
	// Tags are the tag rules checked on every push.
	Tags *TagRules `yaml:"tags" doc:"Tag rules checked on every push. Absent: every tag is accepted."`
	// Scan is the vulnerability alerting policy.
	Scan ScanPolicy `yaml:"scan" doc:"Vulnerability alerting: threshold and ignore list."`
	// Retention are the gc rules.
	Retention []RetentionRule `yaml:"retention" doc:"gc retention rules. Every rule that selects an image applies; the image is deleted when any of them expires it and nothing protects it."`
	// Protect lists what gc never deletes.
	Protect Protect `yaml:"protect" doc:"What gc never deletes, whatever the rules say. Images in use in the configured clusters are always protected."`
	// Deploy are the rollout rules triggered by pushes of this repository.
	Deploy []DeployRule `yaml:"deploy" doc:"Deployments to roll forward when a matching tag is pushed."`
}

// TagPinSafe says why a rollout that pins tags of this repository by tag
// (pin: tag) could run an image other than the one checked (scanned,
// forward-only compared) — a tag pushed again moves — or returns nil. A tag
// pin needs an immutable repository: one ecrwarden manages (manage: true,
// created with immutable tags) whose mutableTags can match no tag that
// tags selects. An unmanaged repository's mutability is not ecrwarden's to
// know (it may change outside the stack), so it is refused: pin by digest.
func (r *Repository) TagPinSafe(tags Pattern) error {
	if !r.Manage {
		return fmt.Errorf("pin: tag needs an immutable repository, and ecrwarden knows %s is immutable only when it manages it (manage: true); pin by digest (the default) instead", r.Name)
	}
	for _, f := range r.MutableTags {
		if ex, ok := tags.Overlaps(f); ok {
			tag := ""
			if ex != "" {
				tag = fmt.Sprintf(" (such as %q)", ex)
			}
			return fmt.Errorf("pin: tag needs immutable tags, but mutableTags %q keeps tags that %q selects mutable%s: pushed again, such a tag would change the image behind the pin; pin by digest (the default) or narrow the filter", f, tags, tag)
		}
	}
	return nil
}

// Access lists the principals allowed to use a managed repository.
type Access struct {
	// Pull names principals allowed to pull.
	Pull []string `yaml:"pull" doc:"Principal names allowed to pull (BatchGetImage, GetDownloadUrlForLayer, BatchCheckLayerAvailability)."`
	// Push names principals allowed to push (and pull).
	Push []string `yaml:"push" doc:"Principal names allowed to push and pull."`
}

// TagRules decide which tags a push may carry.
type TagRules struct {
	// Allow lists the accepted tag patterns; a tag is valid when any matches.
	Allow []Pattern `yaml:"allow" doc:"Accepted tag patterns; a tag is valid when any matches. Placeholders: {semver}, {sha} (7-40 lowercase hex), {date} (YYYYMMDD); * matches any run of tag characters." required:"true"`
	// OnViolation is what happens to a pushed tag no pattern accepts.
	OnViolation Action `yaml:"onViolation" doc:"alert (default): SNS + Slack; delete: remove the offending tag (the image stays if other tags reference it) and alert."`
	// DryRun, with onViolation delete, reports the tag that would be
	// deleted instead of deleting it. Defaults to true.
	DryRun *bool `yaml:"dryRun" doc:"With onViolation: delete, only report the tag that would be deleted (the alert says so). Default true: set false deliberately. The stack's dryRun context forces it too."`
}

// DeleteDry reports whether onViolation delete only reports (the default).
func (t *TagRules) DeleteDry() bool { return t.DryRun == nil || *t.DryRun }

// Allowed reports whether tag is accepted and, if so, the first pattern
// that accepts it.
func (t *TagRules) Allowed(tag string) (Match, bool) { return MatchAny(t.Allow, tag) }

// ScanPolicy is the vulnerability alerting policy of a repository.
type ScanPolicy struct {
	// AlertAt is the lowest severity that alerts. Defaults to HIGH.
	AlertAt Severity `yaml:"alertAt" doc:"Lowest severity that alerts: INFORMATIONAL, LOW, MEDIUM, HIGH (default) or CRITICAL."`
	// Ignore lists accepted findings, each with a reason and an expiry.
	Ignore []Ignore `yaml:"ignore" doc:"Findings accepted for a while. An expired entry alerts again, and the alert says it expired."`
}

// Ignore is one accepted finding.
type Ignore struct {
	// ID is the vulnerability id, such as CVE-2024-0001 or GHSA-xxxx-xxxx-xxxx.
	ID string `yaml:"id" doc:"Vulnerability id: CVE-..., GHSA-..., ALAS-..." required:"true"`
	// Until is the last day (UTC) the entry applies.
	Until Date `yaml:"until" doc:"Last day (UTC, YYYY-MM-DD) the entry applies." required:"true"`
	// Reason says why the finding is accepted.
	Reason string `yaml:"reason" doc:"Why the finding is accepted; shown in alerts." required:"true"`
}

// Active reports whether the entry still applies at now.
func (i Ignore) Active(now time.Time) bool {
	return now.Before(i.Until.Time.AddDate(0, 0, 1))
}

// RetentionRule selects images and says how many or how old may stay.
type RetentionRule struct {
	// Match selects tagged images with any tag matching any pattern.
	Match []Pattern `yaml:"match" doc:"Select tagged images that have at least one tag matching one of these patterns (a pattern or a list)."`
	// Untagged selects images without tags (never the children of a kept index).
	Untagged bool `yaml:"untagged" doc:"Select images without tags. Children of a multi-arch index are never selected by this: they live and die with their index."`
	// KeepNewest keeps the N newest selected images (by Order).
	KeepNewest *int `yaml:"keepNewest" doc:"Keep the N newest selected images (by order); the rest are expired by this rule unless maxAge keeps them." minimum:"0"`
	// MaxAge expires selected images pushed longer ago than this.
	MaxAge Duration `yaml:"maxAge" doc:"Expire selected images pushed longer ago than this (24h, 30d, 1d12h). With keepNewest, an image is expired only when it is both outside the N newest and older than maxAge."`
	// NotPulledFor expires selected images not pulled for longer than this.
	NotPulledFor Duration `yaml:"notPulledFor" doc:"Expire selected images not pulled for longer than this (ECR's lastRecordedPullTime; an image never pulled counts from its push; ECR may record a pull up to a day late, so gc counts a day less). With keepNewest or maxAge, every condition the rule sets must hold."`
	// Order ranks images for KeepNewest. Defaults to pushed.
	Order Order `yaml:"order" doc:"How keepNewest ranks images: pushed (push time, default), semver or date (from the pattern's placeholder; images whose tags carry none rank oldest)."`
	// Action is what happens to the images the rule expires.
	Action Disposal `yaml:"action" doc:"What happens to the images this rule expires: delete (default) or archive (UpdateImageStorageClass to the ECR archive storage class, where an image cannot be pulled until restored and is charged for at least 90 days)."`
	// ArchivedFor makes the rule select archived images, and expires those
	// archived longer ago than this.
	ArchivedFor Duration `yaml:"archivedFor" doc:"Select archived images instead of active ones and delete those archived longer ago than this. Below 90d, set acceptArchiveMinimumCharge: ECR charges an archived image for 90 days even when it is deleted sooner."`
	// AcceptArchiveMinimumCharge allows ArchivedFor below the 90-day
	// minimum storage duration of the archive class.
	AcceptArchiveMinimumCharge bool `yaml:"acceptArchiveMinimumCharge" doc:"Allow archivedFor below 90d, accepting that ECR still charges the rest of the 90-day minimum (the plan states the amount)."`
}

// SelectsArchived reports whether the rule selects archived images
// (archivedFor) rather than active ones.
func (r RetentionRule) SelectsArchived() bool { return r.ArchivedFor > 0 }

// Disposal returns the rule's action, delete when unset.
func (r RetentionRule) Disposal() Disposal {
	if r.Action == "" {
		return DisposalDelete
	}
	return r.Action
}

// Protect lists what gc never deletes.
type Protect struct {
	// Tags are patterns of tags that are never deleted.
	Tags []Pattern `yaml:"tags" doc:"Images carrying a tag that matches one of these patterns are never deleted."`
	// NewerThan protects every image younger than this.
	NewerThan Duration `yaml:"newerThan" doc:"Images pushed more recently than this are never deleted (a grace period for images still being rolled out). Default 0."`
	// UntaggedNewerThan protects untagged images younger than this; nil
	// means DefaultUntaggedGrace.
	UntaggedNewerThan *Duration `yaml:"untaggedNewerThan" doc:"Untagged images pushed more recently than this are never deleted or archived: a multi-arch push stores its platform images untagged before the index that lists them. Default 6h; 0 turns it off."`
}

// DefaultUntaggedGrace is protect.untaggedNewerThan when the policy leaves
// it out: long enough for a multi-arch build that pushes its platform
// images before its index (even from separate CI jobs) to finish.
const DefaultUntaggedGrace = Duration(6 * time.Hour)

// UntaggedGrace returns protect.untaggedNewerThan or its default.
func (p Protect) UntaggedGrace() Duration {
	if p.UntaggedNewerThan == nil {
		return DefaultUntaggedGrace
	}
	return *p.UntaggedNewerThan
}

// DeployRule rolls a workload's container forward when a matching tag is
// pushed. The workload is named either by deployment (a Deployment) or by
// kind and name (any kind; kind defaults to Deployment).
type DeployRule struct {
	// Cluster names a cluster from the clusters list.
	Cluster string `yaml:"cluster" doc:"Cluster name from clusters." required:"true"`
	// Namespace of the workload; one of the cluster's namespaces.
	Namespace string `yaml:"namespace" doc:"Namespace of the workload; must be one of the cluster's namespaces." required:"true"`
	// Deployment is the Deployment name; the short form of kind: Deployment
	// with name.
	Deployment string `yaml:"deployment" doc:"Deployment name (the short form of kind: Deployment, name: ...). Give either deployment or name."`
	// Kind is the workload's kind, with Name; Deployment when empty.
	Kind WorkloadKind `yaml:"kind" doc:"Kind of the workload named by name: Deployment (default), StatefulSet, DaemonSet or CronJob (its job template: the next Job runs the new image)."`
	// Name is the workload's name, of Kind.
	Name string `yaml:"name" doc:"Name of the workload of kind. Give either deployment or name."`
	// Container is the container to patch.
	Container string `yaml:"container" doc:"Container to patch; other containers are never touched." required:"true"`
	// Tags selects which pushed tags roll out.
	Tags Pattern `yaml:"tags" doc:"Pushed tags that roll out, such as v{semver}." required:"true"`
	// Order decides what "newer" means; rollouts only go forward.
	Order Order `yaml:"order" doc:"What newer means; a rollout only moves forward. semver (default when tags has {semver}), date (default with {date}), or pushed."`
	// Pin is digest (default) or tag.
	Pin Pin `yaml:"pin" doc:"digest (default): image set to repo@sha256:...; tag: repo:tag."`
	// RequireCleanScan waits for a scan with nothing at or above the
	// repository's alert threshold before rolling out.
	RequireCleanScan bool `yaml:"requireCleanScan" doc:"Roll out only after a completed scan shows nothing at or above scan.alertAt (after ignores); onscan releases the rollout."`
	// Prerelease allows semver pre-releases (v1.2.0-rc.1) to roll out.
	Prerelease bool `yaml:"prerelease" doc:"Allow semver pre-releases such as v1.2.0-rc.1 to roll out. Default false."`
	// Verify says how the rollout is followed to its end and what a failed
	// one does; every rollout is verified, with the defaults when omitted.
	Verify Verify `yaml:"verify" doc:"How every rollout of this rule is verified and what a failed one does."`
}

// Defaults of Verify.
const (
	// DefaultVerifyTimeout is how long a rollout may take to become
	// available before it counts as failed.
	DefaultVerifyTimeout = Duration(10 * time.Minute)
)

// Verify is a deploy rule's rollout verification.
type Verify struct {
	// Timeout is how long the rollout may take to become available.
	Timeout Duration `yaml:"timeout" doc:"How long the rollout may take until every updated replica is available (a CronJob: until its next Job completes or runs ready); longer fails it, while an idle rollout (paused, OnDelete, a CronJob with no Job yet, scaled to zero) is abandoned, not failed. 10s to 24h; default 10m."`
	// OnFailure is rollback (default) or alert.
	OnFailure OnFailure `yaml:"onFailure" doc:"rollback (default): restore the previous image, hold the target, block the failed digest and alert; alert: alert only."`
	// NotifySuccess sends a Slack message when a rollout is verified.
	NotifySuccess bool `yaml:"notifySuccess" doc:"Send a Slack message when a rollout is verified. Default false (the audit event RolloutVerified is always emitted)."`
}

// Effective fills in the defaults.
func (v Verify) Effective() Verify {
	if v.Timeout == 0 {
		v.Timeout = DefaultVerifyTimeout
	}
	if v.OnFailure == "" {
		v.OnFailure = OnFailureRollback
	}
	return v
}

// WorkloadKind is the kind of the rule's workload: Kind, or Deployment.
func (d DeployRule) WorkloadKind() WorkloadKind {
	if d.Kind == "" {
		return KindDeployment
	}
	return d.Kind
}

// WorkloadName is the name of the rule's workload: Name, or Deployment.
func (d DeployRule) WorkloadName() string {
	if d.Name != "" {
		return d.Name
	}
	return d.Deployment
}

// EffectiveOrder resolves the rule's order: explicit, else semver when the
// tag pattern has {semver}, date when it has {date}, else pushed.
func (d DeployRule) EffectiveOrder() Order {
	return d.Tags.defaultOrder(d.Order)
}

// MinArchiveDays is the minimum storage duration ECR charges an archived
// image for: "Archived images have a minimum storage duration of 90 days"
// (ECR user guide, "Archiving an image").
const MinArchiveDays = 90
