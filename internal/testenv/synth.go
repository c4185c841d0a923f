package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// synthCacheVersion changes when the way templates are synthesized changes, so old
// cache entries are not reused.
const synthCacheVersion = "synth-v1"

// SynthOptions says which template SynthTemplate makes.
type SynthOptions struct {
	// Root is the module root (go.mod, cdk.json, infra/). Required.
	Root string
	// Policy is the policy file the stack is synthesized from. Required.
	Policy string
	// Account and Region are CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, as the CDK CLI
	// sets them from the deploying credentials.
	Account, Region string
	// Context adds or overrides context values (cdk.json's "context" is read first).
	Context map[string]any
	// Progress receives progress lines; may be nil.
	Progress io.Writer
}

// SynthTemplate returns the CloudFormation template (JSON) that the CDK app in
// Root/infra synthesizes for the policy, by running the app itself as the CDK CLI would
// (CDK_OUTDIR, CDK_CONTEXT_JSON with cdk.json's context, construct path metadata on) but
// with bundling skipped (context aws:cdk:bundling-stacks: []), so no function is built.
//
// Templates are cached in CacheDir()/templates, keyed by a hash of everything the
// template depends on: the policy's contents, the context, account and region, cdk.json,
// go.mod, go.sum and the Go files (and embedded files) of every package of this module
// that infra imports, and the Go version. Writes are atomic and a lock serialises
// concurrent synths, so test packages and `ecrwarden demo` share one synth. The first
// synth on a machine compiles the CDK's jsii bindings (minutes); later ones take seconds.
func SynthTemplate(ctx context.Context, o SynthOptions) ([]byte, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Root == "" || o.Policy == "" {
		return nil, errors.New("synth: Root and Policy are required")
	}
	policyPath, err := filepath.Abs(o.Policy)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	cdkContext, err := synthContext(o, policyPath)
	if err != nil {
		return nil, err
	}
	srcKey, err := sourceKeyOnce(ctx, o.Root)
	if err != nil {
		return nil, err
	}
	key, err := synthKey(o, srcKey, policyPath, cdkContext)
	if err != nil {
		return nil, err
	}
	base, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(base, "templates")
	path := filepath.Join(dir, key+".json")
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	unlock, err := lockDir(ctx, dir, o.Progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if b, err := os.ReadFile(path); err == nil {
		return b, nil // another process synthesized it while we waited
	}
	b, err := synthesize(ctx, o, cdkContext, dir, filepath.Join(dir, "infra-"+srcKey))
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, fmt.Errorf("synth: cache template: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("synth: cache template: %w", err)
	}
	return b, nil
}

// synthContext is the context the CDK CLI would pass: cdk.json's, the policy, the
// CLI's defaults for metadata, no bundling, then the caller's.
func synthContext(o SynthOptions, policyPath string) (map[string]any, error) {
	raw, err := os.ReadFile(filepath.Join(o.Root, "cdk.json"))
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		return nil, fmt.Errorf("synth: cdk.json: %w", err)
	}
	c := map[string]any{}
	for k, v := range cdk.Context {
		c[k] = v
	}
	c["policy"] = policyPath
	c["aws:cdk:enable-path-metadata"] = true
	c["aws:cdk:enable-asset-metadata"] = true
	c["aws:cdk:version-reporting"] = false
	c["aws:cdk:bundling-stacks"] = []string{}
	for k, v := range o.Context {
		c[k] = v
	}
	return c, nil
}

// synthKey hashes what the template depends on: the app's sources (srcKey), the
// policy by its contents (not its path, so the same policy in another temporary
// directory is a cache hit), the context, account and region.
func synthKey(o SynthOptions, srcKey, policyPath string, cdkContext map[string]any) (string, error) {
	keyed := map[string]any{}
	for k, v := range cdkContext {
		if k != "policy" {
			keyed[k] = v
		}
	}
	ctxJSON, err := json.Marshal(keyed) // map keys are sorted
	if err != nil {
		return "", fmt.Errorf("synth: %w", err)
	}
	policy, err := os.ReadFile(policyPath)
	if err != nil {
		return "", fmt.Errorf("synth: %w", err)
	}
	h := newKeyHash()
	h.add("sources", []byte(srcKey))
	h.add("env", []byte(o.Account+" "+o.Region))
	h.add("context", ctxJSON)
	h.add("policy", policy)
	return h.sum(), nil
}

var (
	sourceKeysMu sync.Mutex
	sourceKeys   = map[string]string{}
)

