package policy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults applied to fields the file leaves out.
const (
	DefaultSchedule         = "rate(1 day)"
	DefaultMaxDeletesPerRun = 100
)

func applyDefaults(f *File) {
	if f.Version == 0 {
		f.Version = 1
	}
	if f.GC.Schedule == "" {
		f.GC.Schedule = DefaultSchedule
	}
	for i := range f.Repositories {
		r := &f.Repositories[i]
		if r.Manage && r.Encryption == "" {
			r.Encryption = EncryptionAES256
		}
		if r.Tags != nil && r.Tags.OnViolation == "" {
			r.Tags.OnViolation = ActionAlert
		}
		if r.Scan.AlertAt == "" {
			r.Scan.AlertAt = SeverityHigh
		}
		for j := range r.Retention {
			if r.Retention[j].Order == "" {
				r.Retention[j].Order = OrderPushed
			}
		}
		for j := range r.Deploy {
			d := &r.Deploy[j]
			d.Order = d.EffectiveOrder()
			if d.Pin == "" {
				d.Pin = PinDigest
			}
			d.Verify = d.Verify.Effective()
		}
	}
}

var (
	// https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
	repositoryNameRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	// https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html
	// Lengths are checked apart (validClusterName and the others below): a
	// counted repetition such as {0,99} compiles to a program 99 times its
	// size, and these are compiled at every cold start.
	clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]*$`)
	dnsLabelRE    = regexp.MustCompile(`^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	iamARNRE      = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::[0-9]{12}:(?:role|user)/[A-Za-z0-9+=,.@_/-]+$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]$`)
	accountRE     = regexp.MustCompile(`^[0-9]{12}$`)
	scheduleRE    = regexp.MustCompile(`^(?:rate\((?:1 (?:minute|hour|day)|[1-9][0-9]* (?:minutes|hours|days))\)|cron\([^()]+\))$`)
	ecrFilterRE   = regexp.MustCompile(`^[A-Za-z0-9_.*/-]+$`)
	findingIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

	// A principal named without an account: role/name or user/path/name.
	iamNameRE = regexp.MustCompile(`^(?:role|user)/(?:[A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]+$`)
)

type validator struct {
	d *decoder
	f *File
}

func (v *validator) errorf(path, format string, args ...any) {
	for _, bad := range v.d.bad {
		if related(bad, path) {
			return // decoding already reported a problem here
		}
	}
	p := v.d.at(path)
	v.d.add(p.line, p.column, path, fmt.Sprintf(format, args...))
}

func (v *validator) set(path string) bool {
	_, ok := v.d.pos[path]
	return ok
}

func (v *validator) validate() {
	f := v.f
	if f.Version != 1 {
		v.errorf("version", "unsupported version %d: only 1 exists", f.Version)
	}
	for name, value := range f.Principals {
		if value != "" && !iamARNRE.MatchString(value) && !validIAMName(value) {
			v.errorf(join("principals", name), "%q is neither an IAM role or user ARN (arn:aws:iam::123456789012:role/name) nor a role or user of the stack's account (role/name)", value)
		}
	}
	v.clusters()
	v.registry()
	if !scheduleRE.MatchString(f.GC.Schedule) {
		v.errorf("gc.schedule", "%q is not an EventBridge Scheduler expression: want rate(1 day), rate(6 hours) or cron(...)", f.GC.Schedule)
	}
	if v.set("gc.maxDeletesPerRun") {
		if f.GC.MaxDeletesPerRun < 1 {
			v.errorf("gc.maxDeletesPerRun", "must be at least 1 (got %d); use dryRun: true to delete nothing", f.GC.MaxDeletesPerRun)
		}
	} else {
		f.GC.MaxDeletesPerRun = DefaultMaxDeletesPerRun
	}
	for _, pr := range []struct {
		key string
		v   *float64
	}{{"standardPerGBMonth", f.GC.Prices.StandardPerGBMonth}, {"archivePerGBMonth", f.GC.Prices.ArchivePerGBMonth}} {
		if pr.v != nil && *pr.v < 0 {
			v.errorf("gc.prices."+pr.key, "must not be negative (got %g)", *pr.v)
		}
	}
	if len(f.Repositories) == 0 && v.set("repositories") {
		v.errorf("repositories", "lists no repository")
	}
	names := map[string]int{}
	targets := map[string]string{}
	for i := range f.Repositories {
		path := fmt.Sprintf("repositories[%d]", i)
		r := &f.Repositories[i]
		if prev, dup := names[r.Name]; dup {
			v.errorf(path+".name", "duplicate repository %q (also repositories[%d])", r.Name, prev)
		} else {
			names[r.Name] = i
		}
		v.repository(path, r, targets)
	}
}

func (v *validator) clusters() {
	seen := map[string]bool{}
	for i, c := range v.f.Clusters {
		path := fmt.Sprintf("clusters[%d]", i)
		if !validClusterName(c.Name) {
			v.errorf(path+".name", "%q is not a valid EKS cluster name", c.Name)
		}
		if seen[c.Name] {
			v.errorf(path+".name", "duplicate cluster %q", c.Name)
		}
		seen[c.Name] = true
		if len(c.Namespaces) == 0 {
			v.errorf(path+".namespaces", "lists no namespace; ecrwarden's access is namespace-scoped")
		}
		ns := map[string]bool{}
		for j, n := range c.Namespaces {
			np := fmt.Sprintf("%s.namespaces[%d]", path, j)
			if !validDNSLabel(n) {
				v.errorf(np, "%q is not a valid namespace name", n)
			}
			if ns[n] {
				v.errorf(np, "duplicate namespace %q", n)
			}
			ns[n] = true
		}
	}
}

func (v *validator) registry() {
	reg := v.f.Registry
	if s := reg.Scanning; s != nil {
		for i, r := range s.Rules {
			path := fmt.Sprintf("registry.scanning.rules[%d]", i)
			if !ecrFilterRE.MatchString(r.Filter) {
				v.errorf(path+".filter", "%q is not an ECR wildcard repository filter", r.Filter)
			}
			if r.Frequency == ScanContinuous && s.Type != ScanEnhanced {
				v.errorf(path+".frequency", "CONTINUOUS_SCAN needs scanning type ENHANCED")
			}
		}
	}
	for i, r := range reg.Replication {
		path := fmt.Sprintf("registry.replication[%d]", i)
		if len(r.Destinations) == 0 {
			v.errorf(path+".destinations", "lists no destination")
		}
		for j, d := range r.Destinations {
			dp := fmt.Sprintf("%s.destinations[%d]", path, j)
			if !regionRE.MatchString(d.Region) {
				v.errorf(dp+".region", "%q is not an AWS region", d.Region)
			}
			if !accountRE.MatchString(d.RegistryID) {
				v.errorf(dp+".registryId", "%q is not a 12-digit account id", d.RegistryID)
			}
		}
	}
}

func (v *validator) repository(path string, r *Repository, targets map[string]string) {
	if len(r.Name) < 2 || len(r.Name) > 256 || !repositoryNameRE.MatchString(r.Name) {
		v.errorf(path+".name", "%q is not a valid ECR repository name (lowercase letters, digits, . _ - and / between parts; 2-256 characters)", r.Name)
	}
	if !r.Manage {
		for _, key := range []string{"encryption", "mutableTags", "access"} {
			if v.set(path + "." + key) {
				v.errorf(path+"."+key, "only applies to repositories the suite manages (set manage: true)")
			}
		}
	}
	for i, t := range r.MutableTags {
		if !ecrFilterRE.MatchString(t) || strings.Contains(t, "/") {
			v.errorf(fmt.Sprintf("%s.mutableTags[%d]", path, i), "%q is not an ECR tag filter (tag characters and *)", t)
		}
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"pull", r.Access.Pull}, {"push", r.Access.Push}} {
		for i, name := range list.names {
			if _, ok := v.f.Principals[name]; !ok {
				v.errorf(fmt.Sprintf("%s.access.%s[%d]", path, list.key, i), "unknown principal %q: declare it under principals", name)
			}
		}
	}
	if r.Tags != nil && len(r.Tags.Allow) == 0 {
		v.errorf(path+".tags.allow", "lists no pattern, so every push would be a violation")
	}
	if r.Tags != nil && r.Tags.OnViolation != ActionDelete && v.set(path+".tags.dryRun") {
		v.errorf(path+".tags.dryRun", "only applies to onViolation: delete")
	}
	ids := map[string]bool{}
	for i, ig := range r.Scan.Ignore {
		ip := fmt.Sprintf("%s.scan.ignore[%d]", path, i)
		if !findingIDRE.MatchString(ig.ID) {
			v.errorf(ip+".id", "%q is not a finding id such as CVE-2024-0001", ig.ID)
		}
		if ids[ig.ID] {
			v.errorf(ip+".id", "duplicate ignore entry for %s", ig.ID)
		}
		ids[ig.ID] = true
		if strings.TrimSpace(ig.Reason) == "" {
			v.errorf(ip+".reason", "must say why the finding is accepted")
		}
	}
	for i := range r.Retention {
		v.retention(fmt.Sprintf("%s.retention[%d]", path, i), &r.Retention[i])
	}
	for i := range r.Deploy {
		v.deploy(fmt.Sprintf("%s.deploy[%d]", path, i), r, &r.Deploy[i], targets)
	}
	if r.Manage {
		v.immutable(path, r)
	}
}

// immutable reports the fixed tags (patterns without a placeholder or *,
// such as latest) that a managed repository allows, protects or tracks
// while its tag immutability does not exclude them: the CDK app creates it
// IMMUTABLE except for mutableTags, so such a tag can be pushed once and
// never moved again, and the second push of latest fails.
func (v *validator) immutable(path string, r *Repository) {
	check := func(at, verb string, p Pattern) {
		if !p.literal || mutable(r.MutableTags, p.src) {
			return
		}
		v.errorf(at, "%s the fixed tag %q, but %s is created IMMUTABLE (manage: true) and mutableTags does not exclude %q: the tag can be pushed once and never moved; add it to mutableTags", verb, p.src, r.Name, p.src)
	}
	if r.Tags != nil {
		for i, p := range r.Tags.Allow {
			check(fmt.Sprintf("%s.tags.allow[%d]", path, i), "allows", p)
		}
	}
	for i, p := range r.Protect.Tags {
		check(fmt.Sprintf("%s.protect.tags[%d]", path, i), "protects", p)
	}
	for i, d := range r.Deploy {
		check(fmt.Sprintf("%s.deploy[%d].tags", path, i), "tracks", d.Tags)
	}
}

// mutable reports whether one of ECR's image tag mutability exclusion
// filters (tag characters and * wildcards) matches tag.
func mutable(filters []string, tag string) bool {
	for _, f := range filters {
		if ok, err := path.Match(f, tag); err == nil && ok {
			return true
		}
	}
	return false
}

func (v *validator) retention(path string, rr *RetentionRule) {
	switch {
	case v.set(path+".match") && len(rr.Match) == 0:
		v.errorf(path+".match", "lists no pattern, so the rule selects nothing")
	case len(rr.Match) > 0 && rr.Untagged:
		v.errorf(path, "a rule selects either tagged images (match) or untagged ones (untagged: true), not both")
	case len(rr.Match) == 0 && !rr.Untagged && !v.set(path+".match"):
		v.errorf(path, "selects nothing: set match (tag patterns) or untagged: true")
	}
	if rr.KeepNewest == nil && !v.set(path+".maxAge") && !v.set(path+".notPulledFor") && !v.set(path+".archivedFor") {
		v.errorf(path, "has no effect: set keepNewest, maxAge, notPulledFor or archivedFor")
	}
	if rr.KeepNewest != nil && *rr.KeepNewest < 0 {
		v.errorf(path+".keepNewest", "must not be negative (got %d)", *rr.KeepNewest)
	}
	for _, key := range []string{"maxAge", "notPulledFor", "archivedFor"} {
		if v.set(path+"."+key) && v.durationAt(rr, key) <= 0 {
			v.errorf(path+"."+key, "must be longer than 0")
		}
	}
	if v.set(path+".notPulledFor") && rr.NotPulledFor > 0 && rr.NotPulledFor < Duration(48*time.Hour) {
		v.errorf(path+".notPulledFor", "must be at least 2d: ECR may record a pull up to a day late (got %s)", rr.NotPulledFor)
	}
	if rr.ArchivedFor > 0 {
		for _, key := range []string{"keepNewest", "maxAge", "notPulledFor"} {
			if v.set(path + "." + key) {
				v.errorf(path+"."+key, "archivedFor selects archived images, %s active ones: write two rules", key)
			}
		}
		if rr.Action == DisposalArchive {
			v.errorf(path+".action", "archived images can only be deleted")
		}
		if rr.ArchivedFor < Duration(MinArchiveDays*24*time.Hour) && !rr.AcceptArchiveMinimumCharge {
			v.errorf(path+".archivedFor", "%s is below the %d-day minimum storage duration of archived images, which ECR charges even when they are deleted sooner; set acceptArchiveMinimumCharge: true to accept that", rr.ArchivedFor, MinArchiveDays)
		}
	}
	if rr.AcceptArchiveMinimumCharge && rr.ArchivedFor == 0 {
		v.errorf(path+".acceptArchiveMinimumCharge", "only applies with archivedFor")
	}
	if rr.Untagged && rr.Order != OrderPushed {
		v.errorf(path+".order", "untagged images carry no tag to rank by %s; only pushed applies", rr.Order)
	}
	if len(rr.Match) > 0 {
		switch rr.Order {
		case OrderSemver:
			if !anyPattern(rr.Match, Pattern.HasSemver) {
				v.errorf(path+".order", "semver order needs a {semver} placeholder in match")
			}
		case OrderDate:
			if !anyPattern(rr.Match, Pattern.HasDate) {
				v.errorf(path+".order", "date order needs a {date} placeholder in match")
			}
		}
	}
}

// durationAt returns the named duration field of a retention rule.
func (v *validator) durationAt(rr *RetentionRule, key string) Duration {
	switch key {
	case "maxAge":
		return rr.MaxAge
	case "notPulledFor":
		return rr.NotPulledFor
	default:
		return rr.ArchivedFor
	}
}

func anyPattern(ps []Pattern, has func(Pattern) bool) bool {
	for _, p := range ps {
		if has(p) {
			return true
		}
	}
	return false
}

func (v *validator) deploy(path string, r *Repository, d *DeployRule, targets map[string]string) {
	c, ok := v.f.Cluster(d.Cluster)
	switch {
	case !ok:
		v.errorf(path+".cluster", "unknown cluster %q: declare it under clusters", d.Cluster)
	case !slices.Contains(c.Namespaces, d.Namespace):
		v.errorf(path+".namespace", "namespace %q is not one of cluster %s's namespaces (%s)", d.Namespace, c.Name, strings.Join(c.Namespaces, ", "))
	}
	switch {
	case d.Deployment != "" && d.Name != "":
		v.errorf(path+".name", "give either deployment or kind and name, not both")
	case d.Deployment == "" && d.Name == "":
		v.errorf(path, "name the workload: deployment: NAME, or kind: KIND and name: NAME")
	case d.Deployment != "" && d.Kind != "" && d.Kind != KindDeployment:
		v.errorf(path+".kind", "kind %s with deployment: name the %s with name: instead", d.Kind, d.Kind)
	case d.Deployment != "":
		if !dnsSubdomRE.MatchString(d.Deployment) || len(d.Deployment) > 253 {
			v.errorf(path+".deployment", "%q is not a valid Deployment name", d.Deployment)
		}
	default:
		if !dnsSubdomRE.MatchString(d.Name) || len(d.Name) > 253 {
			v.errorf(path+".name", "%q is not a valid %s name", d.Name, d.WorkloadKind())
		}
	}
	if !validDNSLabel(d.Container) {
		v.errorf(path+".container", "%q is not a valid container name", d.Container)
	}
	if t := d.Verify.Timeout.Std(); t != 0 && (t < 10*time.Second || t > 24*time.Hour) {
		v.errorf(path+".verify.timeout", "%s: want between 10s and 24h", d.Verify.Timeout)
	}
	if d.Tags.IsZero() {
		return
	}
	switch d.Order {
	case OrderSemver:
		if !d.Tags.HasSemver() {
			v.errorf(path+".order", "semver order needs a {semver} placeholder in tags %q", d.Tags)
		}
	case OrderDate:
		if !d.Tags.HasDate() {
			v.errorf(path+".order", "date order needs a {date} placeholder in tags %q", d.Tags)
		}
	}
	if d.Prerelease && !d.Tags.HasSemver() {
		v.errorf(path+".prerelease", "only applies to {semver} tags")
	}
	if d.Pin == PinTag {
		if err := r.TagPinSafe(d.Tags); err != nil {
			v.errorf(path+".pin", "%v", err)
		}
	}
	if r.Tags != nil {
		if _, ok := r.Tags.Allowed(d.Tags.Example()); !ok {
			v.errorf(path+".tags", "can never fire: tags like %q are rejected by tags.allow", d.Tags.Example())
		}
	}
	key := d.Cluster + "/" + d.Namespace + "/" + string(d.WorkloadKind()) + "/" + d.WorkloadName() + "/" + d.Container
	if prev, dup := targets[key]; dup {
		v.errorf(path, "container %s of %s %s/%s in cluster %s is already rolled out by %s", d.Container, d.WorkloadKind(), d.Namespace, d.WorkloadName(), d.Cluster, prev)
	} else {
		targets[key] = path
	}
}

// related reports whether one path is the other or one of its ancestors.
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == "" || a == b || strings.HasPrefix(b, a) && (b[len(a)] == '.' || b[len(a)] == '[')
}

// validClusterName: an EKS cluster name, 1 to 100 characters.
func validClusterName(s string) bool { return len(s) <= 100 && clusterNameRE.MatchString(s) }

// validDNSLabel: an RFC 1123 label, at most 63 characters.
func validDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

// validIAMName: role/… or user/… with an optional path and a name of at most
// 64 characters.
func validIAMName(s string) bool {
	return iamNameRE.MatchString(s) && len(s)-strings.LastIndexByte(s, '/')-1 <= 64
}
