package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/retention"
)

// DescribeRepositoriesAPI is the subset of the ECR client that finds a
// repository's URI.
type DescribeRepositoriesAPI interface {
	DescribeRepositories(ctx context.Context, params *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
}

// ECR is the subset of the ECR client gc uses: each embedded interface is
// one SDK v2 method with its exact signature.
type ECR interface {
	DescribeRepositoriesAPI
	ecr.DescribeImagesAPIClient
	registry.BatchGetImageAPI
	registry.BatchDeleteImageAPI
}

// Runner plans and executes gc runs.
type Runner struct {
	// ECR is the ECR client.
	ECR ECR
	// Sources are the places images run (inuse.Sources builds them from
	// the policy); every one is listed, and one failure deletes nothing.
	Sources []inuse.Source
	// Log receives one line per decision and per step; nil discards.
	Log *slog.Logger
	// Progress, if set, is called after each DescribeImages page with the
	// running image count of the repository.
	Progress func(repository string, images int)
}

// Options configure one run.
type Options struct {
	// DryRun plans and reports without deleting.
	DryRun bool
	// Cap is the most images the run may delete; a plan over it deletes
	// nothing. 0 or less means no cap (planning only).
	Cap int
	// Now is the time the planner judges ages against.
	Now time.Time
}

// Outcome is what a run did, or planned, in one repository.
type Outcome struct {
	// Repository is the repository name.
	Repository string
	// Registry is the registry host workloads pull from
	// (<account>.dkr.ecr.<region>.amazonaws.com), from the repository URI.
	Registry string
	// Account and Region locate the repository; empty when it could not be read.
	Account, Region string
	// Plan is the planner's result; nil when a listing failed.
	Plan *retention.Result
	// Deleted reports the deletion; its Calls is 0 when nothing was deleted.
	Deleted registry.Report
	// Err is why nothing (or not everything) was deleted: a listing that
	// failed, or a BatchDeleteImage call that failed after retries.
	Err error
}

// ReclaimedBytes sums the sizes of the images deleted (or, before deletion,
// planned to be).
func (o *Outcome) ReclaimedBytes() int64 {
	if o.Plan == nil {
		return 0
	}
	if o.Deleted.Calls == 0 {
		return o.Plan.ReclaimBytes
	}
	deleted := make(map[string]bool, len(o.Deleted.Deleted))
	for _, d := range o.Deleted.Deleted {
		deleted[d] = true
	}
	var n int64
	for _, d := range o.Plan.Decisions {
		if deleted[d.Digest] {
			n += d.Size
		}
	}
	return n
}

// Result is the outcome of one run.
type Result struct {
	// Outcomes has one entry per repository, in the order given.
	Outcomes []Outcome
	// DryRun and Cap are the run's options.
	DryRun bool
	Cap    int
	// Planned counts the images the plans would delete, over repositories
	// that were planned.
	Planned int
	// CapRefused is true when Planned exceeded Cap, so nothing was deleted.
	CapRefused bool
	// ClusterErr is the in-use listing failure (of a cluster or any other
	// source, named in the error) that stopped every deletion.
	ClusterErr error
}

// Err joins the errors of every repository.
func (r *Result) Err() error {
	var errs []error
	for _, o := range r.Outcomes {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Repository, o.Err))
		}
	}
	return errors.Join(errs...)
}

// ErrUnknownRepository is returned for a repository the policy does not name.
var ErrUnknownRepository = errors.New("repository not in the policy")

// Plan lists and plans the named repositories (every repository of the
// policy when names is empty) without deleting anything.
func (r *Runner) Plan(ctx context.Context, f *policy.File, names []string, now time.Time) *Result {
	if len(names) == 0 {
		names = f.RepositoryNames()
	}
	res := &Result{Outcomes: make([]Outcome, len(names))}
	images := make([][]retention.Image, len(names))
	listed := 0
	for i, name := range names {
		o := &res.Outcomes[i]
		o.Repository = name
		if _, ok := f.Repository(name); !ok {
			o.Err = ErrUnknownRepository
			continue
		}
		imgs, err := r.list(ctx, o)
		if err != nil {
			o.Err = err
			r.logger().Error("gc listing failed: nothing is deleted in this repository", "repository", name, "error", err)
			continue
		}
		images[i] = imgs
		listed++
	}
	if listed == 0 {
		return res
	}
	uses, err := inuse.List(ctx, r.Sources)
	if err != nil {
		err = fmt.Errorf("list images in use: %w", err)
		res.ClusterErr = err
		r.logger().Error("gc in-use listing failed: nothing is deleted", "error", err)
		for i := range res.Outcomes {
			if res.Outcomes[i].Err == nil {
				res.Outcomes[i].Err = err
			}
		}
		return res
	}
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		if o.Err != nil {
			continue
		}
		repo, _ := f.Repository(o.Repository)
		o.Plan = retention.Plan(repo, images[i], uses.ForRepository(o.Registry, o.Repository), now)
		images[i] = nil
		res.Planned += o.Plan.Deletes
	}
	return res
}

