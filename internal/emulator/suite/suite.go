package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

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
	// ports of the emulators of those names.
	ECR, SNS, EventBridge, SecretsManager, DynamoDB, EKS, Slack int
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

	region    string
	endpoints []Endpoint
	closers   []func() error
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
	if o.SlackSecretName == "" {
		o.SlackSecretName = DefaultSlackSecretName
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
	if err := s.seed(o); err != nil {
		return nil, err
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
		if st.service == "Slack" {
			url = s.Slack.WebhookURL()
		}
		s.endpoints = append(s.endpoints, Endpoint{Service: st.service, EnvVar: st.env, URL: url})
	}
	s.SecretsManager.PutSecret(o.SlackSecretName, s.Slack.WebhookURL())
	return s, nil
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

// Endpoints returns where each emulator listens, in a fixed order.
func (s *Suite) Endpoints() []Endpoint {
	return append([]Endpoint(nil), s.endpoints...)
}

// Env returns the environment (KEY=value) that points the AWS SDK's default
// configuration at the suite: one AWS_ENDPOINT_URL_<SERVICE> per AWS
// emulator, AWS_REGION and static test credentials.
func (s *Suite) Env() []string {
	env := []string{"AWS_REGION=" + s.region, "AWS_ACCESS_KEY_ID=AKIDEMULATOR", "AWS_SECRET_ACCESS_KEY=emulator"}
	for _, e := range s.endpoints {
		if e.EnvVar != "" {
			env = append(env, e.EnvVar+"="+e.URL)
		}
	}
	return env
}

// WriteEndpoints prints the endpoints and the environment, one per line, in
// a form a shell can source (export KEY=value) with comments for the rest.
func (s *Suite) WriteEndpoints(w io.Writer) error {
	for _, e := range s.endpoints {
		if _, err := fmt.Fprintf(w, "# %-16s %s\n", e.Service, e.URL); err != nil {
			return fmt.Errorf("write endpoints: %w", err)
		}
	}
	for _, kv := range s.Env() {
		if _, err := fmt.Fprintf(w, "export %s\n", kv); err != nil {
			return fmt.Errorf("write endpoints: %w", err)
		}
	}
	return nil
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