// sourceKeyOnce is sourceKey, computed once per process and root: a process does not
// change the sources under its own feet.
func sourceKeyOnce(ctx context.Context, root string) (string, error) {
	sourceKeysMu.Lock()
	defer sourceKeysMu.Unlock()
	if k, ok := sourceKeys[root]; ok {
		return k, nil
	}
	k, err := sourceKey(ctx, root)
	if err == nil {
		sourceKeys[root] = k
	}
	return k, err
}

// sourceKey hashes what the CDK app binary is built from: go.mod, go.sum, the Go and
// embedded files of every package of this module that infra imports, the Go version.
func sourceKey(ctx context.Context, root string) (string, error) {
	h := newKeyHash()
	h.add("version", []byte(synthCacheVersion+" "+runtime.Version()))
	files, err := infraSources(ctx, root)
	if err != nil {
		return "", err
	}
	for _, f := range append([]string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"), filepath.Join(root, "cdk.json")}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("synth: %w", err)
		}
		rel, _ := filepath.Rel(root, f)
		h.add(rel, b)
	}
	return h.sum(), nil
}

type keyHash struct{ h hash.Hash }

func newKeyHash() keyHash { return keyHash{sha256.New()} }

func (k keyHash) add(name string, data []byte) {
	fmt.Fprintf(k.h, "%s %d\n", name, len(data))
	k.h.Write(data)
}

func (k keyHash) sum() string { return hex.EncodeToString(k.h.Sum(nil))[:32] }

// infraSources lists the Go and embedded files of the module's packages infra builds
// from (go list -deps), sorted.
func infraSources(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`, "./infra")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("synth: go list -deps ./infra: %w\n%s", err, stderr.Bytes())
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		for _, f := range fields[1:] {
			files = append(files, filepath.Join(fields[0], f))
		}
	}
	sort.Strings(files)
	return files, nil
}

// synthesize runs the CDK app (building it into bin first unless it is there) into a
// temporary cloud assembly and returns the stack's template. The caller holds the lock.
func synthesize(ctx context.Context, o SynthOptions, cdkContext map[string]any, dir, bin string) ([]byte, error) {
	tmp, err := os.MkdirTemp(dir, "synth-")
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if !exists(bin) {
		fmt.Fprintf(o.Progress, "synth: building the CDK app (the first build on a machine compiles the jsii bindings: minutes)\n")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin+".tmp", "./infra")
		build.Dir = o.Root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("synth: go build ./infra: %w\n%s", err, out)
		}
		if err := os.Rename(bin+".tmp", bin); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		removeOldApps(dir, filepath.Base(bin))
	}
	fmt.Fprintf(o.Progress, "synth: synthesizing the stack for %s\n", o.Policy)
	ctxJSON, err := json.Marshal(cdkContext)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	outdir := filepath.Join(tmp, "cdk.out")
	run := exec.CommandContext(ctx, bin)
	run.Dir = o.Root
	run.Env = append(os.Environ(), "CDK_OUTDIR="+outdir, "CDK_CONTEXT_JSON="+string(ctxJSON),
		"CDK_DEFAULT_ACCOUNT="+o.Account, "CDK_DEFAULT_REGION="+o.Region,
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "TMPDIR="+tmp)
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Run(); err != nil {
		return nil, fmt.Errorf("synth: the CDK app failed: %w\n%s", err, out.Bytes())
	}
	template, err := stackTemplate(outdir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "synth: template synthesized in %s\n", time.Since(start).Round(100*time.Millisecond))
	return template, nil
}

// removeOldApps deletes app binaries built from other sources (~150 MB each).
func removeOldApps(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "infra-*"))
	for _, f := range old {
		if filepath.Base(f) != keep && !strings.HasSuffix(f, ".tmp") {
			os.Remove(f)
		}
	}
}

// stackTemplate reads the template of the cloud assembly's only stack.
func stackTemplate(outdir string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(outdir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("synth: cloud assembly: %w", err)
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type       string `json:"type"`
			Properties struct {
				TemplateFile string `json:"templateFile"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, fmt.Errorf("synth: manifest.json: %w", err)
	}
	var files []string
	for _, a := range manifest.Artifacts {
		if a.Type == "aws:cloudformation:stack" {
			files = append(files, a.Properties.TemplateFile)
		}
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("synth: want one stack in the cloud assembly, found %d", len(files))
	}
	return os.ReadFile(filepath.Join(outdir, files[0]))
}
