package rbac

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// kube is the package's control plane; nil with -short.
var kube *testenv.Kube

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithKube(m, func(k *testenv.Kube) { kube = k }))
}

func ensureNamespace(t *testing.T, k *testenv.Kube, ns string) {
	t.Helper()
	code, out, err := k.Request(context.Background(), k.Admin, http.MethodPost, "/api/v1/namespaces", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`))
	if err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
		t.Fatalf("create namespace %s: %d %s %v", ns, code, out, err)
	}
}

// TestRBACAgainstTheAPIServer applies RBAC for the namespaces default and team and asks
// the real authorizer what each group may do: exactly the calls the functions make, and
// none of Secrets, exec, delete, create, or patching outside the namespaces.
func TestRBACAgainstTheAPIServer(t *testing.T) {
	testenv.RequireControlPlane(t, kube != nil)
	k := kube
	ctx := context.Background()
	for _, ns := range []string{"team", "elsewhere"} {
		ensureNamespace(t, k, ns)
	}
	for _, o := range Objects([]string{"team", "default", "team"}) {
		if err := k.Apply(ctx, o.Path(), o.Metadata.Name, o); err != nil {
			t.Fatal(err)
		}
	}
	type check struct {
		verb, group, resource, ns, name string
		want                            bool
	}
	tests := []struct {
		who    string
		group  string
		checks []check
	}{
		{"onpush", GroupDeployer, []check{
			{"get", "apps", "deployments", "default", "api", true},
			{"patch", "apps", "deployments", "team", "api", true},
			{"list", "apps", "deployments", "team", "", true},
			{"get", "", "namespaces", "", "team", true},
			{"get", "", "namespaces", "", "kube-system", false},
			{"patch", "apps", "deployments", "elsewhere", "api", false},
			{"delete", "apps", "deployments", "default", "api", false},
			{"create", "apps", "deployments", "default", "", false},
			{"update", "apps", "deployments", "default", "api", false},
			{"get", "", "secrets", "default", "s", false},
			{"list", "", "secrets", "default", "", false},
			{"create", "", "pods/exec", "default", "p", false},
			{"get", "apps", "statefulsets", "default", "db", true},
			{"patch", "apps", "statefulsets", "default", "db", true},
			{"list", "apps", "statefulsets", "team", "", true},
			{"patch", "apps", "daemonsets", "default", "agent", true},
			{"list", "apps", "daemonsets", "team", "", true},
			{"get", "batch", "cronjobs", "team", "train", true},
			{"patch", "batch", "cronjobs", "team", "train", true},
			{"list", "batch", "cronjobs", "team", "", true},
			{"list", "", "pods", "team", "", true},
			{"list", "", "events", "team", "", true},
			{"list", "batch", "jobs", "team", "", true},
			{"patch", "apps", "statefulsets", "elsewhere", "db", false},
			{"patch", "batch", "cronjobs", "elsewhere", "train", false},
			{"patch", "apps", "replicasets", "default", "rs", false},
			{"patch", "batch", "jobs", "default", "j", false},
			{"create", "batch", "jobs", "default", "", false},
			{"get", "", "pods", "default", "p", false},
			{"patch", "", "pods", "default", "p", false},
			{"delete", "", "pods", "default", "p", true}, // a rolled-back StatefulSet's stuck Pods
			{"delete", "", "pods", "elsewhere", "p", false},
			{"delete", "", "pods/eviction", "default", "p", false},
			{"get", "", "pods/log", "default", "p", false},
			{"list", "", "pods", "elsewhere", "", false},
			{"list", "", "events", "elsewhere", "", false},
			{"list", "", "pods", "", "", false},
			{"list", "", "events", "default", "", true},
		}},
		{"gc", GroupReader, []check{
			{"list", "", "pods", "elsewhere", "", true},
			{"list", "", "pods", "", "", true}, // cluster-wide list
			{"list", "apps", "replicasets", "kube-system", "", true},
			{"list", "apps", "statefulsets", "", "", true},
			{"list", "apps", "daemonsets", "", "", true},
			{"list", "batch", "jobs", "", "", true},
			{"list", "batch", "cronjobs", "", "", true},
			{"list", "apps", "deployments", "", "", true},
			{"get", "", "namespaces", "", "default", true},
			{"get", "", "namespaces", "", "elsewhere", false},
			{"list", "", "secrets", "", "", false},
			{"get", "", "secrets", "default", "s", false},
			{"patch", "apps", "deployments", "default", "api", false},
			{"delete", "", "pods", "default", "p", false},
			{"create", "", "pods/exec", "default", "p", false},
			{"list", "", "configmaps", "", "", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			var wrong []string
			for _, c := range tt.checks {
				got, err := k.Allowed(ctx, "arn:aws:sts::123456789012:assumed-role/ecrwarden-role/"+tt.who, []string{tt.group, "system:authenticated"}, c.verb, c.group, c.resource, c.ns, c.name)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					wrong = append(wrong, strings.Join([]string{c.verb, c.group, c.resource, c.ns, c.name}, " "))
				}
			}
			if len(wrong) > 0 {
				t.Errorf("%s: authorizer disagrees with the intended RBAC on:\n%s", tt.group, strings.Join(wrong, "\n"))
			}
		})
	}
}

func TestRBACYAML(t *testing.T) {
	out, err := YAML(Objects([]string{"default"}))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, doc := range strings.Split(string(out), "---\n") {
		for _, line := range strings.Split(doc, "\n") {
			if k, ok := strings.CutPrefix(line, "kind: "); ok {
				kinds = append(kinds, k)
			}
		}
	}
	want := []string{"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ClusterRole", "ClusterRoleBinding"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	// The one delete is the deployer's on pods (a rolled-back StatefulSet's stuck Pods).
	if strings.Contains(string(out), "secrets") || strings.Count(string(out), "delete") != 1 {
		t.Errorf("RBAC mentions secrets, or delete other than the deployer's on pods:\n%s", out)
	}
}
