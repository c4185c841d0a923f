// Package statustest tests kube's rollout status (Workload.Status) of every workload kind against a real control
// plane with kube-controller-manager, kube-scheduler and kwok nodes, where workloads really roll and
// testenv.SetImageFaults makes new Pods fail as bad images do. It holds tests only; the kube package's own tests
// run on a control plane without controllers, where they write object status by hand.
package statustest
