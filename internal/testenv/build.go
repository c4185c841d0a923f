package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// KubeVersion is the Kubernetes release the control plane is built from.
const KubeVersion = "v1.37.2"

// stagingVersion is the version of the k8s.io staging modules released with KubeVersion.
const stagingVersion = "v0.37.2"

// RIEVersion is the pseudo-version of the AWS Lambda Runtime Interface Emulator the module proxy serves.
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// KwokVersion is the release of sigs.k8s.io/kwok (the node and Pod simulator) that is built.
const KwokVersion = "v0.8.0"

// KubeBinaries holds the absolute paths of the cached control-plane binaries.
type KubeBinaries struct {
	// Etcd is the etcd server binary.
	Etcd string
	// APIServer is the kube-apiserver binary.
	APIServer string
	// ControllerManager is the kube-controller-manager binary; empty unless built by
	// EnsureControllers.
	ControllerManager string
	// Scheduler is the kube-scheduler binary; empty unless built by EnsureControllers.
	Scheduler string
	// Kwok is the kwok binary (simulated nodes and Pod lifecycles); empty unless built
	// by EnsureControllers.
	Kwok string
}

// hasControllers reports whether the binaries a cluster with controllers needs are set.
func (b KubeBinaries) hasControllers() bool {
	return b.ControllerManager != "" && b.Scheduler != "" && b.Kwok != ""
}

// CacheDir returns the directory the built binaries are cached in:
// $ECRWARDEN_CACHE if set, else $XDG_CACHE_HOME/ecrwarden, else $HOME/.cache/ecrwarden.
func CacheDir() (string, error) {
	if d := os.Getenv("ECRWARDEN_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "ecrwarden"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w", err)
	}
	return filepath.Join(home, ".cache", "ecrwarden"), nil
}

// kubeDir is the cache subdirectory keyed by kube version and Go version.
func kubeDir() (string, error) {
	base, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "kube-"+KubeVersion+"-"+runtime.Version()), nil
}

// EnsureKube returns the cached etcd and kube-apiserver binaries, building them from the
// Go module proxy first if they are missing (about 9 minutes on 2 cores, once). Progress
// lines go to progress, which may be nil. Concurrent callers (several test packages) are
// serialised by a lock file; binaries are written under a temporary name and renamed.
func EnsureKube(ctx context.Context, progress io.Writer) (KubeBinaries, error) {
	dir, err := kubeDir()
	if err != nil {
		return KubeBinaries{}, err
	}
	bins := KubeBinaries{
		Etcd:      filepath.Join(dir, "bin", "etcd"),
		APIServer: filepath.Join(dir, "bin", "kube-apiserver"),
	}
	if exists(bins.Etcd) && exists(bins.APIServer) {
		return bins, nil
	}
	if progress == nil {
		progress = io.Discard
	}
	unlock, err := lockDir(ctx, dir, progress)
	if err != nil {
		return KubeBinaries{}, err
	}
	defer unlock()
	if exists(bins.Etcd) && exists(bins.APIServer) {
		return bins, nil // another process built them while we waited
	}
	start := time.Now()
	fmt.Fprintf(progress, "testenv: building etcd and kube-apiserver %s into %s (takes minutes, once)\n", KubeVersion, dir)
	src := filepath.Join(dir, "src")
	if err := writeKubeWrapper(ctx, src, progress); err != nil {
		return KubeBinaries{}, err
	}
	if err := goBuild(ctx, src, bins.APIServer, "k8s.io/kubernetes/cmd/kube-apiserver", kubeLDFlags, progress); err != nil {
		return KubeBinaries{}, err
	}
	if err := goBuild(ctx, src, bins.Etcd, "go.etcd.io/etcd/server/v3", "-s -w", progress); err != nil {
		return KubeBinaries{}, err
	}
	fmt.Fprintf(progress, "testenv: control plane built in %s\n", time.Since(start).Round(time.Second))
	return bins, nil
}

