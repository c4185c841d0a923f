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

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/motoproxy"
	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
	"github.com/ecrwarden/ecrwarden/internal/eventpattern"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// Names of the resources the stack would create.
const (
	TopicName   = "ecrwarden-alerts"
	EventBus    = "ecrwarden"
	DedupeTable = "ecrwarden-dedupe"
	// AccessKeyID and SecretAccessKey are the functions' AWS credentials:
	// the emulators accept any, and the EKS authenticator maps this key to
	// the least-privilege Kubernetes user.
	AccessKeyID     = "AKIDEMULATOR"
	SecretAccessKey = "emulator"
)

// Functions are the three functions of the suite.
var Functions = []string{"onpush", "onscan", "gc"}

// Options configures a sandbox.
type Options struct {
	// PolicyPath is the policy the functions load; the module's ecrwarden.yaml when empty.
	PolicyPath string
	// Cluster is the control plane (see StartCluster); required.
	Cluster *Cluster
	// Logs receives the functions' logs; nil discards them.
	Logs io.Writer
	// Env adds or overrides function environment variables (e.g. ECRWARDEN_DRY_RUN).
	Env map[string]string
	// ScanType is the registry scan type of the repositories; basic when empty.
	ScanType ecr.ScanType
	// Retries is how many times a failed asynchronous invocation is
	// retried before it goes to the DLQ; Lambda's default is 2.
	Retries *int
	// RetryDelay is the wait before each retry. Lambda waits a minute, then
	// two; zero (the default) retries at once. A retry must come after the
	// dedupe lease of an attempt that timed out (its deadline plus 2 s) to
	// find the work free: set it above that in tests that kill invocations.
	RetryDelay time.Duration
	// Timeout is each function's timeout; 30 s when zero.
	Timeout time.Duration
	// Suite configures the emulators (host, ports, region, a seed file);
	// the sandbox adds its topic, bus, table and clusters. A repository
	// the seed file creates is left as the seed file says.
	Suite suite.Options
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

// Sandbox is a running suite.
type Sandbox struct {
	Suite     *suite.Suite
	Cluster   *Cluster
	Policy    *policy.File
	Functions map[string]*testenv.Function
	// AWS is an SDK configuration with the functions' credentials, for
	// tests and the demo; ECR is an ECR client on the emulator.
	AWS aws.Config
	ECR *awsecr.Client
	// Region and Account of the emulated registry; Registry is its host.
	Region, Account, Registry string
	// Metrics reads the functions' EMF metrics out of their logs, as
	// CloudWatch Logs does in AWS: the series the stack's dashboard plots.
	Metrics *metrics.Collector
	// InUse is the proxy in front of the cluster's moto_server through
	// which the functions reach ECS, Lambda, SageMaker and Batch (gc's
	// in-use sources): its call log counts their calls and its rules fail
	// them. Nil when the cluster runs no moto.
	InUse *motoproxy.Proxy

	routes     []route
	retries    int
	retryDelay time.Duration
	tmp        string
	moto       *testenv.Moto
	inUse      *httptest.Server

	mu     sync.Mutex
	seq    int
	queue  [][]byte
	queued chan struct{} // signalled when an event is queued (Serve)
	dlq    []Delivery
	stop   func()
}

type route struct {
	function string
	pattern  *eventpattern.Pattern
}

// Start builds the functions (or reuses a build), starts the emulators and
// the functions, creates the policy's repositories and wires the routes.
func Start(ctx context.Context, o Options) (_ *Sandbox, err error) {
	if o.Cluster == nil {
		return nil, errors.New("sandbox: no cluster (StartCluster)")
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
	sb := &Sandbox{Cluster: o.Cluster, Policy: p, Functions: map[string]*testenv.Function{}, retries: 2, retryDelay: o.RetryDelay,
		Metrics: metrics.NewCollector()}
	if o.Retries != nil {
		sb.retries = *o.Retries
	}
	defer func() {
		if err != nil {
			sb.Close()
		}
	}()
	if sb.tmp, err = os.MkdirTemp("", "ecrwarden-sandbox-"); err != nil {
		return nil, err
	}
	var clusters []eks.Cluster
	for _, c := range p.Clusters {
		clusters = append(clusters, eks.Cluster{Name: c.Name, Endpoint: o.Cluster.Kube.Admin.Host, CAPEM: o.Cluster.Kube.Admin.CAData})
	}
	so := o.Suite
	so.Topics = append(so.Topics, TopicName)
	so.Buses = append(so.Buses, EventBus)
	so.Tables = append(so.Tables, suite.Table{Name: DedupeTable, HashKey: "pk", HashType: "S", TTLAttribute: "expiresAt"})
	so.Clusters = append(so.Clusters, clusters...)
	if so.SeedFile != nil && so.ControlPlane == nil {
		so.ControlPlane = &eks.Cluster{Endpoint: o.Cluster.Kube.Admin.Host, CAPEM: o.Cluster.Kube.Admin.CAData}
	}
	sb.Suite, err = suite.Start(ctx, so)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	sb.Region, sb.Account = sb.Suite.ECR.Region(), sb.Suite.ECR.Account()
	sb.Registry = sb.Account + ".dkr.ecr." + sb.Region + ".amazonaws.com"
	for _, r := range p.Repositories {
		if sb.Suite.ECR.Images(r.Name) != nil {
			continue // seeded
		}
		opts := ecr.RepositoryOptions{ScanOnPush: true, ScanType: o.ScanType}
		if r.Manage {
			opts.Mutability, opts.MutabilityExclusions = "IMMUTABLE_WITH_EXCLUSION", r.MutableTags
			if len(r.MutableTags) == 0 {
				opts.Mutability = "IMMUTABLE"
			}
		}
		if err := sb.Suite.ECR.CreateRepository(r.Name, opts); err != nil {
			return nil, fmt.Errorf("sandbox: create repository %s: %w", r.Name, err)
		}
	}
	env := map[string]string{}
	for _, kv := range sb.Suite.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if err := sb.startInUse(ctx, env); err != nil {
		return nil, err
	}
	topicARN := "arn:aws:sns:" + sb.Region + ":" + sb.Account + ":" + TopicName
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": AccessKeyID, "AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"ECRWARDEN_POLICY":       o.PolicyPath,
		"ECRWARDEN_TOPIC_ARN":    topicARN,
		"ECRWARDEN_EVENT_BUS":    EventBus,
		"ECRWARDEN_DEDUPE_TABLE": DedupeTable,
		"ECRWARDEN_SLACK_SECRET": sb.Suite.SlackSecretName(),
	} {
		env[k] = v
	}
	// The Slack sink serves https with a CA of its own, as Slack serves
	// https only: the functions trust it the standard way, through
	// SSL_CERT_FILE, with no exception for plain http in the code.
	caFile := filepath.Join(sb.tmp, "slack-ca.pem")
	if err := os.WriteFile(caFile, sb.Suite.Slack.CAPEM(), 0o600); err != nil {
		return nil, fmt.Errorf("sandbox: write the Slack sink's CA: %w", err)
	}
	env["SSL_CERT_FILE"] = caFile
	for k, v := range o.Env {
		env[k] = v
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	sb.AWS = aws.Config{Region: sb.Region, Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")}
	sb.ECR = awsecr.NewFromConfig(sb.AWS, func(o *awsecr.Options) { o.BaseEndpoint = aws.String(sb.Endpoint("ECR")) })
	for _, name := range Functions {
		bin, err := buildOnce(ctx, root, name)
		if err != nil {
			return nil, err
		}
		// Each function's log stream feeds the metrics collector on its own,
		// so that two functions' lines never interleave inside it.
		logs := sb.Metrics.Writer()
		if o.Logs != nil {
			logs = io.MultiWriter(o.Logs, logs)
		}
		f, err := testenv.StartFunction(ctx, testenv.FunctionOptions{
			Binary: bin, Name: "ecrwarden-" + name, Env: env, Region: sb.Region, AccountID: sb.Account,
			Timeout: o.Timeout, MemoryMB: 256, Logs: logs,
		})
		if err != nil {
			return nil, fmt.Errorf("sandbox: start %s: %w", name, err)
		}
		sb.Functions[name] = f
	}
	repos := p.RepositoryNames()
	for _, r := range []struct {
		fn      string
		pattern map[string]any
	}{
		{"onpush", ecrevent.PushPattern(sb.Account, repos)},
		{"onscan", ecrevent.BasicScanPattern(sb.Account, repos)},
		{"onscan", ecrevent.InspectorPattern(sb.Account, repos)},
	} {
		cp, err := eventpattern.New(r.pattern)
		if err != nil {
			return nil, fmt.Errorf("sandbox: route to %s: %w", r.fn, err)
		}
		sb.routes = append(sb.routes, route{function: r.fn, pattern: cp})
	}
	sb.queued = make(chan struct{}, 1)
	sb.stop = sb.Suite.EventBridge.Subscribe(func(_ context.Context, envelope []byte) {
		sb.mu.Lock()
		sb.queue = append(sb.queue, append([]byte(nil), envelope...))
		sb.mu.Unlock()
		select {
		case sb.queued <- struct{}{}:
		default:
		}
	})
	return sb, nil
}

// Deliver routes every queued event (and those the deliveries cause) to
// the matching functions, in order, retrying failures like Lambda's
// asynchronous invocation does. It returns what was delivered.
func (sb *Sandbox) Deliver(ctx context.Context) ([]Delivery, error) {
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
		if d.Attempts > sb.retries {
			sb.mu.Lock()
			sb.dlq = append(sb.dlq, d)
			sb.mu.Unlock()
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

// DLQ returns the invocations that failed after their retries.
func (sb *Sandbox) DLQ() []Delivery {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]Delivery(nil), sb.dlq...)
}

// Close stops the functions and the emulators and removes temporary files.
func (sb *Sandbox) Close() error {
	var errs []error
	if sb.stop != nil {
		sb.stop()
	}
	for _, f := range sb.Functions {
		errs = append(errs, f.Stop())
	}
	if sb.Suite != nil {
		errs = append(errs, sb.Suite.Close())
	}
	if sb.inUse != nil {
		sb.inUse.Close()
	}
	if sb.tmp != "" {
		errs = append(errs, os.RemoveAll(sb.tmp))
	}
	return errors.Join(errs...)
}

// Endpoint returns the URL of the emulator of an SDK service id ("ECR",
// "EKS", "Secrets Manager"…) or of "Slack"; for the services moto serves
// ("ECS", "Lambda", "SageMaker", "Batch"), the proxy in front of it.
func (sb *Sandbox) Endpoint(service string) string {
	for _, e := range sb.Suite.Endpoints() {
		if strings.EqualFold(e.Service, service) {
			return e.URL
		}
	}
	for _, s := range inUseServices {
		if sb.inUse != nil && strings.EqualFold(s, service) {
			return sb.inUse.URL
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
