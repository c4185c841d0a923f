package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/dynamodb"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eventbridge"
	"github.com/ecrwarden/ecrwarden/internal/emulator/secretsmanager"
	"github.com/ecrwarden/ecrwarden/internal/emulator/slack"
	"github.com/ecrwarden/ecrwarden/internal/emulator/sns"
)

// DefaultSlackSecretName is the Secrets Manager secret that holds the Slack
// webhook URL unless [Options].SlackSecretName says otherwise.
const DefaultSlackSecretName = "ecrwarden/slack-webhook"

// Ports fixes the port of each emulator; 0 picks a free port.
type Ports struct {
	// ECR, SNS, EventBridge, SecretsManager, DynamoDB, EKS and Slack are the
	// ports of the emulators of those names; Other is the port that refuses
	// every other AWS service (see [Suite.ShellEnv]).
	ECR, SNS, EventBridge, SecretsManager, DynamoDB, EKS, Slack, Other int
}

// Table describes a DynamoDB table to create at start.
type Table struct {
	// Name is the table name.
	Name string
	// HashKey is the partition key attribute; HashType is S, N or B.
	HashKey, HashType string
	// TTLAttribute, if set, is the table's time-to-live attribute.
	TTLAttribute string
}

// Options configures [Start].
type Options struct {
	// Host is the loopback address to listen on; default 127.0.0.1. Any
	// non-loopback address is refused.
	Host string
	// Ports fixes ports; zero fields pick free ports.
	Ports Ports
	// Region and AccountID are used by every emulator; defaults
	// ap-southeast-1 and 123456789012.
	Region, AccountID string
	// Seed seeds every emulator's fault injector.
	Seed uint64
	// Topics are SNS topics to create.
	Topics []string
	// Buses are custom EventBridge buses to create (default always exists).
	Buses []string
	// Tables are DynamoDB tables to create.
	Tables []Table
	// Secrets are Secrets Manager secrets (name → SecretString) to seed.
	Secrets map[string]string
	// SlackSecretName is the secret seeded with the Slack sink's webhook URL;
	// default DefaultSlackSecretName.
	SlackSecretName string
	// Clusters are EKS clusters to seed (endpoint and CA of a test
	// kube-apiserver).
	Clusters []eks.Cluster
	// SeedFile is applied after the rest (see [SeedFile]).
	SeedFile *SeedFile
	// ControlPlane is the endpoint and CA of the control plane the seed
	// file's controlPlane cluster uses (its Name is ignored).
	ControlPlane *eks.Cluster
	// Logger receives emitter errors; default slog.Default().
	Logger *slog.Logger
}

// Endpoint is where one emulator listens.
type Endpoint struct {
	// Service is the SDK ServiceID ("Secrets Manager"), or "Slack".
	Service string
	// EnvVar is the AWS_ENDPOINT_URL_<SERVICE> variable that points the SDK
	// at URL; empty for Slack.
	EnvVar string
	// URL is the base URL (the webhook URL for Slack).
	URL string
}

// Suite is a running set of emulators. Its fields give tests direct access
// to each emulator's seeding, fault and call-log API.
type Suite struct {
	// ECR is the ECR emulator; its events go to EventBridge's default bus.
	ECR *ecr.Server
	// SNS is the SNS emulator.
	SNS *sns.Server
	// EventBridge is the EventBridge emulator.
	EventBridge *eventbridge.Server
	// SecretsManager is the Secrets Manager emulator.
	SecretsManager *secretsmanager.Server
	// DynamoDB is the DynamoDB emulator.
	DynamoDB *dynamodb.Server
	// EKS is the EKS emulator.
	EKS *eks.Server
	// Slack is the Slack incoming-webhook sink.
	Slack *slack.Server

	region      string
	slackSecret string
	other       otherServices
	otherURL    string
	endpoints   []Endpoint
	closers     []func() error
}

