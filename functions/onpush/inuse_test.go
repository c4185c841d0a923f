package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
)

// fakeECS is an account with one ECS cluster, "retail", whose one service,
// "scorer", runs task definition scorer:3 with a container per image; no
// cluster at all when images is empty. err fails ListClusters; calls
// counts the calls.
type fakeECS struct {
	inuse.ECSAPI // unimplemented methods panic: the source must not call them
	images       []string
	err          error
	calls        int
}

const (
	fakeECSCluster = "arn:aws:ecs:" + testRegion + ":" + testAccount + ":cluster/retail"
	fakeECSService = "arn:aws:ecs:" + testRegion + ":" + testAccount + ":service/retail/scorer"
	fakeECSTaskDef = "arn:aws:ecs:" + testRegion + ":" + testAccount + ":task-definition/scorer:3"
)

func (f *fakeECS) ListClusters(context.Context, *ecs.ListClustersInput, ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if len(f.images) == 0 {
		return &ecs.ListClustersOutput{}, nil
	}
	return &ecs.ListClustersOutput{ClusterArns: []string{fakeECSCluster}}, nil
}

func (f *fakeECS) ListServices(context.Context, *ecs.ListServicesInput, ...func(*ecs.Options)) (*ecs.ListServicesOutput, error) {
	f.calls++
	return &ecs.ListServicesOutput{ServiceArns: []string{fakeECSService}}, nil
}

func (f *fakeECS) DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	f.calls++
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{{ServiceName: aws.String("scorer"), TaskDefinition: aws.String(fakeECSTaskDef)}}}, nil
}

func (f *fakeECS) ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	f.calls++
	return &ecs.ListTasksOutput{}, nil
}

func (f *fakeECS) DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	f.calls++
	td := &ecstypes.TaskDefinition{TaskDefinitionArn: aws.String(fakeECSTaskDef), Family: aws.String("scorer"), Revision: 3}
	for _, img := range f.images {
		td.ContainerDefinitions = append(td.ContainerDefinitions, ecstypes.ContainerDefinition{Name: aws.String("scorer"), Image: aws.String(img)})
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: td}, nil
}

// fakeLambda is an account whose image functions each run one of images,
// as version 1 of function fn<i>; err fails ListFunctions.
type fakeLambda struct {
	images []string
	err    error
	calls  int
}

func (f *fakeLambda) ListFunctions(context.Context, *lambda.ListFunctionsInput, ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := &lambda.ListFunctionsOutput{}
	for i := range f.images {
		out.Functions = append(out.Functions, lambdatypes.FunctionConfiguration{
			FunctionName: aws.String(fnName(i)), Version: aws.String("1"), PackageType: lambdatypes.PackageTypeImage})
	}
	return out, nil
}

func (f *fakeLambda) GetFunction(_ context.Context, in *lambda.GetFunctionInput, _ ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	f.calls++
	for i, img := range f.images {
		if fnName(i) == aws.ToString(in.FunctionName) {
			return &lambda.GetFunctionOutput{Code: &lambdatypes.FunctionCodeLocation{ImageUri: aws.String(img)}}, nil
		}
	}
	return nil, errors.New("ResourceNotFoundException: no such function")
}

func fnName(i int) string { return "fn" + string(rune('0'+i)) }

// fakeSageMaker is an account without SageMaker models, endpoints or jobs
// in progress; err fails ListModels.
type fakeSageMaker struct {
	inuse.SageMakerAPI // unimplemented methods panic: nothing is there to describe
	err                error
}

func (f *fakeSageMaker) ListModels(context.Context, *sagemaker.ListModelsInput, ...func(*sagemaker.Options)) (*sagemaker.ListModelsOutput, error) {
	return &sagemaker.ListModelsOutput{}, f.err
}

func (f *fakeSageMaker) ListEndpoints(context.Context, *sagemaker.ListEndpointsInput, ...func(*sagemaker.Options)) (*sagemaker.ListEndpointsOutput, error) {
	return &sagemaker.ListEndpointsOutput{}, nil
}

func (f *fakeSageMaker) ListTrainingJobs(context.Context, *sagemaker.ListTrainingJobsInput, ...func(*sagemaker.Options)) (*sagemaker.ListTrainingJobsOutput, error) {
	return &sagemaker.ListTrainingJobsOutput{}, nil
}

func (f *fakeSageMaker) ListProcessingJobs(context.Context, *sagemaker.ListProcessingJobsInput, ...func(*sagemaker.Options)) (*sagemaker.ListProcessingJobsOutput, error) {
	return &sagemaker.ListProcessingJobsOutput{}, nil
}

func (f *fakeSageMaker) ListHyperParameterTuningJobs(context.Context, *sagemaker.ListHyperParameterTuningJobsInput, ...func(*sagemaker.Options)) (*sagemaker.ListHyperParameterTuningJobsOutput, error) {
	return &sagemaker.ListHyperParameterTuningJobsOutput{}, nil
}

// fakeBatch is an account without Batch job definitions; err fails the listing.
type fakeBatch struct{ err error }

func (f *fakeBatch) DescribeJobDefinitions(context.Context, *batch.DescribeJobDefinitionsInput, ...func(*batch.Options)) (*batch.DescribeJobDefinitionsOutput, error) {
	return &batch.DescribeJobDefinitionsOutput{}, f.err
}

