package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	eksemu "github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

const holdPolicy = `version: 1
clusters: [{ name: prod, namespaces: [web, canary] }]
repositories:
  - name: team/api
    deploy:
      - { cluster: prod, namespace: web, deployment: api, container: app, tags: "v{semver}" }
      - { cluster: prod, namespace: web, deployment: twice, container: app, tags: "v{semver}" }
      - { cluster: prod, namespace: canary, deployment: twice, container: app, tags: "v{semver}" }
`

// apiServer holds one Deployment and answers GET and the strategic merge
// patches kube.Client sends (containers by name, annotations merged,
// resourceVersion checked).
type apiServer struct {
	mu      sync.Mutex
	d       kube.Deployment
	patches int
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != "/apis/apps/v1/namespaces/"+s.d.Metadata.Namespace+"/deployments/"+s.d.Metadata.Name {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"})
		return
	}
	if r.Method == http.MethodPatch {
		var p kube.Deployment
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if p.Metadata.ResourceVersion != s.d.Metadata.ResourceVersion {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": 409, "reason": "Conflict"})
			return
		}
		for _, pc := range p.Spec.Template.Spec.Containers {
			for i, c := range s.d.Spec.Template.Spec.Containers {
				if c.Name == pc.Name {
					s.d.Spec.Template.Spec.Containers[i].Image = pc.Image
				}
			}
		}
		for k, v := range p.Metadata.Annotations {
			s.d.Metadata.Annotations[k] = v
		}
		rv, _ := strconv.Atoi(s.d.Metadata.ResourceVersion)
		s.d.Metadata.ResourceVersion = strconv.Itoa(rv + 1)
		s.patches++
	}
	json.NewEncoder(w).Encode(s.d)
}

