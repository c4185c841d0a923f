package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecrwarden/ecrwarden/internal/cfn"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eksauth"
	"github.com/ecrwarden/ecrwarden/internal/emulator/motoproxy"
	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
	"github.com/ecrwarden/ecrwarden/internal/eventpattern"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// Account and Region of the emulated AWS account the stack is deployed to.
const (
	Account = "123456789012"
	Region  = "ap-southeast-1"
	// stackName is the stack the sandbox deploys (the CDK app's default).
	stackName = "ecrwarden"
)

// Functions are the three functions of the suite.
var Functions = []string{"onpush", "onscan", "gc"}

// Options configures a sandbox.
type Options struct {
	// PolicyPath is the policy the functions load; the module's ecrwarden.yaml when empty.
	PolicyPath string
	// Cluster is the control plane and moto (see StartCluster); required.
	Cluster *Cluster
	// Logs receives the functions' logs; nil discards them.
	Logs io.Writer
	// Progress receives progress lines (a first synth of the template); may be nil.
	Progress io.Writer
	// Env adds or overrides function environment variables (e.g. ECRWARDEN_DRY_RUN).
	Env map[string]string
	// ScanType is the registry scan type of the repositories; basic when empty.
	ScanType ecr.ScanType
	// Retries is how many times a failed asynchronous invocation is retried before
	// it goes to the DLQ; the template's MaximumRetryAttempts when nil.
	Retries *int
	// RetryDelay is the wait before each retry. Lambda waits a minute, then
	// two; zero (the default) retries at once. A retry must come after the
	// dedupe lease of an attempt that timed out (its deadline plus 2 s) to
	// find the work free: set it above that in tests that kill invocations.
	RetryDelay time.Duration
	// Timeout overrides each function's timeout (the template's when zero).
	Timeout time.Duration
	// Suite configures the emulators (host, ports, a seed file); the sandbox
	// adds the template's topics, buses, tables and the policy's clusters. A
	// repository the seed file creates is left as the seed file says. Its
	// region and account, when set, must be the sandbox's (Region, Account):
	// the template is synthesized for them.
	Suite suite.Options
	// Template is the CloudFormation template to deploy instead of the one the CDK
	// app synthesizes from the policy (a test that removes a grant passes its own).
	Template *cfn.Template
	// IAMOff turns the authorization of AWS calls off, for measuring what it costs;
	// every test runs with it on.
	IAMOff bool
	// KubeFaults puts a fault-injecting proxy (Sandbox.KubeFaults) between the
	// functions and the API server: the EKS emulator hands it out as the
	// clusters' endpoint.
	KubeFaults bool
}

// Delivery is one event delivered to one function.
type Delivery struct {
	Function   string
	DetailType string
	Event      []byte
	Attempts   int
	Result     testenv.Result
	// Err is the invocation's final error (function error or runtime failure).
	Err error
}

// Sandbox is a running suite: the stack's template deployed on the emulators.
type Sandbox struct {
	Suite     *suite.Suite
	Cluster   *Cluster
	Policy    *policy.File
	Functions map[string]*testenv.Function
	// Template is the deployed template and Stack its deployment (physical names).
	Template *cfn.Template
	Stack    *cfn.Stack
	// IAM decides and records every AWS call; see Denials.
	IAM *authz.Authorizer
	// AWS is an SDK configuration with the admin identity (allowed everything), for
	// tests, seeding and the demo's "CI"; ECR is an ECR client on the emulator with it.
	AWS aws.Config
	ECR *awsecr.Client
	// Region and Account of the emulated registry; Registry is its host.
	Region, Account, Registry string
	// TopicARN, EventBus and DedupeTable are the alert topic, the audit bus and the
	// dedupe table the template gives the functions (from their environment).
	TopicARN, EventBus, DedupeTable string
	// Metrics reads the functions' EMF metrics out of their logs, as
	// CloudWatch Logs does in AWS: the series the stack's dashboard plots.
	Metrics *metrics.Collector
	// InUse is the fault proxy in front of the cluster's moto_server, behind
	// the authorizing proxy, through which the functions reach SQS, ECS,
	// Lambda, SageMaker and Batch (gc's fan-out queue and in-use sources):
	// its call log counts the calls IAM let through and its rules fail them.
	InUse *motoproxy.Proxy
	// KubeFaults is the fault proxy in front of the API server when
	// Options.KubeFaults is set; nil otherwise.
	KubeFaults *KubeFaults

	dep        *deployment
	routes     []route
	retries    *int
	retryDelay time.Duration
	tmp        string
	proxy      *httptest.Server
	queueURL   map[string]string // queue logical id → URL
	keys       []string          // access keys registered with the cluster's authenticator

	mu       sync.Mutex
	seq      int
	queue    [][]byte
	queued   chan struct{} // signalled when an event is queued (Serve)
	dlq      []Delivery
	expected []func(authz.Decision) bool
	stop     []func()
}

