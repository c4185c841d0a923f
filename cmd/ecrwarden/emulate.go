package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
)

// emulate starts every AWS emulator and the Slack sink on loopback and
// prints their endpoints and the environment that points the SDK at them,
// until interrupted.
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
	fs.StringVar(&o.Region, "region", "ap-southeast-1", "region every emulator reports")
	fs.StringVar(&o.AccountID, "account", "123456789012", "account id every emulator reports")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden emulate [flags]")
		fmt.Fprintln(stderr, "Starts the ECR, SNS, EventBridge, Secrets Manager, DynamoDB and EKS emulators and a Slack sink on")
		fmt.Fprintln(stderr, "127.0.0.1, prints their endpoints and the AWS_ENDPOINT_URL_* variables, and runs until Ctrl-C.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if err := suite.Run(ctx, o, stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "ecrwarden emulate: %v\n", err)
		return exitFail
	}
	return exitOK
}
