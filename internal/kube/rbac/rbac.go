// Package rbac is the one definition of the Kubernetes RBAC of the groups the stack's
// EKS access entries map the functions' roles to (eksAccess=rbac): what
// `ecrwarden rbac` prints for operators, what the sandbox applies to its API server,
// and what infra names in the access entries. It is its own package so that the
// sandbox, which applies it, does not import internal/kube, whose tests run on the
// sandbox's control plane.
package rbac

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// The Kubernetes groups the stack's EKS access entries map the function roles to
// (eksAccess=rbac, the default). RBAC below is the one definition of what they may do.
const (
	// GroupDeployer is onpush's and onscan's group: they read and patch the workloads
	// they roll, in the policy's namespaces only.
	GroupDeployer = "ecrwarden-deployer"
	// GroupReader is gc's group: its in-use discovery lists what runs in the whole
	// cluster.
	GroupReader = "ecrwarden-reader"
	// namespacesRole lets both groups get the policy's namespaces by name, so a
	// misspelt namespace is an error (404), not an empty list.
	namespacesRole = "ecrwarden-namespaces"
)

// Object is one Kubernetes RBAC object (Role, ClusterRole or a binding), in the
// field order kubectl prints.
type Object struct {
	APIVersion string       `json:"apiVersion" yaml:"apiVersion"`
	Kind       string       `json:"kind" yaml:"kind"`
	Metadata   Metadata     `json:"metadata" yaml:"metadata"`
	Rules      []PolicyRule `json:"rules,omitempty" yaml:"rules,omitempty"`
	RoleRef    *RoleRef     `json:"roleRef,omitempty" yaml:"roleRef,omitempty"`
	Subjects   []Subject    `json:"subjects,omitempty" yaml:"subjects,omitempty"`
}

// Metadata names an RBAC object.
type Metadata struct {
	Name      string            `json:"name" yaml:"name"`
	Namespace string            `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// PolicyRule is one rule of a Role or ClusterRole.
type PolicyRule struct {
	APIGroups     []string `json:"apiGroups" yaml:"apiGroups"`
	Resources     []string `json:"resources" yaml:"resources"`
	ResourceNames []string `json:"resourceNames,omitempty" yaml:"resourceNames,omitempty"`
	Verbs         []string `json:"verbs" yaml:"verbs"`
}

// RoleRef is the role a binding grants.
type RoleRef struct {
	APIGroup string `json:"apiGroup" yaml:"apiGroup"`
	Kind     string `json:"kind" yaml:"kind"`
	Name     string `json:"name" yaml:"name"`
}

// Subject is who a binding grants the role to.
type Subject struct {
	APIGroup string `json:"apiGroup" yaml:"apiGroup"`
	Kind     string `json:"kind" yaml:"kind"`
	Name     string `json:"name" yaml:"name"`
}

const rbacGroup = "rbac.authorization.k8s.io"

// Path is the API path to create the object at (POST).
func (o Object) Path() string {
	base := "/apis/" + rbacGroup + "/v1"
	kinds := map[string]string{"Role": "roles", "RoleBinding": "rolebindings", "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}
	if o.Metadata.Namespace != "" {
		return base + "/namespaces/" + o.Metadata.Namespace + "/" + kinds[o.Kind]
	}
	return base + "/" + kinds[o.Kind]
}

// DeployerRules are what GroupDeployer may do in each policy namespace: read and patch
// the workloads it rolls forward (get, patch) and finds by annotation (list) — every
// kind kube.Kinds names, since an ecrwarden.io/track opt-in may be of any of them and
// the discovery lists them all (a refused listing fails closed) — and read a rollout's
// status: list the Pods of the new template and their Events, and a CronJob's Jobs; and
// delete the Pods a rolled-back StatefulSet would otherwise wait for forever (the
// Kubernetes documentation's forced rollback; kube.DeleteStuckPods deletes only Pods of
// the StatefulSet that run the failed image and are not Ready).
// kube's tests check that these resources are exactly kube.Kinds' (this package does
// not import kube).
func DeployerRules() []PolicyRule {
	return []PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets", "deployments", "statefulsets"}, Verbs: []string{"get", "list", "patch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}, Verbs: []string{"get", "list", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events", "pods"}, Verbs: []string{"list"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"delete"}},
	}
}

// ReaderRules are what GroupReader may do in every namespace: list everything that can
// run an image, as in-use discovery does.
func ReaderRules() []PolicyRule {
	return []PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets", "deployments", "replicasets", "statefulsets"}, Verbs: []string{"list"}},
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs", "jobs"}, Verbs: []string{"list"}},
	}
}

// Objects returns the RBAC objects for one cluster whose policy namespaces are namespaces:
// a Role and RoleBinding of GroupDeployer in each namespace, a ClusterRole and
// ClusterRoleBinding of GroupReader, and a ClusterRole letting both groups get exactly
// those namespaces. Nothing else: no Secrets, no exec, no create or delete.
func Objects(namespaces []string) []Object {
	ns := slices.Clone(namespaces)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	labels := map[string]string{"app.kubernetes.io/managed-by": "ecrwarden"}
	group := func(name string) []Subject {
		return []Subject{{APIGroup: rbacGroup, Kind: "Group", Name: name}}
	}
	var out []Object
	for _, n := range ns {
		out = append(out,
			Object{APIVersion: rbacGroup + "/v1", Kind: "Role", Metadata: Metadata{Name: GroupDeployer, Namespace: n, Labels: labels}, Rules: DeployerRules()},
			Object{APIVersion: rbacGroup + "/v1", Kind: "RoleBinding", Metadata: Metadata{Name: GroupDeployer, Namespace: n, Labels: labels},
				RoleRef: &RoleRef{APIGroup: rbacGroup, Kind: "Role", Name: GroupDeployer}, Subjects: group(GroupDeployer)})
	}
	out = append(out,
		Object{APIVersion: rbacGroup + "/v1", Kind: "ClusterRole", Metadata: Metadata{Name: GroupReader, Labels: labels}, Rules: ReaderRules()},
		Object{APIVersion: rbacGroup + "/v1", Kind: "ClusterRoleBinding", Metadata: Metadata{Name: GroupReader, Labels: labels},
			RoleRef: &RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: GroupReader}, Subjects: group(GroupReader)})
	if len(ns) > 0 {
		out = append(out,
			Object{APIVersion: rbacGroup + "/v1", Kind: "ClusterRole", Metadata: Metadata{Name: namespacesRole, Labels: labels},
				Rules: []PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: ns, Verbs: []string{"get"}}}},
			Object{APIVersion: rbacGroup + "/v1", Kind: "ClusterRoleBinding", Metadata: Metadata{Name: namespacesRole, Labels: labels},
				RoleRef:  &RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: namespacesRole},
				Subjects: append(group(GroupDeployer), group(GroupReader)...)})
	}
	return out
}

// YAML renders objects as a multi-document YAML stream kubectl apply -f - takes.
func YAML(objects []Object) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objects {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(o); err != nil {
			return nil, fmt.Errorf("render %s %s: %w", o.Kind, o.Metadata.Name, err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("render %s %s: %w", o.Kind, o.Metadata.Name, err)
		}
	}
	return b.Bytes(), nil
}