// Run plans the named repositories (every repository of the policy when
// names is empty), logs every decision, and deletes what the plans expire
// unless opts.DryRun is set, any cluster listing failed, or the plans
// together exceed opts.Cap. A repository whose listing failed is skipped.
func (r *Runner) Run(ctx context.Context, f *policy.File, names []string, opts Options) *Result {
	res := r.Plan(ctx, f, names, opts.Now)
	res.DryRun, res.Cap = opts.DryRun, opts.Cap
	res.CapRefused = opts.Cap > 0 && res.Planned > opts.Cap
	for i := range res.Outcomes {
		r.logPlan(&res.Outcomes[i], opts.DryRun)
	}
	log := r.logger()
	switch {
	case res.ClusterErr != nil:
		return res
	case res.CapRefused:
		log.Error("gc plan exceeds the per-run cap: nothing is deleted", "planned", res.Planned, "cap", opts.Cap)
		return res
	case opts.DryRun:
		log.Info("gc dry run: nothing is deleted", "planned", res.Planned)
		return res
	}
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		if o.Err != nil || o.Plan == nil || o.Plan.Deletes == 0 {
			continue
		}
		rep, err := registry.Delete(ctx, r.ECR, "", o.Repository, o.Plan.DeleteIDs())
		o.Deleted = rep
		if err != nil {
			o.Err = err
		}
		for _, fl := range rep.Failed {
			log.Warn("gc delete refused", "repository", o.Repository, "digest", fl.Digest, "code", string(fl.Code), "reason", fl.Reason)
		}
		log.Info("gc deleted", "repository", o.Repository, "deleted", len(rep.Deleted), "gone", len(rep.Gone),
			"failed", len(rep.Failed), "calls", rep.Calls, "bytes", o.ReclaimedBytes(), "error", errString(err))
	}
	return res
}

// list reads the repository and all its images, with index children.
func (r *Runner) list(ctx context.Context, o *Outcome) ([]retention.Image, error) {
	out, err := r.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{o.Repository}})
	if err != nil {
		return nil, fmt.Errorf("describe repository %s: %w", o.Repository, err)
	}
	if len(out.Repositories) != 1 {
		return nil, fmt.Errorf("describe repository %s: %d repositories returned", o.Repository, len(out.Repositories))
	}
	repo := out.Repositories[0]
	o.Account = aws.ToString(repo.RegistryId)
	o.Registry, o.Region = registryHost(aws.ToString(repo.RepositoryUri))
	if o.Registry == "" {
		return nil, fmt.Errorf("describe repository %s: no registry host in URI %q", o.Repository, aws.ToString(repo.RepositoryUri))
	}
	var progress func(int)
	if r.Progress != nil {
		progress = func(n int) { r.Progress(o.Repository, n) }
	}
	details, err := registry.List(ctx, r.ECR, "", o.Repository, progress)
	if err != nil {
		return nil, err
	}
	var indexes []string
	for _, d := range details {
		if registry.IsIndex(aws.ToString(d.ImageManifestMediaType)) {
			indexes = append(indexes, aws.ToString(d.ImageDigest))
		}
	}
	var children map[string][]string
	if len(indexes) > 0 {
		if children, err = registry.IndexChildren(ctx, r.ECR, "", o.Repository, indexes); err != nil {
			return nil, err
		}
	}
	return toImages(details, children), nil
}

func toImages(details []types.ImageDetail, children map[string][]string) []retention.Image {
	imgs := make([]retention.Image, len(details))
	for i, d := range details {
		digest := aws.ToString(d.ImageDigest)
		imgs[i] = retention.Image{
			Digest:    digest,
			Tags:      d.ImageTags,
			PushedAt:  aws.ToTime(d.ImagePushedAt),
			Size:      aws.ToInt64(d.ImageSizeInBytes),
			MediaType: aws.ToString(d.ImageManifestMediaType),
			Manifests: children[digest],
			Subject:   aws.ToString(d.SubjectManifestDigest),
		}
	}
	return imgs
}

// logPlan writes one structured line per decision: the same lines in a dry
// run and a real one.
func (r *Runner) logPlan(o *Outcome, dryRun bool) {
	if o.Plan == nil || r.Log == nil {
		return
	}
	for _, d := range o.Plan.Decisions {
		action := "keep"
		if d.Delete {
			action = "delete"
		}
		r.Log.Info("gc decision", "repository", o.Repository, "digest", d.Digest, "tags", d.Tags,
			"action", action, "reason", d.Reason, "dryRun", dryRun)
	}
	r.Log.Info("gc plan", "repository", o.Repository, "keep", o.Plan.Keeps, "delete", o.Plan.Deletes,
		"bytes", o.Plan.ReclaimBytes, "dryRun", dryRun)
}

func (r *Runner) logger() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// registryHost returns the host of a repository URI
// ("123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/api") and the
// region it names, if it has the ECR form.
func registryHost(uri string) (host, region string) {
	host, _, _ = strings.Cut(uri, "/")
	if _, rest, ok := strings.Cut(host, ".dkr.ecr."); ok {
		region, _, _ = strings.Cut(rest, ".")
	}
	return host, region
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
