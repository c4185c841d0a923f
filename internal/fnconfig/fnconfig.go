package fnconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/notify"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// Config is what the environment says.
type Config struct {
	PolicyPath  string
	TopicARN    string
	SlackSecret string
	EventBus    string
	DedupeTable string
	DryRun      bool
	GCQueueURL  string
	// MetricsNamespace is the CloudWatch namespace of the functions' EMF
	// metrics (metrics.DefaultNamespace when unset).
	MetricsNamespace string
	// VerifyQueueURL is the rollout verification queue; VerifyInterval
	// the delay between two checks.
	VerifyQueueURL string
	VerifyInterval time.Duration
}

// FromEnv reads the configuration; it names every missing or invalid
// variable at once.
func FromEnv() (Config, error) {
	c := Config{
		PolicyPath:  os.Getenv("ECRWARDEN_POLICY"),
		TopicARN:    os.Getenv("ECRWARDEN_TOPIC_ARN"),
		SlackSecret: os.Getenv("ECRWARDEN_SLACK_SECRET"),
		EventBus:    os.Getenv("ECRWARDEN_EVENT_BUS"),
		DedupeTable: os.Getenv("ECRWARDEN_DEDUPE_TABLE"),
		GCQueueURL:  os.Getenv("ECRWARDEN_GC_QUEUE_URL"),

		MetricsNamespace: os.Getenv(metrics.NamespaceEnv),
		VerifyQueueURL:   os.Getenv("ECRWARDEN_VERIFY_QUEUE_URL"),
		VerifyInterval:   rollout.DefaultCheckInterval,
	}
	if c.MetricsNamespace == "" {
		c.MetricsNamespace = metrics.DefaultNamespace
	}
	var errs []error
	if c.PolicyPath == "" {
		exe, err := os.Executable()
		if err != nil {
			errs = append(errs, fmt.Errorf("ECRWARDEN_POLICY unset and the executable's directory unknown: %w", err))
		}
		c.PolicyPath = filepath.Join(filepath.Dir(exe), "ecrwarden.yaml")
	}
	if c.EventBus == "" {
		errs = append(errs, errors.New("ECRWARDEN_EVENT_BUS is not set"))
	}
	if c.DedupeTable == "" {
		errs = append(errs, errors.New("ECRWARDEN_DEDUPE_TABLE is not set"))
	}
	if v := os.Getenv("ECRWARDEN_DRY_RUN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ECRWARDEN_DRY_RUN=%q: want true or false", v))
		}
		c.DryRun = b
	}
	if v := os.Getenv("ECRWARDEN_VERIFY_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 15*time.Minute {
			errs = append(errs, fmt.Errorf("ECRWARDEN_VERIFY_INTERVAL=%q: want a duration from 1s to 15m (SQS delays messages up to 15 minutes)", v))
		}
		c.VerifyInterval = d
	}
	return c, errors.Join(errs...)
}

// Deps are the shared collaborators of a function.
type Deps struct {
	Config   Config
	Policy   *policy.File
	AWS      aws.Config
	ECR      *ecr.Client
	Notifier *notify.Notifier
	Alerts   *notify.Once
	Dedupe   *dedupe.Store
	Audit    *audit.Publisher
	Clusters *kube.ClusterResolver
	// Metrics records the invocation's metrics; flush it per invocation
	// (metrics.Wrap).
	Metrics *metrics.Recorder
	// Verifier follows every rollout to its end; nil without
	// ECRWARDEN_VERIFY_QUEUE_URL. Its Registry, Region and Account are the
	// invocation's (set them from the Origin before Verify).
	Verifier *rollout.Verifier
	Log      *slog.Logger
}

