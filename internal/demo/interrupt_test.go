package demo

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// TestInterruptLeavesNothing runs `ecrwarden demo` as a user would, presses
// Ctrl-C in the middle of the story, and checks that no process it started
// survives and nothing is left in its temporary directory.
func TestInterruptLeavesNothing(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "ecrwarden")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/ecrwarden")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tmp := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "demo")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	sc := bufio.NewScanner(stdout)
	interrupted := false
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if !interrupted && strings.Contains(sc.Text(), "CRITICAL CVE") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			interrupted = true
		}
	}
	err = cmd.Wait()
	if !interrupted {
		t.Fatalf("the story never reached v1.1.0 (exit %v):\n%s", err, strings.Join(seen, "\n"))
	}
	if err == nil {
		t.Errorf("an interrupted demo exited 0")
	}
	// Every process the demo started (etcd, kube-apiserver, the function
	// binaries) runs from or writes to TMPDIR: none may remain.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesMentioning(tmp)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running after Ctrl-C: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// go build leaves nothing behind; the demo must not either.
	if len(names) > 0 {
		t.Errorf("left in TMPDIR after Ctrl-C: %v", names)
	}
}

// processesMentioning lists the command lines that contain s.
func processesMentioning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}
