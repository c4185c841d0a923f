package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type echoResponse struct {
	Echo         any    `json:"echo"`
	RequestID    string `json:"requestId"`
	FunctionARN  string `json:"functionArn"`
	FunctionName string `json:"functionName"`
	HasDeadline  bool   `json:"hasDeadline"`
	Invocations  int    `json:"invocations"`
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a function's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEcho(t *testing.T, opts FunctionOptions) *Function {
	t.Helper()
	opts.Binary = echoBinary(t)
	if opts.Name == "" {
		opts.Name = "echofn"
	}
	f, err := StartFunction(context.Background(), opts)
	if err != nil {
		t.Fatalf("StartFunction: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return f
}

func invoke(t *testing.T, f *Function, payload string) Result {
	t.Helper()
	res, err := f.Invoke(context.Background(), []byte(payload))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", payload, err)
	}
	return res
}

func decodeEcho(t *testing.T, res Result) echoResponse {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("function error: %v", res.Error)
	}
	var got echoResponse
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("decode response %q: %v", res.Payload, err)
	}
	return got
}

func TestFunctionInvoke(t *testing.T) {
	logs := &syncBuffer{}
	f := startEcho(t, FunctionOptions{Name: "onpush", Region: "eu-west-1", Logs: logs})

	first := invoke(t, f, `{"echo": {"repository": "mlops/retail-api"}}`)
	want := echoResponse{
		Echo:         map[string]any{"repository": "mlops/retail-api"},
		RequestID:    first.RequestID,
		FunctionARN:  "arn:aws:lambda:eu-west-1:123456789012:function:onpush",
		FunctionName: "onpush",
		HasDeadline:  true,
		Invocations:  1,
	}
	if diff := cmp.Diff(want, decodeEcho(t, first)); diff != "" {
		t.Errorf("first response (-want +got):\n%s", diff)
	}
	if !first.Cold || first.InitDuration <= 0 {
		t.Errorf("first invocation: Cold = %v, InitDuration = %v; want a cold start with its init duration", first.Cold, first.InitDuration)
	}
	if first.Duration <= 0 {
		t.Errorf("first invocation: Duration = %v, want > 0", first.Duration)
	}

	second := invoke(t, f, `{"echo": 2}`)
	want.Echo, want.RequestID, want.Invocations = float64(2), second.RequestID, 2
	if diff := cmp.Diff(want, decodeEcho(t, second)); diff != "" {
		t.Errorf("warm response (-want +got):\n%s", diff)
	}
	if second.Cold || second.InitDuration != 0 {
		t.Errorf("second invocation: Cold = %v, InitDuration = %v; want a warm invocation", second.Cold, second.InitDuration)
	}
	if first.RequestID == second.RequestID {
		t.Errorf("request ids repeat: %s", first.RequestID)
	}
	out := logs.String()
	for _, s := range []string{"echofn: init", "REPORT RequestId: " + first.RequestID, "Init Duration:", "REPORT RequestId: " + second.RequestID} {
		if !strings.Contains(out, s) {
			t.Errorf("logs lack %q:\n%s", s, out)
		}
	}
}

func TestFunctionErrors(t *testing.T) {
	ignoreStack := cmpopts.IgnoreFields(FunctionError{}, "StackTrace")
	tests := []struct {
		name      string
		payload   string
		want      *FunctionError
		wantStack bool
		wantCold  bool // the next invocation needs a new process
	}{
		{
			name:    "returned error",
			payload: `{"error": "image not found"}`,
			want:    &FunctionError{Message: "image not found", Type: "echoError"},
		},
		{
			name:      "panic",
			payload:   `{"panic": "nil map"}`,
			want:      &FunctionError{Message: "nil map", Type: "string"},
			wantStack: true,
			wantCold:  true,
		},
		{
			name:     "process exits",
			payload:  `{"exit": 3}`,
			want:     &FunctionError{Message: "Runtime exited with error: exit status 3", Type: "Runtime.ExitError"},
			wantCold: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startEcho(t, FunctionOptions{})
			invoke(t, f, `{}`)
			res := invoke(t, f, tt.payload)
			if diff := cmp.Diff(tt.want, res.Error, ignoreStack); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if res.Payload != nil {
				t.Errorf("payload = %q, want none", res.Payload)
			}
			if got := res.Error != nil && len(res.Error.StackTrace) > 0; got != tt.wantStack {
				t.Errorf("stack trace present = %v, want %v", got, tt.wantStack)
			}
			next := invoke(t, f, `{"echo": "after"}`)
			got := decodeEcho(t, next)
			if next.Cold != tt.wantCold {
				t.Errorf("next invocation Cold = %v, want %v", next.Cold, tt.wantCold)
			}
			wantCount := 3
			if tt.wantCold {
				wantCount = 1
			}
			if got.Invocations != wantCount {
				t.Errorf("next invocation is number %d of its process, want %d", got.Invocations, wantCount)
			}
		})
	}
}