// kubeLDFlags strip the Kubernetes binaries and stamp their version (what /version and
// the components' version checks report).
const kubeLDFlags = "-s -w -X k8s.io/component-base/version.gitVersion=" + KubeVersion

// EnsureControllers returns everything EnsureKube does plus kube-controller-manager and
// kube-scheduler (KubeVersion, built beside kube-apiserver from the same wrapper module)
// and kwok (KwokVersion, in its own wrapper module and cache directory: it is built
// against older k8s.io libraries than the control plane). What is missing is built from
// the Go module proxy first: with the API server's build cache warm about 11 minutes for
// the two Kubernetes components and 7 for kwok on 2 cores, once. The binaries EnsureKube
// already cached are never rebuilt or rewritten, so processes using them are undisturbed.
func EnsureControllers(ctx context.Context, progress io.Writer) (KubeBinaries, error) {
	bins, err := EnsureKube(ctx, progress)
	if err != nil {
		return KubeBinaries{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	dir := filepath.Dir(filepath.Dir(bins.APIServer))
	bins.ControllerManager = filepath.Join(dir, "bin", "kube-controller-manager")
	bins.Scheduler = filepath.Join(dir, "bin", "kube-scheduler")
	if !exists(bins.ControllerManager) || !exists(bins.Scheduler) {
		if err := buildControllers(ctx, dir, bins, progress); err != nil {
			return KubeBinaries{}, err
		}
	}
	if bins.Kwok, err = ensureKwok(ctx, progress); err != nil {
		return KubeBinaries{}, err
	}
	return bins, nil
}

func buildControllers(ctx context.Context, dir string, bins KubeBinaries, progress io.Writer) error {
	unlock, err := lockDir(ctx, dir, progress)
	if err != nil {
		return err
	}
	defer unlock()
	start := time.Now()
	fmt.Fprintf(progress, "testenv: building kube-controller-manager and kube-scheduler %s into %s (takes minutes, once)\n", KubeVersion, dir)
	src := filepath.Join(dir, "src")
	if err := writeKubeWrapper(ctx, src, progress); err != nil {
		return err
	}
	for _, b := range []struct{ out, pkg string }{
		{bins.ControllerManager, "k8s.io/kubernetes/cmd/kube-controller-manager"},
		{bins.Scheduler, "k8s.io/kubernetes/cmd/kube-scheduler"},
	} {
		if exists(b.out) {
			continue // another process built it while we waited
		}
		if err := goBuild(ctx, src, b.out, b.pkg, kubeLDFlags, progress); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "testenv: controllers built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// ensureKwok builds kwok in its own wrapper module: kwok requires k8s.io libraries of an
// older release (v0.36) than the control plane's staging modules (v0.37), so sharing the
// control plane's module would build kwok against libraries it was not released with.
// Beside the binary it caches kwok's own Stage CustomResourceDefinition from the module
// (kwok reads its Stages from the API server, and the definition must match the binary).
func ensureKwok(ctx context.Context, progress io.Writer) (bin string, err error) {
	base, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "kwok-"+KwokVersion+"-"+runtime.Version())
	bin = filepath.Join(dir, "bin", "kwok")
	crd := kwokStageCRD(bin)
	if exists(bin) && exists(crd) {
		return bin, nil
	}
	unlock, err := lockDir(ctx, dir, progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	src := filepath.Join(dir, "src")
	const mod = "sigs.k8s.io/kwok"
	if !exists(bin) {
		start := time.Now()
		fmt.Fprintf(progress, "testenv: building kwok %s into %s (takes minutes, once)\n", KwokVersion, dir)
		gomod := "// Generated by ecrwarden internal/testenv: a throw-away module to build kwok.\n" +
			"module ecrwarden.invalid/testenv-kwok\n\ngo 1.26.0\n\nrequire " + mod + " " + KwokVersion + "\n"
		tools := "//go:build tools\n\npackage tools\n\nimport _ \"" + mod + "/cmd/kwok\"\n"
		if err := writeModule(ctx, src, gomod, tools, progress); err != nil {
			return "", err
		}
		if err := goBuild(ctx, src, bin, mod+"/cmd/kwok", "-s -w", progress); err != nil {
			return "", err
		}
		fmt.Fprintf(progress, "testenv: kwok built in %s\n", time.Since(start).Round(time.Second))
	}
	if !exists(crd) {
		cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod+"@"+KwokVersion)
		cmd.Env = goEnv()
		cmd.Dir = src
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("download %s@%s: %w\n%s", mod, KwokVersion, err, out)
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
			return "", fmt.Errorf("download %s@%s: no directory in %q", mod, KwokVersion, out)
		}
		b, err := os.ReadFile(filepath.Join(info.Dir, "kustomize", "crd", "bases", "kwok.x-k8s.io_stages.yaml"))
		if err != nil {
			return "", fmt.Errorf("read kwok stage CRD: %w", err)
		}
		if err := writeFileAtomic(crd, b); err != nil {
			return "", fmt.Errorf("cache kwok stage CRD: %w", err)
		}
	}
	return bin, nil
}

// kwokStageCRD is where ensureKwok caches kwok's Stage CustomResourceDefinition (YAML).
func kwokStageCRD(kwokBin string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(kwokBin)), "crd", "kwok.x-k8s.io_stages.yaml")
}

