package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/fnconfig"
	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// awsConfig loads the default credentials chain with the functions' retry
// configuration, so the CLI gives up exactly where they would.
func awsConfig(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, config.WithRetryer(fnconfig.NewRetryer))
}

// gcPlan prints what gc would delete in a real account: the same listing,
// in-use discovery and planner as the function, never a deletion.
func gcPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gc plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyPath := fs.String("policy", defaultPolicyPath(), "policy file")
	var repos repeated
	fs.Var(&repos, "repository", "plan only this repository (repeatable; default every repository of the policy)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	noClusters := fs.Bool("no-clusters", false, "skip in-use discovery in the policy's clusters (the plan then ignores what runs)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden gc plan [--policy FILE] [--repository NAME]... [--json] [--no-clusters]")
		fmt.Fprintln(stderr, "Lists the repositories with the default AWS credentials chain, lists the images in use in the")
		fmt.Fprintln(stderr, "policy's clusters and in ECS, Lambda, SageMaker and Batch (unless gc.inUse turns one off), and")
		fmt.Fprintln(stderr, "prints what gc would keep, delete and archive, and why, what each repository's native lifecycle")
		fmt.Fprintln(stderr, "policy would do, and the monthly storage cost saved. It never deletes.")
		fmt.Fprintln(stderr, "Exit 0 when every repository was planned; 1 when a listing failed (the others are printed).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	f, err := policy.Load(*policyPath)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: aws configuration: %v\n", err)
		return exitFail
	}
	r := &gc.Runner{ECR: ecr.NewFromConfig(cfg), Progress: func(repo string, n int) {
		fmt.Fprintf(stderr, "%s: listed %d images…\n", repo, n)
	}}
	if *noClusters {
		fmt.Fprintln(stderr, "warning: --no-clusters: images in use are not protected in this plan")
		copied := *f
		copied.Clusters = nil
		f = &copied
	}
	r.Sources = inuse.Sources(f, inuse.NewClients(cfg, kube.NewEKSResolver(cfg)))
	for _, c := range f.Clusters {
		fmt.Fprintf(stderr, "listing images in use in cluster %s (all namespaces)…\n", c.Name)
	}
	if on := f.GC.InUse.Enabled(); len(on) > 0 {
		fmt.Fprintf(stderr, "listing images in use in %s (gc.inUse)…\n", strings.Join(on, ", "))
	}
	res := r.Plan(ctx, f, repos, time.Now())
	write := gc.WriteTable
	if *asJSON {
		write = gc.WriteJSON
	}
	if err := write(stdout, res, gc.PricesFor(f)); err != nil {
		fmt.Fprintf(stderr, "ecrwarden: write plan: %v\n", err)
		return exitFail
	}
	if err := res.Err(); err != nil {
		fmt.Fprintf(stderr, "ecrwarden: gc plan incomplete: %v\n", err)
		return exitFail
	}
	return exitOK
}

// restoreCmd moves an archived image back to the standard storage class.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden restore REPOSITORY:TAG | REPOSITORY@sha256:DIGEST")
		fmt.Fprintln(stderr, "Restores an archived image to the standard storage class (UpdateImageStorageClass) with the")
		fmt.Fprintln(stderr, "default AWS credentials chain. ECR makes it pullable again within about 20 minutes (ACTIVATING,")
		fmt.Fprintln(stderr, "then ACTIVE) and charges per GB restored. Exit 0 when the restore started or the image is active.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	repo, id, err := parseImage(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitUsage
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: aws configuration: %v\n", err)
		return exitFail
	}
	client := ecr.NewFromConfig(cfg)
	detail, found, err := registry.Describe(ctx, client, "", repo, id)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	case !found:
		fmt.Fprintf(stderr, "ecrwarden: %s: no such image\n", fs.Arg(0))
		return exitFail
	}
	digest := aws.ToString(detail.ImageDigest)
	switch detail.ImageStatus {
	case types.ImageStatusActive, "":
		fmt.Fprintf(stdout, "%s@%s is already ACTIVE\n", repo, digest)
		return exitOK
	case types.ImageStatusActivating:
		fmt.Fprintf(stdout, "%s@%s is already being restored (ACTIVATING)\n", repo, digest)
		return exitOK
	}
	status, err := registry.UpdateStorageClass(ctx, client, "", repo, types.ImageIdentifier{ImageDigest: aws.String(digest)}, types.TargetStorageClassStandard)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s@%s: restore started, now %s; ECR makes it pullable within about 20 minutes\n", repo, digest, status)
	return exitOK
}

// parseImage splits REPOSITORY:TAG or REPOSITORY@DIGEST, with or without
// an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com/) in front.
func parseImage(s string) (string, types.ImageIdentifier, error) {
	if host, rest, ok := strings.Cut(s, "/"); ok && strings.Contains(host, ".dkr.ecr") {
		s = rest
	}
	if repo, digest, ok := strings.Cut(s, "@"); ok {
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return "", types.ImageIdentifier{}, fmt.Errorf("%q: want a sha256:<64 hex> digest after @", s)
		}
		return repo, types.ImageIdentifier{ImageDigest: aws.String(digest)}, nil
	}
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 || strings.Contains(s[i:], "/") {
		return "", types.ImageIdentifier{}, fmt.Errorf("%q: want REPOSITORY:TAG or REPOSITORY@sha256:DIGEST", s)
	}
	return s[:i], types.ImageIdentifier{ImageTag: aws.String(s[i+1:])}, nil
}
