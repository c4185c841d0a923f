package rollout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Opt-in annotations besides kube.AnnotationTrack.
const (
	AnnotationContainer        = "ecrwarden.io/container"
	AnnotationPin              = "ecrwarden.io/pin"
	AnnotationPrerelease       = "ecrwarden.io/prerelease"
	AnnotationRequireCleanScan = "ecrwarden.io/require-clean-scan"
	// AnnotationVerifyTimeout, AnnotationVerifyOnFailure and
	// AnnotationVerifyNotifySuccess are an opt-in's verify rule (the
	// policy's verify.timeout, verify.onFailure, verify.notifySuccess).
	AnnotationVerifyTimeout       = "ecrwarden.io/verify-timeout"
	AnnotationVerifyOnFailure     = "ecrwarden.io/verify-on-failure"
	AnnotationVerifyNotifySuccess = "ecrwarden.io/verify-notify-success"
)

// Target is one container of one workload that follows one repository.
type Target struct {
	Cluster string
	// Kind is the workload's kind; empty means a Deployment.
	Kind      kube.Kind
	Namespace string
	// Deployment is the workload's name, of any Kind (the field keeps the
	// name it had when ecrwarden rolled Deployments only).
	Deployment string
	// Container is empty for an annotation opt-in without
	// ecrwarden.io/container: the container whose image is from the
	// repository is chosen when the workload is read.
	Container        string
	Repository       string
	Tags             policy.Pattern
	Order            policy.Order
	Pin              policy.Pin
	Prerelease       bool
	RequireCleanScan bool
	// Verify is how rollouts of the target are verified.
	Verify policy.Verify
	// Source says where the target comes from, for logs and audit events.
	Source string
}

// Ref names the target's workload.
func (t Target) Ref() kube.WorkloadRef {
	kind := t.Kind
	if kind == "" {
		kind = kube.KindDeployment
	}
	return kube.WorkloadRef{Kind: kind, Namespace: t.Namespace, Name: t.Deployment}
}

// String names the target for logs: cluster/namespace/name[container] for
// a Deployment, cluster/namespace/kind/name[container] for other kinds.
func (t Target) String() string {
	name := t.Deployment
	if k := t.Ref().Kind; k != kube.KindDeployment {
		name = strings.ToLower(string(k)) + "/" + name
	}
	return fmt.Sprintf("%s/%s/%s[%s]", t.Cluster, t.Namespace, name, t.Container)
}

// PolicyTargets returns the deploy rules of the named repository.
func PolicyTargets(f *policy.File, repository string) []Target {
	var out []Target
	for i, r := range f.Repositories {
		if r.Name != repository {
			continue
		}
		for j, d := range r.Deploy {
			out = append(out, Target{
				Cluster: d.Cluster, Kind: kube.Kind(d.WorkloadKind()), Namespace: d.Namespace, Deployment: d.WorkloadName(), Container: d.Container,
				Repository: r.Name, Tags: d.Tags, Order: d.Order, Pin: d.Pin,
				Prerelease: d.Prerelease, RequireCleanScan: d.RequireCleanScan, Verify: d.Verify.Effective(),
				Source: fmt.Sprintf("repositories[%d].deploy[%d]", i, j),
			})
		}
	}
	return out
}

// AnnotationTarget reads the opt-in annotations of a workload of any kind.
// ok is false when the workload does not carry ecrwarden.io/track; an
// error says what is wrong with annotations that are there.
func AnnotationTarget(cluster string, w *kube.Workload) (Target, bool, error) {
	ann := w.Annotations()
	track, ok := ann[kube.AnnotationTrack]
	if !ok {
		return Target{}, false, nil
	}
	ref := w.Ref()
	who := workloadName(ref)
	where := fmt.Sprintf("%s annotation %s", who, kube.AnnotationTrack)
	repo, pattern, found := strings.Cut(track, ":")
	if !found || repo == "" || pattern == "" {
		return Target{}, true, fmt.Errorf("%s: %q: want <repository>:<tag pattern>, such as mlops/retail-api:v{semver}", where, track)
	}
	p, err := policy.CompilePattern(pattern)
	if err != nil {
		return Target{}, true, fmt.Errorf("%s: %w", where, err)
	}
	t := Target{
		Cluster: cluster, Kind: ref.Kind, Namespace: ref.Namespace, Deployment: ref.Name,
		Container: ann[AnnotationContainer], Repository: repo, Tags: p, Pin: policy.PinDigest,
		Source: "annotation " + kube.AnnotationTrack,
	}
	t.Order = policy.DeployRule{Tags: p}.EffectiveOrder()
	if t.Container == "" {
		if t.Container, err = containerFor(w.PodSpec(), repo); err != nil {
			return Target{}, true, fmt.Errorf("%s: %w", where, err)
		}
	}
	switch pin := ann[AnnotationPin]; pin {
	case "", "digest":
	case "tag":
		t.Pin = policy.PinTag
	default:
		return Target{}, true, fmt.Errorf("%s annotation %s: %q: want digest or tag", who, AnnotationPin, pin)
	}
	if v, ok := ann[AnnotationVerifyTimeout]; ok {
		d, err := policy.ParseDuration(v)
		if err != nil || d.Std() < 10*time.Second || d.Std() > 24*time.Hour {
			return Target{}, true, fmt.Errorf("deployment %s/%s annotation %s: %q: want a duration between 10s and 24h, such as 10m", t.Namespace, t.Deployment, AnnotationVerifyTimeout, v)
		}
		t.Verify.Timeout = d
	}
	switch v := ann[AnnotationVerifyOnFailure]; v {
	case "":
	case string(policy.OnFailureRollback), string(policy.OnFailureAlert):
		t.Verify.OnFailure = policy.OnFailure(v)
	default:
		return Target{}, true, fmt.Errorf("deployment %s/%s annotation %s: %q: want rollback or alert", t.Namespace, t.Deployment, AnnotationVerifyOnFailure, v)
	}
	t.Verify = t.Verify.Effective()
	for key, dst := range map[string]*bool{AnnotationPrerelease: &t.Prerelease, AnnotationRequireCleanScan: &t.RequireCleanScan, AnnotationVerifyNotifySuccess: &t.Verify.NotifySuccess} {
		if v, ok := ann[key]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Target{}, true, fmt.Errorf("%s annotation %s: %q: want true or false", who, key, v)
			}
			*dst = b
		}
	}
	return t, true, nil
}