// Start starts every emulator and returns when all listen. ctx bounds the
// start only; call [Suite.Close] to stop them.
func Start(ctx context.Context, o Options) (*Suite, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if ip := net.ParseIP(o.Host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("host %q is not a loopback address", o.Host)
	}
	if o.Region == "" {
		o.Region = "ap-southeast-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.SlackSecretName == "" && o.SeedFile != nil {
		o.SlackSecretName = o.SeedFile.SlackSecret
	}
	if o.SlackSecretName == "" {
		o.SlackSecretName = DefaultSlackSecretName
	}
	s := newSuite(o)
	s.slackSecret = o.SlackSecretName
	if err := s.seed(o); err != nil {
		return nil, err
	}
	if o.SeedFile != nil {
		if errs := o.SeedFile.apply(s, time.Now(), o.ControlPlane); len(errs) > 0 {
			return nil, errs
		}
	}

	type starter struct {
		service, env string
		port         int
		start        func(addr string) (string, error)
		close        func() error
	}
	ecrClose := func() error { return nil }
	starters := []starter{
		{"ECR", "AWS_ENDPOINT_URL_ECR", o.Ports.ECR, func(addr string) (string, error) {
			url, stop, err := s.ECR.Start(addr)
			if err == nil {
				ecrClose = stop
			}
			return url, err
		}, func() error { return ecrClose() }},
		{"SNS", "AWS_ENDPOINT_URL_SNS", o.Ports.SNS, s.SNS.Start, s.SNS.Close},
		{"EventBridge", "AWS_ENDPOINT_URL_EVENTBRIDGE", o.Ports.EventBridge, s.EventBridge.Start, s.EventBridge.Close},
		{"Secrets Manager", "AWS_ENDPOINT_URL_SECRETS_MANAGER", o.Ports.SecretsManager, s.SecretsManager.Start, s.SecretsManager.Close},
		{"DynamoDB", "AWS_ENDPOINT_URL_DYNAMODB", o.Ports.DynamoDB, s.DynamoDB.Start, s.DynamoDB.Close},
		{"EKS", "AWS_ENDPOINT_URL_EKS", o.Ports.EKS, s.EKS.Start, s.EKS.Close},
		{"Slack", "", o.Ports.Slack, s.Slack.Start, s.Slack.Close},
		{otherServicesName, "AWS_ENDPOINT_URL", o.Ports.Other, s.other.Start, s.other.Close},
	}
	for _, st := range starters {
		if err := ctx.Err(); err != nil {
			return nil, errors.Join(fmt.Errorf("start emulators: %w", err), s.Close())
		}
		url, err := st.start(net.JoinHostPort(o.Host, strconv.Itoa(st.port)))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("start %s emulator: %w", st.service, err), s.Close())
		}
		s.closers = append(s.closers, st.close)
		switch st.service {
		case "Slack":
			url = s.Slack.WebhookURL()
		case otherServicesName:
			s.otherURL = url
			continue
		}
		s.endpoints = append(s.endpoints, Endpoint{Service: st.service, EnvVar: st.env, URL: url})
	}
	s.SecretsManager.PutSecret(o.SlackSecretName, s.Slack.WebhookURL())
	return s, nil
}

// newSuite builds the emulators of o without starting them; ECR's events go
// to EventBridge's default bus.
func newSuite(o Options) *Suite {
	if o.Region == "" {
		o.Region = "ap-southeast-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Suite{
		region:         o.Region,
		SNS:            sns.New(sns.Options{Region: o.Region, AccountID: o.AccountID, Seed: o.Seed}),
		EventBridge:    eventbridge.New(eventbridge.Options{Region: o.Region, AccountID: o.AccountID, Seed: o.Seed}),
		SecretsManager: secretsmanager.New(secretsmanager.Options{Region: o.Region, AccountID: o.AccountID, Seed: o.Seed}),
		DynamoDB:       dynamodb.New(dynamodb.Options{Region: o.Region, AccountID: o.AccountID, Seed: o.Seed}),
		EKS:            eks.New(eks.Options{Region: o.Region, AccountID: o.AccountID, Seed: o.Seed}),
		Slack:          slack.New(o.Seed),
	}
	bus := s.EventBridge
	s.ECR = ecr.New(ecr.Config{Account: o.AccountID, Region: o.Region, Seed: o.Seed, Emitter: func(ctx context.Context, ev []byte) {
		if err := bus.PutEnvelope(ctx, eventbridge.DefaultBus, ev); err != nil {
			log.ErrorContext(ctx, "route ECR event to EventBridge", "err", err)
		}
	}})
	return s
}

func (s *Suite) seed(o Options) error {
	for _, t := range o.Topics {
		s.SNS.CreateTopic(t)
	}
	for _, b := range o.Buses {
		s.EventBridge.CreateBus(b)
	}
	for _, t := range o.Tables {
		if err := s.DynamoDB.CreateTable(t.Name, t.HashKey, t.HashType); err != nil {
			return fmt.Errorf("create table %s: %w", t.Name, err)
		}
		if t.TTLAttribute != "" {
			if err := s.DynamoDB.SetTTL(t.Name, t.TTLAttribute); err != nil {
				return fmt.Errorf("set TTL of table %s: %w", t.Name, err)
			}
		}
	}
	for name, v := range o.Secrets {
		s.SecretsManager.PutSecret(name, v)
	}
	for _, c := range o.Clusters {
		if _, err := s.EKS.AddCluster(c); err != nil {
			return fmt.Errorf("add cluster %s: %w", c.Name, err)
		}
	}
	return nil
}

