package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// holdFlags are the flags rollback and release share.
type holdFlags struct {
	fs         *flag.FlagSet
	policyPath *string
	cluster    *string
	namespace  *string
	container  *string
	dryRun     *bool
}

func newHoldFlags(name, usage string, stderr io.Writer) *holdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	h := &holdFlags{fs: fs,
		policyPath: fs.String("policy", defaultPolicyPath(), "policy file"),
		cluster:    fs.String("cluster", "", "EKS cluster (default: from the policy's deploy rule for WORKLOAD)"),
		namespace:  fs.String("namespace", "", "namespace (default: from the policy's deploy rule for WORKLOAD)"),
		dryRun:     fs.Bool("dry-run", false, "say what would change without patching"),
	}
	h.container = fs.String("container", "", "container (default: from the policy's deploy rule, or the only container)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return h
}

// parse parses flags given before or after the one WORKLOAD argument.
func (h *holdFlags) parse(args []string) (string, error) {
	var positional []string
	for {
		if err := h.fs.Parse(args); err != nil {
			return "", err
		}
		if h.fs.NArg() == 0 {
			break
		}
		positional = append(positional, h.fs.Arg(0))
		args = h.fs.Args()[1:]
	}
	if len(positional) != 1 || positional[0] == "" {
		h.fs.Usage()
		return "", errors.New("want exactly one WORKLOAD")
	}
	return positional[0], nil
}

// location is where a workload's container runs.
type location struct {
	cluster, namespace, container string
	kind                          kube.Kind
}

// splitWorkload reads the WORKLOAD argument: NAME (of any kind the policy's
// rules name, a Deployment otherwise) or KIND/NAME as kubectl writes it
// (deployment/api, statefulset/db, daemonset/agent, cronjob/train-model).
func splitWorkload(arg string) (kube.Kind, string, error) {
	prefix, name, found := strings.Cut(arg, "/")
	if !found {
		return "", arg, nil
	}
	for _, k := range kube.Kinds {
		if strings.EqualFold(prefix, string(k)) {
			return k, name, nil
		}
	}
	return "", "", fmt.Errorf("%q: unknown workload kind %q: want deployment, statefulset, daemonset or cronjob", arg, prefix)
}

// locate fills what the flags leave open from the policy's deploy rules for
// the workload named name (of kind given.kind, any when empty); it fails
// when the rules leave it ambiguous or say nothing.
func locate(f *policy.File, name string, given location) (location, error) {
	deployment := name
	var found []location
	for _, r := range f.Repositories {
		for _, d := range r.Deploy {
			l := location{d.Cluster, d.Namespace, d.Container, kube.Kind(d.WorkloadKind())}
			if d.WorkloadName() != name || (given.kind != "" && l.kind != given.kind) || (given.cluster != "" && l.cluster != given.cluster) ||
				(given.namespace != "" && l.namespace != given.namespace) || (given.container != "" && l.container != given.container) {
				continue
			}
			if !slices.Contains(found, l) {
				found = append(found, l)
			}
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		names := make([]string, len(found))
		for i, l := range found {
			names[i] = fmt.Sprintf("%s/%s[%s]", l.cluster, l.namespace, l.container)
		}
		return location{}, fmt.Errorf("workload %s is in several deploy rules (%s): choose with --cluster, --namespace or --container", deployment, strings.Join(names, ", "))
	case given.cluster == "" || given.namespace == "":
		return location{}, fmt.Errorf("no deploy rule of the policy names workload %s: give --cluster and --namespace", deployment)
	}
	if given.kind == "" {
		given.kind = kube.KindDeployment
	}
	return given, nil
}

// holdSetup loads the policy, locates the Deployment and connects to its
// cluster with the default AWS credentials chain and EKS authentication.
func holdSetup(ctx context.Context, h *holdFlags, workload string) (location, string, *kube.Client, error) {
	kind, deployment, err := splitWorkload(workload)
	if err != nil {
		return location{}, "", nil, err
	}
	f, err := policy.Load(*h.policyPath)
	if err != nil {
		return location{}, "", nil, err
	}
	loc, err := locate(f, deployment, location{*h.cluster, *h.namespace, *h.container, kind})
	if err != nil {
		return location{}, "", nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return location{}, "", nil, fmt.Errorf("aws configuration: %w", err)
	}
	resolver := kube.NewEKSResolver(cfg)
	client, err := resolver.Client(ctx, loc.cluster)
	if err != nil {
		return location{}, "", nil, err
	}
	return loc, deployment, client, nil
}

// rollbackCmd sets a container back to the image ecrwarden replaced and
// holds the Deployment.
func rollbackCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	h := newHoldFlags("rollback", "usage: ecrwarden rollback [--policy FILE] [--cluster NAME] [--namespace NS] [--container NAME] [--reason TEXT] [--dry-run] WORKLOAD\n"+
		"WORKLOAD is NAME or KIND/NAME (deployment/api, statefulset/db, daemonset/agent, cronjob/train-model).\n"+
		"Sets the container back to the image recorded in ecrwarden.io/previous-image and holds the workload\n"+
		"(ecrwarden.io/hold) so that no push, scan or reconcile moves it forward until `ecrwarden release`.", stderr)
	reason := h.fs.String("reason", "", "why, recorded in the hold and the change cause")
	workload, err := h.parse(args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		}
		return exitUsage
	}
	loc, deployment, client, err := holdSetup(ctx, h, workload)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	res, err := rollout.Rollback(ctx, client, rollout.RollbackRequest{
		Kind: loc.kind, Namespace: loc.namespace, Deployment: deployment, Container: loc.container,
		By: whoAmI(), At: time.Now(), Reason: *reason, DryRun: *h.dryRun,
	})
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	format := "rolled back %s/%s/%s[%s]: %s → %s; held (%s)\n"
	if !res.Changed {
		format = "dry run: would roll back %s/%s/%s[%s]: %s → %s and hold it (%s)\n"
	}
	fmt.Fprintf(stdout, format, loc.cluster, res.Namespace, res.Deployment, res.Container, res.From, res.To, res.Hold)
	if res.Blocked != "" {
		fmt.Fprintf(stdout, "%s is blocked for container %s: no rollout sets it again, even after `ecrwarden release`, until `ecrwarden release --digest %s %s`\n",
			res.Blocked, res.Container, res.Blocked, res.Deployment)
	}
	return exitOK
}

