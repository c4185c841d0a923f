package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/demo"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// demoCmd runs the whole suite on embedded defaults and narrates a story.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logs := fs.Bool("logs", false, "print the functions' JSON logs to stderr")
	policyPath := fs.String("policy", "", "policy file (default: the repository's ecrwarden.yaml)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden demo [--logs] [--policy FILE]")
		fmt.Fprintln(stderr, "Starts the AWS emulators, a real control plane with controllers and simulated nodes (built from source")
		fmt.Fprintln(stderr, "on first run) and the compiled functions, then plays pushes, scans, a gc run and a rollout whose Pods")
		fmt.Fprintln(stderr, "crash, its rollback, `ecrwarden status` and the release. Ctrl-C stops everything.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	start := time.Now()
	fmt.Fprintln(stdout, "Starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok nodes (the first run builds them from source: about 30 minutes)…")
	c, err := sandbox.StartClusterWith(ctx, "retail-forecast", sandbox.ClusterOptions{Progress: stderr, Controllers: &testenv.ControllerOptions{}})
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden demo: %v\n", err)
		return exitFail
	}
	defer c.Stop()
	defer sandbox.RemoveBuilds()
	fmt.Fprintln(stdout, "Building onpush, onscan and gc, starting the emulators and the functions…")
	var logw io.Writer
	if *logs {
		logw = stderr
	}
	sb, err := sandbox.Start(ctx, sandbox.Options{Cluster: c, PolicyPath: *policyPath, Logs: logw, Env: demo.Env})
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden demo: %v\n", err)
		return exitFail
	}
	closed := false
	defer func() {
		if !closed {
			sb.Close()
		}
	}()
	if _, err := demo.Run(ctx, sb, stdout); err != nil {
		fmt.Fprintf(stderr, "ecrwarden demo: %v\n", err)
		return exitFail
	}
	if dlq := sb.DLQ(); len(dlq) > 0 {
		fmt.Fprintf(stdout, "\n%d invocations ended in the DLQ:\n", len(dlq))
		for _, d := range dlq {
			fmt.Fprintf(stdout, "  %s ← %s: %v\n", d.Function, d.DetailType, d.Err)
		}
	}
	closed = true
	if err := sb.Close(); err != nil {
		// An AWS call the template's IAM refused is a missing grant in the stack.
		fmt.Fprintf(stderr, "ecrwarden demo: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "\nDone in %s. Everything is stopped and removed.\n", time.Since(start).Round(time.Second))
	return exitOK
}
