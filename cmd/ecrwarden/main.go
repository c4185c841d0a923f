// Command ecrwarden is the local companion of the ecrwarden functions:
// it checks policy files, prints their JSON Schema, and (as the suite
// grows) runs the emulated suite, plans gc against a real account and
// replays events.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