// releaseCmd removes the hold of a Deployment, or with --digest the block
// of one digest.
func releaseCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	h := newHoldFlags("release", "usage: ecrwarden release [--policy FILE] [--cluster NAME] [--namespace NS] [--dry-run] [--digest DIGEST [--container NAME]] WORKLOAD\n"+
		"Removes the hold (ecrwarden.io/hold) that `ecrwarden rollback` set: ecrwarden moves the workload forward again,\n"+
		"never to a digest the rollback blocked. With --digest, removes that digest's block (ecrwarden.io/blocked-digests) instead,\n"+
		"so that rollouts may choose it again; the hold stays.", stderr)
	digest := h.fs.String("digest", "", "unblock this digest (sha256:...) instead of releasing the hold")
	workload, err := h.parse(args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		}
		return exitUsage
	}
	loc, deployment, client, err := holdSetup(ctx, h, workload)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	if *digest != "" {
		return unblock(ctx, client, loc, deployment, *digest, *h.container, *h.dryRun, stdout, stderr)
	}
	res, err := rollout.ReleaseWorkload(ctx, client, kube.WorkloadRef{Kind: loc.kind, Namespace: loc.namespace, Name: deployment}, *h.dryRun)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	where := fmt.Sprintf("%s/%s/%s", loc.cluster, res.Namespace, res.Deployment)
	switch {
	case res.Hold == "":
		fmt.Fprintf(stdout, "%s is not held: nothing to release\n", where)
	case res.Changed:
		fmt.Fprintf(stdout, "released %s (was held: %s)\n", where, res.Hold)
	default:
		fmt.Fprintf(stdout, "dry run: would release %s (held: %s)\n", where, res.Hold)
	}
	return exitOK
}

// unblock removes the block of one digest of a Deployment.
func unblock(ctx context.Context, client *kube.Client, loc location, deployment, digest, container string, dryRun bool, stdout, stderr io.Writer) int {
	b, err := rollout.Unblock(ctx, client, rollout.UnblockRequest{Kind: loc.kind, Namespace: loc.namespace, Deployment: deployment,
		Container: container, Digest: digest, DryRun: dryRun})
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	format := "unblocked %s for %s/%s/%s[%s] (was blocked: %s)\n"
	if dryRun {
		format = "dry run: would unblock %s for %s/%s/%s[%s] (blocked: %s)\n"
	}
	fmt.Fprintf(stdout, format, digest, loc.cluster, loc.namespace, deployment, b.Container, b.Reason)
	return exitOK
}

// whoAmI names the person running the CLI for the hold annotation.
func whoAmI() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
