package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ecrwarden/ecrwarden/internal/demo"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// emulate starts every AWS emulator and the Slack sink on loopback, seeded
// from --seed, optionally with a real control plane and the compiled
// functions behind them (--functions), prints the shell environment that
// points the AWS CLI and the SDKs at them, and serves until interrupted.
func emulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o suite.Options
	fs.IntVar(&o.Ports.ECR, "ecr-port", 0, "ECR port (0: any free port)")
	fs.IntVar(&o.Ports.SNS, "sns-port", 0, "SNS port")
	fs.IntVar(&o.Ports.EventBridge, "eventbridge-port", 0, "EventBridge port")
	fs.IntVar(&o.Ports.SecretsManager, "secretsmanager-port", 0, "Secrets Manager port")
	fs.IntVar(&o.Ports.DynamoDB, "dynamodb-port", 0, "DynamoDB port")
	fs.IntVar(&o.Ports.EKS, "eks-port", 0, "EKS port")
	fs.IntVar(&o.Ports.Slack, "slack-port", 0, "Slack webhook sink port")
	fs.IntVar(&o.Ports.Other, "other-port", 0, "port that refuses every other AWS service (AWS_ENDPOINT_URL)")
	fs.StringVar(&o.Region, "region", "ap-southeast-1", "region every emulator reports")
	fs.StringVar(&o.AccountID, "account", "123456789012", "account id every emulator reports")
	seedPath := fs.String("seed", "", "seed file (YAML): repositories, images, findings, clusters, secrets; see docs/emulate.md")
	functions := fs.Bool("functions", false, "also run the compiled onpush, onscan and gc functions, a control plane and the event routing (needs the repository and Go)")
	policyPath := fs.String("policy", "", "policy the functions load (default: the repository's ecrwarden.yaml); with --functions")
	logsPath := fs.String("logs", "", "file for the functions' JSON logs (default: a temporary file); with --functions")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden emulate [--seed FILE] [--functions [--policy FILE] [--logs FILE]] [flags]")
		fmt.Fprintln(stderr, "Starts the ECR, SNS, EventBridge, Secrets Manager, DynamoDB and EKS emulators and a Slack sink on")
		fmt.Fprintln(stderr, "127.0.0.1, prints the environment that points the AWS CLI (v1 and v2) and the SDKs at them, and")
		fmt.Fprintln(stderr, "runs until Ctrl-C. With --functions, pushes (aws ecr put-image) reach the compiled functions.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || (!*functions && (*policyPath != "" || *logsPath != "")) {
		fs.Usage()
		return exitUsage
	}
	if *seedPath != "" {
		f, err := suite.LoadSeedFile(*seedPath)
		if err != nil {
			printProblems(stderr, *seedPath, err)
			return exitFail
		}
		o.SeedFile = f
	}
	e := &emulation{opts: o, functions: *functions, policyPath: *policyPath, logsPath: *logsPath, stdout: stdout, stderr: stderr}
	defer e.close()
	if err := e.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "ecrwarden emulate: %v\n", err)
		return exitFail
	}
	return exitOK
}

// printProblems prints a file's problems one per line, as policy check does.
func printProblems(w io.Writer, path string, err error) {
	var errs policy.Errors
	if !errors.As(err, &errs) {
		fmt.Fprintf(w, "ecrwarden: %v\n", err)
		return
	}
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	fmt.Fprintf(w, "%s: %d %s\n", path, len(errs), plural(len(errs), "problem", "problems"))
}

// emulation is one run of `ecrwarden emulate`.
type emulation struct {
	opts                 suite.Options
	functions            bool
	policyPath, logsPath string
	stdout, stderr       io.Writer

	dir     string
	cluster *sandbox.Cluster
	suite   *suite.Suite
	sb      *sandbox.Sandbox
	logs    *os.File
	closers []func() error
}

func (e *emulation) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		if err := e.closers[i](); err != nil {
			fmt.Fprintf(e.stderr, "ecrwarden emulate: stop: %v\n", err)
		}
	}
}

