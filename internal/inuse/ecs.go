package inuse

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// DescribeServicesAPI, DescribeTasksAPI and DescribeTaskDefinitionAPI are
// ECS client methods, with their SDK v2 signatures.
type (
	DescribeServicesAPI interface {
		DescribeServices(ctx context.Context, params *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	}
	DescribeTasksAPI interface {
		DescribeTasks(ctx context.Context, params *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	}
	DescribeTaskDefinitionAPI interface {
		DescribeTaskDefinition(ctx context.Context, params *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
)

// ECSAPI is the subset of the ECS client the ECS source calls.
type ECSAPI interface {
	ecs.ListClustersAPIClient
	ecs.ListServicesAPIClient
	ecs.ListTasksAPIClient
	DescribeServicesAPI
	DescribeTasksAPI
	DescribeTaskDefinitionAPI
}

// ECS limits: ListClusters, ListServices and ListTasks return at most 100
// a page; DescribeServices takes 10 services a call, DescribeTasks 100.
const (
	ecsPage             = 100
	ecsServicesPerCall  = 10
	ecsTasksPerCall     = 100
	ecsSourceName       = "ECS"
	taskDefinitionInARN = "task-definition/"
)

// ECS is the source of the ECS clusters of the account and region: the
// task definitions of every service (its current one and those of its
// deployments and task sets, so a rollout in progress or a rollback target
// counts) and the containers of every running task, by image and by the
// digest ECS resolved it to.
//
// Calls for C clusters, each with S services, T running tasks and D
// distinct task definitions over all services:
// ceil(C/100) ListClusters + per cluster ceil(S/100) ListServices (at least
// one), ceil(S/10) DescribeServices, ceil(T/100) ListTasks (at least one)
// and ceil(T/100) DescribeTasks; then D DescribeTaskDefinition.
type ECS struct {
	Client ECSAPI
}

// Name implements Source.
func (e *ECS) Name() string { return ecsSourceName }

// ecsService is one service's use of one task definition.
type ecsService struct {
	holder         string // "service retail/api"
	taskDefinition string // ARN
}

// List implements Source.
func (e *ECS) List(ctx context.Context) (Listing, error) {
	var clusters []string
	p := ecs.NewListClustersPaginator(e.Client, &ecs.ListClustersInput{MaxResults: aws.Int32(ecsPage)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list clusters: %w", err)
		}
		clusters = append(clusters, out.ClusterArns...)
	}
	var (
		services []ecsService
		tasks    Listing
	)
	for _, c := range clusters {
		s, err := e.services(ctx, c)
		if err != nil {
			return Listing{}, err
		}
		services = append(services, s...)
		t, err := e.tasks(ctx, c)
		if err != nil {
			return Listing{}, err
		}
		tasks.Append(t)
	}
	l, err := e.taskDefinitions(ctx, services)
	if err != nil {
		return Listing{}, err
	}
	l.Append(tasks)
	return l, nil
}

// services lists the services of a cluster and the task definitions each uses.
func (e *ECS) services(ctx context.Context, cluster string) ([]ecsService, error) {
	name := afterLast(cluster, "/")
	var arns []string
	p := ecs.NewListServicesPaginator(e.Client, &ecs.ListServicesInput{Cluster: aws.String(cluster), MaxResults: aws.Int32(ecsPage)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list services in cluster %s: %w", name, err)
		}
		arns = append(arns, out.ServiceArns...)
	}
	batches := chunks(arns, ecsServicesPerCall)
	parts := make([][]ecsService, len(batches))
	err := each(ctx, len(batches), func(ctx context.Context, i int) error {
		out, err := e.Client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: batches[i]})
		if err != nil {
			return fmt.Errorf("describe services in cluster %s: %w", name, err)
		}
		if err := ecsFailures("describe services in cluster "+name, out.Failures); err != nil {
			return err
		}
		for _, s := range out.Services {
			holder := "service " + name + "/" + aws.ToString(s.ServiceName)
			seen := map[string]bool{}
			add := func(td *string) {
				if arn := aws.ToString(td); arn != "" && !seen[arn] {
					seen[arn] = true
					parts[i] = append(parts[i], ecsService{holder: holder, taskDefinition: arn})
				}
			}
			add(s.TaskDefinition)
			for _, d := range s.Deployments {
				add(d.TaskDefinition)
			}
			for _, ts := range s.TaskSets {
				add(ts.TaskDefinition)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var all []ecsService
	for _, p := range parts {
		all = append(all, p...)
	}
	return all, nil
}

// tasks lists the running tasks of a cluster (ListTasks' default desired
// status, RUNNING, which includes tasks still starting) and their containers.
func (e *ECS) tasks(ctx context.Context, cluster string) (Listing, error) {
	name := afterLast(cluster, "/")
	var arns []string
	p := ecs.NewListTasksPaginator(e.Client, &ecs.ListTasksInput{Cluster: aws.String(cluster), MaxResults: aws.Int32(ecsPage)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list tasks in cluster %s: %w", name, err)
		}
		arns = append(arns, out.TaskArns...)
	}
	batches := chunks(arns, ecsTasksPerCall)
	parts := make([]Listing, len(batches))
	err := each(ctx, len(batches), func(ctx context.Context, i int) error {
		out, err := e.Client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: batches[i]})
		if err != nil {
			return fmt.Errorf("describe tasks in cluster %s: %w", name, err)
		}
		if err := ecsFailures("describe tasks in cluster "+name, out.Failures); err != nil {
			return err
		}
		for _, t := range out.Tasks {
			holder := "task " + name + "/" + afterLast(aws.ToString(t.TaskArn), "/") +
				" task definition " + afterLast(aws.ToString(t.TaskDefinitionArn), taskDefinitionInARN)
			for _, c := range t.Containers {
				if img := aws.ToString(c.Image); img != "" {
					parts[i].AddResolved(ecsSourceName, holder, img, aws.ToString(c.ImageDigest))
				}
			}
		}
		return nil
	})
	if err != nil {
		return Listing{}, err
	}
	return gather(parts), nil
}

// taskDefinitions describes each distinct task definition once and lists
// its container images for every service that uses it.
func (e *ECS) taskDefinitions(ctx context.Context, services []ecsService) (Listing, error) {
	var arns []string
	images := map[string][]string{}
	for _, s := range services {
		if _, ok := images[s.taskDefinition]; !ok {
			images[s.taskDefinition] = nil
			arns = append(arns, s.taskDefinition)
		}
	}
	var mu sync.Mutex
	err := each(ctx, len(arns), func(ctx context.Context, i int) error {
		out, err := e.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arns[i])})
		if err != nil {
			return fmt.Errorf("describe task definition %s: %w", afterLast(arns[i], taskDefinitionInARN), err)
		}
		if out.TaskDefinition == nil {
			return fmt.Errorf("describe task definition %s: no task definition in the answer", afterLast(arns[i], taskDefinitionInARN))
		}
		var imgs []string
		for _, c := range out.TaskDefinition.ContainerDefinitions {
			if img := aws.ToString(c.Image); img != "" {
				imgs = append(imgs, img)
			}
		}
		mu.Lock()
		images[arns[i]] = imgs
		mu.Unlock()
		return nil
	})
	if err != nil {
		return Listing{}, err
	}
	var l Listing
	for _, s := range services {
		holder := s.holder + " task definition " + afterLast(s.taskDefinition, taskDefinitionInARN)
		for _, img := range images[s.taskDefinition] {
			l.Add(ecsSourceName, holder, img)
		}
	}
	return l, nil
}

// ecsFailures turns the failures of a Describe call into an error: a
// resource that could not be described is doubt, not absence.
func ecsFailures(what string, failures []types.Failure) error {
	if len(failures) == 0 {
		return nil
	}
	msgs := make([]string, len(failures))
	for i, f := range failures {
		msgs[i] = afterLast(aws.ToString(f.Arn), "/") + ": " + aws.ToString(f.Reason)
		if d := aws.ToString(f.Detail); d != "" {
			msgs[i] += " (" + d + ")"
		}
	}
	return fmt.Errorf("%s: %d failed: %s", what, len(failures), strings.Join(msgs, "; "))
}
