// Command testenv-build builds and caches the binaries internal/testenv needs (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, built from the Go
// module proxy) so CI can prebuild them before `make test`, and the AWS Lambda Runtime
// Interface Emulator the runtime cross-check test uses. It prints progress to stderr and
// exits 0 once the binaries are cached.
//
//	go run ./internal/testenv/cmd/testenv-build [-controllers=false] [-rie=false]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

func main() {
	rie := flag.Bool("rie", true, "also build the AWS Lambda Runtime Interface Emulator")
	controllers := flag.Bool("controllers", true, "also build kube-controller-manager, kube-scheduler and kwok")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	ensure := testenv.EnsureControllers
	if !*controllers {
		ensure = testenv.EnsureKube
	}
	bins, err := ensure(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv-build: %v\n", err)
		os.Exit(1)
	}
	for _, b := range []struct{ name, path string }{
		{"etcd", bins.Etcd},
		{"kube-apiserver", bins.APIServer},
		{"kube-controller-manager", bins.ControllerManager},
		{"kube-scheduler", bins.Scheduler},
		{"kwok", bins.Kwok},
	} {
		if b.path != "" {
			fmt.Fprintf(os.Stderr, "testenv-build: %s %s\n", b.name, b.path)
		}
	}
	if *rie {
		bin, err := testenv.EnsureRIE(ctx, os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testenv-build: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "testenv-build: aws-lambda-rie %s\n", bin)
	}
	fmt.Fprintf(os.Stderr, "testenv-build: ready in %s\n", time.Since(start).Round(time.Second))
}
