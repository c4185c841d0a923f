package inuse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// calls counts a fake's calls per operation and injects failures: fail[op]
// fails every call of op, failAt[op] = n fails only its n-th call (1-based:
// a page in the middle of a listing). Safe for concurrent use.
type calls struct {
	mu     sync.Mutex
	n      map[string]int
	fail   map[string]error
	failAt map[string]int
}

var errInjected = errors.New("api error InternalFailure: injected")

func (c *calls) call(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
	if err := c.fail[op]; err != nil {
		return err
	}
	if at, ok := c.failAt[op]; ok && at == c.n[op] {
		return errInjected
	}
	return nil
}

func (c *calls) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// page returns the page of items that starts at token (an index), at most
// max long, and the token of the next page.
func page[T any](items []T, token *string, max *int32, limit int) ([]T, *string) {
	start := 0
	if token != nil {
		start, _ = strconv.Atoi(*token)
	}
	size := int(aws.ToInt32(max))
	if size <= 0 || size > limit {
		size = limit
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = aws.String(strconv.Itoa(end))
	}
	return slices.Clone(items[start:end]), next
}

// fakeECS is an ECS of clusters with services, running tasks and task
// definitions, paged and limited like the real API.
type fakeECS struct {
	calls
	clusters []string                           // cluster ARNs
	services map[string][]ecstypes.Service      // cluster ARN → services
	tasks    map[string][]ecstypes.Task         // cluster ARN → running tasks
	defs     map[string]ecstypes.TaskDefinition // task definition ARN → definition
	failures map[string][]ecstypes.Failure      // service or task ARN → failure to report
	seen     map[string]int                     // DescribeTaskDefinition calls per ARN
	seenMu   sync.Mutex
}

func newFakeECS() *fakeECS {
	return &fakeECS{services: map[string][]ecstypes.Service{}, tasks: map[string][]ecstypes.Task{},
		defs: map[string]ecstypes.TaskDefinition{}, failures: map[string][]ecstypes.Failure{}, seen: map[string]int{}}
}

const fakeAccount = "arn:aws:ecs:ap-southeast-1:123456789012:"

func (f *fakeECS) addCluster(name string) string {
	arn := fakeAccount + "cluster/" + name
	f.clusters = append(f.clusters, arn)
	return arn
}

func (f *fakeECS) addTaskDefinition(family string, revision int, images ...string) string {
	arn := fakeAccount + "task-definition/" + family + ":" + strconv.Itoa(revision)
	td := ecstypes.TaskDefinition{TaskDefinitionArn: aws.String(arn), Family: aws.String(family), Revision: int32(revision)}
	for i, img := range images {
		td.ContainerDefinitions = append(td.ContainerDefinitions, ecstypes.ContainerDefinition{Name: aws.String("c" + strconv.Itoa(i)), Image: aws.String(img)})
	}
	f.defs[arn] = td
	return arn
}

func (f *fakeECS) ListClusters(ctx context.Context, params *ecs.ListClustersInput, optFns ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	if err := f.call("ListClusters"); err != nil {
		return nil, err
	}
	items, next := page(f.clusters, params.NextToken, params.MaxResults, 100)
	return &ecs.ListClustersOutput{ClusterArns: items, NextToken: next}, nil
}

func (f *fakeECS) ListServices(ctx context.Context, params *ecs.ListServicesInput, optFns ...func(*ecs.Options)) (*ecs.ListServicesOutput, error) {
	if err := f.call("ListServices"); err != nil {
		return nil, err
	}
	var arns []string
	for _, s := range f.services[aws.ToString(params.Cluster)] {
		arns = append(arns, aws.ToString(s.ServiceArn))
	}
	items, next := page(arns, params.NextToken, params.MaxResults, 100)
	return &ecs.ListServicesOutput{ServiceArns: items, NextToken: next}, nil
}

func (f *fakeECS) ListTasks(ctx context.Context, params *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	if err := f.call("ListTasks"); err != nil {
		return nil, err
	}
	var arns []string
	for _, t := range f.tasks[aws.ToString(params.Cluster)] {
		arns = append(arns, aws.ToString(t.TaskArn))
	}
	items, next := page(arns, params.NextToken, params.MaxResults, 100)
	return &ecs.ListTasksOutput{TaskArns: items, NextToken: next}, nil
}

func (f *fakeECS) DescribeServices(ctx context.Context, params *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if err := f.call("DescribeServices"); err != nil {
		return nil, err
	}
	if len(params.Services) > 10 {
		return nil, fmt.Errorf("InvalidParameterException: %d services, at most 10", len(params.Services))
	}
	out := &ecs.DescribeServicesOutput{}
	for _, arn := range params.Services {
		out.Failures = append(out.Failures, f.failures[arn]...)
		for _, s := range f.services[aws.ToString(params.Cluster)] {
			if aws.ToString(s.ServiceArn) == arn {
				out.Services = append(out.Services, s)
			}
		}
	}
	return out, nil
}

