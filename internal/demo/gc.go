package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// InUseTag is the old experiment image the nightly training CronJob still
// runs: older than the 30 days exp- images may live, and kept because it
// is in use.
const InUseTag = "exp-baseline"

// Images kept only because an AWS service outside the cluster runs them:
// the oldest training release, which the retail-forecast SageMaker endpoint
// still serves (beyond keepNewest 5), and the oldest API release, which an
// ECS service still runs (beyond keepNewest 10).
const (
	ServedTag    = "v1.0.0"
	EndpointName = "retail-forecast"
	ECSTag       = "v0.1.0"
	ECSCluster   = "retail"
	ECSService   = "batch-scorer"
)

// seedHistory adds months of pushes to both repositories.
func (d *director) seedHistory(now time.Time) (int, error) {
	day := 24 * time.Hour
	type seed struct {
		repo   string
		tags   []string
		age    time.Duration
		kids   int
		pulled time.Duration // ago; 0: never pulled
	}
	var seeds []seed
	for i := range 14 {
		s := seed{repo: apiRepo, tags: []string{fmt.Sprintf("v0.%d.0", i+1)}, age: time.Duration(130-6*i) * day}
		switch i {
		case 8:
			s.kids = 2 // a multi-arch release: the index and its two platform images live and die together
		case 10:
			s.pulled = 3 * day // a team still pulls v0.11.0: it stays in standard storage
		}
		seeds = append(seeds, s)
	}
	for i := range 8 {
		seeds = append(seeds, seed{repo: apiRepo, tags: []string{fmt.Sprintf("dev-%07x", 0xa11ce00+i)}, age: time.Duration(15-i) * day})
	}
	seeds = append(seeds,
		seed{repo: apiRepo, tags: []string{"feature-search-0badc0d"}, age: 9 * day},
		seed{repo: apiRepo, tags: []string{"feature-x-1234abc"}, age: 4 * day},
		seed{repo: apiRepo, tags: []string{"main-5eed5ee"}, age: 2 * day},
		seed{repo: apiRepo, age: 3 * day},
		seed{repo: apiRepo, age: 2 * day},
		seed{repo: apiRepo, age: 2 * time.Hour},
		seed{repo: apiRepo, age: 20 * day},
	)
	for i, age := range []int{45, 41, 38, 33, 25, 12, 5, 1} {
		tag := fmt.Sprintf("exp-lr-0.%02d", i+1)
		if i == 0 {
			tag = InUseTag
		}
		seeds = append(seeds, seed{repo: trainRepo, tags: []string{tag}, age: time.Duration(age) * day})
	}
	for i := range 4 {
		seeds = append(seeds, seed{repo: trainRepo, tags: []string{fmt.Sprintf("v1.%d.0", i)}, age: time.Duration(90-20*i) * day})
	}
	seeds = append(seeds, seed{repo: trainRepo, age: 6 * day}, seed{repo: trainRepo, age: 3 * time.Hour})
	n := 0
	for i, s := range seeds {
		img := ecr.Image{Tags: s.tags, PushedAt: now.Add(-s.age), Size: int64(180+i*7) << 20, Manifest: d.manifest()}
		if s.pulled > 0 {
			img.LastPulled = now.Add(-s.pulled)
		}
		if s.kids > 0 {
			img.Manifest = "" // the emulator writes the OCI index over the children
		}
		for k := range s.kids {
			img.Children = append(img.Children, ecr.Image{Platform: []string{"linux/amd64", "linux/arm64"}[k], Size: int64(170+k) << 20,
				Manifest: d.manifest(), PushedAt: img.PushedAt})
		}
		if _, err := d.sb.Suite.ECR.SeedImage(s.repo, img); err != nil {
			return n, fmt.Errorf("seed %s %v: %w", s.repo, s.tags, err)
		}
		n += 1 + s.kids
	}
	// The native backstop the CDK app puts on managed repositories.
	if err := d.sb.Suite.ECR.SetLifecyclePolicy(apiRepo, `{"rules":[{"rulePriority":1,"description":"ecrwarden backstop: expire untagged images after 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`); err != nil {
		return n, err
	}
	return n, nil
}

