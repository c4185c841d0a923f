package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
)

// CreateDeployments creates a seed file's Deployments in the control plane
// as its administrator (namespaces included), each with one container
// running its image, resolved against registry.
func (c *Cluster) CreateDeployments(ctx context.Context, deployments []suite.SeedDeployment, registry string) error {
	k := c.Kube
	post := func(path string, obj any) error {
		body, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		code, out, err := k.Request(ctx, k.Admin, http.MethodPost, path, "application/json", body)
		if err != nil {
			return err
		}
		if code != http.StatusCreated && code != http.StatusConflict {
			return fmt.Errorf("create %s: HTTP %d: %s", path, code, out)
		}
		return nil
	}
	for _, d := range deployments {
		ns := d.Namespace
		if ns == "" {
			ns = "default"
		}
		replicas := 1
		if d.Replicas != nil {
			replicas = *d.Replicas
		}
		if err := post("/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		labels := map[string]string{"app": d.Name}
		dep := map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": d.Name, "namespace": ns, "labels": labels},
			"spec": map[string]any{
				"replicas": replicas,
				"selector": map[string]any{"matchLabels": labels},
				"template": map[string]any{
					"metadata": map[string]any{"labels": labels},
					"spec":     map[string]any{"containers": []map[string]any{{"name": d.Container, "image": d.ImageRef(registry)}}},
				},
			},
		}
		if err := post("/apis/apps/v1/namespaces/"+ns+"/deployments", dep); err != nil {
			return fmt.Errorf("deployment %s/%s: %w", ns, d.Name, err)
		}
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig for the control plane's administrator
// to path (mode 0600), for kubectl.
func (c *Cluster) WriteKubeconfig(path string) error {
	a := c.Kube.Admin
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[1]s-admin
  user:
    token: %[4]s
contexts:
- name: %[1]s
  context: {cluster: %[1]s, user: %[1]s-admin}
current-context: %[1]s
`, c.Name, a.Host, base64Std(a.CAData), a.Token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// DefaultPolicyPath is the policy a sandbox loads when Options.PolicyPath
// is empty: the module's ecrwarden.yaml.
func DefaultPolicyPath() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "ecrwarden.yaml"), nil
}
