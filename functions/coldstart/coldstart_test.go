package coldstart

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// functions are the binaries measured: the baseline first, then the SDK's
// share of every function's init, then the functions.
var functions = []struct {
	name, pkg string
}{
	{"minimal", "./functions/coldstart/testdata/minimal"},
	{"sdkonly", "./functions/coldstart/testdata/sdkonly"},
	{"onpush", "./functions/onpush"},
	{"onscan", "./functions/onscan"},
	{"gc", "./functions/gc"},
}

var (
	buildOnce sync.Once
	binaries  map[string]string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build compiles every function once per process, with the flags of the
// stack's bundler (infra/bundle.go) for this machine's architecture.
func build(tb testing.TB) map[string]string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ecrwarden-coldstart-")
		if buildErr != nil {
			return
		}
		binaries = map[string]string{}
		for _, f := range functions {
			bin := filepath.Join(buildDir, f.name, "bootstrap")
			cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, f.pkg)
			cmd.Dir = "../.."
			cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", f.pkg, err, out)
				return
			}
			binaries[f.name] = bin
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binaries
}

// env is what the stack sets for every function: enough for init (the
// policy, the configuration) without any endpoint, since init makes no call.
func env(tb testing.TB) map[string]string {
	tb.Helper()
	policy, err := filepath.Abs("../../ecrwarden.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]string{
		"ECRWARDEN_POLICY":       policy,
		"ECRWARDEN_EVENT_BUS":    "ecrwarden",
		"ECRWARDEN_DEDUPE_TABLE": "ecrwarden-dedupe",
		"ECRWARDEN_TOPIC_ARN":    "arn:aws:sns:us-east-1:123456789012:ecrwarden-alerts",
		"ECRWARDEN_SLACK_SECRET": "ecrwarden/slack-webhook",
	}
}

// coldStart starts bin through the Runtime API, invokes it once and returns
// its init duration: process start to its first /invocation/next, that is
// package init, main's configuration and clients, up to lambda.Start.
func coldStart(tb testing.TB, name, bin string, env map[string]string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	f, err := testenv.StartFunction(ctx, testenv.FunctionOptions{Binary: bin, Name: name, Env: env, MemoryMB: 256})
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Stop()
	// An empty payload: each function refuses it at once, without a call.
	res, err := f.Invoke(ctx, []byte(`{}`))
	if err != nil {
		tb.Fatal(err)
	}
	if !res.Cold || res.InitDuration <= 0 {
		tb.Fatalf("%s: cold %v, init %v (error %v); want a cold start", name, res.Cold, res.InitDuration, res.Error)
	}
	if res.Error != nil && res.Error.Type == "Runtime.ExitError" {
		tb.Fatalf("%s exited: %v", name, res.Error)
	}
	return res.InitDuration
}

// BenchmarkColdStart cold-starts the minimal function, the SDK-only one and
// onpush, onscan and gc in turn (the order rotates every iteration, so that
// none always follows another), and reports each one's median init time
// and its ratio to the minimal function's, measured in the same run:
//
//	go test -run '^$' -bench ColdStart -count 10 ./functions/coldstart | tee cold.txt
//	benchstat cold.txt
func BenchmarkColdStart(b *testing.B) {
	bins := build(b)
	e := env(b)
	inits := map[string][]time.Duration{}
	for i := 0; b.Loop(); i++ {
		for j := range functions {
			f := functions[(i+j)%len(functions)]
			inits[f.name] = append(inits[f.name], coldStart(b, f.name, bins[f.name], e))
		}
	}
	base := median(inits["minimal"])
	for _, f := range functions {
		m := median(inits[f.name])
		b.ReportMetric(float64(m)/float64(time.Millisecond), f.name+"-init-ms")
		if f.name != "minimal" {
			b.ReportMetric(float64(m)/float64(base), f.name+"/minimal")
		}
	}
}

// TestColdStart starts each function once: init succeeds without any
// endpoint, and the benchmark's setup works.
func TestColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four functions: skipped in -short mode")
	}
	bins := build(t)
	for _, f := range functions {
		if d := coldStart(t, f.name, bins[f.name], env(t)); d <= 0 {
			t.Errorf("%s: init %v", f.name, d)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
