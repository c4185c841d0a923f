package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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
)

// RESTConfig is what a client needs to talk to the API server as one user.
type RESTConfig struct {
	// Host is the API server URL, https://127.0.0.1:PORT.
	Host string
	// CAData is the PEM bundle of the API server's self-signed serving certificate.
	CAData []byte
	// Token is the bearer token of the user.
	Token string
}

// KubeOptions configures StartKube.
type KubeOptions struct {
	// Binaries are the etcd and kube-apiserver to run; EnsureKube is called when empty.
	Binaries KubeBinaries
	// Namespace is where the limited user's Role is bound; "default" when empty. It is
	// created if it does not exist.
	Namespace string
	// Progress receives progress lines (a cold build of the binaries, start-up); may be nil.
	Progress io.Writer
	// StartTimeout bounds start-up (etcd, kube-apiserver until /readyz answers 200, and
	// the controllers and kwok nodes when asked for); three minutes when zero: a bound
	// on a hung start, not a speed check (a loaded 2-core CI machine starting two
	// control planes at once took over one minute).
	StartTimeout time.Duration
	// ExtraArgs are appended to the kube-apiserver command line, e.g. a token webhook
	// (--authentication-token-webhook-config-file=...) for EKS-style authentication.
	ExtraArgs []string
	// Controllers, when set, also starts kube-controller-manager, kube-scheduler and kwok
	// with simulated nodes, so that workloads really roll (see ControllerOptions). When
	// nil only etcd and kube-apiserver run and start-up stays at a few seconds.
	Controllers *ControllerOptions
}

// LimitedUser is the user name of the least-privilege token.
const LimitedUser = "ecrwarden"

// LimitedRole is the name of the Role (and RoleBinding) granted to LimitedUser.
const LimitedRole = "ecrwarden"

// limitedRules are everything ecrwarden may do: update Deployment images (get, list,
// watch, patch) and read the workload kinds gc inspects. Nothing else: no delete, no
// create, no Secrets.
var limitedRules = []map[string]any{
	{"apiGroups": []string{"apps"}, "resources": []string{"deployments"}, "verbs": []string{"get", "list", "watch", "patch"}},
	{"apiGroups": []string{"apps"}, "resources": []string{"replicasets", "statefulsets", "daemonsets"}, "verbs": []string{"get", "list"}},
	{"apiGroups": []string{""}, "resources": []string{"pods"}, "verbs": []string{"get", "list"}},
	{"apiGroups": []string{""}, "resources": []string{"events"}, "verbs": []string{"list"}},
	{"apiGroups": []string{"batch"}, "resources": []string{"jobs", "cronjobs"}, "verbs": []string{"get", "list"}},
}

// limitedClusterRules are what the limited user may do cluster-wide (shared contract 1, until
// internal/kube/rbac.go generates them): list every kind gc's in-use discovery reads, in all
// namespaces; and get its own namespace (resourceNames), so that a missing policy namespace is
// a 404, not an empty list. The namespace rule's resourceNames are filled in by setupRBAC.
var limitedClusterRules = []map[string]any{
	{"apiGroups": []string{""}, "resources": []string{"pods"}, "verbs": []string{"list"}},
	{"apiGroups": []string{"apps"}, "resources": []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, "verbs": []string{"list"}},
	{"apiGroups": []string{"batch"}, "resources": []string{"jobs", "cronjobs"}, "verbs": []string{"list"}},
}

// Kube is a running etcd + kube-apiserver pair on loopback ports. Without
// KubeOptions.Controllers there is no controller-manager, scheduler or kubelet: objects
// are stored, validated, defaulted, patched and authorised for real, but nothing
// reconciles them. With it, kube-controller-manager, kube-scheduler and kwok run too.
type Kube struct {
	// Admin is a system:masters user.
	Admin RESTConfig
	// Limited is LimitedUser, bound by RBAC to the rules of LimitedRole in Namespace and to
	// limitedClusterRules (cluster-wide lists for in-use discovery, get on Namespace).
	Limited RESTConfig
	// Namespace is the namespace of the limited Role.
	Namespace string
	// Nodes are the names of the simulated nodes; empty without controllers.
	Nodes []string

	dir       string
	client    *http.Client
	etcd      *managedProcess
	apiserver *managedProcess
	sim       *simulation // nil without controllers
	stopOnce  sync.Once
	stopErr   error
}

