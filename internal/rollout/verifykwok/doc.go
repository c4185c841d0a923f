// Package verifykwok tests rollout verification and automatic rollback
// (rollout.Verifier) of every workload kind — Deployment, StatefulSet, DaemonSet
// and CronJob — against a control plane where rollouts really happen:
// kube-apiserver with kube-controller-manager, kube-scheduler and kwok's simulated
// nodes (testenv), as the limited user bound to the deployer group's Role
// (rbac.DeployerRules). It holds no code of its own: the tests live apart from
// internal/rollout's because a running controller would race the
// resourceVersion-guarded patches those tests make.
package verifykwok