// writeFileAtomic writes b to a temporary file beside path and renames it into place.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// EnsureRIE returns the cached AWS Lambda Runtime Interface Emulator binary, building it
// from the Go module proxy first if it is missing (under a minute).
func EnsureRIE(ctx context.Context, progress io.Writer) (string, error) {
	base, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "rie-"+RIEVersion+"-"+runtime.Version())
	bin := filepath.Join(dir, "bin", "aws-lambda-rie")
	if exists(bin) {
		return bin, nil
	}
	if progress == nil {
		progress = io.Discard
	}
	unlock, err := lockDir(ctx, dir, progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	if exists(bin) {
		return bin, nil
	}
	src := filepath.Join(dir, "src")
	const mod = "github.com/aws/aws-lambda-runtime-interface-emulator"
	gomod := "module ecrwarden.invalid/testenv-rie\n\ngo 1.26.0\n\nrequire " + mod + " " + RIEVersion + "\n"
	tools := "//go:build tools\n\npackage tools\n\nimport _ \"" + mod + "/cmd/aws-lambda-rie\"\n"
	if err := writeModule(ctx, src, gomod, tools, progress); err != nil {
		return "", err
	}
	if err := goBuild(ctx, src, bin, mod+"/cmd/aws-lambda-rie", "-s -w", progress); err != nil {
		return "", err
	}
	return bin, nil
}

// BuildFunction compiles the main package pkg (a path relative to dir, e.g. "./cmd/onpush")
// the way Lambda's provided.al2023 runtime expects it (CGO_ENABLED=0, -tags lambda.norpc)
// into a fresh temporary directory and returns the binary's path. The caller removes it.
func BuildFunction(ctx context.Context, dir, pkg string) (string, error) {
	out, err := os.MkdirTemp("", "ecrwarden-fn-")
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", pkg, err)
	}
	bin := filepath.Join(out, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(out)
		return "", fmt.Errorf("build function %s: %w\n%s", pkg, err, b)
	}
	return bin, nil
}

func writeKubeWrapper(ctx context.Context, src string, progress io.Writer) error {
	staging, err := stagingModules(ctx, progress)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("// Generated by ecrwarden internal/testenv: a throw-away module to build the control plane.\n")
	b.WriteString("module ecrwarden.invalid/testenv-kube\n\ngo 1.26.0\n\n")
	b.WriteString("require k8s.io/kubernetes " + KubeVersion + "\n\nreplace (\n")
	for _, m := range staging {
		fmt.Fprintf(&b, "\t%s => %s %s\n", m, m, stagingVersion)
	}
	b.WriteString(")\n")
	return writeModule(ctx, src, b.String(), kubeTools, progress)
}

