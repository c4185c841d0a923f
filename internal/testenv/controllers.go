package testenv

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ControllerOptions configures what StartKube runs beside the API server when
// KubeOptions.Controllers is set: kube-controller-manager (only the controllers listed in
// Controllers), kube-scheduler and kwok, each with its own token and kubeconfig, leader
// election off, serving only on loopback; and Nodes simulated nodes on which kwok plays
// the kubelet through our Stages (see stages.go): Pods become Running and Ready, or fail
// the way SetImageFaults says their image does.
type ControllerOptions struct {
	// Nodes is how many simulated nodes to create (kwok-node-0, kwok-node-1, ...);
	// 2 when zero.
	Nodes int
	// PodStartDelay is how long a scheduled Pod takes to start (or fail to); zero is
	// immediate, so a rollout completes in about a second.
	PodStartDelay time.Duration
	// JobRunTime is how long the containers of a Job's Pod run before they exit 0;
	// one second when zero.
	JobRunTime time.Duration
}

// Controllers are the kube-controller-manager controllers the simulation runs: the
// workload controllers ecrwarden rolls or reads, the garbage collector (old ReplicaSets,
// a Job's Pods), and the namespace controller so that deleting a namespace finishes.
// The node lifecycle controller is deliberately off: kwok's nodes send no heartbeats, so
// it would mark them NotReady after 40 s and evict every Pod.
var Controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"cronjob-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"ttl-after-finished-controller",
}

// Users of the simulation's components. kube-controller-manager and kube-scheduler run
// as the users the API server's bootstrap RBAC policy binds to their ClusterRoles;
// kwok, which plays the kubelet of every simulated node, is bound to cluster-admin.
const (
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	kwokUser              = "kwok-controller"
)

// KwokNamespace holds what the simulation itself creates (stage probes); tests should
// not use it.
const KwokNamespace = "kwok-system"

// controllerPorts is how many loopback ports the controllers need: the secure ports
// of kube-controller-manager and kube-scheduler (health checks) and kwok's server.
const controllerPorts = 3

// nodeAnnotation marks the nodes kwok manages.
const nodeAnnotation = "kwok.x-k8s.io/node"

// simulation is the controllers of one Kube.
type simulation struct {
	opts                                ControllerOptions
	kcmToken, schedulerToken, kwokToken string
	kcm, scheduler, kwok                *managedProcess

	mu       sync.Mutex // serialises SetImageFaults
	marks    map[string]ImageMark
	probeSeq int
}

func newSimulation(opts ControllerOptions) *simulation {
	if opts.Nodes <= 0 {
		opts.Nodes = 2
	}
	if opts.JobRunTime <= 0 {
		opts.JobRunTime = time.Second
	}
	return &simulation{
		opts:           opts,
		kcmToken:       randomHex(24),
		schedulerToken: randomHex(24),
		kwokToken:      randomHex(24),
		marks:          map[string]ImageMark{},
	}
}

// tokens are the lines of the components' users for the API server's token file.
func (s *simulation) tokens() string {
	return fmt.Sprintf("%s,%s,kcm-uid\n%s,%s,scheduler-uid\n%s,%s,kwok-uid\n",
		s.kcmToken, controllerManagerUser, s.schedulerToken, schedulerUser, s.kwokToken, kwokUser)
}

func (s *simulation) stop() error {
	for _, p := range []*managedProcess{s.kwok, s.scheduler, s.kcm} {
		if p != nil {
			p.stop()
		}
	}
	return nil
}

