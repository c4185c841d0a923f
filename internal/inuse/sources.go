package inuse

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Clients are what the sources read through. A source the policy asks for
// whose client is nil fails when listed, so gc deletes nothing.
type Clients struct {
	Clusters  ClusterLister
	ECS       ECSAPI
	Lambda    LambdaAPI
	SageMaker SageMakerAPI
	Batch     batch.DescribeJobDefinitionsAPIClient
}

// NewClients builds every client from one AWS configuration (endpoints
// follow the SDK's AWS_ENDPOINT_URL_<SERVICE> variables) and reads the
// clusters through the EKS resolver r.
func NewClients(cfg aws.Config, r ClusterClients) Clients {
	return Clients{
		Clusters:  ResolverLister(r),
		ECS:       ecs.NewFromConfig(cfg),
		Lambda:    lambda.NewFromConfig(cfg),
		SageMaker: sagemaker.NewFromConfig(cfg),
		Batch:     batch.NewFromConfig(cfg),
	}
}

// ErrNoClient is returned by a source the policy asks for when no client
// was configured for it.
var ErrNoClient = errors.New("no client configured")

// Sources returns the readers the policy asks for: one per cluster, then
// ECS, Lambda, SageMaker and Batch unless gc.inUse turns them off. This is
// the one place that knows the kinds of source.
func Sources(f *policy.File, c Clients) []Source {
	sources := Clusters(f, c.Clusters)
	for _, name := range f.GC.InUse.Enabled() {
		var s Source
		switch name {
		case policy.InUseECS:
			s = unavailable("ECS")
			if c.ECS != nil {
				s = &ECS{Client: c.ECS}
			}
		case policy.InUseLambda:
			s = unavailable("Lambda")
			if c.Lambda != nil {
				s = &Lambda{Client: c.Lambda}
			}
		case policy.InUseSageMaker:
			s = unavailable("SageMaker")
			if c.SageMaker != nil {
				s = &SageMaker{Client: c.SageMaker}
			}
		case policy.InUseBatch:
			s = unavailable("Batch")
			if c.Batch != nil {
				s = &Batch{Client: c.Batch}
			}
		default:
			s = unavailable(name)
		}
		sources = append(sources, s)
	}
	return sources
}

// unavailable is a source without a client: listing it fails.
type unavailable string

// Name implements Source.
func (u unavailable) Name() string { return string(u) }

// List implements Source.
func (u unavailable) List(context.Context) (Listing, error) { return Listing{}, ErrNoClient }