// kubeTools is the wrapper module's tools.go: every binary built from it, so that one
// `go mod tidy` covers them all.
const kubeTools = `//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
`

// stagingModules reads kubernetes' own go.mod and returns the modules it replaces with
// ./staging/src directories; the wrapper module points them at their released versions.
func stagingModules(ctx context.Context, progress io.Writer) ([]string, error) {
	fmt.Fprintf(progress, "testenv: downloading k8s.io/kubernetes@%s go.mod\n", KubeVersion)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+KubeVersion)
	cmd.Env = goEnv()
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("download k8s.io/kubernetes@%s: %w\n%s%s", KubeVersion, err, out, stderr.Bytes())
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal(out, &info); err != nil || info.GoMod == "" {
		return nil, fmt.Errorf("download k8s.io/kubernetes@%s: no go.mod in %q", KubeVersion, out)
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return nil, fmt.Errorf("read kubernetes go.mod: %w", err)
	}
	var mods []string
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "replace"))
		if len(f) == 3 && f[1] == "=>" && strings.HasPrefix(f[2], "./staging/src/") {
			mods = append(mods, f[0])
		}
	}
	if len(mods) == 0 {
		return nil, errors.New("kubernetes go.mod lists no staging modules")
	}
	sort.Strings(mods)
	return mods, nil
}

func writeModule(ctx context.Context, src, gomod, tools string, progress io.Writer) error {
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("create wrapper module: %w", err)
	}
	old, _ := os.ReadFile(filepath.Join(src, "go.mod"))
	if !bytes.HasPrefix(old, []byte(gomod)) { // tidy appends requires; keep a tidied module
		if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
			return fmt.Errorf("write wrapper go.mod: %w", err)
		}
		os.Remove(filepath.Join(src, "go.sum"))
		os.Remove(filepath.Join(src, ".tidied"))
	}
	// A stamp of what the last successful tidy saw: rebuilding one more binary from an
	// unchanged module skips the tidy (seconds to a minute of module resolution).
	stamp := filepath.Join(src, ".tidied")
	want := gomod + "\n--- tools.go\n" + tools
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want && exists(filepath.Join(src, "go.sum")) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(src, "tools.go"), []byte(tools), 0o644); err != nil {
		return fmt.Errorf("write wrapper tools.go: %w", err)
	}
	fmt.Fprintf(progress, "testenv: go mod tidy in %s (downloads modules)\n", src)
	if err := runGo(ctx, src, progress, "mod", "tidy"); err != nil {
		return err
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("write wrapper tidy stamp: %w", err)
	}
	return nil
}

func goBuild(ctx context.Context, src, out, pkg, ldflags string, progress io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create bin dir: %w", err)
	}
	tmp := out + ".tmp"
	start := time.Now()
	fmt.Fprintf(progress, "testenv: go build %s\n", pkg)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "testenv: still building %s (%s)\n", pkg, time.Since(start).Round(time.Second))
			}
		}
	}()
	if err := runGo(ctx, src, progress, "build", "-trimpath", "-ldflags", ldflags, "-o", tmp, pkg); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("install %s: %w", out, err)
	}
	fmt.Fprintf(progress, "testenv: built %s in %s\n", filepath.Base(out), time.Since(start).Round(time.Second))
	return nil
}

func runGo(ctx context.Context, dir string, progress io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(&out, progress)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out.Bytes())
	}
	return nil
}

// goEnv is the environment for building the wrapper modules: isolated from the caller's
// workspace and flags, never switching toolchains.
func goEnv() []string {
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOWORK", "GOFLAGS", "GOTOOLCHAIN", "CGO_ENABLED", "GOOS", "GOARCH":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lockDir takes an exclusive flock on dir/.lock, waiting (and saying so) while another
// process holds it.
func lockDir(ctx context.Context, dir string, progress io.Writer) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cache lock: %w", err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock cache dir: %w", err)
		}
		if !said {
			fmt.Fprintf(progress, "testenv: waiting for another process building into %s\n", dir)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock cache dir: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func exists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
