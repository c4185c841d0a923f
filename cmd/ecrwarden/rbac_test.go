package main

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestRBACCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "rbac", "--policy", "../../ecrwarden.yaml")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	if !strings.HasPrefix(out, "# cluster retail-forecast: namespaces default\n") {
		t.Errorf("stdout starts %q", out[:min(len(out), 60)])
	}
	dec := yaml.NewDecoder(strings.NewReader(out))
	var kinds []string
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name, Namespace string
			} `yaml:"metadata"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kinds = append(kinds, doc.Kind+" "+doc.Metadata.Namespace+"/"+doc.Metadata.Name)
	}
	want := "Role default/ecrwarden-deployer,RoleBinding default/ecrwarden-deployer,ClusterRole /ecrwarden-reader,ClusterRoleBinding /ecrwarden-reader,ClusterRole /ecrwarden-namespaces,ClusterRoleBinding /ecrwarden-namespaces"
	if got := strings.Join(kinds, ","); got != want {
		t.Errorf("objects:\n got %s\nwant %s", got, want)
	}

	if code, _, errOut := runCLI(t, "rbac", "--policy", "../../ecrwarden.yaml", "--cluster", "nope"); code != exitFail || !strings.Contains(errOut, `cluster "nope" is not in`) {
		t.Errorf("unknown cluster: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "rbac", "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d, want %d", code, exitUsage)
	}
}
