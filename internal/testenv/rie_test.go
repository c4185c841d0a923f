package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestRuntimeMatchesRIE runs the same compiled function under the AWS Lambda Runtime
// Interface Emulator and under this package's Runtime API server, and checks that the
// function sees the same invocation and that responses and error shapes agree.
func TestRuntimeMatchesRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("aws-lambda-rie: skipped in -short mode")
	}
	ctx := context.Background()
	rie, err := EnsureRIE(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	bin := echoBinary(t)
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	var logs bytes.Buffer
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--log-level", "error",
		bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_FUNCTION_NAME=echofn", "AWS_LAMBDA_FUNCTION_TIMEOUT=3"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	invokeRIE := func(payload string) (int, []byte) {
		t.Helper()
		url := "http://" + addr + "/2015-03-31/functions/function/invocations"
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Post(url, "application/json", bytes.NewBufferString(payload))
			if err != nil {
				if time.Now().After(deadline) {
					t.Fatalf("invoke RIE: %v\n%s", err, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, b
		}
	}
	ours := startEcho(t, FunctionOptions{})

	ignoreIdentity := cmpopts.IgnoreFields(echoResponse{}, "RequestID", "FunctionARN", "FunctionName")
	for i, payload := range []string{`{"echo": {"tag": "v1.4.0"}}`, `{"echo": [1, "two"]}`} {
		code, body := invokeRIE(payload)
		if code != http.StatusOK {
			t.Fatalf("RIE status %d: %s", code, body)
		}
		var want echoResponse
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("RIE response %q: %v", body, err)
		}
		got := decodeEcho(t, invoke(t, ours, payload))
		if diff := cmp.Diff(want, got, ignoreIdentity); diff != "" {
			t.Errorf("invocation %d: response under RIE (-want) and ours (+got):\n%s", i, diff)
		}
	}

	payload := `{"error": "image not found"}`
	_, body := invokeRIE(payload)
	var want FunctionError
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("RIE error body %q: %v", body, err)
	}
	res := invoke(t, ours, payload)
	if diff := cmp.Diff(&want, res.Error); diff != "" {
		t.Errorf("error shape under RIE (-want) and ours (+got):\n%s", diff)
	}
}
