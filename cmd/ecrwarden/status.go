package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/status"
)

// accountID is the shape of an AWS account id.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// statusCmd prints every rollout target of the policy: what runs, the
// newest allowed image and why they differ. It reads only.
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyPath := fs.String("policy", defaultPolicyPath(), "policy file")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	account := fs.String("account", "", "the registry's account (default: the caller's, from sts:GetCallerIdentity)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden status [--policy FILE] [--json] [--account ID]")
		fmt.Fprintln(stderr, "Prints every deploy rule of the policy and every workload that opts in by annotation: the image it")
		fmt.Fprintln(stderr, "runs, the newest image its rule allows, why they differ, its verification and its last change.")
		fmt.Fprintln(stderr, "It reads only: ecr:DescribeImages, ecr:DescribeImageScanFindings, eks:DescribeCluster, and in each")
		fmt.Fprintln(stderr, "cluster get on the policy's namespaces and list on their workloads of every kind (the ecrwarden-reader group).")
		fmt.Fprintln(stderr, "Status is not a check: exit 0 whatever the states (a target that cannot be read shows as unknown);")
		fmt.Fprintln(stderr, "1 only when it cannot run at all (policy, AWS configuration).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if *account != "" && !accountID.MatchString(*account) {
		fmt.Fprintf(stderr, "ecrwarden: --account %q: want a 12-digit AWS account id\n", *account)
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
	if cfg.Region == "" {
		fmt.Fprintln(stderr, "ecrwarden: no AWS Region: set AWS_REGION or a profile's region")
		return exitFail
	}
	origin := ecrevent.Origin{Partition: "aws", Account: *account, Region: cfg.Region}
	if origin.Account == "" {
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			fmt.Fprintf(stderr, "ecrwarden: find the registry's account (or give --account): %v\n", err)
			return exitFail
		}
		a, err := arn.Parse(*id.Arn)
		if err != nil {
			fmt.Fprintf(stderr, "ecrwarden: caller identity %q: %v\n", *id.Arn, err)
			return exitFail
		}
		origin.Partition, origin.Account = a.Partition, a.AccountID
	}
	client := ecr.NewFromConfig(cfg)
	r := &status.Reader{Policy: f, Clients: kube.NewEKSResolver(cfg), Images: client, Scans: client, Origin: origin}
	rep, err := r.Read(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: status: %v\n", err)
		return exitFail
	}
	if *asJSON {
		err = status.WriteJSON(stdout, rep)
	} else {
		err = status.WriteTable(stdout, rep, time.Now())
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden: %v\n", err)
		return exitFail
	}
	return exitOK
}