type route struct {
	function string
	pattern  *eventpattern.Pattern
}

// adminKey is the access key of the admin identity.
const adminKey = "AKIAADMINSANDBOX0000"

// Start synthesizes the stack's template from the policy (cached; see
// testenv.SynthTemplate) unless one is given, deploys it on the emulators — the
// topic, bus, table, queues, key and repositories under the physical names
// CloudFormation would give them, the RBAC of the access entries' groups — and starts
// each function with its own credentials, bound to its own role's policies from the
// template, and the environment the template gives it.
func Start(ctx context.Context, o Options) (_ *Sandbox, err error) {
	if o.Cluster == nil {
		return nil, errors.New("sandbox: no cluster (StartCluster)")
	}
	if o.Cluster.Moto == nil {
		return nil, errors.New("sandbox: the cluster has no moto_server")
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if o.PolicyPath == "" {
		o.PolicyPath = filepath.Join(root, "ecrwarden.yaml")
	}
	p, err := policy.Load(o.PolicyPath)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	tmpl := o.Template
	if tmpl == nil {
		if tmpl, err = Template(ctx, o.PolicyPath, o.Progress); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("%s-%d", stackName, nextStack())
	dep, err := readDeployment(tmpl, name, Account, Region)
	if err != nil {
		return nil, fmt.Errorf("sandbox: template: %w", err)
	}
	sb := &Sandbox{Cluster: o.Cluster, Policy: p, Functions: map[string]*testenv.Function{},
		Template: tmpl, Stack: dep.stack, dep: dep, queueURL: map[string]string{}, retries: o.Retries, retryDelay: o.RetryDelay,
		Metrics: metrics.NewCollector()}
	defer func() {
		if err != nil {
			sb.Close()
		}
	}()
	if sb.tmp, err = os.MkdirTemp("", "ecrwarden-sandbox-"); err != nil {
		return nil, err
	}
	if err := sb.startEmulators(ctx, o); err != nil {
		return nil, err
	}
	if err := sb.startFunctions(ctx, o, root); err != nil {
		return nil, err
	}
	for _, r := range dep.rules {
		cp, err := eventpattern.New(r.pattern)
		if err != nil {
			return nil, fmt.Errorf("sandbox: rule %s: %w", r.id, err)
		}
		if r.bus == "default" {
			sb.routes = append(sb.routes, route{function: r.function, pattern: cp})
		}
	}
	sb.queued = make(chan struct{}, 1)
	sb.stop = append(sb.stop, sb.Suite.EventBridge.Subscribe(func(_ context.Context, envelope []byte) {
		sb.mu.Lock()
		sb.queue = append(sb.queue, append([]byte(nil), envelope...))
		sb.mu.Unlock()
		select {
		case sb.queued <- struct{}{}:
		default:
		}
	}))
	return sb, nil
}

var (
	stacksMu sync.Mutex
	stacks   int
)

// nextStack numbers the sandboxes of a process, so the resources of two sandboxes on
// one moto_server never share a name.
func nextStack() int {
	stacksMu.Lock()
	defer stacksMu.Unlock()
	stacks++
	return stacks
}

// Template returns the template the CDK app synthesizes for the policy at path, in the
// sandbox's account and region (cached on disk; the first synth on a machine takes
// minutes).
func Template(ctx context.Context, path string, progress io.Writer) (*cfn.Template, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	b, err := testenv.SynthTemplate(ctx, testenv.SynthOptions{Root: root, Policy: path, Account: Account, Region: Region, Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	t, err := cfn.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return t, nil
}

// startEmulators starts the AWS emulators with the template's resources and the
// authorizer, and the proxies in front of moto (startMoto).
func (sb *Sandbox) startEmulators(ctx context.Context, o Options) error {
	dep := sb.dep
	endpoint, ca := o.Cluster.Kube.Admin.Host, o.Cluster.Kube.Admin.CAData
	if o.KubeFaults {
		kf, err := StartKubeFaults(endpoint, ca, o.Suite.Seed)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		sb.KubeFaults = kf
		sb.stop = append(sb.stop, kf.Close)
		endpoint, ca = kf.URL(), kf.CAPEM()
	}
	var clusters []eks.Cluster
	for _, c := range sb.Policy.Clusters {
		clusters = append(clusters, eks.Cluster{Name: c.Name, Endpoint: endpoint, CAPEM: ca})
	}
	so := o.Suite
	if so.Region != "" && so.Region != Region || so.AccountID != "" && so.AccountID != Account {
		return fmt.Errorf("sandbox: the emulators must serve %s in %s, the account and region the template is synthesized for", Account, Region)
	}
	so.Region, so.AccountID = Region, Account
	so.Topics = append(so.Topics, dep.topics...)
	so.Buses = append(so.Buses, dep.buses...)
	so.Tables = append(so.Tables, dep.tables...)
	so.Clusters = append(so.Clusters, clusters...)
	if so.SeedFile != nil && so.ControlPlane == nil {
		so.ControlPlane = &eks.Cluster{Endpoint: o.Cluster.Kube.Admin.Host, CAPEM: o.Cluster.Kube.Admin.CAData}
	}
	if slack := dep.functions["onpush"].env["ECRWARDEN_SLACK_SECRET"]; so.SlackSecretName == "" && slack != "" && !strings.HasPrefix(slack, "arn:") {
		so.SlackSecretName = slack
	}
	var err error
	sb.Suite, err = suite.Start(ctx, so)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	sb.Region, sb.Account = sb.Suite.ECR.Region(), sb.Suite.ECR.Account()
	sb.Registry = sb.Account + ".dkr.ecr." + sb.Region + ".amazonaws.com"
	for topic, key := range dep.topicKeys {
		sb.Suite.SNS.SetTopicKey(sb.Suite.SNS.TopicARN(topic), key)
	}
	for _, r := range sb.Policy.Repositories {
		if sb.Suite.ECR.Images(r.Name) != nil {
			continue // seeded
		}
		opts, managed := dep.repos[r.Name]
		if !managed {
			opts = ecr.RepositoryOptions{ScanOnPush: true} // a repository the operator made
		}
		opts.ScanType = o.ScanType
		if err := sb.Suite.ECR.CreateRepository(r.Name, opts); err != nil {
			return fmt.Errorf("sandbox: create repository %s: %w", r.Name, err)
		}
	}
	var principals []authz.Principal
	for _, f := range dep.sortedFunctions() {
		principals = append(principals, f.principal(Account))
	}
	principals = append(principals, authz.Principal{Name: "admin", AccessKeyID: adminKey, SecretAccessKey: "admin",
		ARN: "arn:aws:iam::" + Account + ":user/sandbox-admin", Account: Account, Admin: true},
		// The credentials `ecrwarden emulate` exports: the operator's, or CI's, at a shell.
		authz.Principal{Name: "admin", AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey,
			ARN: "arn:aws:iam::" + Account + ":user/emulate", Account: Account, Admin: true})
	sb.IAM = authz.New(principals...)
	if !o.IAMOff {
		sb.Suite.SetAuthorizer(sb.IAM)
	}
	if err := sb.startMoto(ctx, o); err != nil {
		return err
	}
	sb.AWS = aws.Config{Region: sb.Region, Credentials: credentials.NewStaticCredentialsProvider(adminKey, "admin", "")}
	sb.ECR = awsecr.NewFromConfig(sb.AWS, func(o *awsecr.Options) { o.BaseEndpoint = aws.String(sb.Endpoint("ECR")) })
	if err := sb.createQueues(ctx); err != nil {
		return err
	}
	return sb.applyRBAC(ctx)
}

// startFunctions starts each function from its own task directory (the binary and the
// policy, as the asset holds them) with the template's environment, its credentials
// and the emulators' endpoints, and maps its key to its Kubernetes identity.
func (sb *Sandbox) startFunctions(ctx context.Context, o Options, root string) error {
	endpoints := map[string]string{}
	for _, kv := range sb.Suite.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL_") {
			endpoints[k] = v
		}
	}
	for _, svc := range motoServices {
		endpoints["AWS_ENDPOINT_URL_"+strings.ToUpper(svc)] = sb.proxy.URL
	}
	// STS: the functions only presign GetCallerIdentity for their EKS tokens, whose URL
	// must name the real regional STS host the token webhook checks (as the SDK names
	// it by default), not the unreachable AWS_ENDPOINT_URL testenv gives every service
	// without an emulator. Presigning sends nothing; should a function ever call STS,
	// or any host but loopback, the proxy it must go through refuses at once.
	endpoints["AWS_ENDPOINT_URL_STS"] = "https://sts." + Region + ".amazonaws.com"
	endpoints["HTTPS_PROXY"] = "http://127.0.0.1:9"
	// The Slack sink serves https with a CA of its own, as Slack serves
	// https only: the functions trust it the standard way, through
	// SSL_CERT_FILE, with no exception for plain http in the code.
	caFile := filepath.Join(sb.tmp, "slack-ca.pem")
	if err := os.WriteFile(caFile, sb.Suite.Slack.CAPEM(), 0o600); err != nil {
		return fmt.Errorf("sandbox: write the Slack sink's CA: %w", err)
	}
	endpoints["SSL_CERT_FILE"] = caFile
	for _, f := range sb.dep.sortedFunctions() {
		bin, err := buildOnce(ctx, root, f.name)
		if err != nil {
			return err
		}
		task := filepath.Join(sb.tmp, f.name)
		if err := stageAsset(bin, o.PolicyPath, task); err != nil {
			return fmt.Errorf("sandbox: stage %s: %w", f.name, err)
		}
		env := map[string]string{}
		for k, v := range f.env {
			if rest, ok := strings.CutPrefix(v, taskRoot); ok {
				v = filepath.Join(task, rest)
			}
			env[k] = v
		}
		for k, v := range endpoints {
			env[k] = v
		}
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = f.key, f.secret, "sandbox-session-"+f.name
		for k, v := range o.Env {
			env[k] = v
		}
		timeout := f.timeout
		if o.Timeout > 0 {
			timeout = o.Timeout
		}
		// Each function's log stream feeds the metrics collector on its own,
		// so that two functions' lines never interleave inside it.
		logs := sb.Metrics.Writer()
		if o.Logs != nil {
			logs = io.MultiWriter(o.Logs, logs)
		}
		fn, err := testenv.StartFunction(ctx, testenv.FunctionOptions{
			Binary: filepath.Join(task, "bootstrap"), Name: f.physical, Env: env, Region: sb.Region, AccountID: sb.Account,
			Timeout: timeout, MemoryMB: f.memoryMB, Logs: logs,
		})
		if err != nil {
			return fmt.Errorf("sandbox: start %s: %w", f.name, err)
		}
		sb.Functions[f.name] = fn
		if f.kubeUser != "" {
			sb.Cluster.Auth.SetIdentity(f.key, eksauth.Identity{SecretAccessKey: f.secret, ARN: f.roleARN, Username: f.kubeUser, Groups: f.kubeGroups})
			sb.keys = append(sb.keys, f.key)
		}
	}
	// The admin (the operator running `ecrwarden gc plan`, the tests) is a cluster admin.
	sb.Cluster.Auth.SetIdentity(adminKey, eksauth.Identity{SecretAccessKey: "admin", ARN: "arn:aws:iam::" + Account + ":user/sandbox-admin",
		Username: "sandbox-admin", Groups: []string{"system:masters"}})
	on := sb.dep.functions["onpush"].env
	sb.TopicARN, sb.EventBus, sb.DedupeTable = on["ECRWARDEN_TOPIC_ARN"], on["ECRWARDEN_EVENT_BUS"], on["ECRWARDEN_DEDUPE_TABLE"]
	return nil
}

// stageAsset lays out a function's asset in dir as Lambda unpacks it in /var/task:
// bootstrap (a hard link to the build when possible) and the policy.
func stageAsset(bin, policyPath, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, "bootstrap")
	if err := os.Link(bin, dst); err != nil {
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			return err
		}
	}
	policy, err := os.ReadFile(policyPath)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, bundledPolicy), policy, 0o644)
}

