package kube

import (
	"slices"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
)

// TestDeployerRBACCoversEveryKind: the deployer group's Role (internal/kube/rbac, which cannot import this
// package) grants get, list and patch on exactly the kinds Kinds names, list on what Workload.Status reads, and
// delete on pods (DeleteStuckPods).
func TestDeployerRBACCoversEveryKind(t *testing.T) {
	granted := map[string][]string{} // group/resource → verbs
	for _, r := range rbac.DeployerRules() {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				granted[g+"/"+res] = append(granted[g+"/"+res], r.Verbs...)
			}
		}
	}
	want := map[string][]string{"/pods": {"delete", "list"}, "/events": {"list"}, "batch/jobs": {"list"}}
	for _, k := range Kinds {
		want[k.APIGroup()+"/"+k.Resource()] = []string{"get", "list", "patch"}
	}
	for res, verbs := range granted {
		slices.Sort(verbs)
		if !slices.Equal(verbs, want[res]) {
			t.Errorf("deployer may %v %s, want %v", verbs, res, want[res])
		}
	}
	for res, verbs := range want {
		if _, ok := granted[res]; !ok {
			t.Errorf("deployer may not %v %s", verbs, res)
		}
	}
}
