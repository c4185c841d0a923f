package inuse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/google/go-cmp/cmp"
)

const reg = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"

func dgst(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// lines renders a listing as sorted "Source Holder: image" lines.
func lines(l Listing) []string {
	var out []string
	for _, u := range l.Uses {
		out = append(out, u.String()+": "+u.Ref.String())
	}
	for _, u := range l.Invalid {
		out = append(out, u.String()+": invalid "+u.Image)
	}
	slices.Sort(out)
	return out
}

func TestECS(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeECS)
		want    []string
		wantErr string
	}{
		{
			name: "services by their task definitions, deployments and task sets; running tasks by tag and digest",
			setup: func(f *fakeECS) {
				c := f.addCluster("retail")
				cur := f.addTaskDefinition("retail-api", 42, reg+"/mlops/retail-api:v1.2.0", "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0")
				old := f.addTaskDefinition("retail-api", 41, reg+"/mlops/retail-api@"+dgst(41))
				blue := f.addTaskDefinition("batch-api", 7, reg+"/mlops/retail-api:v1.0.0")
				f.services[c] = []ecstypes.Service{
					{ServiceArn: aws.String(fakeAccount + "service/retail/api"), ServiceName: aws.String("api"), TaskDefinition: aws.String(cur),
						Deployments: []ecstypes.Deployment{{TaskDefinition: aws.String(cur)}, {TaskDefinition: aws.String(old)}}},
					{ServiceArn: aws.String(fakeAccount + "service/retail/blue"), ServiceName: aws.String("blue"),
						TaskSets: []ecstypes.TaskSet{{TaskDefinition: aws.String(blue)}}},
				}
				f.tasks[c] = []ecstypes.Task{{TaskArn: aws.String(fakeAccount + "task/retail/0a1b"), TaskDefinitionArn: aws.String(cur),
					Containers: []ecstypes.Container{{Image: aws.String(reg + "/mlops/retail-api:v1.2.0"), ImageDigest: aws.String(dgst(42))}}}}
				f.addCluster("empty")
			},
			want: []string{
				"ECS service retail/api task definition retail-api:41: " + reg + "/mlops/retail-api@" + dgst(41),
				"ECS service retail/api task definition retail-api:42: " + reg + "/mlops/retail-api:v1.2.0",
				"ECS service retail/api task definition retail-api:42: public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
				"ECS service retail/blue task definition batch-api:7: " + reg + "/mlops/retail-api:v1.0.0",
				"ECS task retail/0a1b task definition retail-api:42: " + reg + "/mlops/retail-api:v1.2.0",
				"ECS task retail/0a1b task definition retail-api:42: " + reg + "/mlops/retail-api@" + dgst(42),
			},
		},
		{
			name:  "no clusters, nothing in use",
			setup: func(f *fakeECS) {},
		},
		{
			name: "a service ECS cannot describe is an error, not absence",
			setup: func(f *fakeECS) {
				c := f.addCluster("retail")
				f.services[c] = []ecstypes.Service{{ServiceArn: aws.String(fakeAccount + "service/retail/api"), ServiceName: aws.String("api")}}
				f.failures[fakeAccount+"service/retail/api"] = []ecstypes.Failure{{Arn: aws.String(fakeAccount + "service/retail/api"), Reason: aws.String("MISSING")}}
			},
			wantErr: "describe services in cluster retail: 1 failed: api: MISSING",
		},
		{
			name: "a task definition that cannot be described is an error",
			setup: func(f *fakeECS) {
				c := f.addCluster("retail")
				f.services[c] = []ecstypes.Service{{ServiceArn: aws.String(fakeAccount + "service/retail/api"), ServiceName: aws.String("api"),
					TaskDefinition: aws.String(fakeAccount + "task-definition/gone:1")}}
			},
			wantErr: "describe task definition gone:1: ClientException: Unable to describe task definition.",
		},
		{
			name: "a failing second page of tasks is an error naming the cluster",
			setup: func(f *fakeECS) {
				c := f.addCluster("retail")
				for i := range 150 {
					f.tasks[c] = append(f.tasks[c], ecstypes.Task{TaskArn: aws.String(fakeAccount + "task/retail/" + strconv.Itoa(i))})
				}
				f.failAt = map[string]int{"ListTasks": 2}
			},
			wantErr: "list tasks in cluster retail: " + errInjected.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeECS()
			tt.setup(f)
			l, err := (&ECS{Client: f}).List(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if len(l.Uses) != 0 {
					t.Errorf("a failed listing returned %d uses", len(l.Uses))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, lines(l)); diff != "" {
				t.Errorf("uses (-want +got):\n%s", diff)
			}
		})
	}
}