// StartKube starts etcd and kube-apiserver in a fresh temporary data directory, waits for
// /readyz, and creates the limited user's Role and RoleBinding. It retries once when a
// loopback port it picked was taken in the meantime. Call Stop to end both processes and
// remove the data directory.
func StartKube(ctx context.Context, opts KubeOptions) (*Kube, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	switch {
	case opts.Controllers != nil && !opts.Binaries.hasControllers():
		bins, err := EnsureControllers(ctx, opts.Progress)
		if err != nil {
			return nil, err
		}
		opts.Binaries = bins
	case opts.Binaries.APIServer == "" || opts.Binaries.Etcd == "":
		bins, err := EnsureKube(ctx, opts.Progress)
		if err != nil {
			return nil, err
		}
		opts.Binaries = bins
	}
	removeStaleDirs()
	k, err := startKube(ctx, opts)
	if err != nil && errors.Is(err, errPortTaken) {
		fmt.Fprintf(opts.Progress, "testenv: %v; retrying on new ports\n", err)
		k, err = startKube(ctx, opts)
	}
	return k, err
}

var errPortTaken = errors.New("a loopback port was taken")

func startKube(ctx context.Context, opts KubeOptions) (_ *Kube, err error) {
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", dataDirPrefix, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("start kube: %w", err)
	}
	k := &Kube{dir: dir, Namespace: opts.Namespace}
	defer func() {
		if err != nil {
			k.Stop()
		}
	}()
	ports, err := freePorts(3 + controllerPorts)
	if err != nil {
		return nil, fmt.Errorf("start kube: %w", err)
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	k.etcd, err = startManaged(opts.Binaries.Etcd, filepath.Join(dir, "etcd.log"),
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, k.etcd, func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}

	if err := writeServiceAccountKeys(dir); err != nil {
		return nil, err
	}
	adminToken, limitedToken := randomHex(24), randomHex(24)
	tokens := fmt.Sprintf("%s,admin,admin-uid,\"system:masters\"\n%s,%s,%s-uid\n", adminToken, limitedToken, LimitedUser, LimitedUser)
	if opts.Controllers != nil {
		k.sim = newSimulation(*opts.Controllers)
		tokens += k.sim.tokens()
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return nil, fmt.Errorf("start kube: %w", err)
	}
	certDir := filepath.Join(dir, "certs")
	host := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + certDir,
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--disable-admission-plugins=" + disabledAdmission(opts.Controllers != nil),
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	k.apiserver, err = startManaged(opts.Binaries.APIServer, filepath.Join(dir, "kube-apiserver.log"), append(args, opts.ExtraArgs...)...)
	if err != nil {
		return nil, err
	}
	// The API server writes its self-signed serving certificate (and the CA that signed
	// it) to --cert-dir before it listens.
	var ca []byte
	if err := waitFor(ctx, k.apiserver, func() bool {
		b, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
		if err != nil || !x509.NewCertPool().AppendCertsFromPEM(b) {
			return false
		}
		ca = b
		return true
	}); err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	k.Admin = RESTConfig{Host: host, CAData: ca, Token: adminToken}
	k.Limited = RESTConfig{Host: host, CAData: ca, Token: limitedToken}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	k.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
	}}
	if err := waitFor(ctx, k.apiserver, func() bool {
		code, _, err := k.Request(ctx, k.Admin, http.MethodGet, "/readyz", "", nil)
		return err == nil && code == http.StatusOK
	}); err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	if err := k.setupRBAC(ctx); err != nil {
		return nil, err
	}
	if k.sim != nil {
		if err := k.startControllers(ctx, opts.Binaries, ports[3:], opts.Progress); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// HTTPClient returns a client that trusts the API server's certificate. It sends no
// credentials: set "Authorization: Bearer <token>" from Admin or Limited.
func (k *Kube) HTTPClient() *http.Client { return k.client }

// Request sends one API request as the user of cfg and returns the status code and body.
// path is absolute ("/apis/apps/v1/namespaces/default/deployments"); body may be nil.
func (k *Kube) Request(ctx context.Context, cfg RESTConfig, method, path, contentType string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cfg.Host+path, r)
	if err != nil {
		return 0, nil, fmt.Errorf("kube %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("kube %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("kube %s %s: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

// create creates obj with the admin token, accepting that it already exists.
func (k *Kube) create(ctx context.Context, path string, obj any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("kube create %s: %w", path, err)
	}
	code, resp, err := k.Request(ctx, k.Admin, http.MethodPost, path, "application/json", body)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		return fmt.Errorf("kube create %s: %d %s", path, code, resp)
	}
	return nil
}

func (k *Kube) setupRBAC(ctx context.Context) error {
	ns := k.Namespace
	if err := k.create(ctx, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}); err != nil {
		return err
	}
	base := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns
	if err := k.create(ctx, base+"/roles", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": map[string]any{"name": LimitedRole, "namespace": ns},
		"rules":    limitedRules,
	}); err != nil {
		return err
	}
	if err := k.create(ctx, base+"/rolebindings", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": LimitedRole, "namespace": ns},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LimitedRole},
		"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": LimitedUser}},
	}); err != nil {
		return err
	}
	clusterRules := append(append([]map[string]any(nil), limitedClusterRules...), map[string]any{
		"apiGroups": []string{""}, "resources": []string{"namespaces"}, "resourceNames": []string{ns}, "verbs": []string{"get"},
	})
	cbase := "/apis/rbac.authorization.k8s.io/v1"
	if err := k.create(ctx, cbase+"/clusterroles", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
		"metadata": map[string]any{"name": LimitedRole + "-reader-" + ns},
		"rules":    clusterRules,
	}); err != nil {
		return err
	}
	if err := k.create(ctx, cbase+"/clusterrolebindings", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": LimitedRole + "-reader-" + ns},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LimitedRole + "-reader-" + ns},
		"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": LimitedUser}},
	}); err != nil {
		return err
	}
	// The RBAC authorizer reads through informers: wait until the bindings are in effect.
	for _, path := range []string{"/apis/apps/v1/namespaces/" + ns + "/deployments", "/api/v1/pods?limit=1", "/api/v1/namespaces/" + ns} {
		if err := waitFor(ctx, k.apiserver, func() bool {
			code, _, err := k.Request(ctx, k.Limited, http.MethodGet, path, "", nil)
			return err == nil && code == http.StatusOK
		}); err != nil {
			return fmt.Errorf("wait for rbac: %w", err)
		}
	}
	return nil
}