// TestRejectedTagInUseOutsideKubernetes: before it deletes a rejected tag,
// onpush reads every source gc reads (ECS, Lambda, SageMaker, Batch as
// gc.inUse turns them on, beside the clusters); an image any of them runs
// by tag or digest keeps the tag, a source that cannot be read keeps it and
// fails the invocation, and a source gc.inUse turns off is not read.
func TestRejectedTagInUseOutsideKubernetes(t *testing.T) {
	host := testAccount + ".dkr.ecr." + testRegion + ".amazonaws.com"
	byTag, byDigest := host+"/mlops/retail-api:Feature_X", host+"/mlops/retail-api@"+fixtureDigest
	off := func(source string) string {
		return deletePolicy + "gc: { inUse: { " + source + ": false } }\n"
	}
	tests := []struct {
		name       string
		policy     string
		setup      func(f *fixture)
		wantAction alert.TagAction
		wantReason string
		wantErr    string
		wantDelete bool
	}{
		{name: "no source runs it: deleted", policy: deletePolicy, setup: func(f *fixture) {
			f.ecs.images = []string{"nginx:1.27", host + "/mlops/retail-api:v1.2.0"}
			f.lambda.images = []string{host + "/mlops/other:Feature_X"}
		}, wantAction: alert.TagDeleted, wantDelete: true},
		{name: "an ECS service runs the tag: kept", policy: deletePolicy, setup: func(f *fixture) {
			f.ecs.images = []string{"nginx:1.27", byTag}
		}, wantAction: alert.TagKept, wantReason: "in use: ECS service retail/scorer task definition scorer:3 (tag Feature_X): nothing deleted"},
		{name: "a Lambda function runs the digest through the dual-stack host: kept", policy: deletePolicy, setup: func(f *fixture) {
			f.lambda.images = []string{testAccount + ".dkr-ecr." + testRegion + ".on.aws/mlops/retail-api@" + fixtureDigest}
		}, wantAction: alert.TagKept, wantReason: "in use: Lambda function fn0 version 1 (digest sha256:1fe57ccde598)"},
		{name: "a cluster and ECS run it: kept, named by the first found", policy: deletePolicy, setup: func(f *fixture) {
			f.inUse = []string{byDigest}
			f.ecs.images = []string{byDigest}
		}, wantAction: alert.TagKept, wantReason: "in use: EKS retail-forecast Deployment default/batch and 1 more (digest sha256:1fe57ccde598)"},
		{name: "ECS cannot be read: kept, alerted, retried", policy: deletePolicy, setup: func(f *fixture) {
			f.ecs.err = errors.New("api error ThrottlingException: Rate exceeded")
		}, wantAction: alert.TagKept, wantReason: "could not tell whether a workload runs the image, so nothing was deleted: list images in use: ECS: list clusters",
			wantErr: "ECS: list clusters: api error ThrottlingException"},
		{name: "SageMaker cannot be read: kept", policy: deletePolicy, setup: func(f *fixture) {
			f.sagemaker.err = errors.New("AccessDeniedException")
		}, wantAction: alert.TagKept, wantReason: "SageMaker", wantErr: "SageMaker"},
		{name: "Batch cannot be read: kept", policy: deletePolicy, setup: func(f *fixture) {
			f.batch.err = errors.New("api error InternalFailure")
		}, wantAction: alert.TagKept, wantReason: "Batch", wantErr: "Batch"},
		{name: "gc.inUse ecs: false: ECS is not read, the tag goes", policy: off("ecs"), setup: func(f *fixture) {
			f.ecs.images, f.ecs.err = []string{byTag}, errors.New("must not be read")
		}, wantAction: alert.TagDeleted, wantDelete: true},
		{name: "gc.inUse lambda: false, ECS still read: kept", policy: off("lambda"), setup: func(f *fixture) {
			f.lambda.err = errors.New("must not be read")
			f.ecs.images = []string{byTag}
		}, wantAction: alert.TagKept, wantReason: "in use: ECS service retail/scorer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy)
			tt.setup(f)
			err := f.h.Handle(invocation(), pushEvent(t, "mlops/retail-api", "Feature_X"))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if len(f.alerts.alerts) != 1 {
				t.Fatalf("alerts = %d, want 1", len(f.alerts.alerts))
			}
			r := f.alerts.alerts[0].TagRejection
			if r.Action != tt.wantAction || !strings.Contains(r.Reason, tt.wantReason) {
				t.Errorf("alert action %s, reason %q; want %s, reason containing %q", r.Action, r.Reason, tt.wantAction, tt.wantReason)
			}
			var want []string
			if tt.wantDelete {
				want = []string{"Feature_X@" + fixtureDigest}
			}
			if diff := cmp.Diff(want, f.ecr.deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInUseReadOnlyToDelete: the in-use sources are read only on the way to
// a delete: an accepted tag, an alert-only policy and a dry run read none.
func TestInUseReadOnlyToDelete(t *testing.T) {
	for _, tt := range []struct{ name, policy, tag string }{
		{"accepted tag", deletePolicy, "v1.3.0"},
		{"onViolation alert", policyWith("alert"), "Feature_X"},
		{"tags.dryRun", policyWith("delete"), "Feature_X"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.policy)
			f.ecs.err, f.lambda.err = errors.New("must not be read"), errors.New("must not be read")
			if err := f.h.Handle(invocation(), pushEvent(t, "mlops/retail-api", tt.tag)); err != nil {
				t.Fatal(err)
			}
			if f.ecs.calls+f.lambda.calls != 0 {
				t.Errorf("ECS read %d times, Lambda %d, want none", f.ecs.calls, f.lambda.calls)
			}
		})
	}
}
