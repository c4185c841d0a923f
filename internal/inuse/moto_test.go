package inuse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/emulator/motoproxy"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// moto is the package's moto_server; nil with -short.
var moto *testenv.Moto

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithMoto(m, func(mt *testenv.Moto) { moto = mt }))
}

// motoEnv is one test's view of moto: clients that seed it directly, and
// the readers' clients that go through the fault proxy.
type motoEnv struct {
	proxy                       *motoproxy.Proxy
	seedECS                     *ecs.Client
	seedLambda                  *lambda.Client
	seedSageMaker               *sagemaker.Client
	seedBatch                   *batch.Client
	clients                     Clients
	ecs                         *ECS
	lambda                      *Lambda
	sagemaker                   *SageMaker
	batch                       *Batch
	proxyURL, motoURL, iamScope string
}

// startMoto resets moto and returns the clients of one test; the readers'
// clients make 3 attempts without sleeping between them.
func startMoto(t *testing.T) *motoEnv {
	t.Helper()
	if moto == nil {
		t.Skip("moto_server: skipped in -short mode")
	}
	ctx := context.Background()
	if err := moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	direct := emulator.ClientConfig(moto.URL, 1)
	e := &motoEnv{motoURL: moto.URL,
		seedECS: ecs.NewFromConfig(direct), seedLambda: lambda.NewFromConfig(direct),
		seedSageMaker: sagemaker.NewFromConfig(direct), seedBatch: batch.NewFromConfig(direct),
	}
	e.newProxy(t)
	return e
}