func (f *fakeECS) DescribeTasks(ctx context.Context, params *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	if err := f.call("DescribeTasks"); err != nil {
		return nil, err
	}
	if len(params.Tasks) > 100 {
		return nil, fmt.Errorf("InvalidParameterException: %d tasks, at most 100", len(params.Tasks))
	}
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range params.Tasks {
		out.Failures = append(out.Failures, f.failures[arn]...)
		for _, t := range f.tasks[aws.ToString(params.Cluster)] {
			if aws.ToString(t.TaskArn) == arn {
				out.Tasks = append(out.Tasks, t)
			}
		}
	}
	return out, nil
}

func (f *fakeECS) DescribeTaskDefinition(ctx context.Context, params *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	if err := f.call("DescribeTaskDefinition"); err != nil {
		return nil, err
	}
	arn := aws.ToString(params.TaskDefinition)
	f.seenMu.Lock()
	f.seen[arn]++
	f.seenMu.Unlock()
	td, ok := f.defs[arn]
	if !ok {
		return nil, &ecstypes.ClientException{Message: aws.String("Unable to describe task definition.")}
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &td}, nil
}

// fakeLambda holds function versions and their code locations.
type fakeLambda struct {
	calls
	functions []lambdatypes.FunctionConfiguration
	code      map[string]lambdatypes.FunctionCodeLocation // name:version → code
}

func (f *fakeLambda) add(name, version string, packageType lambdatypes.PackageType, imageURI, resolved string) {
	f.functions = append(f.functions, lambdatypes.FunctionConfiguration{
		FunctionName: aws.String(name), Version: aws.String(version), PackageType: packageType,
		FunctionArn: aws.String("arn:aws:lambda:ap-southeast-1:123456789012:function:" + name + ":" + version),
	})
	if f.code == nil {
		f.code = map[string]lambdatypes.FunctionCodeLocation{}
	}
	c := lambdatypes.FunctionCodeLocation{RepositoryType: aws.String("S3"), Location: aws.String("https://awslambda.s3.example/" + name)}
	if packageType == lambdatypes.PackageTypeImage {
		c = lambdatypes.FunctionCodeLocation{RepositoryType: aws.String("ECR"), ImageUri: aws.String(imageURI)}
		if resolved != "" {
			c.ResolvedImageUri = aws.String(resolved)
		}
	}
	f.code[name+":"+version] = c
}

func (f *fakeLambda) ListFunctions(ctx context.Context, params *lambda.ListFunctionsInput, optFns ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error) {
	if err := f.call("ListFunctions"); err != nil {
		return nil, err
	}
	all := f.functions
	if params.FunctionVersion != lambdatypes.FunctionVersionAll {
		all = nil
		for _, fn := range f.functions {
			if aws.ToString(fn.Version) == "$LATEST" {
				all = append(all, fn)
			}
		}
	}
	items, next := page(all, params.Marker, params.MaxItems, 50)
	return &lambda.ListFunctionsOutput{Functions: items, NextMarker: next}, nil
}

func (f *fakeLambda) GetFunction(ctx context.Context, params *lambda.GetFunctionInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	if err := f.call("GetFunction"); err != nil {
		return nil, err
	}
	q := aws.ToString(params.Qualifier)
	if q == "" {
		q = "$LATEST"
	}
	c, ok := f.code[aws.ToString(params.FunctionName)+":"+q]
	if !ok {
		return nil, &lambdatypes.ResourceNotFoundException{Message: aws.String("Function not found")}
	}
	return &lambda.GetFunctionOutput{Code: &c}, nil
}

// fakeSageMaker holds models, endpoints with their configurations, and jobs.
type fakeSageMaker struct {
	calls
	models     []sagemaker.DescribeModelOutput
	endpoints  []sagemaker.DescribeEndpointOutput
	configs    map[string]sagemaker.DescribeEndpointConfigOutput
	training   []sagemaker.DescribeTrainingJobOutput
	processing []sagemaker.DescribeProcessingJobOutput
	tuning     []sagemaker.DescribeHyperParameterTuningJobOutput
}

func (f *fakeSageMaker) addModel(name string, primary string, containers ...string) {
	m := sagemaker.DescribeModelOutput{ModelName: aws.String(name)}
	if primary != "" {
		m.PrimaryContainer = &smtypes.ContainerDefinition{Image: aws.String(primary)}
	}
	for _, c := range containers {
		m.Containers = append(m.Containers, smtypes.ContainerDefinition{Image: aws.String(c)})
	}
	f.models = append(f.models, m)
}