// SetAuthorizer turns IAM enforcement on in every AWS emulator (nil turns it off): each
// request is then authorized as its caller's access key's principal (internal/emulator/authz).
func (s *Suite) SetAuthorizer(a *authz.Authorizer) {
	s.ECR.SetAuthorizer(a)
	s.SNS.SetAuthorizer(a)
	s.EventBridge.SetAuthorizer(a)
	s.SecretsManager.SetAuthorizer(a)
	s.DynamoDB.SetAuthorizer(a)
	s.EKS.SetAuthorizer(a)
}

// Endpoints returns where each emulator listens, in a fixed order.
func (s *Suite) Endpoints() []Endpoint {
	return append([]Endpoint(nil), s.endpoints...)
}

// SlackSecretName is the secret that holds the Slack sink's webhook URL.
func (s *Suite) SlackSecretName() string { return s.slackSecret }

// Env returns the environment (KEY=value) that points the AWS SDKs and the
// AWS CLI v1 and v2 at the suite, as a Lambda function's environment would
// be: one AWS_ENDPOINT_URL_<SERVICE> per AWS emulator, AWS_REGION (the SDKs,
// CLI v2) and AWS_DEFAULT_REGION (CLI v1 reads only this one), and static
// test credentials.
func (s *Suite) Env() []string {
	env := []string{"AWS_REGION=" + s.region, "AWS_DEFAULT_REGION=" + s.region, "AWS_ACCESS_KEY_ID=AKIDEMULATOR", "AWS_SECRET_ACCESS_KEY=emulator"}
	for _, e := range s.endpoints {
		if e.EnvVar != "" {
			env = append(env, e.EnvVar+"="+e.URL)
		}
	}
	return env
}

// shellUnset are the variables that would let a shell's AWS tools reach a
// real account despite the suite's exports: a named profile (the Go SDK
// prefers AWS_PROFILE to AWS_ACCESS_KEY_ID, and may assume a role or log
// in through SSO to resolve it), a session token sent with the emulator's
// keys, web-identity and container credentials, and the switch that makes
// the SDKs and the CLI ignore AWS_ENDPOINT_URL*.
var shellUnset = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
}

// ShellEnv returns what a shell needs to drive the suite with the AWS CLI
// (v1 and v2) and the SDKs without touching a real account: the variables
// to unset (a profile, a session token…), and to set: [Suite.Env], empty
// config and credentials files (no profile, credential_process or SSO
// session of the user's is read), no instance metadata, AWS_ENDPOINT_URL,
// which sends every service the suite does not emulate to a local endpoint
// that refuses it (error code NotEmulated) instead of to AWS, and
// HTTPS_PROXY pointing at that endpoint too, which refuses to tunnel: the
// AWS CLI v1 hard-wires the endpoints of SQS, RDS, EMR, DocumentDB,
// Neptune and Health (awscli/customizations/overridesslcommonname.py) and
// ignores AWS_ENDPOINT_URL for them. Loopback addresses are never proxied.
func (s *Suite) ShellEnv() (unset, set []string) {
	set = append(s.Env(),
		"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL="+s.otherURL,
		"HTTPS_PROXY="+s.otherURL, "https_proxy="+s.otherURL, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	return slices.Clone(shellUnset), set
}

// WriteEndpoints prints the endpoints as comments and the shell
// environment ([Suite.ShellEnv]) as unset and export lines a POSIX shell
// can source.
func (s *Suite) WriteEndpoints(w io.Writer) error {
	var b strings.Builder
	for _, e := range s.endpoints {
		fmt.Fprintf(&b, "# %-16s %s\n", e.Service, e.URL)
	}
	fmt.Fprintf(&b, "# %-16s %s (refuses every other AWS service)\n", otherServicesName, s.otherURL)
	unset, set := s.ShellEnv()
	fmt.Fprintf(&b, "unset %s\n", strings.Join(unset, " "))
	for _, kv := range set {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write endpoints: %w", err)
	}
	return nil
}

// shellQuote quotes v for a POSIX shell when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// Close stops every started emulator.
func (s *Suite) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Run starts the suite, prints its endpoints to w and serves until ctx is
// done, then stops every emulator. It is the whole of `ecrwarden emulate`.
func Run(ctx context.Context, o Options, w io.Writer) error {
	s, err := Start(ctx, o)
	if err != nil {
		return err
	}
	if err := s.WriteEndpoints(w); err != nil {
		return errors.Join(err, s.Close())
	}
	<-ctx.Done()
	if err := s.Close(); err != nil {
		return fmt.Errorf("stop emulators: %w", err)
	}
	return nil
}