// startControllers installs kwok's Stage definition and our Stages, starts the three
// components, creates the simulated nodes and waits until kwok reports them Ready.
func (k *Kube) startControllers(ctx context.Context, bins KubeBinaries, ports []int, progress io.Writer) error {
	start := time.Now()
	s := k.sim
	if err := k.create(ctx, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": "ecrwarden-testenv:" + kwokUser},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
		"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": kwokUser}},
	}); err != nil {
		return err
	}
	crd, err := os.ReadFile(kwokStageCRD(bins.Kwok))
	if err != nil {
		return fmt.Errorf("start kwok: %w", err)
	}
	if _, err := k.admin(ctx, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "application/yaml", crd, http.StatusCreated, http.StatusConflict); err != nil {
		return fmt.Errorf("install kwok stage CRD: %w", err)
	}
	if err := waitFor(ctx, k.apiserver, func() bool {
		code, _, err := k.Request(ctx, k.Admin, http.MethodGet, stagesPath, "", nil)
		return err == nil && code == http.StatusOK
	}); err != nil {
		return fmt.Errorf("wait for kwok stage CRD: %w", err)
	}
	if err := k.create(ctx, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": KwokNamespace},
	}); err != nil {
		return err
	}
	if err := k.applyStages(ctx, s.marks, s.marks, ""); err != nil {
		return err
	}

	ca := filepath.Join(k.dir, "certs", "apiserver.crt")
	kubeconfig := func(name, token string) (string, error) {
		path := filepath.Join(k.dir, name+".kubeconfig")
		return path, writeKubeconfig(path, k.Admin.Host, ca, token)
	}
	kcmConfig, err := kubeconfig("kube-controller-manager", s.kcmToken)
	if err != nil {
		return err
	}
	schedConfig, err := kubeconfig("kube-scheduler", s.schedulerToken)
	if err != nil {
		return err
	}
	kwokConfig, err := kubeconfig("kwok", s.kwokToken)
	if err != nil {
		return err
	}
	kcmPort, schedPort, kwokPort := strconv.Itoa(ports[0]), strconv.Itoa(ports[1]), strconv.Itoa(ports[2])
	if s.kcm, err = startManaged(bins.ControllerManager, filepath.Join(k.dir, "kube-controller-manager.log"),
		"--kubeconfig="+kcmConfig,
		"--leader-elect=false",
		"--controllers="+strings.Join(Controllers, ","),
		// Each controller gets its own service account token (TokenRequest), as in a
		// real cluster, so their requests pass the bootstrap RBAC roles.
		"--use-service-account-credentials=true",
		"--bind-address=127.0.0.1",
		"--secure-port="+kcmPort,
		"--cert-dir="+filepath.Join(k.dir, "kcm-certs"),
		"--profiling=false",
		"--v=0",
	); err != nil {
		return err
	}
	if s.scheduler, err = startManaged(bins.Scheduler, filepath.Join(k.dir, "kube-scheduler.log"),
		"--kubeconfig="+schedConfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+schedPort,
		"--cert-dir="+filepath.Join(k.dir, "scheduler-certs"),
		"--profiling=false",
		"--v=0",
	); err != nil {
		return err
	}
	if s.kwok, err = startManaged(bins.Kwok, filepath.Join(k.dir, "kwok.log"),
		"--kubeconfig="+kwokConfig,
		"--manage-nodes-with-annotation-selector="+nodeAnnotation+"=fake",
		// Stages come from the API server, so tests can change which images fail.
		"--enable-crds=Stage",
		// No node leases: nothing watches them (no node lifecycle controller).
		"--node-lease-duration-seconds=0",
		"--server-address=127.0.0.1:"+kwokPort,
		"--cidr=10.244.0.0/16",
	); err != nil {
		return err
	}
	insecure := &http.Client{Transport: &http.Transport{
		// Loopback health checks of the components' self-signed serving certificates.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	defer insecure.CloseIdleConnections()
	for _, c := range []struct {
		p   *managedProcess
		url string
	}{
		{s.kcm, "https://127.0.0.1:" + kcmPort + "/healthz"},
		{s.scheduler, "https://127.0.0.1:" + schedPort + "/healthz"},
		{s.kwok, "http://127.0.0.1:" + kwokPort + "/healthz"},
	} {
		if err := waitFor(ctx, c.p, func() bool { return httpOK(ctx, insecure, c.url) }); err != nil {
			return fmt.Errorf("start %s: %w", c.p.name, err)
		}
	}
	for i := range s.opts.Nodes {
		name := "kwok-node-" + strconv.Itoa(i)
		if err := k.create(ctx, "/api/v1/nodes", nodeObject(name, i)); err != nil {
			return err
		}
		k.Nodes = append(k.Nodes, name)
	}
	for _, name := range k.Nodes {
		if err := waitFor(ctx, s.kwok, func() bool { return k.nodeReady(ctx, name) }); err != nil {
			return fmt.Errorf("wait for node %s: %w", name, err)
		}
	}
	fmt.Fprintf(progress, "testenv: kube-controller-manager, kube-scheduler, kwok and %d nodes ready in %s\n",
		len(k.Nodes), time.Since(start).Round(time.Millisecond))
	return nil
}

// nodeObject is a simulated node: annotated for kwok, labelled like a node of a
// three-zone cluster, without taints (workloads need no tolerations).
func nodeObject(name string, i int) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{
			"name":        name,
			"annotations": map[string]any{nodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			"labels": map[string]any{
				"kubernetes.io/hostname":      name,
				"kubernetes.io/os":            "linux",
				"kubernetes.io/arch":          "amd64",
				"type":                        "kwok",
				"topology.kubernetes.io/zone": fmt.Sprintf("eu-west-1%c", 'a'+i%3),
			},
		},
	}
}

func (k *Kube) nodeReady(ctx context.Context, name string) bool {
	code, body, err := k.Request(ctx, k.Admin, http.MethodGet, "/api/v1/nodes/"+name, "", nil)
	if err != nil || code != http.StatusOK {
		return false
	}
	var n struct {
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	}
	if json.Unmarshal(body, &n) != nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// admin sends one request as the admin user and fails unless the status is one of want.
func (k *Kube) admin(ctx context.Context, method, path, contentType string, body []byte, want ...int) ([]byte, error) {
	code, resp, err := k.Request(ctx, k.Admin, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if code == w {
			return resp, nil
		}
	}
	return resp, fmt.Errorf("kube %s %s: status %d: %s", method, path, code, bytesTail(resp))
}

// apply creates or updates obj at path (the object's own URL) by server-side apply as
// the admin user, owning every field it sets.
func (k *Kube) apply(ctx context.Context, path string, obj any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("kube apply %s: %w", path, err)
	}
	_, err = k.admin(ctx, http.MethodPatch, path+"?fieldManager=ecrwarden-testenv&force=true",
		"application/apply-patch+yaml", body, http.StatusOK, http.StatusCreated)
	return err
}

func writeKubeconfig(path, host, caFile, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: user
  user:
    token: %s
contexts:
- name: testenv
  context: {cluster: testenv, user: user}
current-context: testenv
`, host, caFile, token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

func httpOK(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func bytesTail(b []byte) string {
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// errNoControllers is returned by the simulation's methods on a Kube started without
// KubeOptions.Controllers.
var errNoControllers = errors.New("testenv: the control plane runs no controllers (KubeOptions.Controllers)")