// addEndpoint adds an endpoint whose configuration serves models, each
// variant deployed as deployed[i] (specified → resolved image) when given.
func (f *fakeSageMaker) addEndpoint(name, config string, models []string, deployed map[string]string) {
	if f.configs == nil {
		f.configs = map[string]sagemaker.DescribeEndpointConfigOutput{}
	}
	c := sagemaker.DescribeEndpointConfigOutput{EndpointConfigName: aws.String(config)}
	e := sagemaker.DescribeEndpointOutput{EndpointName: aws.String(name), EndpointConfigName: aws.String(config)}
	for i, m := range models {
		variant := "v" + strconv.Itoa(i)
		c.ProductionVariants = append(c.ProductionVariants, smtypes.ProductionVariant{VariantName: aws.String(variant), ModelName: aws.String(m)})
		v := smtypes.ProductionVariantSummary{VariantName: aws.String(variant)}
		for spec, resolved := range deployed {
			v.DeployedImages = append(v.DeployedImages, smtypes.DeployedImage{SpecifiedImage: aws.String(spec), ResolvedImage: aws.String(resolved)})
		}
		e.ProductionVariants = append(e.ProductionVariants, v)
	}
	f.configs[config] = c
	f.endpoints = append(f.endpoints, e)
}

func (f *fakeSageMaker) ListModels(ctx context.Context, params *sagemaker.ListModelsInput, optFns ...func(*sagemaker.Options)) (*sagemaker.ListModelsOutput, error) {
	if err := f.call("ListModels"); err != nil {
		return nil, err
	}
	var all []smtypes.ModelSummary
	for _, m := range f.models {
		all = append(all, smtypes.ModelSummary{ModelName: m.ModelName})
	}
	items, next := page(all, params.NextToken, params.MaxResults, 100)
	return &sagemaker.ListModelsOutput{Models: items, NextToken: next}, nil
}

func (f *fakeSageMaker) ListEndpoints(ctx context.Context, params *sagemaker.ListEndpointsInput, optFns ...func(*sagemaker.Options)) (*sagemaker.ListEndpointsOutput, error) {
	if err := f.call("ListEndpoints"); err != nil {
		return nil, err
	}
	var all []smtypes.EndpointSummary
	for _, e := range f.endpoints {
		all = append(all, smtypes.EndpointSummary{EndpointName: e.EndpointName})
	}
	items, next := page(all, params.NextToken, params.MaxResults, 100)
	return &sagemaker.ListEndpointsOutput{Endpoints: items, NextToken: next}, nil
}

func (f *fakeSageMaker) ListTrainingJobs(ctx context.Context, params *sagemaker.ListTrainingJobsInput, optFns ...func(*sagemaker.Options)) (*sagemaker.ListTrainingJobsOutput, error) {
	if err := f.call("ListTrainingJobs"); err != nil {
		return nil, err
	}
	var all []smtypes.TrainingJobSummary
	for _, j := range f.training {
		if params.StatusEquals == "" || j.TrainingJobStatus == params.StatusEquals {
			all = append(all, smtypes.TrainingJobSummary{TrainingJobName: j.TrainingJobName, TrainingJobStatus: j.TrainingJobStatus})
		}
	}
	items, next := page(all, params.NextToken, params.MaxResults, 100)
	return &sagemaker.ListTrainingJobsOutput{TrainingJobSummaries: items, NextToken: next}, nil
}

func (f *fakeSageMaker) ListProcessingJobs(ctx context.Context, params *sagemaker.ListProcessingJobsInput, optFns ...func(*sagemaker.Options)) (*sagemaker.ListProcessingJobsOutput, error) {
	if err := f.call("ListProcessingJobs"); err != nil {
		return nil, err
	}
	var all []smtypes.ProcessingJobSummary
	for _, j := range f.processing {
		if params.StatusEquals == "" || j.ProcessingJobStatus == params.StatusEquals {
			all = append(all, smtypes.ProcessingJobSummary{ProcessingJobName: j.ProcessingJobName, ProcessingJobStatus: j.ProcessingJobStatus})
		}
	}
	items, next := page(all, params.NextToken, params.MaxResults, 100)
	return &sagemaker.ListProcessingJobsOutput{ProcessingJobSummaries: items, NextToken: next}, nil
}

