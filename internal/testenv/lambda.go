package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
)

// Runtime API limits and defaults, as in AWS Lambda.
const (
	runtimeAPIPrefix = "/2018-06-01/runtime"
	// MaxResponseSize is the largest synchronous response payload Lambda accepts (6 MB).
	MaxResponseSize = 6 * 1024 * 1024
	// DefaultTimeout is Lambda's default function timeout.
	DefaultTimeout = 3 * time.Second
	// DefaultInitTimeout is Lambda's limit for the init phase of an on-demand function.
	DefaultInitTimeout = 10 * time.Second
)

// ErrFunctionStopped is returned by Invoke after Stop.
var ErrFunctionStopped = errors.New("function stopped")

// FunctionOptions configures a function run through the Lambda Runtime API server.
type FunctionOptions struct {
	// Binary is the path of the compiled bootstrap (see BuildFunction). Required.
	Binary string
	// Name is AWS_LAMBDA_FUNCTION_NAME; it defaults to the binary's base name.
	Name string
	// Env holds the function's configured environment variables. They are added to the
	// variables Lambda sets and override them (e.g. dummy AWS credentials, endpoints).
	Env map[string]string
	// Timeout is the function timeout; DefaultTimeout when zero.
	Timeout time.Duration
	// InitTimeout bounds process start to the first /next; DefaultInitTimeout when zero.
	InitTimeout time.Duration
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE; 128 when zero.
	MemoryMB int
	// Region is AWS_REGION; "us-east-1" when empty.
	Region string
	// AccountID is used in the invoked function ARN; "123456789012" when empty.
	AccountID string
	// LogFormat is AWS_LAMBDA_LOG_FORMAT ("Text" or "JSON"); "JSON" when empty.
	LogFormat string
	// Logs receives the function's stdout and stderr and a Lambda-style REPORT line per
	// invocation. Writes are serialised. Nil discards them.
	Logs io.Writer
}

// Fault is a failure injected into the next invocation of a Function.
type Fault int

const (
	// FaultNone delivers the invocation normally.
	FaultNone Fault = iota
	// FaultDrop loses the invocation before it reaches the function, as a best-effort
	// event delivery can: the function never sees it and Result.Dropped is set.
	FaultDrop
	// FaultTimeout lets the function receive the invocation, then times it out at once,
	// as when the deadline passes just before the function answers: whatever it answers
	// is discarded, the process is killed and the next invocation starts a new one.
	FaultTimeout
)

// Result is the outcome of one invocation.
type Result struct {
	// RequestID is the Lambda-Runtime-Aws-Request-Id of the invocation.
	RequestID string
	// Payload is the response body the function posted to /response.
	Payload []byte
	// ContentType is the Content-Type of the response.
	ContentType string
	// Error is set when the invocation failed inside the function: an error posted to
	// /error or /init/error, a timeout, or the runtime process exiting.
	Error *FunctionError
	// Cold reports that this invocation started a new runtime process.
	Cold bool
	// InitDuration is process start to its first /next call (cold invocations only).
	InitDuration time.Duration
	// Duration is the time from handing the event to the runtime until it answered.
	Duration time.Duration
	// TimedOut reports that the deadline passed; the process was killed.
	TimedOut bool
	// Dropped reports that FaultDrop lost the invocation before delivery.
	Dropped bool
}

// FunctionError is the error shape of the Runtime API: the JSON body a runtime posts
// to /invocation/{id}/error or /init/error, or the error Lambda itself reports.
type FunctionError struct {
	// Message is errorMessage.
	Message string `json:"errorMessage"`
	// Type is errorType, or the Lambda-Runtime-Function-Error-Type header when set.
	Type string `json:"errorType"`
	// StackTrace is the stackTrace the runtime sent, if any.
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

// Error implements error.
func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Function is a compiled Lambda function run as a child process against a Runtime API
// server of its own on a loopback port. Invocations are serialised, as in one Lambda
// execution environment; start several Functions to run functions side by side.
type Function struct {
	opts    FunctionOptions
	arn     string
	ln      net.Listener
	srv     *http.Server
	logs    *lockedWriter
	invokes sync.Mutex // one invocation at a time

	mu      sync.Mutex
	proc    *process
	pending chan *invocation // the invocation waiting for /next
	current map[string]*invocation
	faults  []Fault
	stopped bool
}

type process struct {
	cmd       *exec.Cmd
	started   time.Time
	ready     chan struct{} // closed at the first /next
	readyOnce sync.Once
	readyAt   time.Time           // set before ready is closed
	claimed   bool                // an invocation has reported this process's init; guarded by Function.invokes
	idle      chan struct{}       // a token per /next call: the runtime waits for an event
	initErr   chan *FunctionError // /init/error
	exited    chan struct{}       // closed when the process has exited and its output was copied
	exitErr   error
	output    *outputPipe
}

func (p *process) isReady() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

// process returns the current runtime process, starting a new one when there is none,
// it has exited, or fresh is set.
func (f *Function) process(fresh bool) (*process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.proc; p != nil && !fresh {
		select {
		case <-p.exited:
		default:
			return p, nil
		}
	}
	return f.startProcessLocked()
}

func (p *process) markReady() {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		close(p.ready)
	})
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	handed   chan time.Time // when /next delivered it
	done     chan outcome
	once     sync.Once
}