// gc seeds a history, shows the plan, then runs the gc function for real.
func (d *director) gc(ctx context.Context) (Step, error) {
	d.say("\n-- gc: months of pushes are seeded; a nightly training CronJob still runs %s:%s;", trainRepo, InUseTag)
	d.say("   releases beyond the 3 newest that nobody pulled for 60 days go to the archive storage class")
	now := time.Now().UTC()
	n, err := d.seedHistory(now)
	if err != nil {
		return Step{}, err
	}
	if err := d.createCronJob(ctx, d.sb.Registry+"/"+trainRepo+":"+InUseTag); err != nil {
		return Step{}, err
	}
	d.say("   the %s SageMaker endpoint still serves %s:%s; ECS service %s/%s still runs %s:%s",
		EndpointName, trainRepo, ServedTag, ECSCluster, ECSService, apiRepo, ECSTag)
	if err := d.sb.ServeSageMakerModel(ctx, EndpointName, EndpointName+"-v1", d.sb.Registry+"/"+trainRepo+":"+ServedTag); err != nil {
		return Step{}, err
	}
	if _, err := d.sb.RunECSService(ctx, ECSCluster, ECSService, ECSService, d.sb.Registry+"/"+apiRepo+":"+ECSTag); err != nil {
		return Step{}, err
	}
	d.say("   %d images seeded; the plan, computed exactly as `ecrwarden gc plan` computes it:\n", n)
	cfg := d.sb.AWS.Copy()
	runner := &gc.Runner{
		ECR: awsecr.NewFromConfig(cfg, func(o *awsecr.Options) { o.BaseEndpoint = aws.String(d.sb.Endpoint("ECR")) }),
	}
	clusters := kube.NewEKSResolver(cfg, func(o *eks.Options) { o.BaseEndpoint = aws.String(d.sb.Endpoint("EKS")) })
	cfg.BaseEndpoint = aws.String(d.sb.InUseEndpoint())
	runner.Sources = inuse.Sources(d.sb.Policy, inuse.NewClients(cfg, clusters))
	plan := runner.Plan(ctx, d.sb.Policy, nil, now)
	if err := plan.Err(); err != nil {
		return Step{}, fmt.Errorf("gc plan: %w", err)
	}
	if err := gc.WriteTable(d.w, plan, gc.PricesFor(d.sb.Policy)); err != nil {
		return Step{}, err
	}
	d.say("\n   the scheduled gc function runs (not a dry run), fanning out one message per repository, as deployed:")
	before, archivedBefore := d.registryImages(), d.archivedImages()
	dl, err := d.sb.Invoke(ctx, "gc", []byte(`{"trigger":"demo","runId":"demo-gc"}`))
	if err != nil {
		return Step{}, err
	}
	// The stack gives gc a fan-out queue: the scheduled run sends one message per
	// repository, and the queue's event source runs each (one report per repository).
	more, err := d.sb.Deliver(ctx)
	if err != nil {
		return Step{}, err
	}
	st := Step{Title: StepGC, Deliveries: append([]sandbox.Delivery{dl}, more...), Removed: before - d.registryImages(),
		Archived: d.archivedImages() - archivedBefore, PlannedSavings: plan.Savings(gc.PricesFor(d.sb.Policy)).Monthly}
	for _, o := range plan.Outcomes {
		if o.Plan != nil {
			st.PlannedBytes += o.Plan.ReclaimBytes
			st.PlannedArchiveBytes += o.Plan.ArchiveBytes
		}
	}
	for _, x := range st.Deliveries {
		if x.Err != nil {
			d.say("   gc failed: %v", x.Err)
		}
	}
	st.Slack, st.SNS = d.newMessages()
	for _, m := range st.Slack {
		d.say("   Slack:\n%s", indent(m, "     │ "))
	}
	d.say("   %d images remain in the registry", d.registryImages())
	return st, nil
}

// archivedImages counts the images of both repositories in the archive
// storage class.
func (d *director) archivedImages() int {
	n := 0
	for _, repo := range []string{apiRepo, trainRepo} {
		for digest := range d.sb.Suite.ECR.Images(repo) {
			if st, ok := d.sb.Suite.ECR.State(repo, digest); ok && st.Status == ecr.StatusArchived {
				n++
			}
		}
	}
	return n
}

// registryImages counts the images of both repositories.
func (d *director) registryImages() int {
	return len(d.sb.Suite.ECR.Images(apiRepo)) + len(d.sb.Suite.ECR.Images(trainRepo))
}

func (d *director) createCronJob(ctx context.Context, image string) error {
	cj := map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": "nightly-train", "namespace": namespace},
		"spec": map[string]any{
			"schedule": "0 2 * * *",
			"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"restartPolicy": "Never",
				"containers":    []map[string]any{{"name": "train", "image": image}},
			}}}},
		},
	}
	return d.create(ctx, "/apis/batch/v1/namespaces/"+namespace+"/cronjobs", cj)
}

// manifest returns a fresh image manifest.
func (d *director) manifest() string {
	m, _ := d.sb.NewManifest()
	return m
}