// Deliver routes every queued event (and those the deliveries cause) to
// the matching functions, in order, retrying failures like Lambda's
// asynchronous invocation does, then polls the SQS event sources (gc's
// fan-out queue) as Lambda's event source mappings do, until nothing is
// left. It returns what was delivered.
func (sb *Sandbox) Deliver(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for {
		ds, err := sb.deliverEvents(ctx)
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
		polled, err := sb.pollSources(ctx)
		out = append(out, polled...)
		if err != nil {
			return out, err
		}
		sb.mu.Lock()
		idle := len(sb.queue) == 0
		sb.mu.Unlock()
		if len(polled) == 0 && idle {
			return out, nil
		}
	}
}

func (sb *Sandbox) deliverEvents(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for {
		sb.mu.Lock()
		if len(sb.queue) == 0 {
			sb.mu.Unlock()
			return out, nil
		}
		ev := sb.queue[0]
		sb.queue = sb.queue[1:]
		sb.mu.Unlock()
		var head struct {
			DetailType string `json:"detail-type"`
		}
		_ = json.Unmarshal(ev, &head)
		for _, r := range sb.routes {
			ok, err := r.pattern.Match(ev)
			if err != nil || !ok {
				continue
			}
			d, err := sb.invoke(ctx, r.function, head.DetailType, ev)
			if err != nil {
				return out, err
			}
			out = append(out, d)
		}
	}
}

