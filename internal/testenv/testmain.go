package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// SkipMessage is the reason tests give when the control plane is not running.
const SkipMessage = "kube-apiserver: skipped in -short mode"

// RequireControlPlane skips t in -short mode, the one case where no control
// plane runs. Outside -short a missing control plane fails the test: it
// means TestMain did not start one, and a skip would hide that.
func RequireControlPlane(t testing.TB, running bool) {
	t.Helper()
	if testing.Short() {
		t.Skip(SkipMessage)
	}
	if !running {
		t.Fatal("no control plane outside -short mode: start one in TestMain (testenv.RunWithKube or sandbox.RunTests)")
	}
}

// RunWithKube is a TestMain helper: it starts one control plane for the tests of a
// package, hands it to setup, runs the tests and always stops it again, returning the
// exit code for os.Exit:
//
//	var kube *testenv.Kube
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.RunWithKube(m, func(k *testenv.Kube) { kube = k }))
//	}
//
// With -short it starts nothing and calls setup(nil); tests that need the control plane
// then call testenv.RequireControlPlane, which skips them. Otherwise a failure to build or start the
// control plane fails the package. On SIGINT or SIGTERM it stops the processes and
// removes the data directory before exiting. A test binary that dies without cleaning
// up (a -timeout panic) still takes the processes with it (Pdeathsig), and its data
// directory is removed by the next StartKube.
func RunWithKube(m *testing.M, setup func(*Kube)) (code int) {
	return RunWithKubeOptions(m, KubeOptions{}, setup)
}

// RunWithKubeOptions is RunWithKube with options, e.g. Controllers for a control plane
// where workloads really roll. Progress and a StartTimeout of two minutes are filled in
// when unset.
func RunWithKubeOptions(m *testing.M, opts KubeOptions, setup func(*Kube)) (code int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		setup(nil)
		return m.Run()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	start := time.Now()
	started := make(chan *Kube, 1)
	go func() {
		select {
		case sig := <-sigs:
			cancel()
			select {
			case k := <-started:
				if k != nil {
					k.Stop()
				}
			case <-time.After(10 * time.Second):
			}
			fmt.Fprintf(os.Stderr, "testenv: %v: control plane stopped\n", sig)
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	k, err := StartKube(ctx, opts)
	started <- k
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			k.Stop()
			panic(r)
		}
		if err := k.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop control plane: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "testenv: control plane ready in %s at %s\n", time.Since(start).Round(time.Millisecond), k.Admin.Host)
	setup(k)
	return m.Run()
}