// Stop terminates kwok, kube-scheduler, kube-controller-manager, kube-apiserver and etcd
// (their whole process groups) and removes the data directory. It is safe to call more than once.
func (k *Kube) Stop() error {
	k.stopOnce.Do(func() {
		var errs []error
		if k.sim != nil {
			errs = append(errs, k.sim.stop())
		}
		if k.apiserver != nil {
			errs = append(errs, k.apiserver.stop())
		}
		if k.etcd != nil {
			errs = append(errs, k.etcd.stop())
		}
		if k.client != nil {
			k.client.CloseIdleConnections()
		}
		if k.dir != "" {
			errs = append(errs, os.RemoveAll(k.dir))
		}
		k.stopErr = errors.Join(errs...)
	})
	return k.stopErr
}

// managedProcess is a control-plane process in its own process group, killed with its
// parent (Pdeathsig) should the test binary die without cleaning up.
type managedProcess struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	exitErr error
}

func startManaged(bin, logPath string, args ...string) (*managedProcess, error) {
	return startManagedEnv(bin, logPath, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(logPath)}, args...)
}

// startManagedEnv starts bin with exactly env, its output in logPath, in its
// own process group that dies with this process.
func startManagedEnv(bin, logPath string, env []string, args ...string) (*managedProcess, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(logPath)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &managedProcess{name: filepath.Base(bin), cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group, then SIGKILL after five seconds.
func (p *managedProcess) stop() error {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // anything the process left in its group
	return nil
}

// logTail returns the end of the process's log for error messages.
func (p *managedProcess) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	const max = 3000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// waitFor polls ready every 50 ms until it returns true, p exits, or ctx ends.
func waitFor(ctx context.Context, p *managedProcess, ready func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.exited:
			tail := p.logTail()
			err := fmt.Errorf("%s exited (%v):\n%s", p.name, p.exitErr, tail)
			if strings.Contains(tail, "address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", p.name, ctx.Err(), p.logTail())
		case <-t.C:
		}
	}
}

// freePorts reserves n distinct loopback ports by listening on port 0, then releases them.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeServiceAccountKeys(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), priv, 0o600); err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	return nil
}

// disabledAdmission are the admission plugins the API server runs without: ServiceAccount
// (Pods need no service account and get no token volume), and with controllers
// TaintNodesByCondition, which taints every new node node.kubernetes.io/not-ready until
// the node lifecycle controller sees it Ready — a controller the simulation does not run
// (see Controllers), so the taint would keep every Pod unschedulable.
func disabledAdmission(controllers bool) string {
	if controllers {
		return "ServiceAccount,TaintNodesByCondition"
	}
	return "ServiceAccount"
}

// dataDirPrefix names the temporary data directories: ecrwarden-kube-<pid>-<random>.
const dataDirPrefix = "ecrwarden-kube-"

// removeStaleDirs removes data directories left by test binaries that died without
// cleaning up (a -timeout panic, SIGKILL): those whose process no longer exists.
func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dataDirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), dataDirPrefix)
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(m)
		}
	}
}