type outcome struct {
	at          time.Time
	payload     []byte
	contentType string
	err         *FunctionError
}

func (inv *invocation) finish(o outcome) bool {
	ok := false
	inv.once.Do(func() { inv.done <- o; ok = true })
	return ok
}

// StartFunction starts the Runtime API server for a function and its runtime process
// (the cold start happens now, like a provisioned environment; its init duration is
// reported on the first invocation).
func StartFunction(ctx context.Context, opts FunctionOptions) (*Function, error) {
	if opts.Binary == "" {
		return nil, errors.New("start function: no binary")
	}
	bin, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("start function: %w", err)
	}
	opts.Binary = bin
	if opts.Name == "" {
		opts.Name = filepath.Base(bin)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = DefaultInitTimeout
	}
	if opts.MemoryMB <= 0 {
		opts.MemoryMB = 128
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.LogFormat == "" {
		opts.LogFormat = "JSON"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start function %s: %w", opts.Name, err)
	}
	f := &Function{
		opts:    opts,
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", opts.Region, opts.AccountID, opts.Name),
		ln:      ln,
		logs:    &lockedWriter{w: opts.Logs},
		pending: make(chan *invocation, 1),
		current: map[string]*invocation{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIPrefix+"/invocation/next", f.handleNext)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/response", f.handleResponse)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/error", f.handleError)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/init/error", f.handleInitError)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	f.mu.Lock()
	_, err = f.startProcessLocked()
	f.mu.Unlock()
	if err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// Name returns the function name.
func (f *Function) Name() string { return f.opts.Name }

// ARN returns the function ARN sent in Lambda-Runtime-Invoked-Function-Arn.
func (f *Function) ARN() string { return f.arn }

// RuntimeAPI returns the host:port of the function's Runtime API (AWS_LAMBDA_RUNTIME_API).
func (f *Function) RuntimeAPI() string { return f.ln.Addr().String() }

// InjectFault queues a fault for the next invocation that has none queued before it.
func (f *Function) InjectFault(fault Fault) {
	f.mu.Lock()
	f.faults = append(f.faults, fault)
	f.mu.Unlock()
}

func (f *Function) env() []string {
	env := map[string]string{
		"PATH":                            os.Getenv("PATH"),
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"LAMBDA_TASK_ROOT":                filepath.Dir(f.opts.Binary),
		"LAMBDA_RUNTIME_DIR":              filepath.Dir(f.opts.Binary),
		"_HANDLER":                        "bootstrap",
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"AWS_LAMBDA_RUNTIME_API":          f.RuntimeAPI(),
		"AWS_LAMBDA_FUNCTION_NAME":        f.opts.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.opts.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + f.opts.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16),
		"AWS_LAMBDA_LOG_FORMAT":           f.opts.LogFormat,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      f.opts.Region,
		"AWS_DEFAULT_REGION":              f.opts.Region,
		// Lambda always provides role credentials; dummy ones keep the SDK from
		// looking further (IMDS) when a test does not set its own.
		"AWS_ACCESS_KEY_ID":     "AKIDTESTENVLAMBDA",
		"AWS_SECRET_ACCESS_KEY": "testenv-secret",
		"AWS_SESSION_TOKEN":     "testenv-session",
		// Every service a test does not point at an emulator
		// (AWS_ENDPOINT_URL_<SERVICE>) goes to a closed loopback port: a
		// test never reaches a real AWS endpoint, and a forgotten endpoint
		// fails at once instead of waiting on DNS.
		"AWS_ENDPOINT_URL": unreachableEndpoint,
		// STS keeps its real regional endpoint: the functions only presign
		// GetCallerIdentity URLs with it (EKS tokens, verified by the
		// cluster's token webhook by their STS host), they never call it.
		"AWS_ENDPOINT_URL_STS": "https://sts." + f.opts.Region + ".amazonaws.com",
	}
	for k, v := range f.opts.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// unreachableEndpoint is a loopback URL nothing listens on (port 9, discard).
const unreachableEndpoint = "http://127.0.0.1:9"

// startProcessLocked starts a new runtime process; f.mu is held.
func (f *Function) startProcessLocked() (*process, error) {
	if f.stopped {
		return nil, ErrFunctionStopped
	}
	cmd := exec.Command(f.opts.Binary)
	cmd.Dir = filepath.Dir(f.opts.Binary)
	cmd.Env = f.env()
	output, err := newOutputPipe(f.logs)
	if err != nil {
		return nil, fmt.Errorf("start function %s: %w", f.opts.Name, err)
	}
	cmd.Stdout = output.w
	cmd.Stderr = output.w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &process{
		cmd:     cmd,
		ready:   make(chan struct{}),
		idle:    make(chan struct{}, 1),
		initErr: make(chan *FunctionError, 1),
		exited:  make(chan struct{}),
		output:  output,
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		output.close()
		return nil, fmt.Errorf("start function %s: %w", f.opts.Name, err)
	}
	go func() {
		p.exitErr = cmd.Wait()
		output.close()
		close(p.exited)
	}()
	f.proc = p
	return p, nil
}

// kill ends the process group of p and waits for it to exit.
func (p *process) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.exited
}