// workloadName names a workload in messages: "deployment default/api",
// "cronjob mlops/train-model".
func workloadName(r kube.WorkloadRef) string {
	return fmt.Sprintf("%s %s/%s", strings.ToLower(string(r.Kind)), r.Namespace, r.Name)
}

// Selects reports whether the target rolls out this tag, and its match.
func (t Target) Selects(tag string) (policy.Match, bool) {
	m, ok := t.Tags.Match(tag)
	if !ok || (m.Prerelease() && !t.Prerelease) {
		return policy.Match{}, false
	}
	return m, true
}

// containerFor picks the one container of spec whose image is from repo.
func containerFor(spec kube.PodSpec, repo string) (string, error) {
	var names []string
	for _, list := range [][]kube.Container{spec.Containers, spec.InitContainers} {
		for _, c := range list {
			if ref, err := kube.ParseImageRef(c.Image); err == nil && ref.Repository == repo {
				names = append(names, c.Name)
			}
		}
	}
	switch len(names) {
	case 1:
		return names[0], nil
	case 0:
		return "", fmt.Errorf("no container runs an image of %s; name one with %s", repo, AnnotationContainer)
	default:
		return "", fmt.Errorf("containers %s all run images of %s; name one with %s", strings.Join(names, ", "), repo, AnnotationContainer)
	}
}

// Discover returns the targets of repository: the policy's deploy rules and
// the workloads of every kind that opt in by annotation in the namespaces
// each cluster of the policy lists. A cluster that cannot be listed is an
// error; a workload with broken annotations, or asking for a tag pin the policy's
// repository cannot keep (policy.Repository.TagPinSafe), is reported in bad
// and skipped.
func Discover(ctx context.Context, clients Clients, f *policy.File, repository string) (targets []Target, bad []error, err error) {
	targets = PolicyTargets(f, repository)
	for _, c := range f.Clusters {
		client, err := clients.Client(ctx, c.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("discover annotated workloads in %s: %w", c.Name, err)
		}
		tracked, err := client.ListTrackedWorkloads(ctx, c.Namespaces)
		if err != nil {
			return nil, nil, fmt.Errorf("discover annotated workloads in %s: %w", c.Name, err)
		}
		for _, w := range tracked {
			t, ok, err := AnnotationTarget(c.Name, w)
			if err == nil && ok && t.Repository == repository && t.Pin == policy.PinTag {
				err = tagPinSafe(f, t)
			}
			switch {
			case err != nil:
				bad = append(bad, err)
			case ok && t.Repository == repository && !covered(targets, t):
				targets = append(targets, t)
			}
		}
	}
	return targets, bad, nil
}

// tagPinSafe applies the policy's tag-pin rule (policy.Repository.TagPinSafe)
// to an annotation opt-in with ecrwarden.io/pin: tag.
func tagPinSafe(f *policy.File, t Target) error {
	repo, ok := f.Repository(t.Repository)
	if !ok {
		return fmt.Errorf("%s annotation %s: tag: %s is not in the policy", workloadName(t.Ref()), AnnotationPin, t.Repository)
	}
	if err := repo.TagPinSafe(t.Tags); err != nil {
		return fmt.Errorf("%s annotation %s: %w", workloadName(t.Ref()), AnnotationPin, err)
	}
	return nil
}

// covered reports whether a policy rule already targets t's container: the
// policy wins over an annotation on the same container.
func covered(targets []Target, t Target) bool {
	for _, o := range targets {
		if o.Cluster == t.Cluster && o.Ref() == t.Ref() && o.Container == t.Container {
			return true
		}
	}
	return false
}

// BestTag returns the tag among tags (of one image, pushed at pushed) that
// t rolls out and that ranks newest in t's order; ties keep the first in
// sorted order, so the choice does not depend on the order ECR lists tags.
func (t Target) BestTag(tags []string, pushed time.Time) (string, bool) {
	m, ok := t.best(tags, pushed, t.Selects)
	return m.Tag, ok
}

// best ranks the tags that match accepts by t's order.
func (t Target) best(tags []string, pushed time.Time, match func(string) (policy.Match, bool)) (policy.Match, bool) {
	order := t.Order
	if order == "" {
		order = policy.DeployRule{Tags: t.Tags}.EffectiveOrder()
	}
	var best policy.Match
	found := false
	for _, tag := range slices.Sorted(slices.Values(tags)) {
		m, ok := match(tag)
		if !ok {
			continue
		}
		if !found || order.Compare(m, pushed, best, pushed) > 0 {
			best, found = m, true
		}
	}
	return best, found
}
