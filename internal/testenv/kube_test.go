package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	apiImage     = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-forecast-api"
	sidecarImage = "public.ecr.aws/envoyproxy/envoy:v1.36.2"
)

type deployment struct {
	Metadata struct {
		Name            string `json:"name"`
		ResourceVersion string `json:"resourceVersion"`
		Generation      int64  `json:"generation"`
	} `json:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Name  string `json:"name"`
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func (d deployment) images() map[string]string {
	out := map[string]string{}
	for _, c := range d.Spec.Template.Spec.Containers {
		out[c.Name] = c.Image
	}
	return out
}

func deploymentJSON(ns, name string) []byte {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec": map[string]any{"containers": []map[string]any{
					{"name": "api", "image": apiImage + ":v1.3.0"},
					{"name": "envoy", "image": sidecarImage},
				}},
			},
		},
	})
	return b
}

// mustRequest sends a request and fails the test unless it answers want.
func mustRequest(t testing.TB, k *Kube, cfg RESTConfig, method, path, contentType string, body []byte, want int) []byte {
	t.Helper()
	code, resp, err := k.Request(context.Background(), cfg, method, path, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, resp)
	}
	return resp
}

func createDeployment(t *testing.T, k *Kube, ns, name string) deployment {
	t.Helper()
	base := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	resp := mustRequest(t, k, k.Admin, http.MethodPost, base, "application/json", deploymentJSON(ns, name), http.StatusCreated)
	t.Cleanup(func() {
		k.Request(context.Background(), k.Admin, http.MethodDelete, base+"/"+name, "", nil)
	})
	var d deployment
	if err := json.Unmarshal(resp, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func imagePatch(resourceVersion, image string) []byte {
	b, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []map[string]any{{"name": "api", "image": image}},
		}}},
	})
	return b
}

func TestLimitedTokenPatchesDeployment(t *testing.T) {
	k := needKube(t)
	ns := k.Namespace
	path := "/apis/apps/v1/namespaces/" + ns + "/deployments/retail-forecast-api"
	created := createDeployment(t, k, ns, "retail-forecast-api")

	resp := mustRequest(t, k, k.Limited, http.MethodPatch, path, "application/strategic-merge-patch+json",
		imagePatch(created.Metadata.ResourceVersion, apiImage+":v1.4.0"), http.StatusOK)
	var patched deployment
	if err := json.Unmarshal(resp, &patched); err != nil {
		t.Fatal(err)
	}
	wantImages := map[string]string{"api": apiImage + ":v1.4.0", "envoy": sidecarImage}
	if diff := cmp.Diff(wantImages, patched.images()); diff != "" {
		t.Errorf("images after patch (-want +got):\n%s", diff)
	}
	if patched.Metadata.Generation != created.Metadata.Generation+1 {
		t.Errorf("generation %d after patch, want %d", patched.Metadata.Generation, created.Metadata.Generation+1)
	}

	// The same patch based on the version read before the update conflicts.
	mustRequest(t, k, k.Limited, http.MethodPatch, path, "application/strategic-merge-patch+json",
		imagePatch(created.Metadata.ResourceVersion, apiImage+":v1.5.0"), http.StatusConflict)

	var stored deployment
	if err := json.Unmarshal(mustRequest(t, k, k.Limited, http.MethodGet, path, "", nil, http.StatusOK), &stored); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantImages, stored.images()); diff != "" {
		t.Errorf("stored images after the conflict (-want +got):\n%s", diff)
	}
}

func TestLimitedTokenIsLeastPrivilege(t *testing.T) {
	k := needKube(t)
	ns := k.Namespace
	createDeployment(t, k, ns, "rbac-probe")
	secrets := "/api/v1/namespaces/" + ns + "/secrets"
	secret, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "slack-webhook"},
		"stringData": map[string]any{"url": "http://127.0.0.1:9/hook"},
	})
	code, body, err := k.Request(context.Background(), k.Admin, http.MethodPost, secrets, "application/json", secret)
	if err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
		t.Fatalf("create secret: %d %s %v", code, body, err)
	}
	t.Cleanup(func() {
		k.Request(context.Background(), k.Admin, http.MethodDelete, secrets+"/slack-webhook", "", nil)
	})
	otherNS := "ecrwarden-other"
	nsBody, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": otherNS}})
	if code, body, err := k.Request(context.Background(), k.Admin, http.MethodPost, "/api/v1/namespaces", "application/json", nsBody); err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
		t.Fatalf("create namespace: %d %s %v", code, body, err)
	}
	createDeployment(t, k, otherNS, "rbac-probe")

	deploy := "/apis/apps/v1/namespaces/" + ns + "/deployments/rbac-probe"
	smp := "application/strategic-merge-patch+json"
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"` + apiImage + `:v9"}]}}}}`)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		admin       bool
		want        int
	}{
		{name: "get deployment", method: http.MethodGet, path: deploy, want: http.StatusOK},
		{name: "list deployments", method: http.MethodGet, path: "/apis/apps/v1/namespaces/" + ns + "/deployments", want: http.StatusOK},
		{name: "list pods", method: http.MethodGet, path: "/api/v1/namespaces/" + ns + "/pods", want: http.StatusOK},
		{name: "list replicasets", method: http.MethodGet, path: "/apis/apps/v1/namespaces/" + ns + "/replicasets", want: http.StatusOK},
		{name: "list statefulsets", method: http.MethodGet, path: "/apis/apps/v1/namespaces/" + ns + "/statefulsets", want: http.StatusOK},
		{name: "list daemonsets", method: http.MethodGet, path: "/apis/apps/v1/namespaces/" + ns + "/daemonsets", want: http.StatusOK},
		{name: "list jobs", method: http.MethodGet, path: "/apis/batch/v1/namespaces/" + ns + "/jobs", want: http.StatusOK},
		{name: "list cronjobs", method: http.MethodGet, path: "/apis/batch/v1/namespaces/" + ns + "/cronjobs", want: http.StatusOK},
		{name: "delete deployment", method: http.MethodDelete, path: deploy, want: http.StatusForbidden},
		{name: "get secret", method: http.MethodGet, path: secrets + "/slack-webhook", want: http.StatusForbidden},
		{name: "list secrets", method: http.MethodGet, path: secrets, want: http.StatusForbidden},
		{name: "admin gets secret", method: http.MethodGet, path: secrets + "/slack-webhook", admin: true, want: http.StatusOK},
		{name: "create deployment", method: http.MethodPost, path: "/apis/apps/v1/namespaces/" + ns + "/deployments", contentType: "application/json", body: deploymentJSON(ns, "not-allowed"), want: http.StatusForbidden},
		{name: "update deployment", method: http.MethodPut, path: deploy, contentType: "application/json", body: deploymentJSON(ns, "rbac-probe"), want: http.StatusForbidden},
		{name: "patch pod", method: http.MethodPatch, path: "/api/v1/namespaces/" + ns + "/pods/any", contentType: smp, body: []byte(`{}`), want: http.StatusForbidden},
		{name: "patch deployment in another namespace", method: http.MethodPatch, path: "/apis/apps/v1/namespaces/" + otherNS + "/deployments/rbac-probe", contentType: smp, body: patch, want: http.StatusForbidden},
		// gc's in-use discovery reads every namespace (shared contract 1): lists only.
		{name: "list deployments cluster-wide", method: http.MethodGet, path: "/apis/apps/v1/deployments", want: http.StatusOK},
		{name: "list pods cluster-wide", method: http.MethodGet, path: "/api/v1/pods", want: http.StatusOK},
		{name: "list cronjobs cluster-wide", method: http.MethodGet, path: "/apis/batch/v1/cronjobs", want: http.StatusOK},
		{name: "get deployment in another namespace", method: http.MethodGet, path: "/apis/apps/v1/namespaces/" + otherNS + "/deployments/rbac-probe", want: http.StatusForbidden},
		{name: "get own namespace", method: http.MethodGet, path: "/api/v1/namespaces/" + ns, want: http.StatusOK},
		{name: "get another namespace", method: http.MethodGet, path: "/api/v1/namespaces/" + otherNS, want: http.StatusForbidden},
		{name: "list namespaces", method: http.MethodGet, path: "/api/v1/namespaces", want: http.StatusForbidden},
		{name: "list secrets cluster-wide", method: http.MethodGet, path: "/api/v1/secrets", want: http.StatusForbidden},
		{name: "list nodes", method: http.MethodGet, path: "/api/v1/nodes", want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := k.Limited
			if tt.admin {
				cfg = k.Admin
			}
			code, body, err := k.Request(context.Background(), cfg, tt.method, tt.path, tt.contentType, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, code); diff != "" {
				t.Errorf("%s %s status (-want +got):\n%s\n%s", tt.method, tt.path, diff, body)
			}
		})
	}
}