func (p *process) exitMessage() string {
	if p.exitErr == nil {
		return "Runtime exited without providing a reason"
	}
	return "Runtime exited with error: " + p.exitErr.Error()
}

// Invoke sends payload to the function synchronously (RequestResponse) and waits for its
// response, its error, its timeout or the exit of its process. A function error is
// reported in Result.Error; the error return is for ctx and for infrastructure failures.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	f.invokes.Lock()
	defer f.invokes.Unlock()

	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return Result{}, ErrFunctionStopped
	}
	fault := FaultNone
	if len(f.faults) > 0 {
		fault, f.faults = f.faults[0], f.faults[1:]
	}
	inv := &invocation{
		id:      emulator.RequestID(),
		payload: payload,
		handed:  make(chan time.Time, 1),
		done:    make(chan outcome, 1),
	}
	res := Result{RequestID: inv.id}
	if fault == FaultDrop {
		f.mu.Unlock()
		res.Dropped = true
		return res, nil
	}
	f.current[inv.id] = inv
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.current, inv.id)
		f.mu.Unlock()
	}()

	// Wait until the runtime is in /next: the first call ends its init phase; later ones
	// end the previous invocation, which Lambda counts as finished only then. A process
	// that exits between invocations (after a panic, say) is replaced by a cold one.
	p, err := f.process(false)
	if err != nil {
		return res, err
	}
	for {
		var initTimeout <-chan time.Time
		if !p.isReady() {
			t := time.NewTimer(time.Until(p.started.Add(f.opts.InitTimeout)))
			defer t.Stop()
			initTimeout = t.C
		}
		select {
		case <-p.idle:
		case fe := <-p.initErr:
			p.kill()
			res.Cold = true
			res.Error = fe
			f.report(p, res)
			return res, nil
		case <-p.exited:
			if p.isReady() {
				if p, err = f.process(true); err != nil {
					return res, err
				}
				continue
			}
			res.Cold = true
			res.Error = &FunctionError{Type: "Runtime.ExitError", Message: p.exitMessage()}
			select {
			case fe := <-p.initErr: // it reported why before exiting
				res.Error = fe
			default:
			}
			f.report(p, res)
			return res, nil
		case <-initTimeout:
			p.kill()
			res.Cold = true
			res.TimedOut = true
			res.Error = &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("Init phase timed out after %.2f seconds", f.opts.InitTimeout.Seconds())}
			f.report(p, res)
			return res, nil
		case <-ctx.Done():
			return res, ctx.Err()
		}
		break
	}
	if !p.claimed {
		p.claimed = true
		res.Cold = true
		res.InitDuration = p.readyAt.Sub(p.started)
	}

	inv.deadline = time.Now().Add(f.opts.Timeout)
	f.pending <- inv
	var handed time.Time
	select {
	case handed = <-inv.handed:
	case <-p.exited:
		f.withdraw(p, inv)
		res.Error = &FunctionError{Type: "Runtime.ExitError", Message: p.exitMessage()}
		f.report(p, res)
		return res, nil
	case <-ctx.Done():
		f.withdraw(p, inv)
		return res, ctx.Err()
	}
	if fault == FaultTimeout {
		inv.finish(outcome{}) // whatever the runtime answers is discarded
		p.kill()
		res.Duration = time.Since(handed)
		res.TimedOut = true
		res.Error = f.timeoutError()
		f.report(p, res)
		return res, nil
	}
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	select {
	case o := <-inv.done:
		res.Duration = o.at.Sub(handed)
		res.Payload, res.ContentType, res.Error = o.payload, o.contentType, o.err
	case <-p.exited:
		res.Duration = time.Since(handed)
		res.Error = &FunctionError{Type: "Runtime.ExitError", Message: p.exitMessage()}
		if !inv.finish(outcome{}) { // it answered before exiting
			o := <-inv.done
			res.Duration = o.at.Sub(handed)
			res.Payload, res.ContentType, res.Error = o.payload, o.contentType, o.err
		}
	case <-timer.C:
		if inv.finish(outcome{}) { // the runtime did not answer in time
			p.kill()
			res.Duration = time.Since(handed)
			res.TimedOut = true
			res.Error = f.timeoutError()
		} else { // the answer raced the timer
			o := <-inv.done
			res.Duration = o.at.Sub(handed)
			res.Payload, res.ContentType, res.Error = o.payload, o.contentType, o.err
		}
	case <-ctx.Done():
		p.kill() // the environment is in an unknown state: start afresh next time
		return res, ctx.Err()
	}
	f.report(p, res)
	return res, nil
}