// newProxy puts a new fault proxy in front of moto and points the readers
// at it. A test that fails listings one after the other takes a new proxy
// for each: a request of a listing cancelled by another source's failure
// may reach the server after the listing returned, and must not count in
// the next one's calls.
func (e *motoEnv) newProxy(t *testing.T) {
	t.Helper()
	proxy, err := motoproxy.New(e.motoURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	viaProxy := emulator.ClientConfig(srv.URL, 3)
	e.proxy, e.proxyURL = proxy, srv.URL
	e.clients = Clients{ECS: ecs.NewFromConfig(viaProxy), Lambda: lambda.NewFromConfig(viaProxy),
		SageMaker: sagemaker.NewFromConfig(viaProxy), Batch: batch.NewFromConfig(viaProxy)}
	e.ecs, e.lambda = &ECS{Client: e.clients.ECS}, &Lambda{Client: e.clients.Lambda}
	e.sagemaker, e.batch = &SageMaker{Client: e.clients.SageMaker}, &Batch{Client: e.clients.Batch}
}

func (e *motoEnv) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// counts returns the proxy's call counts of the given call names.
func (e *motoEnv) counts(names ...string) map[string]int {
	out := map[string]int{}
	for _, n := range names {
		out[n] = e.proxy.Log().Count(n)
	}
	return out
}

// createRole creates an IAM role in moto through the IAM query protocol
// (Lambda's CreateFunction checks that its role exists).
func (e *motoEnv) createRole(t *testing.T, name string) string {
	t.Helper()
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`}}
	req, _ := http.NewRequest(http.MethodPost, e.motoURL+"/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CreateRole: HTTP %d", resp.StatusCode)
	}
	return "arn:aws:iam::123456789012:role/" + name
}

func TestMotoECS(t *testing.T) {
	e := startMoto(t)
	ctx := context.Background()
	for _, c := range []string{"retail", "batch-jobs"} {
		_, err := e.seedECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c)})
		e.must(t, err)
	}
	register := func(family string, images ...string) string {
		in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family)}
		for i, img := range images {
			in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{
				Name: aws.String("c" + strconv.Itoa(i)), Image: aws.String(img), Memory: aws.Int32(128)})
		}
		out, err := e.seedECS.RegisterTaskDefinition(ctx, in)
		e.must(t, err)
		return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	register("retail-api", reg+"/mlops/retail-api:v1.0.0")
	td := register("retail-api", reg+"/mlops/retail-api:v1.2.0", reg+"/mlops/retail-api@"+dgst(7))
	other := register("sidecar-only", "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0")
	for _, svc := range []struct{ name, td string }{{"api", td}, {"otel", other}, {"api-copy", td}} {
		_, err := e.seedECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("retail"), ServiceName: aws.String(svc.name),
			TaskDefinition: aws.String(svc.td), DesiredCount: aws.Int32(1)})
		e.must(t, err)
	}
	// No running task is seeded: moto 5.2.1 answers RunTask and DescribeTasks
	// with a container's cpu as a number where ECS sends a string, which the
	// SDK refuses to decode. Tasks are covered by TestECS against the fake.
	l, err := e.ecs.List(ctx)
	e.must(t, err)
	want := []string{
		"ECS service retail/api task definition retail-api:2: " + reg + "/mlops/retail-api:v1.2.0",
		"ECS service retail/api task definition retail-api:2: " + reg + "/mlops/retail-api@" + dgst(7),
		"ECS service retail/api-copy task definition retail-api:2: " + reg + "/mlops/retail-api:v1.2.0",
		"ECS service retail/api-copy task definition retail-api:2: " + reg + "/mlops/retail-api@" + dgst(7),
		"ECS service retail/otel task definition sidecar-only:1: public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
	}
	if diff := cmp.Diff(want, lines(l)); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}
	// 2 clusters, 3 services, no task, 2 distinct task definitions of services.
	wantCalls := map[string]int{"ecs:ListClusters": 1, "ecs:ListServices": 2, "ecs:DescribeServices": 1,
		"ecs:ListTasks": 2, "ecs:DescribeTasks": 0, "ecs:DescribeTaskDefinition": 2}
	if diff := cmp.Diff(wantCalls, e.counts("ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices", "ecs:ListTasks",
		"ecs:DescribeTasks", "ecs:DescribeTaskDefinition")); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestMotoLambda(t *testing.T) {
	e := startMoto(t)
	ctx := context.Background()
	role := e.createRole(t, "scorer")
	_, err := e.seedLambda.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("scorer"), Role: aws.String(role),
		PackageType: lambdatypes.PackageTypeImage, Code: &lambdatypes.FunctionCode{ImageUri: aws.String(reg + "/mlops/retail-api:v1.1.0")}, Publish: true})
	e.must(t, err)
	_, err = e.seedLambda.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("zipped"), Role: aws.String(role),
		Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: []byte("PK\x05\x06" + strings.Repeat("\x00", 18))}})
	e.must(t, err)

	l, err := e.lambda.List(ctx)
	e.must(t, err)
	// moto invents the resolved digest; the tag is what a test can seed.
	var tags []string
	for _, u := range l.Uses {
		if u.Source != "Lambda" || !strings.HasPrefix(u.Holder, "function scorer version ") {
			t.Errorf("use %v, want only the scorer function's versions", u)
		}
		if u.Ref.Tag != "" {
			tags = append(tags, u.Holder+" "+u.Ref.Tag)
		}
		if u.Ref.Digest == "" && u.Ref.Tag == "" {
			t.Errorf("use %v names neither tag nor digest", u)
		}
	}
	if diff := cmp.Diff([]string{"function scorer version $LATEST v1.1.0", "function scorer version 1 v1.1.0"}, tags); diff != "" {
		t.Errorf("tagged uses (-want +got):\n%s", diff)
	}
	if len(l.Uses) != 4 {
		t.Errorf("%d uses, want 4 (tag and resolved digest of $LATEST and version 1)", len(l.Uses))
	}
	if diff := cmp.Diff(map[string]int{"lambda:ListFunctions": 1, "lambda:GetFunction": 2}, e.counts("lambda:ListFunctions", "lambda:GetFunction")); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestMotoSageMaker(t *testing.T) {
	e := startMoto(t)
	ctx := context.Background()
	role := aws.String("arn:aws:iam::123456789012:role/sagemaker-execution")
	_, err := e.seedSageMaker.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String("forecast-v1"), ExecutionRoleArn: role,
		PrimaryContainer: &smtypes.ContainerDefinition{Image: aws.String(reg + "/mlops/train-model:v1.0.0")}})
	e.must(t, err)
	_, err = e.seedSageMaker.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String("ensemble"), ExecutionRoleArn: role,
		Containers: []smtypes.ContainerDefinition{{Image: aws.String(reg + "/mlops/train-model@" + dgst(3))}, {Image: aws.String(reg + "/mlops/retail-api:v1.2.0")}}})
	e.must(t, err)
	_, err = e.seedSageMaker.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String("forecast-cfg"),
		ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String("forecast-v1"),
			InitialInstanceCount: aws.Int32(1), InstanceType: smtypes.ProductionVariantInstanceTypeMlM5Large}}})
	e.must(t, err)
	_, err = e.seedSageMaker.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String("retail-forecast"), EndpointConfigName: aws.String("forecast-cfg")})
	e.must(t, err)
	// moto completes training jobs at once: a finished job protects nothing.
	_, err = e.seedSageMaker.CreateTrainingJob(ctx, &sagemaker.CreateTrainingJobInput{TrainingJobName: aws.String("finished"), RoleArn: role,
		AlgorithmSpecification: &smtypes.AlgorithmSpecification{TrainingImage: aws.String(reg + "/mlops/train-model:exp-old"), TrainingInputMode: smtypes.TrainingInputModeFile},
		OutputDataConfig:       &smtypes.OutputDataConfig{S3OutputPath: aws.String("s3://models/out")},
		ResourceConfig:         &smtypes.ResourceConfig{InstanceType: smtypes.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(10)},
		StoppingCondition:      &smtypes.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(60)}})
	e.must(t, err)

	l, err := e.sagemaker.List(ctx)
	e.must(t, err)
	want := []string{
		"SageMaker endpoint retail-forecast model forecast-v1: " + reg + "/mlops/train-model:v1.0.0",
		"SageMaker model ensemble: " + reg + "/mlops/retail-api:v1.2.0",
		"SageMaker model ensemble: " + reg + "/mlops/train-model@" + dgst(3),
	}
	if diff := cmp.Diff(want, lines(l)); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}
	wantCalls := map[string]int{"sagemaker:ListModels": 1, "sagemaker:DescribeModel": 2, "sagemaker:ListEndpoints": 1,
		"sagemaker:DescribeEndpoint": 1, "sagemaker:DescribeEndpointConfig": 1, "sagemaker:ListTrainingJobs": 1,
		"sagemaker:DescribeTrainingJob": 0, "sagemaker:ListProcessingJobs": 1, "sagemaker:ListHyperParameterTuningJobs": 1}
	var names []string
	for n := range wantCalls {
		names = append(names, n)
	}
	if diff := cmp.Diff(wantCalls, e.counts(names...)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestMotoBatch(t *testing.T) {
	e := startMoto(t)
	ctx := context.Background()
	for _, img := range []string{"v1.1.0", "v1.2.0"} {
		_, err := e.seedBatch.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("nightly"),
			Type: batchtypes.JobDefinitionTypeContainer, ContainerProperties: &batchtypes.ContainerProperties{Image: aws.String(reg + "/mlops/train-model:" + img),
				Vcpus: aws.Int32(1), Memory: aws.Int32(512)}})
		e.must(t, err)
	}
	_, err := e.seedBatch.DeregisterJobDefinition(ctx, &batch.DeregisterJobDefinitionInput{JobDefinition: aws.String("nightly:1")})
	e.must(t, err)
	_, err = e.seedBatch.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String("on-eks"),
		Type: batchtypes.JobDefinitionTypeContainer, EksProperties: &batchtypes.EksProperties{PodProperties: &batchtypes.EksPodProperties{
			Containers: []batchtypes.EksContainer{{Name: aws.String("train"), Image: aws.String(reg + "/mlops/train-model:v1.3.0")}}}}})
	e.must(t, err)

	l, err := e.batch.List(ctx)
	e.must(t, err)
	want := []string{
		"Batch job definition nightly:2: " + reg + "/mlops/train-model:v1.2.0", // revision 1 is INACTIVE
		"Batch job definition on-eks:1: " + reg + "/mlops/train-model:v1.3.0",
	}
	if diff := cmp.Diff(want, lines(l)); diff != "" {
		t.Errorf("uses (-want +got):\n%s", diff)
	}
	if n := e.proxy.Log().Count("batch:DescribeJobDefinitions"); n != 1 {
		t.Errorf("DescribeJobDefinitions calls = %d, want 1", n)
	}
}

// TestMotoFailures: throttling past the retries, an access denial and a
// 5xx on the second page of a listing each fail the whole in-use listing,
// named by source, and hand back nothing.
func TestMotoFailures(t *testing.T) {
	e := startMoto(t)
	ctx := context.Background()
	_, err := e.seedECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("retail")})
	e.must(t, err)
	// 101 endpoints: ListEndpoints needs a second page (moto pages it by MaxResults).
	_, err = e.seedSageMaker.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String("m"), ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/x"),
		PrimaryContainer: &smtypes.ContainerDefinition{Image: aws.String(reg + "/app:v1")}})
	e.must(t, err)
	_, err = e.seedSageMaker.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String("c"),
		ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String("v"), ModelName: aws.String("m"),
			InitialInstanceCount: aws.Int32(1), InstanceType: smtypes.ProductionVariantInstanceTypeMlM5Large}}})
	e.must(t, err)
	for i := range 101 {
		_, err = e.seedSageMaker.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(fmt.Sprintf("e%03d", i)), EndpointConfigName: aws.String("c")})
		e.must(t, err)
	}
	all := []Source{e.ecs, e.lambda, e.sagemaker, e.batch}
	if _, err := List(ctx, all); err != nil {
		t.Fatalf("healthy listing: %v", err)
	}
	if n := e.proxy.Log().Count("sagemaker:ListEndpoints"); n != 2 {
		t.Fatalf("ListEndpoints calls = %d, want 2 pages", n)
	}

	tests := []struct {
		name     string
		inject   func(p *motoproxy.Proxy)
		source   string
		wantCode string
		attempts map[string]int
	}{
		{
			name:     "throttled past the retries",
			inject:   func(p *motoproxy.Proxy) { p.Faults().Set("ecs:ListServices", fault.Rule{Throttle: 100}) },
			source:   "ECS",
			wantCode: "ThrottlingException",
			attempts: map[string]int{"ecs:ListServices": 3},
		},
		{
			name:     "access denied (restJson, 403)",
			inject:   func(p *motoproxy.Proxy) { p.Refuse(motoproxy.AccessDenied("lambda:ListFunctions")) },
			source:   "Lambda",
			wantCode: "AccessDeniedException",
			attempts: map[string]int{"lambda:ListFunctions": 1},
		},
		{
			name:     "access denied (awsJson, 400)",
			inject:   func(p *motoproxy.Proxy) { p.Refuse(motoproxy.AccessDenied("batch:DescribeJobDefinitions")) },
			source:   "Batch",
			wantCode: "AccessDeniedException",
			attempts: map[string]int{"batch:DescribeJobDefinitions": 1},
		},
		{
			name: "a 5xx on the second page of a listing",
			inject: func(p *motoproxy.Proxy) {
				p.Refuse(motoproxy.Refusal{Op: "sagemaker:ListEndpoints", When: motoproxy.NextPage, Status: 500, Code: "InternalFailure"})
			},
			source:   "SageMaker",
			wantCode: "InternalFailure",
			attempts: map[string]int{"sagemaker:ListEndpoints": 4}, // the first page, then 3 attempts at the second
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.newProxy(t)
			tc.inject(e.proxy)
			l, err := List(ctx, []Source{e.ecs, e.lambda, e.sagemaker, e.batch})
			if err == nil {
				t.Fatal("listing succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.source+": ") {
				t.Errorf("err = %v, want it to name %s first", err, tc.source)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.wantCode {
				t.Errorf("err = %v, want API error %s", err, tc.wantCode)
			}
			if len(l.Uses) != 0 {
				t.Errorf("a failed listing returned %d uses", len(l.Uses))
			}
			for op, n := range tc.attempts {
				if got := e.proxy.Log().Count(op); got != n {
					t.Errorf("%s calls = %d, want %d", op, got, n)
				}
			}
		})
	}
}
