// Package kinds drives the compiled onpush function in the sandbox against a control plane with
// kube-controller-manager, kube-scheduler and kwok nodes: a push rolls a Deployment, a StatefulSet, a DaemonSet
// and a CronJob's job template forward (deploy rules by kind, and ecrwarden.io/track opt-ins of each kind), with
// the deployer group's RBAC exactly, and the Pods really change. Every rollout of a rule is verified through
// onpush's delayed checks on the verification queue (every second here): a healthy one ends verified, one whose
// Pods crash is rolled back by itself, held, its digest blocked, with one alert (a CronJob by its next Job, created
// as `kubectl create job --from` does). BenchmarkPushToPatch measures the time from a push event to the patched
// Deployment on the API server. It holds tests only.
package kinds