// Invoke runs one function with payload, retrying like an asynchronous
// invocation; a final failure goes to the DLQ.
func (sb *Sandbox) Invoke(ctx context.Context, function string, payload []byte) (Delivery, error) {
	return sb.invoke(ctx, function, "", payload)
}

func (sb *Sandbox) invoke(ctx context.Context, function, detailType string, ev []byte) (Delivery, error) {
	f, ok := sb.Functions[function]
	if !ok {
		return Delivery{}, fmt.Errorf("sandbox: no function %s", function)
	}
	d := Delivery{Function: function, DetailType: detailType, Event: ev}
	retries := sb.dep.functions[function].retries
	if sb.retries != nil {
		retries = *sb.retries
	}
	for d.Attempts = 1; ; d.Attempts++ {
		res, err := f.Invoke(ctx, ev)
		if err != nil {
			return d, fmt.Errorf("sandbox: invoke %s: %w", function, err)
		}
		d.Result, d.Err = res, nil
		if res.Error == nil {
			return d, nil
		}
		d.Err = res.Error
		if d.Attempts > retries {
			sb.mu.Lock()
			sb.dlq = append(sb.dlq, d)
			sb.mu.Unlock()
			if err := sb.sendToDestination(ctx, d); err != nil {
				d.Err = errors.Join(d.Err, err)
			}
			return d, nil
		}
		if sb.retryDelay > 0 {
			t := time.NewTimer(sb.retryDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return d, fmt.Errorf("sandbox: invoke %s: %w", function, ctx.Err())
			}
		}
	}
}