// TestECSCalls counts the calls for C clusters, S services, T tasks and D
// task definitions against the documented formula.
func TestECSCalls(t *testing.T) {
	f := newFakeECS()
	a, b := f.addCluster("a"), f.addCluster("b")
	var defs []string
	for i := range 4 {
		defs = append(defs, f.addTaskDefinition("fam", i+1, reg+"/app:v"+strconv.Itoa(i)))
	}
	for i := range 25 { // 25 services sharing 4 task definitions
		f.services[a] = append(f.services[a], ecstypes.Service{ServiceArn: aws.String(fakeAccount + "service/a/s" + strconv.Itoa(i)),
			ServiceName: aws.String("s" + strconv.Itoa(i)), TaskDefinition: aws.String(defs[i%4])})
	}
	for i := range 150 {
		f.tasks[b] = append(f.tasks[b], ecstypes.Task{TaskArn: aws.String(fakeAccount + "task/b/" + strconv.Itoa(i)), TaskDefinitionArn: aws.String(defs[0]),
			Containers: []ecstypes.Container{{Image: aws.String(reg + "/app:v0")}}})
	}
	if _, err := (&ECS{Client: f}).List(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"ListClusters":     1,
		"ListServices":     2, // one page per cluster
		"DescribeServices": 3, // ceil(25/10)
		"ListTasks":        3, // a: 1, b: ceil(150/100)
		"DescribeTasks":    2, // ceil(150/100)
		// each distinct task definition once, however many services use it
		"DescribeTaskDefinition": 4,
	}
	for op, n := range want {
		if got := f.count(op); got != n {
			t.Errorf("%s calls = %d, want %d", op, got, n)
		}
	}
	for arn, n := range f.seen {
		if n != 1 {
			t.Errorf("task definition %s described %d times", arn, n)
		}
	}
}

func TestLambda(t *testing.T) {
	f := &fakeLambda{}
	f.add("scorer", "$LATEST", lambdatypes.PackageTypeImage, reg+"/mlops/retail-api:v1.2.0", reg+"/mlops/retail-api@"+dgst(12))
	f.add("scorer", "3", lambdatypes.PackageTypeImage, reg+"/mlops/retail-api:v1.1.0", reg+"/mlops/retail-api@"+dgst(11))
	f.add("zipped", "$LATEST", lambdatypes.PackageTypeZip, "", "")
	l, err := (&Lambda{Client: f}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Lambda function scorer version $LATEST: " + reg + "/mlops/retail-api:v1.2.0",
		"Lambda function scorer version $LATEST: " + reg + "/mlops/retail-api@" + dgst(12),
		// a published version keeps the image it was published with
		"Lambda function scorer version 3: " + reg + "/mlops/retail-api:v1.1.0",
		"Lambda function scorer version 3: " + reg + "/mlops/retail-api@" + dgst(11),
	}
	if diff := cmp.Diff(want, lines(l)); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}
	if n := f.count("GetFunction"); n != 2 {
		t.Errorf("GetFunction calls = %d, want 2 (zip functions are not read)", n)
	}
}

func TestLambdaCallsAndFailures(t *testing.T) {
	f := &fakeLambda{}
	for i := range 120 {
		pt := lambdatypes.PackageTypeZip
		if i%4 == 0 {
			pt = lambdatypes.PackageTypeImage
		}
		f.add("fn"+strconv.Itoa(i), "$LATEST", pt, reg+"/app:v1", "")
	}
	if _, err := (&Lambda{Client: f}).List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := [2]int{f.count("ListFunctions"), f.count("GetFunction")}; got != [2]int{3, 30} {
		t.Errorf("ListFunctions, GetFunction calls = %v, want [3 30] (ceil(120/50) pages, one per image version)", got)
	}

	for _, tc := range []struct {
		name    string
		failAt  map[string]int
		fail    map[string]error
		wantErr string
	}{
		{"second page", map[string]int{"ListFunctions": 2}, nil, "list functions: " + errInjected.Error()},
		{"access denied", nil, map[string]error{"GetFunction": errors.New("api error AccessDeniedException: not authorized")}, "version $LATEST: api error AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.calls = calls{failAt: tc.failAt, fail: tc.fail}
			l, err := (&Lambda{Client: f}).List(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || len(l.Uses) != 0 {
				t.Errorf("List = %d uses, %v; want no uses and %q", len(l.Uses), err, tc.wantErr)
			}
		})
	}
}

