package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a problem (an invalid policy)
	exitUsage = 2 // the command line was wrong
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands maps "group verb" (or a single word) to its implementation.
var commands = map[string]command{
	"policy check":  {"validate a policy file (default ./ecrwarden.yaml or $ECRWARDEN_POLICY)", policyCheck},
	"policy schema": {"print the policy file's JSON Schema", policySchema},
	"gc plan":       {"print what gc would keep and delete in the account, and why (never deletes)", gcPlan},
	"demo":          {"run the whole suite locally and narrate pushes, scans and a gc run", demoCmd},
	"emulate":       {"run the AWS emulators and a Slack sink on loopback until Ctrl-C", emulate},
	"rollback":      {"set a Deployment's container back to the image ecrwarden replaced, and hold it", rollbackCmd},
	"release":       {"remove the hold `ecrwarden rollback` set, so that ecrwarden rolls forward again", releaseCmd},
	"rbac":          {"print the Kubernetes RBAC of the ecrwarden groups for kubectl apply -f -", rbacCmd},
	"restore":       {"restore an archived image to standard storage (REPOSITORY:TAG or REPOSITORY@DIGEST)", restoreCmd},
	"status":        {"show every rollout target: what runs, the newest allowed image, and why they differ (reads only)", statusCmd},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return exitOK
	}
	for n := min(2, len(args)); n >= 1; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c.run(ctx, args[n:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ecrwarden: unknown command %q\n\n", strings.Join(args, " "))
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ecrwarden <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-16s %s\n", name, commands[name].summary)
	}
}
