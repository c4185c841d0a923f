package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// rbacCmd prints the Kubernetes RBAC the stack's access entries rely on (eksAccess=rbac):
// for each cluster of the policy, a YAML stream for kubectl apply -f -.
func rbacCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rbac", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("policy", defaultPolicyPath(), "policy file")
	cluster := fs.String("cluster", "", "only this cluster of the policy")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecrwarden rbac [--policy FILE] [--cluster NAME]")
		fmt.Fprintln(stderr, "Prints the Roles, ClusterRoles and bindings of the ecrwarden-deployer and ecrwarden-reader")
		fmt.Fprintln(stderr, "groups for each cluster of the policy, as YAML for kubectl apply -f - (one cluster at a time).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	f, err := policy.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "ecrwarden rbac: %v\n", err)
		return exitFail
	}
	found := false
	for _, c := range f.Clusters {
		if *cluster != "" && c.Name != *cluster {
			continue
		}
		out, err := rbac.YAML(rbac.Objects(c.Namespaces))
		if err != nil {
			fmt.Fprintf(stderr, "ecrwarden rbac: %v\n", err)
			return exitFail
		}
		if found {
			fmt.Fprintln(stdout, "---")
		}
		found = true
		fmt.Fprintf(stdout, "# cluster %s: namespaces %s\n", c.Name, strings.Join(c.Namespaces, ", "))
		stdout.Write(out)
	}
	if !found {
		if *cluster != "" {
			fmt.Fprintf(stderr, "ecrwarden rbac: cluster %q is not in %s\n", *cluster, *path)
		} else {
			fmt.Fprintf(stderr, "ecrwarden rbac: %s lists no clusters\n", *path)
		}
		return exitFail
	}
	return exitOK
}
