package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// bundledPolicyName is the policy file's name inside each function's asset;
// Lambda unpacks the asset in /var/task.
const bundledPolicyName = "ecrwarden.yaml"

// goBundler builds one function of this repository for Lambda (linux/arm64,
// provided.al2023) without Docker and copies the policy next to the binary.
// jsii calls TryBundle through an interface, so it must be used as a pointer.
type goBundler struct {
	// root is the repository root: the Go module that holds functions/<name>.
	root string
	// function is the directory name under functions/.
	function string
	// policyPath is the validated policy file to ship with the binary.
	policyPath string
	// stderr receives the go build output when the build fails.
	stderr io.Writer
}

// TryBundle implements awscdk.ILocalBundling. It returns false only when the
// build or the copy failed, after writing why to stderr; CDK then reports
// the asset as unbuildable.
func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	if err := b.bundle(*outputDir); err != nil {
		fmt.Fprintf(b.stderr, "ecrwarden: bundle %s: %v\n", b.function, err)
		return jsii.Bool(false)
	}
	return jsii.Bool(true)
}

func (b *goBundler) bundle(outputDir string) error {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(outputDir, "bootstrap"), "./functions/"+b.function)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./functions/%s: %w\n%s", b.function, err, out)
	}
	policy, err := os.ReadFile(b.policyPath)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outputDir, bundledPolicyName), policy, 0o644); err != nil {
		return fmt.Errorf("copy policy: %w", err)
	}
	return nil
}
