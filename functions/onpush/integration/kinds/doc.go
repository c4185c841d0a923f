// Package kinds drives the compiled onpush function in the sandbox against a control plane with
// kube-controller-manager, kube-scheduler and kwok nodes: a push rolls a Deployment, a StatefulSet, a DaemonSet
// and a CronJob's job template forward (deploy rules by kind, and ecrwarden.io/track opt-ins of each kind), with
// the deployer group's RBAC exactly, and the Pods really change. It holds tests only.
package kinds