func TestFunctionTimeout(t *testing.T) {
	tests := []struct {
		name    string
		fault   Fault
		payload string
	}{
		{name: "handler runs past the deadline", payload: `{"sleepMs": 5000}`},
		{name: "injected timeout", fault: FaultTimeout, payload: `{"echo": 1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			f := startEcho(t, FunctionOptions{Timeout: 300 * time.Millisecond, Logs: logs})
			invoke(t, f, `{}`)
			if tt.fault != FaultNone {
				f.InjectFault(tt.fault)
			}
			res := invoke(t, f, tt.payload)
			want := &FunctionError{Message: "Task timed out after 0.30 seconds", Type: "Sandbox.Timedout"}
			if diff := cmp.Diff(want, res.Error); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !res.TimedOut {
				t.Error("TimedOut = false, want true")
			}
			if !strings.Contains(logs.String(), "REPORT RequestId: "+res.RequestID) || !strings.Contains(logs.String(), "Status: timeout") {
				t.Errorf("logs lack the timeout report:\n%s", logs)
			}
			next := invoke(t, f, `{"echo": "after"}`)
			if got := decodeEcho(t, next); got.Invocations != 1 || !next.Cold {
				t.Errorf("after a timeout: invocation %d of its process, Cold = %v; want 1, true (the process restarts)", got.Invocations, next.Cold)
			}
		})
	}
}

func TestFunctionDrop(t *testing.T) {
	f := startEcho(t, FunctionOptions{})
	invoke(t, f, `{}`)
	f.InjectFault(FaultDrop)
	res := invoke(t, f, `{"echo": "lost"}`)
	if diff := cmp.Diff(Result{RequestID: res.RequestID, Dropped: true}, res); diff != "" {
		t.Errorf("dropped invocation (-want +got):\n%s", diff)
	}
	got := decodeEcho(t, invoke(t, f, `{}`))
	if got.Invocations != 2 {
		t.Errorf("the function saw %d invocations, want 2 (the dropped one never arrived)", got.Invocations)
	}
}

func TestFunctionInitError(t *testing.T) {
	f := startEcho(t, FunctionOptions{Env: map[string]string{"ECHOFN_INIT_ERROR": "missing POLICY_PATH"}})
	for i := range 2 { // Lambda retries init on the next invocation
		res := invoke(t, f, `{}`)
		want := &FunctionError{Message: "missing POLICY_PATH", Type: "Runtime.EchoInitError"}
		if diff := cmp.Diff(want, res.Error); diff != "" {
			t.Errorf("invocation %d: error (-want +got):\n%s", i, diff)
		}
		if !res.Cold {
			t.Errorf("invocation %d: Cold = false, want true", i)
		}
	}
}

func TestFunctionsSideBySide(t *testing.T) {
	fns := []*Function{startEcho(t, FunctionOptions{Name: "onpush"}), startEcho(t, FunctionOptions{Name: "onscan"})}
	var wg sync.WaitGroup
	got := make([][]string, len(fns))
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				res, err := f.Invoke(context.Background(), []byte(`{}`))
				if err != nil || res.Error != nil {
					t.Errorf("%s: %v %v", f.Name(), err, res.Error)
					return
				}
				var r echoResponse
				json.Unmarshal(res.Payload, &r)
				got[i] = append(got[i], r.FunctionName)
			}
		}()
	}
	wg.Wait()
	want := [][]string{
		{"onpush", "onpush", "onpush", "onpush", "onpush"},
		{"onscan", "onscan", "onscan", "onscan", "onscan"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses by function (-want +got):\n%s", diff)
	}
}

func TestRuntimeAPIRejectsUnknownRequest(t *testing.T) {
	f := startEcho(t, FunctionOptions{})
	for _, path := range []string{"/invocation/no-such-id/response", "/invocation/no-such-id/error"} {
		resp, err := http.Post("http://"+f.RuntimeAPI()+runtimeAPIPrefix+path, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s: status %d, want 400", path, resp.StatusCode)
		}
	}
}

func TestInvokeAfterStop(t *testing.T) {
	f := startEcho(t, FunctionOptions{})
	f.Stop()
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); err != ErrFunctionStopped {
		t.Errorf("Invoke after Stop: error %v, want ErrFunctionStopped", err)
	}
}

func BenchmarkInvokeWarm(b *testing.B) {
	f, err := StartFunction(context.Background(), FunctionOptions{Binary: echoBinary(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	payload := []byte(`{"echo": {"repository": "mlops/retail-api", "tag": "v1.4.0"}}`)
	if _, err := f.Invoke(context.Background(), payload); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := f.Invoke(context.Background(), payload)
		if err != nil || res.Error != nil {
			b.Fatal(err, res.Error)
		}
	}
}

// BenchmarkColdStart measures a compiled function's cold start through the Runtime API:
// process start to its first /next (init-ms) and the first invocation (first-invoke-ms).
func BenchmarkColdStart(b *testing.B) {
	bin := echoBinary(b)
	var init, first time.Duration
	for b.Loop() {
		f, err := StartFunction(context.Background(), FunctionOptions{Binary: bin})
		if err != nil {
			b.Fatal(err)
		}
		res, err := f.Invoke(context.Background(), []byte(`{}`))
		f.Stop()
		if err != nil || res.Error != nil || !res.Cold {
			b.Fatal(err, res.Error, res.Cold)
		}
		init += res.InitDuration
		first += res.Duration
	}
	b.ReportMetric(float64(init.Microseconds())/1000/float64(b.N), "init-ms")
	b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "first-invoke-ms")
}

// TestInvokeReturnsAfterTheLogs: an invocation's output, stdout and stderr
// in the order written, is in the log writer when Invoke returns, and its
// REPORT line comes after it, as in CloudWatch Logs.
func TestInvokeReturnsAfterTheLogs(t *testing.T) {
	logs := &syncBuffer{}
	f := startEcho(t, FunctionOptions{Logs: logs})
	for i := range 20 {
		res := invoke(t, f, fmt.Sprintf(`{"echo": %d, "log": "line %d"}`, i, i))
		out := logs.String()
		line := fmt.Sprintf("echofn log: line %d\n", i)
		report := "REPORT RequestId: " + res.RequestID
		if !strings.Contains(out, line) {
			t.Fatalf("invocation %d returned before its log line was written:\n%s", i, out)
		}
		if strings.Index(out, line) > strings.Index(out, report) {
			t.Fatalf("invocation %d: REPORT before the function's log line:\n%s", i, out)
		}
	}
}
