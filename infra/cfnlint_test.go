package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// cfn-lint checks every template the tests synthesize: the worked example
// and each variant (dry run, VPC, registry management, RBAC access, a second
// stack name, other policies). Each successful synth copies its template
// into lintDir; TestMain lints them all in one cfn-lint run (its start-up
// dominates) once the tests have passed, and fails the package on any error
// or warning. make test also lints the bundled template of the offline
// synth (infra/synth.sh).
var (
	lintDir   string
	lintMu    sync.Mutex
	lintCount int
)

// keepForLint copies the template of stack, synthesized into outdir, into
// lintDir under the test's name.
func keepForLint(t *testing.T, outdir string, stack awscdk.Stack) {
	t.Helper()
	if lintDir == "" {
		return
	}
	raw, err := os.ReadFile(filepath.Join(outdir, *stack.TemplateFile()))
	if err != nil {
		t.Fatalf("template for cfn-lint: %v", err)
	}
	lintMu.Lock()
	defer lintMu.Unlock()
	lintCount++
	name := fmt.Sprintf("%03d-%s.template.json", lintCount, regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if err := os.WriteFile(filepath.Join(lintDir, name), raw, 0o644); err != nil {
		t.Fatalf("template for cfn-lint: %v", err)
	}
}

// lintSynthesized runs infra/cfnlint.sh on every kept template and returns
// the package's exit code: 0 when cfn-lint reports nothing.
func lintSynthesized() int {
	templates, _ := filepath.Glob(filepath.Join(lintDir, "*.template.json"))
	if len(templates) == 0 {
		return 0
	}
	out, err := exec.Command("./cfnlint.sh", templates...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cfn-lint on the %d templates the tests synthesized: %v\n%s", len(templates), err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "cfn-lint: %d synthesized templates, no error or warning\n", len(templates))
	return 0
}

// TestCfnLintFailsOnBrokenTemplates proves the lint step can fail: an error
// fails it (exit 2) and so does a lone warning (exit 4).
func TestCfnLintFailsOnBrokenTemplates(t *testing.T) {
	if testing.Short() {
		t.Skip("cfn-lint: not in -short")
	}
	for _, tt := range []struct {
		fixture string
		code    int
		rule    string
	}{
		{"testdata/lint-error.template.json", 2, ":E3030:"},
		{"testdata/lint-warning.template.json", 4, ":W3005:"},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command("./cfnlint.sh", tt.fixture)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.code {
				t.Fatalf("exit %v, want status %d; stderr:\n%s", err, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.fixture+":") || !strings.Contains(stdout.String(), tt.rule) {
				t.Errorf("output does not name %s and %s:\n%s", tt.fixture, tt.rule, stdout.String())
			}
		})
	}
}
