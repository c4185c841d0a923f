package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// defaultPolicyPath is the policy the commands read when none is named.
func defaultPolicyPath() string {
	if p := os.Getenv("ECRWARDEN_POLICY"); p != "" {
		return p
	}
	return "ecrwarden.yaml"
}

func policyCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden policy check [FILE]")
		fmt.Fprintln(stderr, "Validates FILE (default ./ecrwarden.yaml or $ECRWARDEN_POLICY). Exit 0 and a one-line summary")
		fmt.Fprintln(stderr, "when valid; exit 1 and every problem, one per line, when not.")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	path := defaultPolicyPath()
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	f, err := policy.Load(path)
	if err != nil {
		printProblems(stderr, path, err)
		return exitFail
	}
	for _, w := range warnings(f, time.Now()) {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	fmt.Fprintf(stdout, "%s: valid: %s\n", path, summary(f))
	return exitOK
}

func policySchema(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: ecrwarden policy schema")
		return exitUsage
	}
	if _, err := stdout.Write(policy.Schema()); err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	return exitOK
}

// summary describes a valid policy in one line.
func summary(f *policy.File) string {
	managed, deploys, rules, ignores := 0, 0, 0, 0
	for _, r := range f.Repositories {
		if r.Manage {
			managed++
		}
		deploys += len(r.Deploy)
		rules += len(r.Retention)
		ignores += len(r.Scan.Ignore)
	}
	mode := "deletes up to"
	if f.GC.Dry() {
		mode = "dry-run, would delete up to"
	}
	return fmt.Sprintf("%d %s (%d managed), %d %s, %d deploy %s, %d retention %s, %d ignored %s; gc %s, %s %d images a run",
		len(f.Repositories), plural(len(f.Repositories), "repository", "repositories"), managed,
		len(f.Clusters), plural(len(f.Clusters), "cluster", "clusters"),
		deploys, plural(deploys, "rule", "rules"), rules, plural(rules, "rule", "rules"),
		ignores, plural(ignores, "finding", "findings"),
		f.GC.Schedule, mode, f.GC.MaxDeletesPerRun)
}

// warnings lists things that are valid but probably not meant.
func warnings(f *policy.File, now time.Time) []string {
	var out []string
	for _, r := range f.Repositories {
		for _, ig := range r.Scan.Ignore {
			if !ig.Active(now) {
				out = append(out, fmt.Sprintf("%s: ignore entry %s expired on %s; the finding alerts again", r.Name, ig.ID, ig.Until))
			}
		}
		if len(r.Deploy) > 0 && r.Tags == nil {
			out = append(out, fmt.Sprintf("%s: deploy rules without tag rules: any tag matching a deploy pattern rolls out", r.Name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.Principals)) {
		if f.Principals[name] == "" {
			out = append(out, fmt.Sprintf("principal %s has no value: the CDK app needs it from context (-c principal:%s=<role ARN>)", name, name))
		}
	}
	if (f.Registry.Scanning != nil || len(f.Registry.Replication) > 0) && !f.Registry.Manage {
		out = append(out, "registry settings are described but registry.manage is false: the CDK app leaves them alone")
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