func (f *Function) timeoutError() *FunctionError {
	return &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("Task timed out after %.2f seconds", f.opts.Timeout.Seconds())}
}

// withdraw takes inv back from the pending slot. If a /next already took it, the runtime
// holds an invocation nobody waits for: kill it so the next invoke starts clean.
func (f *Function) withdraw(p *process, inv *invocation) {
	select {
	case <-f.pending:
	default:
		p.kill()
	}
}

// report writes the invocation's REPORT line after the output p wrote
// during the invocation (and returns only then, so that the caller of
// Invoke finds the invocation's logs written).
func (f *Function) report(p *process, res Result) {
	p.output.sync()
	var b strings.Builder
	fmt.Fprintf(&b, "REPORT RequestId: %s\tDuration: %.2f ms\tMemory Size: %d MB", res.RequestID, ms(res.Duration), f.opts.MemoryMB)
	if res.Cold {
		fmt.Fprintf(&b, "\tInit Duration: %.2f ms", ms(res.InitDuration))
	}
	if res.TimedOut {
		b.WriteString("\tStatus: timeout")
	} else if res.Error != nil {
		b.WriteString("\tStatus: error\tError Type: " + res.Error.Type)
	}
	b.WriteString("\n")
	io.WriteString(f.logs, b.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (f *Function) handleNext(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	p := f.proc
	f.mu.Unlock()
	if p != nil {
		p.markReady()
		select {
		case p.idle <- struct{}{}:
		default:
		}
	}
	select {
	case inv := <-f.pending:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", f.arn)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+randomHex(12)+";Parent="+randomHex(8)+";Sampled=0")
		h.Set("Content-Type", "application/json")
		inv.handed <- time.Now()
		w.WriteHeader(http.StatusOK)
		w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

func (f *Function) lookup(w http.ResponseWriter, r *http.Request) *invocation {
	id := r.PathValue("id")
	f.mu.Lock()
	inv := f.current[id]
	f.mu.Unlock()
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or finished request id "+strconv.Quote(id))
	}
	return inv
}

func (f *Function) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv := f.lookup(w, r)
	if inv == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize+1))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	o := outcome{at: time.Now(), payload: body, contentType: r.Header.Get("Content-Type")}
	if len(body) > MaxResponseSize {
		o.payload = nil
		o.err = &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseSize)}
		inv.finish(o)
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", o.err.Message)
		return
	}
	// A runtime reports a failure while streaming the body in these trailers.
	if t := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
		o.payload = nil
		o.err = decodeFunctionError(t, r.Trailer.Get("Lambda-Runtime-Function-Error-Body"), true)
	}
	if !inv.finish(o) {
		writeAPIError(w, http.StatusBadRequest, "InvalidStateTransition", "invocation already finished")
		return
	}
	writeAccepted(w)
}

