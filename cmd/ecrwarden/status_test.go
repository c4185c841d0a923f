package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/status"
)

const statusCLIPolicy = `version: 1
clusters: [{ name: prod, namespaces: [web] }]
repositories:
  - name: team/api
    deploy:
      - { cluster: prod, namespace: web, deployment: api, container: app, tags: "v{semver}" }
`

// listServer answers what status asks an API server: the namespace and
// the list of its Deployments. Anything else (a write) is refused and
// counted.
type listServer struct {
	deps   []kube.Deployment
	writes int
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.writes++
		http.Error(w, "read only", http.StatusForbidden)
		return
	}
	switch r.URL.Path {
	case "/api/v1/namespaces/web":
		json.NewEncoder(w).Encode(map[string]any{"kind": "Namespace", "metadata": map[string]any{"name": "web"}})
	case "/apis/apps/v1/namespaces/web/deployments":
		json.NewEncoder(w).Encode(map[string]any{"kind": "DeploymentList", "metadata": map[string]any{}, "items": s.deps})
	case "/apis/apps/v1/namespaces/web/statefulsets", "/apis/apps/v1/namespaces/web/daemonsets", "/apis/batch/v1/namespaces/web/cronjobs":
		// Status lists every workload kind, as the API server answers: none here.
		json.NewEncoder(w).Encode(map[string]any{"kind": "List", "metadata": map[string]any{}, "items": []any{}})
	default:
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": 404, "reason": "NotFound"})
	}
}

// TestStatusCommand runs `ecrwarden status` with the default credentials
// chain against the ECR and EKS emulators: the table, the JSON, and exit 0
// for a target that lags behind (status is not a check).
func TestStatusCommand(t *testing.T) {
	reg := ecremu.New(ecremu.Config{Seed: 1})
	url, stop, err := reg.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	if err := reg.CreateRepository("team/api", ecremu.RepositoryOptions{ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	for i, tag := range []string{"v1.0.0", "v1.1.0"} {
		d, err := reg.SeedImage("team/api", ecremu.Image{Tags: []string{tag}, PushedAt: time.Now().Add(time.Duration(i-2) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		digests[tag] = d
	}
	host := reg.Account() + ".dkr.ecr." + reg.Region() + ".amazonaws.com"
	api := &listServer{}
	var d kube.Deployment
	d.Metadata.Name, d.Metadata.Namespace = "api", "web"
	d.Spec.Template.Spec.Containers = []kube.Container{{Name: "app", Image: host + "/team/api@" + digests["v1.0.0"]}}
	api.deps = []kube.Deployment{d}
	eksCluster(t, api)
	t.Setenv("AWS_ENDPOINT_URL_ECR", url)
	t.Setenv("AWS_REGION", reg.Region())
	policyPath := writePolicy(t, statusCLIPolicy)

	code, out, errOut := runCLI(t, "status", "--policy", policyPath, "--account", reg.Account())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) < 2 || !strings.HasPrefix(lines[0], "CLUSTER") {
		t.Fatalf("exit %d, out:\n%s\nstderr: %s", code, out, errOut)
	}
	row := strings.Fields(lines[1])
	want := []string{"prod", "web", "deployment/api", "app", "v1.0.0@" + digests["v1.0.0"][7:19], "v1.1.0@" + digests["v1.1.0"][7:19], "behind"}
	if len(row) < len(want) || strings.Join(row[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("row = %q, want it to start with %q", lines[1], want)
	}
	if !strings.Contains(out, "behind    a newer allowed image") {
		t.Errorf("no legend for behind:\n%s", out)
	}

	code, out, errOut = runCLI(t, "status", "--policy", policyPath, "--account", reg.Account(), "--json")
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil {
		t.Fatalf("--json: exit %d, %v; out %s, stderr %s", code, err, out, errOut)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].State != status.Behind || rep.Rows[0].Candidate.Digest != digests["v1.1.0"] {
		t.Errorf("--json rows = %+v", rep.Rows)
	}
	if api.writes != 0 {
		t.Errorf("status wrote %d times to the API server", api.writes)
	}

	// A cluster that answers nothing useful is shown, not hidden: exit 0
	// with the target unknown.
	api.deps = nil
	code, out, _ = runCLI(t, "status", "--policy", policyPath, "--account", reg.Account())
	if code != exitOK || !strings.Contains(out, "unknown") || !strings.Contains(out, "deployment web/api not found in cluster prod") {
		t.Errorf("missing deployment: exit %d, out:\n%s", code, out)
	}
}

func TestStatusCommandErrors(t *testing.T) {
	if code, _, errOut := runCLI(t, "status", "extra"); code != exitUsage || !strings.Contains(errOut, "usage: ecrwarden status") {
		t.Errorf("extra argument: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "status", "--account", "prod"); code != exitUsage || !strings.Contains(errOut, "want a 12-digit AWS account id") {
		t.Errorf("bad account: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "status", "--policy", "/nonexistent.yaml"); code != exitFail || !strings.Contains(errOut, "nonexistent.yaml") {
		t.Errorf("bad policy: exit %d, stderr %q", code, errOut)
	}
}