// DLQ returns the invocations that failed after their retries (each also sent, as
// Lambda sends it, to the function's failure destination in the template).
func (sb *Sandbox) DLQ() []Delivery {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]Delivery(nil), sb.dlq...)
}

// Denials returns every AWS call the IAM of the template refused, in order.
func (sb *Sandbox) Denials() []authz.Decision { return sb.IAM.Denials() }

// ExpectDenied declares that a test means function's calls of action to be refused
// (it removed the grant): Close then does not report them.
func (sb *Sandbox) ExpectDenied(function, action string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.expected = append(sb.expected, func(d authz.Decision) bool {
		return d.Principal == function && strings.EqualFold(d.Action, action)
	})
}

// UnexpectedDenials is an error naming each refused call (function, action, resource)
// that no ExpectDenied covers, or nil.
func (sb *Sandbox) UnexpectedDenials() error {
	if sb.IAM == nil {
		return nil
	}
	sb.mu.Lock()
	expected := append([]func(authz.Decision) bool(nil), sb.expected...)
	sb.mu.Unlock()
	var lines []string
	seen := map[string]bool{}
	for _, d := range sb.IAM.Denials() {
		ok := false
		for _, e := range expected {
			ok = ok || e(d)
		}
		if s := d.String(); !ok && !seen[s] {
			seen[s] = true
			lines = append(lines, "  "+s)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("IAM denied calls the template's roles do not grant:\n%s", strings.Join(lines, "\n"))
}

// Close stops the functions and the emulators and removes temporary files. It
// returns an error naming any AWS call the template's IAM refused unexpectedly
// (see ExpectDenied), so an end-to-end test fails on a missing grant.
func (sb *Sandbox) Close() error {
	var errs []error
	for _, stop := range sb.stop {
		stop()
	}
	for _, f := range sb.Functions {
		errs = append(errs, f.Stop())
	}
	if sb.Cluster != nil && sb.Cluster.Auth != nil {
		for _, k := range sb.keys {
			sb.Cluster.Auth.RemoveIdentity(k)
		}
	}
	errs = append(errs, sb.deleteQueues())
	if sb.proxy != nil {
		sb.proxy.Close()
	}
	if sb.Suite != nil {
		errs = append(errs, sb.Suite.Close())
	}
	if sb.tmp != "" {
		errs = append(errs, os.RemoveAll(sb.tmp))
	}
	errs = append(errs, sb.UnexpectedDenials())
	return errors.Join(errs...)
}

// Endpoint returns the URL of the emulator of an SDK service id ("ECR",
// "EKS", "Secrets Manager"…) or of "Slack"; "SQS" and the other services moto
// serves ("ECS", "Lambda", "SageMaker", "Batch") answer the proxies in front of
// it (authorization, then faults).
func (sb *Sandbox) Endpoint(service string) string {
	for _, e := range sb.Suite.Endpoints() {
		if strings.EqualFold(e.Service, service) {
			return e.URL
		}
	}
	for _, s := range motoServices {
		if strings.EqualFold(s, service) && sb.proxy != nil {
			return sb.proxy.URL
		}
	}
	return ""
}

// moduleRoot finds the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sandbox: go.mod not found above the working directory")
		}
		dir = parent
	}
}

var (
	buildMu  sync.Mutex
	binaries = map[string]string{}
)

// buildOnce compiles a function once per process.
func buildOnce(ctx context.Context, root, name string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := binaries[name]; ok {
		return bin, nil
	}
	bin, err := testenv.BuildFunction(ctx, root, "./functions/"+name)
	if err != nil {
		return "", fmt.Errorf("sandbox: build %s: %w", name, err)
	}
	binaries[name] = bin
	return bin, nil
}

// RemoveBuilds deletes the compiled functions; call it once at the end of a process.
func RemoveBuilds() {
	buildMu.Lock()
	defer buildMu.Unlock()
	for name, bin := range binaries {
		os.RemoveAll(filepath.Dir(bin))
		delete(binaries, name)
	}
}
