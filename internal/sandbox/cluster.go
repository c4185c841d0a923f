package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/emulator/eksauth"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// AccessKeyID and SecretAccessKey are a test identity the cluster's token
// webhook maps to testenv.LimitedUser, for tests of the EKS token path outside
// a sandbox; the functions of a sandbox each get keys of their own.
const (
	AccessKeyID     = "AKIDEMULATOR"
	SecretAccessKey = "emulator"
)

// Cluster is a kube-apiserver that authenticates EKS tokens like an EKS
// cluster: through a TokenReview webhook (internal/emulator/eksauth) to which
// each sandbox adds its functions' access keys with the user and groups of
// their access entries in the template, so the functions reach Kubernetes
// with exactly the RBAC the stack grants them. Beside it runs moto_server,
// which serves the sandboxes the AWS services we do not emulate (SQS…).
type Cluster struct {
	// Name is the EKS cluster name tokens must be signed for.
	Name string
	Kube *testenv.Kube
	// Moto serves SQS, ECS, Lambda, SageMaker and Batch; each sandbox puts an
	// authorizing proxy in front of it.
	Moto *testenv.Moto
	// Auth is the token webhook; sandboxes add and remove identities.
	Auth *eksauth.Server

	auth *httptest.Server
	dir  string
}

// ClusterOptions configures StartClusterWith.
type ClusterOptions struct {
	// Controllers, when set, also runs kube-controller-manager, kube-scheduler and kwok
	// with simulated nodes, so that rollouts really happen (testenv.ControllerOptions);
	// Kube.SetImageFaults then marks images that crash or cannot be pulled.
	Controllers *testenv.ControllerOptions
	// Progress receives progress lines (a cold build, start-up); may be nil.
	Progress io.Writer
}

// StartCluster starts the authenticator and a control plane named name, without
// controllers, and moto_server.
func StartCluster(ctx context.Context, name string, progress io.Writer) (*Cluster, error) {
	return StartClusterWith(ctx, name, ClusterOptions{Progress: progress})
}

// StartClusterWith starts the authenticator, a control plane named name and
// moto_server (at the same time: each takes seconds).
func StartClusterWith(ctx context.Context, name string, opts ClusterOptions) (*Cluster, error) {
	c := &Cluster{Name: name}
	type motoResult struct {
		m   *testenv.Moto
		err error
	}
	motoc := make(chan motoResult, 1)
	go func() {
		m, err := testenv.StartMoto(ctx, testenv.MotoOptions{Progress: opts.Progress})
		motoc <- motoResult{m, err}
	}()
	err := c.start(ctx, name, opts)
	mr := <-motoc
	c.Moto = mr.m
	if err == nil && mr.err != nil {
		err = fmt.Errorf("start cluster %s: %w", name, mr.err)
	}
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, name string, opts ClusterOptions) (err error) {
	c.Auth = eksauth.New(name, map[string]eksauth.Identity{
		AccessKeyID: {SecretAccessKey: SecretAccessKey, ARN: "arn:aws:iam::" + Account + ":role/ecrwarden-test", Username: testenv.LimitedUser},
	})
	c.auth = httptest.NewTLSServer(c.Auth)
	if c.dir, err = os.MkdirTemp("", "ecrwarden-cluster-"); err != nil {
		return err
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.auth.Certificate().Raw})
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: eks-authenticator
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kube-apiserver
contexts:
- name: webhook
  context: {cluster: eks-authenticator, user: kube-apiserver}
current-context: webhook
`, c.auth.URL, base64Std(ca))
	cfgPath := filepath.Join(c.dir, "eks-authenticator.kubeconfig")
	if err := os.WriteFile(cfgPath, []byte(kubeconfig), 0o600); err != nil {
		return err
	}
	c.Kube, err = testenv.StartKube(ctx, testenv.KubeOptions{
		Progress:    opts.Progress,
		Controllers: opts.Controllers,
		ExtraArgs: []string{
			"--authentication-token-webhook-config-file=" + cfgPath,
			"--authentication-token-webhook-version=v1",
		},
	})
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", name, err)
	}
	return nil
}

// Stop stops the control plane, moto and the authenticator.
func (c *Cluster) Stop() error {
	var err error
	if c.Kube != nil {
		err = c.Kube.Stop()
	}
	if c.Moto != nil {
		err = errors.Join(err, c.Moto.Stop())
	}
	if c.auth != nil {
		c.auth.Close()
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
	return err
}

// RunTests is a TestMain helper: it starts one cluster for the package's
// tests (none with -short, where tests that need it skip), runs them, and
// stops everything, also on failure.
func RunTests(m *testing.M, name string, set func(*Cluster)) int {
	return RunTestsWith(m, name, ClusterOptions{}, set)
}

// RunTestsWith is RunTests with options, e.g. Controllers for tests of rollouts
// that must really happen. Progress goes to stderr when unset.
func RunTestsWith(m *testing.M, name string, opts ClusterOptions, set func(*Cluster)) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	c, err := StartClusterWith(context.Background(), name, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer RemoveBuilds()
	defer c.Stop()
	set(c)
	return m.Run()
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