func TestSageMaker(t *testing.T) {
	f := &fakeSageMaker{}
	f.addModel("forecast-v2", reg+"/mlops/train-model:v1.2.0")
	f.addModel("ensemble", "", reg+"/mlops/train-model:v1.1.0", reg+"/mlops/retail-api@"+dgst(5))
	f.addModel("idle", reg+"/mlops/train-model:v0.9.0")
	f.addEndpoint("forecast", "forecast-cfg", []string{"forecast-v2"}, map[string]string{
		reg + "/mlops/train-model:v1.2.0": reg + "/mlops/train-model@" + dgst(12)})
	f.addEndpoint("forecast-canary", "forecast-cfg", []string{"forecast-v2"}, nil)
	// an endpoint whose model was deleted still runs what it deployed
	f.addEndpoint("legacy", "legacy-cfg", []string{"deleted-model"}, map[string]string{
		reg + "/mlops/train-model:v0.1.0": reg + "/mlops/train-model@" + dgst(1)})
	f.training = []sagemaker.DescribeTrainingJobOutput{
		{TrainingJobName: aws.String("nightly"), TrainingJobStatus: smtypes.TrainingJobStatusInProgress,
			AlgorithmSpecification: &smtypes.AlgorithmSpecification{TrainingImage: aws.String(reg + "/mlops/train-model:exp-lr-0.01")}},
		{TrainingJobName: aws.String("done"), TrainingJobStatus: smtypes.TrainingJobStatusCompleted,
			AlgorithmSpecification: &smtypes.AlgorithmSpecification{TrainingImage: aws.String(reg + "/mlops/train-model:exp-old")}},
		{TrainingJobName: aws.String("builtin"), TrainingJobStatus: smtypes.TrainingJobStatusInProgress,
			AlgorithmSpecification: &smtypes.AlgorithmSpecification{AlgorithmName: aws.String("xgboost")}},
	}
	f.processing = []sagemaker.DescribeProcessingJobOutput{
		{ProcessingJobName: aws.String("features"), ProcessingJobStatus: smtypes.ProcessingJobStatusInProgress,
			AppSpecification: &smtypes.AppSpecification{ImageUri: aws.String(reg + "/mlops/train-model:v1.0.0")}},
	}
	f.tuning = []sagemaker.DescribeHyperParameterTuningJobOutput{
		{HyperParameterTuningJobName: aws.String("sweep"), HyperParameterTuningJobStatus: smtypes.HyperParameterTuningJobStatusInProgress,
			TrainingJobDefinition: &smtypes.HyperParameterTrainingJobDefinition{AlgorithmSpecification: &smtypes.HyperParameterAlgorithmSpecification{
				TrainingImage: aws.String(reg + "/mlops/train-model:exp-sweep")}}},
	}
	l, err := (&SageMaker{Client: f}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SageMaker endpoint forecast model forecast-v2: " + reg + "/mlops/train-model:v1.2.0",
		"SageMaker endpoint forecast variant v0: " + reg + "/mlops/train-model:v1.2.0",
		"SageMaker endpoint forecast variant v0: " + reg + "/mlops/train-model@" + dgst(12),
		"SageMaker endpoint forecast-canary model forecast-v2: " + reg + "/mlops/train-model:v1.2.0",
		"SageMaker endpoint legacy variant v0: " + reg + "/mlops/train-model:v0.1.0",
		"SageMaker endpoint legacy variant v0: " + reg + "/mlops/train-model@" + dgst(1),
		"SageMaker hyperparameter tuning job sweep: " + reg + "/mlops/train-model:exp-sweep",
		"SageMaker model ensemble: " + reg + "/mlops/retail-api@" + dgst(5),
		"SageMaker model ensemble: " + reg + "/mlops/train-model:v1.1.0",
		"SageMaker model idle: " + reg + "/mlops/train-model:v0.9.0",
		"SageMaker processing job features: " + reg + "/mlops/train-model:v1.0.0",
		"SageMaker training job nightly: " + reg + "/mlops/train-model:exp-lr-0.01",
	}
	if diff := cmp.Diff(want, lines(l)); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}
	wantCalls := map[string]int{
		"ListModels": 1, "DescribeModel": 3, "ListEndpoints": 1, "DescribeEndpoint": 3,
		"DescribeEndpointConfig": 2,                           // forecast and forecast-canary share one configuration
		"ListTrainingJobs":       1, "DescribeTrainingJob": 2, // in progress only
		"ListProcessingJobs": 1, "DescribeProcessingJob": 1,
		"ListHyperParameterTuningJobs": 1, "DescribeHyperParameterTuningJob": 1,
	}
	for op, n := range wantCalls {
		if got := f.count(op); got != n {
			t.Errorf("%s calls = %d, want %d", op, got, n)
		}
	}
}

