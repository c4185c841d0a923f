// Package verifykwok tests rollout verification (rollout.Verifier) against a control
// plane where rollouts really happen: kube-apiserver with kube-controller-manager,
// kube-scheduler and kwok's simulated nodes (testenv), as the limited RBAC user. It
// holds no code of its own: the tests live apart from internal/rollout's because a
// running deployment controller would race the resourceVersion-guarded patches those
// tests make.
package verifykwok
