package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

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
		fmt.Fprintln(stderr, "policy's clusters and in ECS, Lambda, SageMaker and Batch (unless gc.inUse turns one off),")
		fmt.Fprintln(stderr, "and prints what gc would keep and delete, and why. It never deletes.")
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
	cfg, err := config.LoadDefaultConfig(ctx)
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
	if *asJSON {
		err = writePlanJSON(stdout, res)
	} else {
		err = gc.WriteTable(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	if err := res.Err(); err != nil {
		fmt.Fprintf(stderr, "ecrwarden: gc plan incomplete: %v\n", err)
		return exitFail
	}
	return exitOK
}

// planJSON is the --json output.
type planJSON struct {
	Repositories []repositoryJSON `json:"repositories"`
	Keep         int              `json:"keep"`
	Delete       int              `json:"delete"`
	ReclaimBytes int64            `json:"reclaimBytes"`
}

type repositoryJSON struct {
	Name         string         `json:"name"`
	Registry     string         `json:"registry,omitempty"`
	Error        string         `json:"error,omitempty"`
	Keep         int            `json:"keep"`
	Delete       int            `json:"delete"`
	ReclaimBytes int64          `json:"reclaimBytes"`
	Decisions    []decisionJSON `json:"decisions"`
}

type decisionJSON struct {
	Action   string    `json:"action"`
	Digest   string    `json:"digest"`
	Tags     []string  `json:"tags"`
	PushedAt time.Time `json:"pushedAt"`
	Size     int64     `json:"size"`
	Reason   string    `json:"reason"`
	Unit     string    `json:"unit,omitempty"`
}

func writePlanJSON(w io.Writer, res *gc.Result) error {
	out := planJSON{Repositories: []repositoryJSON{}}
	for _, o := range res.Outcomes {
		r := repositoryJSON{Name: o.Repository, Registry: o.Registry, Decisions: []decisionJSON{}}
		if o.Err != nil {
			r.Error = o.Err.Error()
		}
		if o.Plan != nil {
			r.Keep, r.Delete, r.ReclaimBytes = o.Plan.Keeps, o.Plan.Deletes, o.Plan.ReclaimBytes
			for _, d := range o.Plan.Decisions {
				dj := decisionJSON{Action: "keep", Digest: d.Digest, Tags: d.Tags, PushedAt: d.PushedAt.UTC(), Size: d.Size, Reason: d.Reason}
				if d.Delete {
					dj.Action = "delete"
				}
				if dj.Tags == nil {
					dj.Tags = []string{}
				}
				if d.Unit != d.Digest {
					dj.Unit = d.Unit
				}
				r.Decisions = append(r.Decisions, dj)
			}
		}
		out.Keep, out.Delete, out.ReclaimBytes = out.Keep+r.Keep, out.Delete+r.Delete, out.ReclaimBytes+r.ReclaimBytes
		out.Repositories = append(out.Repositories, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}
