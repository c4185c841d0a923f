package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

func main() {
	os.Exit(run(".", os.Stderr))
}

// run synthesizes the app from the repository at root; a broken policy or
// inconsistent context prints every problem and returns 1.
func run(root string, stderr io.Writer) int {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := buildApp(app, root, stderr); err != nil {
		fmt.Fprintf(stderr, "ecrwarden: cannot synthesize the stack:\n%v\n", err)
		return 1
	}
	app.Synth(nil)
	return 0
}

// buildApp reads the context, loads and validates the policy, adds the
// ecrwarden stack to app and the AwsSolutions checks of cdk-nag to every
// construct in it.
func buildApp(app awscdk.App, root string, stderr io.Writer) (awscdk.Stack, error) {
	all, _ := app.Node().GetAllContext(nil).(map[string]any)
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	cfg, err := readConfig(func(key string) (any, bool) {
		v := app.Node().TryGetContext(jsii.String(key))
		return v, v != nil
	}, keys)
	if err != nil {
		return nil, err
	}
	path := cfg.policyPath
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("policy path: %w", err)
	}
	pol, err := policy.Load(path)
	if err != nil {
		var perrs policy.Errors
		if errors.As(err, &perrs) {
			return nil, fmt.Errorf("%d problem(s) in the policy:\n%w", len(perrs), err)
		}
		return nil, fmt.Errorf("load policy: %w", err)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("repository root: %w", err)
	}
	stack, err := newStack(app, cfg.stackName, stackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("ecrwarden: guards the ECR registry and keeps EKS workloads current"),
			Env:         environment(cfg),
		},
		policy:     pol,
		policyPath: path,
		root:       absRoot,
		cfg:        cfg,
		stderr:     stderr,
	})
	if err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack, nil
}

// environment is where the stack may be deployed. By default it is
// environment-agnostic: account, Region and partition stay
// ${AWS::AccountId}, ${AWS::Region} and ${AWS::Partition} in the template,
// and CloudFormation resolves them where the template is deployed. The
// app deliberately ignores CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION,
// which the CDK CLI sets from whatever credentials and profile happen to
// be present (us-east-1 on a machine without any), so that the same policy
// gives the same template on every machine. The context keys account and
// region pin it, so that a deployment with the wrong credentials fails.
func environment(cfg config) *awscdk.Environment {
	env := &awscdk.Environment{}
	if cfg.account != "" {
		env.Account = jsii.String(cfg.account)
	}
	if cfg.region != "" {
		env.Region = jsii.String(cfg.region)
	}
	return env
}