// holdCluster serves a Deployment web/api through the EKS emulator's cluster
// prod, with fake AWS credentials from the environment.
func holdCluster(t *testing.T) *apiServer {
	t.Helper()
	api := &apiServer{}
	api.d.Metadata.Name, api.d.Metadata.Namespace, api.d.Metadata.ResourceVersion = "api", "web", "1"
	api.d.Metadata.Annotations = map[string]string{
		kube.AnnotationPreviousImage: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/team/api@sha256:" + strings.Repeat("a", 64),
		kube.AnnotationDigest:        "sha256:" + strings.Repeat("b", 64),
	}
	api.d.Spec.Template.Spec.Containers = []kube.Container{
		{Name: "app", Image: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/team/api@sha256:" + strings.Repeat("b", 64)},
		{Name: "proxy", Image: "envoyproxy/envoy:v1.31.0"},
	}
	eksCluster(t, api)
	return api
}

// eksCluster serves an API server handler through the EKS emulator's
// cluster prod, with fake AWS credentials from the environment.
func eksCluster(t *testing.T, api http.Handler) {
	t.Helper()
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	e := eksemu.New(eksemu.Options{})
	url, err := e.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if _, err := e.AddCluster(eksemu.Cluster{Name: "prod", Endpoint: srv.URL, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EKS": url, "AWS_REGION": "ap-southeast-1",
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
}

func TestRollbackAndReleaseCommands(t *testing.T) {
	api := holdCluster(t)
	policyPath := writePolicy(t, holdPolicy)
	prev := api.d.Metadata.Annotations[kube.AnnotationPreviousImage]

	code, out, errOut := runCLI(t, "rollback", "--policy", policyPath, "--dry-run", "api")
	if code != exitOK || !strings.HasPrefix(out, "dry run: would roll back prod/web/api[app]: ") || api.patches != 0 {
		t.Fatalf("dry run: exit %d, out %q, stderr %q, %d patches", code, out, errOut, api.patches)
	}

	code, out, errOut = runCLI(t, "rollback", "--policy", policyPath, "api", "--reason", "p99 doubled")
	blocked := "sha256:" + strings.Repeat("b", 64)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "rolled back prod/web/api[app]: ") ||
		!strings.Contains(lines[0], "→ "+prev) || !strings.HasSuffix(lines[0], ": p99 doubled)") ||
		lines[1] != blocked+" is blocked for container app: no rollout sets it again, even after `ecrwarden release`, until `ecrwarden release --digest "+blocked+" api`" {
		t.Fatalf("rollback: exit %d, out %q, stderr %q", code, out, errOut)
	}
	if img := api.d.Spec.Template.Spec.Containers[0].Image; img != prev {
		t.Errorf("app runs %s, want %s", img, prev)
	}
	if h := api.d.Metadata.Annotations[rollout.AnnotationHold]; !strings.HasPrefix(h, "rollback by ") {
		t.Errorf("hold = %q", h)
	}

	code, out, errOut = runCLI(t, "release", "--policy", policyPath, "api")
	if code != exitOK || !strings.HasPrefix(out, "released prod/web/api (was held: rollback by ") {
		t.Fatalf("release: exit %d, out %q, stderr %q", code, out, errOut)
	}
	if h := api.d.Metadata.Annotations[rollout.AnnotationHold]; h != "" {
		t.Errorf("hold after release = %q", h)
	}
	code, out, _ = runCLI(t, "release", "--policy", policyPath, "api")
	if code != exitOK || out != "prod/web/api is not held: nothing to release\n" {
		t.Errorf("second release: exit %d, out %q", code, out)
	}
	if bs, err := rollout.Blocks(kube.NewWorkload(&api.d)); err != nil || len(bs) != 1 || bs[0].Digest != blocked {
		t.Fatalf("blocks after release = %+v, %v; want the rolled-back digest still blocked", bs, err)
	}

	patches := api.patches
	code, out, errOut = runCLI(t, "release", "--policy", policyPath, "--digest", blocked, "--dry-run", "api")
	if code != exitOK || !strings.HasPrefix(out, "dry run: would unblock "+blocked+" for prod/web/api[app] (blocked: rollback by ") || api.patches != patches {
		t.Fatalf("unblock dry run: exit %d, out %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "release", "--policy", policyPath, "--digest", blocked, "api")
	if code != exitOK || !strings.HasPrefix(out, "unblocked "+blocked+" for prod/web/api[app] (was blocked: rollback by ") {
		t.Fatalf("unblock: exit %d, out %q, stderr %q", code, out, errOut)
	}
	if bs, err := rollout.Blocks(kube.NewWorkload(&api.d)); err != nil || len(bs) != 0 {
		t.Errorf("blocks after unblock = %+v, %v; want none", bs, err)
	}
	code, _, errOut = runCLI(t, "release", "--policy", policyPath, "--digest", blocked, "api")
	if code != exitFail || !strings.Contains(errOut, "digest is not blocked") {
		t.Errorf("second unblock: exit %d, stderr %q", code, errOut)
	}
}

func TestRollbackCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{name: "no deployment", args: []string{"rollback"}, code: exitUsage, wantErr: "want exactly one WORKLOAD"},
		{name: "two deployments", args: []string{"rollback", "a", "b"}, code: exitUsage, wantErr: "usage: ecrwarden rollback"},
		{name: "not in the policy", args: []string{"rollback", "web"}, code: exitFail, wantErr: "no deploy rule of the policy names workload web: give --cluster and --namespace"},
		{name: "ambiguous", args: []string{"release", "twice"}, code: exitFail, wantErr: "workload twice is in several deploy rules (prod/web[app], prod/canary[app])"},
		{name: "flags pick one rule", args: []string{"release", "--namespace", "canary", "twice"}, code: exitFail, wantErr: "deployments/twice"},
		{name: "no previous image", args: []string{"rollback", "--cluster", "prod", "--namespace", "web", "--container", "app", "api"}, code: exitFail},
		{name: "unknown cluster", args: []string{"rollback", "--cluster", "staging", "--namespace", "web", "other"}, code: exitFail, wantErr: "staging"},
		{name: "bad policy path", args: []string{"rollback", "--policy", "/nonexistent.yaml", "api"}, code: exitFail, wantErr: "nonexistent.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := holdCluster(t)
			if tt.name == "no previous image" {
				delete(api.d.Metadata.Annotations, kube.AnnotationPreviousImage)
				tt.wantErr = "no previous image recorded"
			}
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), "--policy") {
				args = append([]string{args[0], "--policy", writePolicy(t, holdPolicy)}, args[1:]...)
			}
			code, _, errOut := runCLI(t, args...)
			if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, tt.code, errOut, tt.wantErr)
			}
			if api.patches != 0 {
				t.Errorf("%d patches on a failed command", api.patches)
			}
		})
	}
}