// TestRESTConfigIsSelfContained talks to the API server with nothing but a RESTConfig,
// as code under test does: the CA bundle verifies the serving certificate.
func TestRESTConfigIsSelfContained(t *testing.T) {
	k := needKube(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(k.Limited.CAData) {
		t.Fatal("CAData holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, k.Limited.Host+"/version", nil)
	req.Header.Set("Authorization", "Bearer "+k.Limited.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(KubeVersion, v.GitVersion); diff != "" {
		t.Errorf("server version (-want +got):\n%s", diff)
	}

	req, _ = http.NewRequest(http.MethodGet, k.Limited.Host+"/version", nil)
	req.Header.Set("Authorization", "Bearer wrong-token")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d, want 401", resp.StatusCode)
	}
}

// BenchmarkKubeStart measures a warm start of a second control plane (cached binaries)
// to /readyz and RBAC in effect, and its stop.
func BenchmarkKubeStart(b *testing.B) {
	RequireControlPlane(b, kube != nil)
	for b.Loop() {
		k, err := StartKube(context.Background(), KubeOptions{Namespace: fmt.Sprintf("bench-%d", b.N)})
		if err != nil {
			b.Fatal(err)
		}
		if err := k.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKubeStartControllers measures a warm start of a control plane with
// kube-controller-manager, kube-scheduler, kwok and two Ready nodes, and its stop.
func BenchmarkKubeStartControllers(b *testing.B) {
	RequireControlPlane(b, kube != nil)
	rss := map[string]float64{}
	for b.Loop() {
		k, err := StartKube(context.Background(), KubeOptions{Controllers: &ControllerOptions{}})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []*managedProcess{k.etcd, k.apiserver, k.sim.kcm, k.sim.scheduler, k.sim.kwok} {
			rss[p.name] += residentMiB(b, p.cmd.Process.Pid)
		}
		if err := k.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	for name, v := range rss {
		b.ReportMetric(v/float64(b.N), name+"-MiB")
	}
}

// residentMiB reads a process's resident set size from /proc.
func residentMiB(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb / 1024
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestStartKubeOptions starts a second control plane with its own namespace and an
// extra kube-apiserver flag, next to the shared one.
func TestStartKubeOptions(t *testing.T) {
	needKube(t)
	ctx := context.Background()
	k, err := StartKube(ctx, KubeOptions{
		Namespace: "retail",
		ExtraArgs: []string{"--service-cluster-ip-range=10.96.0.0/24"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := k.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	createDeployment(t, k, "retail", "retail-forecast-api")
	mustRequest(t, k, k.Limited, http.MethodGet, "/apis/apps/v1/namespaces/retail/deployments/retail-forecast-api", "", nil, http.StatusOK)
	mustRequest(t, k, k.Limited, http.MethodGet, "/apis/apps/v1/namespaces/default/deployments/retail-forecast-api", "", nil, http.StatusForbidden)
	mustRequest(t, k, k.Limited, http.MethodGet, "/api/v1/namespaces/default", "", nil, http.StatusForbidden)

	svc, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "api"},
		"spec":     map[string]any{"ports": []map[string]any{{"port": 80}}},
	})
	var got struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(mustRequest(t, k, k.Admin, http.MethodPost, "/api/v1/namespaces/retail/services", "application/json", svc, http.StatusCreated), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Spec.ClusterIP, "10.96.0.") {
		t.Errorf("service cluster IP %q is not from the --service-cluster-ip-range in ExtraArgs", got.Spec.ClusterIP)
	}
}