func (f *Function) handleError(w http.ResponseWriter, r *http.Request) {
	inv := f.lookup(w, r)
	if inv == nil {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize))
	fe := decodeFunctionError(r.Header.Get("Lambda-Runtime-Function-Error-Type"), string(body), false)
	if !inv.finish(outcome{at: time.Now(), err: fe}) {
		writeAPIError(w, http.StatusBadRequest, "InvalidStateTransition", "invocation already finished")
		return
	}
	writeAccepted(w)
}

func (f *Function) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize))
	fe := decodeFunctionError(r.Header.Get("Lambda-Runtime-Function-Error-Type"), string(body), false)
	f.mu.Lock()
	p := f.proc
	f.mu.Unlock()
	if p == nil {
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "no runtime is initialising")
		return
	}
	select {
	case p.initErr <- fe:
	default:
	}
	writeAccepted(w)
}

// decodeFunctionError reads the error shape; the error-type header wins over the body's
// errorType, as in Lambda. A body that is not the JSON shape becomes the message.
func decodeFunctionError(typ, body string, base64Body bool) *FunctionError {
	if base64Body {
		if b, err := base64.StdEncoding.DecodeString(body); err == nil {
			body = string(b)
		}
	}
	fe := &FunctionError{}
	if err := json.Unmarshal([]byte(body), fe); err != nil {
		fe = &FunctionError{Message: body}
	}
	if typ != "" {
		fe.Type = typ
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	b, _ := json.Marshal(FunctionError{Type: typ, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// Stop kills the runtime process and closes the Runtime API server. It is safe to call
// more than once.
func (f *Function) Stop() error {
	f.mu.Lock()
	f.stopped = true
	p := f.proc
	f.mu.Unlock()
	if p != nil {
		p.kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop function %s: %w", f.opts.Name, err)
	}
	return nil
}

// lockedWriter serialises writes from the process output copiers and the REPORT lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	if l.w == nil {
		return len(b), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ProcessStats is what the function's runtime process has used, from
// Linux's /proc: the figures a Lambda REPORT line gives as duration and
// "Max Memory Used".
type ProcessStats struct {
	// CPU is user plus system CPU time since the process started.
	CPU time.Duration
	// PeakRSS is the peak resident set size in bytes (VmHWM) since the
	// process started or since ResetPeakRSS.
	PeakRSS int64
}

// ProcessStats reads the CPU time and peak RSS of the function's current
// runtime process.
func (f *Function) ProcessStats() (ProcessStats, error) {
	pid, err := f.pid()
	if err != nil {
		return ProcessStats{}, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcessStats{}, fmt.Errorf("process stats of %s: %w", f.opts.Name, err)
	}
	// Fields after the parenthesised command: state is field 3, utime 14,
	// stime 15 (proc(5)), in clock ticks of 100 Hz (USER_HZ on Linux).
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		return ProcessStats{}, fmt.Errorf("process stats of %s: short /proc stat %q", f.opts.Name, stat)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	st := ProcessStats{CPU: time.Duration(utime+stime) * (time.Second / 100)}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcessStats{}, fmt.Errorf("process stats of %s: %w", f.opts.Name, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			st.PeakRSS = kb << 10
		}
	}
	return st, nil
}

// ResetPeakRSS resets the peak RSS of the function's process to its
// current RSS (writing 5 to /proc/<pid>/clear_refs), so ProcessStats
// measures one invocation.
func (f *Function) ResetPeakRSS() error {
	pid, err := f.pid()
	if err != nil {
		return err
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS of %s: %w", f.opts.Name, err)
	}
	return nil
}

func (f *Function) pid() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proc == nil || f.proc.cmd.Process == nil {
		return 0, fmt.Errorf("function %s has no process", f.opts.Name)
	}
	return f.proc.cmd.Process.Pid, nil
}
