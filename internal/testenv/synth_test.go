package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSynthTemplate synthesizes the example policy's stack through the CDK app, then
// asks again: the second answer must come from the cache, byte for byte; a policy
// differing in one repository is another template.
func TestSynthTemplate(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the CDK app")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := SynthOptions{Root: root, Policy: filepath.Join(root, "ecrwarden.yaml"), Account: "123456789012", Region: "ap-southeast-1"}
	var progress bytes.Buffer
	opts.Progress = &progress
	first, err := SynthTemplate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type     string         `json:"Type"`
			Metadata map[string]any `json:"Metadata"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(first, &tmpl); err != nil {
		t.Fatalf("template: %v", err)
	}
	functions := 0
	for _, r := range tmpl.Resources {
		if r.Type == "AWS::Lambda::Function" {
			functions++
			if p, _ := r.Metadata["aws:cdk:path"].(string); p == "" {
				t.Errorf("function without aws:cdk:path metadata")
			}
		}
	}
	if functions != 3 {
		t.Errorf("%d functions, want 3", functions)
	}

	progress.Reset()
	again, err := SynthTemplate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) || strings.Contains(progress.String(), "synthesizing") {
		t.Errorf("second synth was not a cache hit:\n%s", progress.String())
	}

	// The same policy under another path is a hit; another policy is not.
	moved := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	policy, err := os.ReadFile(opts.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, policy, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Policy = moved
	progress.Reset()
	if b, err := SynthTemplate(ctx, opts); err != nil || strings.Contains(progress.String(), "synthesizing") || !bytes.Equal(b, first) {
		t.Errorf("moved policy: err %v, progress %q", err, progress.String())
	}
	k1, err := synthKey(opts, "src", moved, map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	if err := os.WriteFile(changed, append(policy, []byte("\n# changed\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]func() (string, error){
		"policy":  func() (string, error) { return synthKey(opts, "src", changed, map[string]any{"a": 1}) },
		"context": func() (string, error) { return synthKey(opts, "src", moved, map[string]any{"a": 2}) },
		"sources": func() (string, error) { return synthKey(opts, "src2", moved, map[string]any{"a": 1}) },
	} {
		if k2, err := k(); err != nil || k2 == k1 {
			t.Errorf("changing the %s did not change the cache key (%v)", name, err)
		}
	}
}
