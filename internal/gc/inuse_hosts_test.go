package gc

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/inuse"
)

// TestIntegrationInUseEverywhere: gc keeps images that workloads use in a
// namespace the policy does not name, and images referenced through the
// registry's dual-stack, FIPS and ":443" hosts, against the real
// kube-apiserver as the least-privilege user. (gc used to list only the
// policy's namespaces and to match the registry host literally: all three
// images were planned for deletion.)
func TestIntegrationInUseEverywhere(t *testing.T) {
	k := requireKube(t)
	e := startECR(t)
	labels := seedsHistory(t, e)
	digestOf := func(label string) string {
		for d, l := range labels {
			if l == label {
				return d
			}
		}
		t.Fatalf("no image %s", label)
		return ""
	}
	const ns = "gc-unlisted"
	ctx := context.Background()
	admin := func(method, path string, obj any) {
		t.Helper()
		body, _ := json.Marshal(obj)
		code, out, err := k.Request(ctx, k.Admin, method, path, "application/json", body)
		if err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
			t.Fatalf("%s %s: %d %s %v", method, path, code, out, err)
		}
	}
	admin(http.MethodPost, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})
	t.Cleanup(func() {
		_, _, _ = k.Request(context.Background(), k.Admin, http.MethodDelete, "/api/v1/namespaces/"+ns, "", nil)
	})
	account, region := e.server.Account(), e.server.Region()
	dualStack := account + ".dkr-ecr." + region + ".on.aws"
	fips := account + ".dkr.ecr-fips." + region + ".amazonaws.com"
	admin(http.MethodPost, "/api/v1/namespaces/"+ns+"/pods", map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "batch"},
		"spec": map[string]any{"containers": []any{
			map[string]any{"name": "dual-stack", "image": dualStack + "/mlops/train-model@" + digestOf("exp-2")},
			map[string]any{"name": "fips", "image": fips + "/mlops/train-model:v0.1.0"},
			map[string]any{"name": "port", "image": e.host + ":443/mlops/retail-api:dev-a"},
		}},
	})
	// The policy names only the control plane's own namespace.
	f := seedsPolicy(t, k.Namespace, "")
	r := &Runner{ECR: e.client, Sources: inuse.Clusters(f, limitedLister(t, k, nil))}
	res := r.Plan(ctx, f, nil, now)
	if err := res.Err(); err != nil {
		t.Fatalf("plan: %v", err)
	}
	lines := planTable(res, labels)
	for _, want := range []string{"mlops/train-model exp-2 keep", "mlops/train-model v0.1.0 keep", "mlops/retail-api dev-a keep"} {
		if !slices.Contains(lines, want) {
			t.Errorf("plan lacks %q:\n%v", want, lines)
		}
	}
}