func TestSageMakerFailures(t *testing.T) {
	for _, op := range []string{"ListModels", "DescribeModel", "ListEndpoints", "DescribeEndpoint", "DescribeEndpointConfig",
		"ListTrainingJobs", "DescribeTrainingJob", "ListProcessingJobs", "DescribeProcessingJob",
		"ListHyperParameterTuningJobs", "DescribeHyperParameterTuningJob"} {
		t.Run(op, func(t *testing.T) {
			f := &fakeSageMaker{}
			f.addModel("m", reg+"/app:v1")
			f.addEndpoint("e", "c", []string{"m"}, nil)
			f.training = []sagemaker.DescribeTrainingJobOutput{{TrainingJobName: aws.String("t"), TrainingJobStatus: smtypes.TrainingJobStatusInProgress}}
			f.processing = []sagemaker.DescribeProcessingJobOutput{{ProcessingJobName: aws.String("p"), ProcessingJobStatus: smtypes.ProcessingJobStatusInProgress}}
			f.tuning = []sagemaker.DescribeHyperParameterTuningJobOutput{{HyperParameterTuningJobName: aws.String("h"), HyperParameterTuningJobStatus: smtypes.HyperParameterTuningJobStatusInProgress}}
			f.fail = map[string]error{op: errInjected}
			l, err := (&SageMaker{Client: f}).List(context.Background())
			if !errors.Is(err, errInjected) || len(l.Uses) != 0 {
				t.Errorf("List = %d uses, %v; want no uses and the %s failure", len(l.Uses), err, op)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	f := &fakeBatch{}
	f.add("nightly", 2, "ACTIVE", batchtypes.JobDefinition{ContainerProperties: &batchtypes.ContainerProperties{Image: aws.String(reg + "/mlops/train-model:v1.2.0")}})
	f.add("nightly", 1, "INACTIVE", batchtypes.JobDefinition{ContainerProperties: &batchtypes.ContainerProperties{Image: aws.String(reg + "/mlops/train-model:v1.1.0")}})
	f.add("on-ecs", 1, "ACTIVE", batchtypes.JobDefinition{EcsProperties: &batchtypes.EcsProperties{TaskProperties: []batchtypes.EcsTaskProperties{
		{Containers: []batchtypes.TaskContainerProperties{{Image: aws.String(reg + "/mlops/train-model:v1.3.0")}}}}}})
	f.add("on-eks", 4, "ACTIVE", batchtypes.JobDefinition{EksProperties: &batchtypes.EksProperties{PodProperties: &batchtypes.EksPodProperties{
		InitContainers: []batchtypes.EksContainer{{Image: aws.String(reg + "/mlops/train-model@" + dgst(4))}},
		Containers:     []batchtypes.EksContainer{{Image: aws.String(reg + "/mlops/train-model:v1.4.0")}}}}})
	f.add("mnp", 1, "ACTIVE", batchtypes.JobDefinition{NodeProperties: &batchtypes.NodeProperties{NodeRangeProperties: []batchtypes.NodeRangeProperty{
		{Container: &batchtypes.ContainerProperties{Image: aws.String(reg + "/mlops/train-model:v1.5.0")}}}}})
	f.add("broken", 1, "ACTIVE", batchtypes.JobDefinition{ContainerProperties: &batchtypes.ContainerProperties{Image: aws.String("Not A Reference")}})
	l, err := (&Batch{Client: f}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Batch job definition broken:1: invalid Not A Reference",
		"Batch job definition mnp:1: " + reg + "/mlops/train-model:v1.5.0",
		"Batch job definition nightly:2: " + reg + "/mlops/train-model:v1.2.0",
		"Batch job definition on-ecs:1: " + reg + "/mlops/train-model:v1.3.0",
		"Batch job definition on-eks:4: " + reg + "/mlops/train-model:v1.4.0",
		"Batch job definition on-eks:4: " + reg + "/mlops/train-model@" + dgst(4),
	}
	if diff := cmp.Diff(want, lines(l)); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}

	f = &fakeBatch{}
	for i := range 250 {
		f.add("def"+strconv.Itoa(i), 1, "ACTIVE", batchtypes.JobDefinition{ContainerProperties: &batchtypes.ContainerProperties{Image: aws.String(reg + "/app:v1")}})
	}
	if _, err := (&Batch{Client: f}).List(context.Background()); err != nil || f.count("DescribeJobDefinitions") != 3 {
		t.Errorf("250 definitions: %v, %d calls; want 3 pages", err, f.count("DescribeJobDefinitions"))
	}
	f.calls = calls{failAt: map[string]int{"DescribeJobDefinitions": 3}}
	if l, err := (&Batch{Client: f}).List(context.Background()); !errors.Is(err, errInjected) || len(l.Uses) != 0 {
		t.Errorf("a failed last page: %d uses, %v; want an error and nothing", len(l.Uses), err)
	}
}
