package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPolicyCheckExample(t *testing.T) {
	code, out, errOut := runCLI(t, "policy", "check", "../../ecrwarden.yaml")
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "valid: 2 repositories") {
		t.Errorf("stdout = %q, want one summary line", out)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want nothing for the example", errOut)
	}
}

func TestPolicyCheckReportsEveryError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "repositories:\n" +
		"  - name: mlops/retail-api\n" +
		"    scan: { alertAt: SEVERE }\n" +
		"    retention:\n" +
		"      - { match: \"v*\", keepNewest: -3 }\n" +
		"      - { untagged: true, maxAge: 1 week }\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "policy", "check", path)
	if code != exitFail {
		t.Fatalf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 4 {
		t.Fatalf("stderr has %d lines, want 3 errors and a count:\n%s", len(lines), errOut)
	}
	for i, want := range []string{path + ":3:", path + ":5:", path + ":6:"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want)
		}
	}
	if lines[3] != path+": 3 problems" {
		t.Errorf("last line = %q", lines[3])
	}
}

// TestPolicyCheckImmutableFixedTag: a managed (IMMUTABLE) repository that
// allows and protects latest without excluding it from immutability is
// reported at each place, with file:line:col.
func TestPolicyCheckImmutableFixedTag(t *testing.T) {
	example, err := os.ReadFile("../../ecrwarden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const fix = "    mutableTags: [latest]\n"
	if !strings.Contains(string(example), fix) {
		t.Fatalf("the example no longer excludes latest from immutability with %q", fix)
	}
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(example), fix, "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "policy", "check", path)
	if code != exitFail {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 3 {
		t.Fatalf("stderr has %d lines, want 2 problems and a count:\n%s", len(lines), errOut)
	}
	for i, want := range []string{"tags.allow[4]: allows the fixed tag \"latest\"", "protect.tags[0]: protects the fixed tag \"latest\""} {
		loc, _, _ := strings.Cut(strings.TrimPrefix(lines[i], path+":"), ": ")
		if n, _ := fmt.Sscanf(loc, "%d:%d", new(int), new(int)); n != 2 || !strings.Contains(lines[i], "repositories[1]."+want) {
			t.Errorf("line %d = %q, want %s:LINE:COL and %q", i, lines[i], path, want)
		}
	}
}

func TestPolicyCheckWarnsOfPrincipalsFromContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	body := "principals: { ci: \"\" }\nrepositories:\n  - { name: app, manage: true, access: { push: [ci] } }\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "policy", "check", path)
	if code != exitOK || !strings.Contains(errOut, "warning: principal ci has no value: the CDK app needs it from context (-c principal:ci=") {
		t.Errorf("exit %d, stderr %q; want 0 and a warning naming the context key", code, errOut)
	}
}

func TestPolicyCheckMissingFile(t *testing.T) {
	code, _, errOut := runCLI(t, "policy", "check", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != exitFail || !strings.Contains(errOut, "no such file") {
		t.Errorf("exit %d, stderr %q; want 1 and the missing file named", code, errOut)
	}
}

func TestPolicyCheckDefaultPathFromEnv(t *testing.T) {
	t.Setenv("ECRWARDEN_POLICY", "../../ecrwarden.yaml")
	if code, _, errOut := runCLI(t, "policy", "check"); code != exitOK {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestPolicySchema(t *testing.T) {
	code, out, _ := runCLI(t, "policy", "schema")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("schema output is not JSON: %v", err)
	}
	committed, err := os.ReadFile("../../schema/ecrwarden.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(committed) {
		t.Error("policy schema output differs from schema/ecrwarden.schema.json")
	}
}

func TestUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "frobnicate"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if code, out, _ := runCLI(t, "help"); code != exitOK || !strings.Contains(out, "policy check") {
		t.Errorf("help: exit %d, out %q", code, out)
	}
	if code, _, _ := runCLI(t, "policy", "check", "a", "b"); code != exitUsage {
		t.Errorf("two files: exit %d, want 2", code)
	}
}