func (e *emulation) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "ecrwarden-emulate-")
	if err != nil {
		return err
	}
	e.dir = dir
	e.closers = append(e.closers, func() error { return os.RemoveAll(dir) })
	if err := e.startCluster(ctx); err != nil {
		return err
	}
	if e.functions {
		if err := e.startFunctions(ctx); err != nil {
			return err
		}
	} else {
		if e.cluster != nil {
			e.opts.ControlPlane = &eks.Cluster{Endpoint: e.cluster.Kube.Admin.Host, CAPEM: e.cluster.Kube.Admin.CAData}
		}
		if e.suite, err = suite.Start(ctx, e.opts); err != nil {
			return err
		}
		e.closers = append(e.closers, e.suite.Close)
	}
	registry := e.suite.ECR.Account() + ".dkr.ecr." + e.suite.ECR.Region() + ".amazonaws.com"
	if cp := e.seedControlPlane(); cp != nil {
		if err := e.cluster.CreateDeployments(ctx, cp.Deployments, registry); err != nil {
			return fmt.Errorf("seed cluster %s: %w", cp.Name, err)
		}
	}
	envFile := filepath.Join(e.dir, "env.sh")
	var env strings.Builder
	if err := e.suite.WriteEndpoints(&env); err != nil {
		return err
	}
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, env.String())
	fmt.Fprintf(e.stdout, "# In another shell: . %s\n", envFile)
	if e.cluster != nil {
		kubeconfig := filepath.Join(e.dir, "kubeconfig")
		if err := e.cluster.WriteKubeconfig(kubeconfig); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "# EKS cluster %s is a real kube-apiserver; for kubectl: export KUBECONFIG=%s\n", e.cluster.Name, kubeconfig)
	}
	if !e.functions {
		fmt.Fprintln(e.stdout, "# Ready; Ctrl-C stops everything.")
		<-ctx.Done()
		return nil
	}
	fmt.Fprintf(e.stdout, "# Functions onpush, onscan and gc run with the policy %s; their JSON logs go to %s\n", e.sb.Policy.Name(), e.logs.Name())
	fmt.Fprintln(e.stdout, "# Ready: push with `aws ecr put-image`; each delivery, Slack message and audit event is printed below. Ctrl-C stops everything.")
	w := &watcher{sb: e.sb, out: e.stdout}
	return e.sb.Serve(ctx, w.report)
}

// seedControlPlane is the seed file's cluster that asks for a control plane.
func (e *emulation) seedControlPlane() *suite.SeedCluster {
	if e.opts.SeedFile == nil {
		return nil
	}
	return e.opts.SeedFile.ControlPlane()
}

// startCluster starts the control plane if the seed file asks for one or
// the functions need one.
func (e *emulation) startCluster(ctx context.Context) error {
	name := ""
	if cp := e.seedControlPlane(); cp != nil {
		name = cp.Name
	}
	if e.functions && name == "" {
		// The control plane takes the name of the policy's first cluster
		// (the sandbox serves every policy cluster from it).
		path := e.policyPath
		if path == "" {
			var err error
			if path, err = sandbox.DefaultPolicyPath(); err != nil {
				return err
			}
		}
		p, err := policy.Load(path)
		if err != nil {
			return err
		}
		name = "ecrwarden"
		if len(p.Clusters) > 0 {
			name = p.Clusters[0].Name
		}
	}
	if name == "" {
		return nil
	}
	fmt.Fprintf(e.stderr, "Starting etcd and kube-apiserver for EKS cluster %s (the first run builds them from source: about 10 minutes)…\n", name)
	c, err := sandbox.StartCluster(ctx, name, e.stderr)
	if err != nil {
		return err
	}
	e.cluster = c
	e.closers = append(e.closers, c.Stop)
	return nil
}

func (e *emulation) startFunctions(ctx context.Context) error {
	var err error
	if e.logsPath == "" {
		e.logsPath = filepath.Join(e.dir, "functions.log")
	}
	if e.logs, err = os.Create(e.logsPath); err != nil {
		return fmt.Errorf("function logs: %w", err)
	}
	e.closers = append(e.closers, e.logs.Close)
	fmt.Fprintln(e.stderr, "Building onpush, onscan and gc and starting them behind the Lambda Runtime API…")
	e.closers = append(e.closers, func() error { sandbox.RemoveBuilds(); return nil })
	e.sb, err = sandbox.Start(ctx, sandbox.Options{Cluster: e.cluster, PolicyPath: e.policyPath, Logs: e.logs, Suite: e.opts})
	if err != nil {
		return err
	}
	e.closers = append(e.closers, e.sb.Close)
	e.suite = e.sb.Suite
	return nil
}

// watcher prints what each round of deliveries did: the invocations, the
// new Slack and SNS messages, and the new audit events.
type watcher struct {
	sb                 *sandbox.Sandbox
	out                io.Writer
	mu                 sync.Mutex
	slack, sns, audits int
}

func (w *watcher) report(ds []sandbox.Delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, d := range ds {
		status := "ok"
		if d.Err != nil {
			status = "error: " + d.Err.Error()
		}
		fmt.Fprintf(&b, "%-7s ← %-17s %s (%d ms, attempt %d)\n", d.Function, d.DetailType, status, d.Result.Duration.Milliseconds(), d.Attempts)
	}
	payloads := w.sb.Suite.Slack.Payloads()
	for _, p := range payloads[w.slack:] {
		fmt.Fprintf(&b, "  Slack │ %s\n", strings.ReplaceAll(demo.RenderSlack(p.Text, p.Blocks), "\n", "\n        │ "))
	}
	w.slack = len(payloads)
	msgs := w.sb.Suite.SNS.Messages(w.sb.TopicARN)
	for _, m := range msgs[w.sns:] {
		fmt.Fprintf(&b, "  SNS   │ %s\n", m.Subject)
	}
	w.sns = len(msgs)
	events := w.sb.Suite.EventBridge.Events(w.sb.EventBus)
	for _, ev := range events[w.audits:] {
		var head struct {
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		_ = json.Unmarshal(ev, &head)
		fmt.Fprintf(&b, "  audit │ %s %s\n", head.DetailType, head.Detail)
	}
	w.audits = len(events)
	fmt.Fprint(w.out, b.String())
}
