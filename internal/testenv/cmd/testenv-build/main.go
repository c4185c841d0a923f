// Command testenv-build builds and caches the binaries internal/testenv needs (etcd and
// kube-apiserver, built from the Go module proxy) so CI can prebuild them before
// `make test`, and the AWS Lambda Runtime Interface Emulator the runtime cross-check test
// uses. It prints progress to stderr and exits 0 once the binaries are cached.
//
//	go run ./internal/testenv/cmd/testenv-build [-rie=false]
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	bins, err := testenv.EnsureKube(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv-build: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "testenv-build: etcd %s\ntestenv-build: kube-apiserver %s\n", bins.Etcd, bins.APIServer)
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