// Load builds the collaborators of function from the environment: the
// policy (a broken one is an init error naming every problem), the AWS
// clients with the SDK's standard retryer (throttling and 5xx retried with
// backoff, up to 8 attempts, SNS's Throttled included), the metrics
// recorder (EMF on stderr, beside the logs), and the rest.
func Load(ctx context.Context, log *slog.Logger, function metrics.Dim) (*Deps, error) {
	if limit, ok := MemoryLimit(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), os.Getenv("GOMEMLIMIT")); ok {
		debug.SetMemoryLimit(limit)
	}
	c, err := FromEnv()
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p, err := policy.Load(c.PolicyPath)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(NewRetryer))
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	rec := metrics.New(os.Stderr, function, metrics.WithNamespace(c.MetricsNamespace), metrics.WithLogger(log),
		metrics.WithClassifier(ErrorKind))
	snsClient := sns.NewFromConfig(awsCfg)
	n := notify.New(notify.WithSNS(snsClient, c.TopicARN), notify.WithSlack(secretsmanager.NewFromConfig(awsCfg), c.SlackSecret), notify.WithLogger(log))
	// Leases follow each invocation's deadline (dedupe.Store), so they never
	// outlast the function timeout the stack sets.
	store := dedupe.New(dynamodb.NewFromConfig(awsCfg), c.DedupeTable)
	pub := audit.New(eventbridge.NewFromConfig(awsCfg), c.EventBus)
	d := &Deps{
		Config:   c,
		Policy:   p,
		AWS:      awsCfg,
		ECR:      ecr.NewFromConfig(awsCfg),
		Notifier: n,
		Alerts:   notify.NewOnce(n, store, notify.WithAuditPublisher(pub), notify.WithMetrics(rec)),
		Dedupe:   store,
		Audit:    pub,
		Clusters: kube.NewEKSResolver(awsCfg),
		Metrics:  rec,
		Log:      log,
	}
	if c.VerifyQueueURL != "" {
		d.Verifier = &rollout.Verifier{Clients: d.Clusters, Lookup: rollout.ECRLookup{Client: d.ECR}, Queue: sqs.NewFromConfig(awsCfg),
			QueueURL: c.VerifyQueueURL, Interval: c.VerifyInterval, Alerts: d.Alerts, Audit: pub, Region: awsCfg.Region, Log: log}
	} else {
		log.Warn("ECRWARDEN_VERIFY_QUEUE_URL is not set: rollouts are not verified")
	}
	return d, nil
}

// MaxAttempts is how many times every AWS call of ecrwarden is tried.
const MaxAttempts = 8

// NewRetryer is the one retry configuration of ecrwarden's AWS clients, the
// functions' and the CLI's (`ecrwarden gc plan` must not give up where the
// function would retry): the SDK's standard retryer (throttling, 5xx and
// broken connections retried with jittered exponential backoff) with
// MaxAttempts attempts. SNS throttles with its own modelled "Throttled"
// error, which the standard retryer does not know (measured in
// internal/emulator/sns), so it is added.
func NewRetryer() aws.Retryer {
	return retry.AddWithErrorCodes(retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = MaxAttempts }), "Throttled")
}

// ArchiveOptions are the options of gc's UpdateImageStorageClass calls, one
// per image: the SDK's adaptive retry mode, whose client-side token bucket
// slows the calls down when ECR throttles instead of spending every attempt
// at full speed; one retryer for the whole run, so what it learns carries
// from one image to the next.
func ArchiveOptions() []func(*ecr.Options) {
	adaptive := retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) { so.MaxAttempts = MaxAttempts })
	})
	return []func(*ecr.Options){func(o *ecr.Options) { o.Retryer = adaptive }}
}

// MemoryLimit is the soft memory limit a function sets itself, so the
// process as a whole stays within half its Lambda memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB): half the memory less
// residentOverhead, the part of the resident set the Go runtime does not
// count (the mapped binary, 17 MB measured for gc at rest). GOMEMLIMIT,
// when set, wins (ok is false and the runtime's own reading of it stands).
//
// Why: the Go collector does not know Lambda's hard limit. With GOGC alone,
// a gc run over 100,000 images let its heap reach twice its live size and
// peaked at 160-250 MB of a 256 MB function (functions/gc/integration
// BenchmarkGC100k). With this limit it peaked at 114-121 MB for about the
// same CPU: the collector works harder only while the heap nears the limit,
// and the other half of the memory stays headroom for a repository twice as
// large. The limit is soft: past it the collector takes at most about half
// the CPU; nothing fails.
func MemoryLimit(memoryMB, gomemlimit string) (int64, bool) {
	if gomemlimit != "" {
		return 0, false
	}
	mb, err := strconv.Atoi(memoryMB)
	if err != nil || mb <= 0 {
		return 0, false
	}
	return max(int64(mb)<<20/2-residentOverhead, minMemoryLimit), true
}

// residentOverhead and minMemoryLimit bound MemoryLimit.
const (
	residentOverhead = 16 << 20
	minMemoryLimit   = 32 << 20
)

// ErrorKind classifies the errors of ecrwarden's own packages for the Errors
// metric (metrics.WithClassifier): a malformed event, a dedupe lease held
// elsewhere or out of time, a Kubernetes API error.
func ErrorKind(err error) (metrics.Dim, bool) {
	var status *kube.StatusError
	switch {
	case errors.Is(err, ecrevent.ErrMalformedEvent), errors.Is(err, ecrevent.ErrWrongKind):
		return metrics.KindEvent, true
	case errors.Is(err, dedupe.ErrInProgress), errors.Is(err, dedupe.ErrNoTime):
		return metrics.KindLease, true
	case errors.As(err, &status):
		return metrics.KindKubernetes, true
	}
	return metrics.Dim{}, false
}
