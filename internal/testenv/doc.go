// Package testenv runs the real things ecrwarden talks to, on loopback, for integration
// tests and the demo: a Kubernetes control plane (etcd + kube-apiserver, and on request
// kube-controller-manager, kube-scheduler and kwok's simulated nodes, so that rollouts
// really happen) and the Lambda Runtime API that compiled function binaries
// (aws-lambda-go's lambda.Start) run against.
//
// # Kubernetes control plane
//
// EnsureKube builds etcd and kube-apiserver (KubeVersion) from the Go module proxy the
// first time (about 9 minutes on 2 cores) and caches them outside the repository in
// CacheDir()/kube-<version>-<go version>/bin, keyed by the Kubernetes and Go versions.
// The build happens in a throw-away wrapper module in that cache directory; binaries are
// written under a temporary name and renamed, and a lock file serialises concurrent
// builders (several test packages at once). CI prebuilds them with
//
//	go run ./internal/testenv/cmd/testenv-build
//
// StartKube starts both on free loopback ports in a temporary data directory, with token
// authentication and RBAC, waits for /readyz and returns a *Kube holding two RESTConfigs
// (Host, CAData, Token): Admin (system:masters) and Limited, the user LimitedUser bound by
// the Role LimitedRole in Kube.Namespace to exactly what ecrwarden needs: get, list, watch
// and patch on apps/deployments, and get/list on the workload kinds gc reads (pods,
// replicasets, statefulsets, daemonsets, jobs, cronjobs). A namespaced Role, not a
// ClusterRole: ecrwarden is configured per namespace, and the tests show that everything
// else — delete, create, Secrets, other namespaces, cluster scope — is refused with 403.
// Kube.HTTPClient trusts the self-signed serving certificate and Kube.Request is a lean
// JSON helper; there is deliberately no client-go. By default no controllers or kubelets
// run: objects are stored, validated, patched and authorised for real, but not
// reconciled.
//
// # Rollouts that really happen
//
// With KubeOptions.Controllers, StartKube also runs kube-controller-manager (the
// workload controllers in Controllers, leader election off, each controller with its
// own service-account token), kube-scheduler and kwok (sigs.k8s.io/kwok, KwokVersion),
// each on loopback with its own token and kubeconfig, and creates ControllerOptions.Nodes
// simulated nodes (Kube.Nodes). EnsureControllers builds the three binaries the first
// time (kube-controller-manager and kube-scheduler from the API server's wrapper module,
// kwok from its own, since it requires older k8s.io libraries) and caches them beside the
// others, never touching binaries already cached. kwok plays the kubelet through Stage
// resources of our own (stages.go), read from the API server (--enable-crds=Stage), so
// tests change them at run time: Deployments create ReplicaSets, Pods are scheduled onto
// the nodes and become Running and Ready (containerStatuses with imageID digests, Pod
// IPs, an Event), a Job's Pods complete, and a deleted Pod goes at once.
//
// Faults follow the image, not the workload: Kube.SetImageFaults marks an image
// reference (or a bare digest) ImageCrashLoop (CrashLoopBackOff with a rising
// restartCount and lastState.terminated exit 1), ImageOOMKilled (the same with 137,
// OOMKilled), ImagePullError (ErrImagePull, then ImagePullBackOff), ImageConfigError
// (CreateContainerConfigError) or ImageNeverReady (running, never ready), each with the
// Events kubelet would record; a rollout to a marked image then fails as it would in a
// cluster (ProgressDeadlineExceeded). SetImageFaults returns once kwok plays the new
// marks. Kube.TriggerCronJob makes the CronJob controller start a scheduled Job now, and
// Kube.CreateJobFromCronJob runs one as `kubectl create job --from` does.
//
// One control plane is shared by the tests of a package through RunWithKube (or
// RunWithKubeOptions) in TestMain.
// With -short it is not started and tests skip with SkipMessage. Kube.Stop ends both
// process groups and removes the data directory; RunWithKube calls it on return and on
// SIGINT/SIGTERM, child processes die with the test binary (Pdeathsig), and data
// directories of dead test binaries are removed by the next StartKube.
//
// # Lambda Runtime API
//
// StartFunction runs a compiled bootstrap (BuildFunction builds one as Lambda's
// provided.al2023 runtime expects) as a child process with the environment Lambda sets
// (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, _HANDLER, AWS_REGION, ...), against a
// Runtime API server of its own on a loopback port, implementing version 2018-06-01:
// GET /runtime/invocation/next (with the Lambda-Runtime-Aws-Request-Id,
// Lambda-Runtime-Deadline-Ms, Lambda-Runtime-Invoked-Function-Arn and
// Lambda-Runtime-Trace-Id headers), POST /runtime/invocation/{id}/response, POST
// /runtime/invocation/{id}/error and POST /runtime/init/error (the error shape
// {"errorMessage","errorType","stackTrace"}, Lambda-Runtime-Function-Error-Type wins
// over errorType). Function.Invoke delivers one event and reports the response or the
// function error, the cold start (process start to first /next) and the duration.
// Like Lambda, a timeout kills the process and the next invocation starts a new one, as
// does a process that exits (after a panic); an init error is reported to the invoker
// and init is retried on the next invocation. InjectFault drops an invocation or forces
// a timeout. Each Function has its own port, so several run side by side. EnsureRIE
// builds the AWS Lambda Runtime Interface Emulator (RIEVersion) from the module proxy;
// TestRuntimeMatchesRIE runs the same binary under both and compares responses and error
// shapes (the emulator takes --runtime-api-address, so it needs no fixed port either, but
// it runs one function per process and cannot drop or time out invocations on demand).
package testenv
