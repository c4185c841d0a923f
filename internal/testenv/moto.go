package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// MotoVersion is the moto release the tests are written against. .ci/run
// installs it with pip only where moto_server is missing.
const MotoVersion = "5.2.1"

// Moto is a moto_server (https://github.com/getmoto/moto) in server mode on
// a loopback port: the AWS services ecrwarden does not emulate itself (SQS,
// ECS, Lambda, SageMaker, Batch, STS) and a second opinion on DynamoDB, SNS
// and EventBridge semantics. Every service answers on the one URL; point an
// SDK client at it with BaseEndpoint (or AWS_ENDPOINT_URL_<SERVICE>).
type Moto struct {
	// URL is http://127.0.0.1:PORT.
	URL string

	dir      string
	proc     *managedProcess
	stopOnce sync.Once
	stopErr  error
}

// MotoOptions configures StartMoto.
type MotoOptions struct {
	// Binary is the moto_server executable; found on PATH when empty.
	Binary string
	// StartTimeout bounds start-up until the server answers; 30 s when zero.
	StartTimeout time.Duration
	// Progress receives a line when the server is up; may be nil.
	Progress io.Writer
}

// ErrNoMoto is returned when moto_server is not installed.
var ErrNoMoto = errors.New("moto_server not found on PATH: install it with pip install 'moto[server]==" + MotoVersion + "' (.ci/run does this where it is missing)")

// StartMoto starts moto_server on a free loopback port and waits until it
// answers. The process dies with the test binary (Pdeathsig); call Stop to
// end it and remove its directory.
func StartMoto(ctx context.Context, o MotoOptions) (*Moto, error) {
	if o.Binary == "" {
		bin, err := exec.LookPath("moto_server")
		if err != nil {
			return nil, ErrNoMoto
		}
		o.Binary = bin
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	m, err := startMoto(ctx, o)
	if err != nil && errors.Is(err, errPortTaken) {
		m, err = startMoto(ctx, o)
	}
	return m, err
}

func startMoto(ctx context.Context, o MotoOptions) (_ *Moto, err error) {
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "ecrwarden-moto-")
	if err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	m := &Moto{dir: dir}
	defer func() {
		if err != nil {
			m.Stop()
		}
	}()
	ports, err := freePorts(1)
	if err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	port := strconv.Itoa(ports[0])
	m.URL = "http://127.0.0.1:" + port
	start := time.Now()
	m.proc, err = startManagedEnv(o.Binary, filepath.Join(dir, "moto.log"), motoEnv(dir), "-H", "127.0.0.1", "-p", port)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: time.Second}
	if err := waitFor(ctx, m.proc, func() bool {
		resp, err := client.Get(m.URL + "/moto-api/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	fmt.Fprintf(o.Progress, "testenv: moto_server ready on %s in %s\n", m.URL, time.Since(start).Round(10*time.Millisecond))
	return m, nil
}

// motoEnv is moto's environment: no real credentials or config files of the
// user, and no network beyond loopback.
func motoEnv(dir string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "aws-credentials"),
		"NO_PROXY=*",
	}
	// pyenv shims need to find their interpreter.
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Reset drops every resource moto holds (POST /moto-api/reset), so that
// tests sharing one server start from nothing.
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Stop ends moto_server and removes its directory.
func (m *Moto) Stop() error {
	m.stopOnce.Do(func() {
		if m.proc != nil {
			m.stopErr = m.proc.stop()
		}
		if m.dir != "" {
			os.RemoveAll(m.dir)
		}
	})
	return m.stopErr
}