func (f *fakeSageMaker) ListHyperParameterTuningJobs(ctx context.Context, params *sagemaker.ListHyperParameterTuningJobsInput, optFns ...func(*sagemaker.Options)) (*sagemaker.ListHyperParameterTuningJobsOutput, error) {
	if err := f.call("ListHyperParameterTuningJobs"); err != nil {
		return nil, err
	}
	var all []smtypes.HyperParameterTuningJobSummary
	for _, j := range f.tuning {
		if params.StatusEquals == "" || j.HyperParameterTuningJobStatus == params.StatusEquals {
			all = append(all, smtypes.HyperParameterTuningJobSummary{HyperParameterTuningJobName: j.HyperParameterTuningJobName})
		}
	}
	items, next := page(all, params.NextToken, params.MaxResults, 100)
	return &sagemaker.ListHyperParameterTuningJobsOutput{HyperParameterTuningJobSummaries: items, NextToken: next}, nil
}

func (f *fakeSageMaker) DescribeModel(ctx context.Context, params *sagemaker.DescribeModelInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeModelOutput, error) {
	if err := f.call("DescribeModel"); err != nil {
		return nil, err
	}
	for _, m := range f.models {
		if aws.ToString(m.ModelName) == aws.ToString(params.ModelName) {
			return &m, nil
		}
	}
	return nil, errors.New("ValidationException: Could not find model")
}

func (f *fakeSageMaker) DescribeEndpoint(ctx context.Context, params *sagemaker.DescribeEndpointInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointOutput, error) {
	if err := f.call("DescribeEndpoint"); err != nil {
		return nil, err
	}
	for _, e := range f.endpoints {
		if aws.ToString(e.EndpointName) == aws.ToString(params.EndpointName) {
			return &e, nil
		}
	}
	return nil, errors.New("ValidationException: Could not find endpoint")
}

func (f *fakeSageMaker) DescribeEndpointConfig(ctx context.Context, params *sagemaker.DescribeEndpointConfigInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointConfigOutput, error) {
	if err := f.call("DescribeEndpointConfig"); err != nil {
		return nil, err
	}
	c, ok := f.configs[aws.ToString(params.EndpointConfigName)]
	if !ok {
		return nil, errors.New("ValidationException: Could not find endpoint configuration")
	}
	return &c, nil
}

func (f *fakeSageMaker) DescribeTrainingJob(ctx context.Context, params *sagemaker.DescribeTrainingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error) {
	if err := f.call("DescribeTrainingJob"); err != nil {
		return nil, err
	}
	for _, j := range f.training {
		if aws.ToString(j.TrainingJobName) == aws.ToString(params.TrainingJobName) {
			return &j, nil
		}
	}
	return nil, errors.New("ValidationException: Requested resource not found")
}

func (f *fakeSageMaker) DescribeProcessingJob(ctx context.Context, params *sagemaker.DescribeProcessingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeProcessingJobOutput, error) {
	if err := f.call("DescribeProcessingJob"); err != nil {
		return nil, err
	}
	for _, j := range f.processing {
		if aws.ToString(j.ProcessingJobName) == aws.ToString(params.ProcessingJobName) {
			return &j, nil
		}
	}
	return nil, errors.New("ValidationException: Could not find processing job")
}

func (f *fakeSageMaker) DescribeHyperParameterTuningJob(ctx context.Context, params *sagemaker.DescribeHyperParameterTuningJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeHyperParameterTuningJobOutput, error) {
	if err := f.call("DescribeHyperParameterTuningJob"); err != nil {
		return nil, err
	}
	for _, j := range f.tuning {
		if aws.ToString(j.HyperParameterTuningJobName) == aws.ToString(params.HyperParameterTuningJobName) {
			return &j, nil
		}
	}
	return nil, errors.New("ResourceNotFound: Amazon SageMaker can't find a tuning job")
}

// fakeBatch holds job definitions of every status.
type fakeBatch struct {
	calls
	defs []batchtypes.JobDefinition
}

func (f *fakeBatch) add(name string, revision int32, status string, d batchtypes.JobDefinition) {
	d.JobDefinitionName, d.Revision, d.Status = aws.String(name), aws.Int32(revision), aws.String(status)
	f.defs = append(f.defs, d)
}

func (f *fakeBatch) DescribeJobDefinitions(ctx context.Context, params *batch.DescribeJobDefinitionsInput, optFns ...func(*batch.Options)) (*batch.DescribeJobDefinitionsOutput, error) {
	if err := f.call("DescribeJobDefinitions"); err != nil {
		return nil, err
	}
	var all []batchtypes.JobDefinition
	for _, d := range f.defs {
		if params.Status == nil || strings.EqualFold(aws.ToString(d.Status), aws.ToString(params.Status)) {
			all = append(all, d)
		}
	}
	items, next := page(all, params.NextToken, params.MaxResults, 100)
	return &batch.DescribeJobDefinitionsOutput{JobDefinitions: items, NextToken: next}, nil
}
