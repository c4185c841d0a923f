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

// Cluster is a kube-apiserver that authenticates EKS tokens like an EKS
// cluster: through a TokenReview webhook (internal/emulator/eksauth) that
// maps the functions' access key to testenv.LimitedUser, so the functions
// reach Kubernetes with exactly the RBAC the stack grants them.
//
// Beside it runs a moto_server for the AWS services ecrwarden does not
// emulate (gc's in-use sources: ECS, Lambda, SageMaker, Batch), shared by
// the sandboxes started on the cluster, one after the other.
type Cluster struct {
	// Name is the EKS cluster name tokens must be signed for.
	Name string
	Kube *testenv.Kube
	// Moto serves ECS, Lambda, SageMaker and Batch; each sandbox resets it.
	Moto *testenv.Moto

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
// controllers.
func StartCluster(ctx context.Context, name string, progress io.Writer) (*Cluster, error) {
	return StartClusterWith(ctx, name, ClusterOptions{Progress: progress})
}

// StartClusterWith starts the authenticator and a control plane named name,
// and moto_server beside them.
func StartClusterWith(ctx context.Context, name string, opts ClusterOptions) (c *Cluster, err error) {
	c = &Cluster{Name: name}
	type motoResult struct {
		m   *testenv.Moto
		err error
	}
	motoDone := make(chan motoResult, 1)
	go func() {
		m, err := testenv.StartMoto(ctx, testenv.MotoOptions{Progress: opts.Progress})
		motoDone <- motoResult{m, err}
	}()
	defer func() {
		r := <-motoDone
		c.Moto = r.m
		if err == nil && r.err != nil {
			err = fmt.Errorf("start cluster %s: %w", name, r.err)
		}
		if err != nil {
			c.Stop()
		}
	}()
	c.auth = httptest.NewTLSServer(eksauth.New(name, map[string]eksauth.Identity{
		AccessKeyID: {SecretAccessKey: SecretAccessKey, ARN: "arn:aws:iam::123456789012:role/ecrwarden-functions", Username: testenv.LimitedUser},
	}))
	if c.dir, err = os.MkdirTemp("", "ecrwarden-cluster-"); err != nil {
		return nil, err
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
		return nil, err
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
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	return c, nil
}

// Stop stops the control plane and the authenticator.
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
