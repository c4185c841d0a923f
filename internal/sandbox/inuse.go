package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/motoproxy"
)

// motoServices are the SDK service ids moto serves the functions: gc's
// fan-out queue (SQS) and its in-use sources (ECS, Lambda, SageMaker,
// Batch). AWS_ENDPOINT_URL_<ID> points the functions at the proxies in front
// of moto. Not STS (see startFunctions).
var motoServices = []string{"SQS", "ECS", "Lambda", "SageMaker", "Batch"}

// startMoto resets the cluster's moto_server, so that each sandbox starts
// from an empty account (gc's in-use sources read all of it), and serves the
// functions one chain in front of it: the authorizing proxy (every call
// checked against the caller's role in the template, unless IAM is off), then
// the fault proxy (InUse: calls counted and failed on purpose), then moto.
// A call IAM refuses never reaches the fault proxy's log.
func (sb *Sandbox) startMoto(ctx context.Context, o Options) error {
	if err := o.Cluster.Moto.Reset(ctx); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	faults, err := motoproxy.New(o.Cluster.Moto.URL)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	authorize := authz.NewProxyTo(faults, Region, Account)
	if !o.IAMOff {
		authorize.SetAuthorizer(sb.IAM)
	}
	sb.InUse = faults
	sb.proxy = httptest.NewServer(authorize)
	return nil
}

// InUseEndpoint is the URL of the proxies in front of moto: one
// BaseEndpoint for SQS, ECS, Lambda, SageMaker and Batch clients.
func (sb *Sandbox) InUseEndpoint() string {
	if sb.proxy == nil {
		return ""
	}
	return sb.proxy.URL
}

// MotoConfig is an SDK configuration with the admin identity that reaches
// moto directly, not through the proxies, for tests and the demo to create
// what runs there (ECS services, SageMaker models…) without filling the
// fault proxy's call log or the IAM decision log.
func (sb *Sandbox) MotoConfig() (aws.Config, error) {
	if sb.Cluster == nil || sb.Cluster.Moto == nil {
		return aws.Config{}, fmt.Errorf("sandbox: the cluster runs no moto_server")
	}
	cfg := sb.AWS.Copy()
	cfg.BaseEndpoint = aws.String(sb.Cluster.Moto.URL)
	cfg.HTTPClient = emulator.HTTPClient()
	return cfg, nil
}

// RunECSService registers a task definition of family with one container
// per image and runs it as service in cluster (created if missing), in
// moto. It returns the task definition as "family:revision".
func (sb *Sandbox) RunECSService(ctx context.Context, cluster, service, family string, images ...string) (string, error) {
	cfg, err := sb.MotoConfig()
	if err != nil {
		return "", err
	}
	c := ecs.NewFromConfig(cfg)
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		return "", fmt.Errorf("sandbox: create ECS cluster %s: %w", cluster, err)
	}
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family)}
	for i, img := range images {
		in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{
			Name: aws.String(fmt.Sprintf("c%d", i)), Image: aws.String(img), Memory: aws.Int32(256)})
	}
	td, err := c.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", fmt.Errorf("sandbox: register task definition %s: %w", family, err)
	}
	_, err = c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(service),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)})
	if err != nil {
		return "", fmt.Errorf("sandbox: create ECS service %s/%s: %w", cluster, service, err)
	}
	return fmt.Sprintf("%s:%d", family, td.TaskDefinition.Revision), nil
}

// ServeSageMakerModel creates the SageMaker model with image as its
// primary container, and an endpoint (with a configuration of the same
// name) serving it, in moto.
func (sb *Sandbox) ServeSageMakerModel(ctx context.Context, endpoint, model, image string) error {
	cfg, err := sb.MotoConfig()
	if err != nil {
		return err
	}
	c := sagemaker.NewFromConfig(cfg)
	role := "arn:aws:iam::" + sb.Account + ":role/sagemaker-execution"
	if _, err := c.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String(model), ExecutionRoleArn: aws.String(role),
		PrimaryContainer: &smtypes.ContainerDefinition{Image: aws.String(image)}}); err != nil {
		return fmt.Errorf("sandbox: create SageMaker model %s: %w", model, err)
	}
	if _, err := c.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String(endpoint),
		ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String(model),
			InitialInstanceCount: aws.Int32(1), InstanceType: smtypes.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
		return fmt.Errorf("sandbox: create SageMaker endpoint config %s: %w", endpoint, err)
	}
	if _, err := c.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(endpoint), EndpointConfigName: aws.String(endpoint)}); err != nil {
		return fmt.Errorf("sandbox: create SageMaker endpoint %s: %w", endpoint, err)
	}
	return nil
}

// RunLambdaImage creates the Lambda function name packaged as the container
// image image (and its execution role), published as version 1, in moto.
// moto never runs it (that would need Docker) and invents the digest it
// resolves the image to: match it by tag.
func (sb *Sandbox) RunLambdaImage(ctx context.Context, name, image string) error {
	cfg, err := sb.MotoConfig()
	if err != nil {
		return err
	}
	role, err := sb.createMotoRole(ctx, cfg, name+"-execution", "lambda.amazonaws.com")
	if err != nil {
		return err
	}
	_, err = lambda.NewFromConfig(cfg).CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: aws.String(role),
		PackageType: lambdatypes.PackageTypeImage, Code: &lambdatypes.FunctionCode{ImageUri: aws.String(image)}, Publish: true})
	if err != nil {
		return fmt.Errorf("sandbox: create Lambda function %s: %w", name, err)
	}
	return nil
}

// RegisterBatchJob registers an AWS Batch container job definition name
// running image, in moto.
func (sb *Sandbox) RegisterBatchJob(ctx context.Context, name, image string) error {
	cfg, err := sb.MotoConfig()
	if err != nil {
		return err
	}
	_, err = batch.NewFromConfig(cfg).RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{JobDefinitionName: aws.String(name),
		Type: batchtypes.JobDefinitionTypeContainer, ContainerProperties: &batchtypes.ContainerProperties{Image: aws.String(image),
			Vcpus: aws.Int32(1), Memory: aws.Int32(512)}})
	if err != nil {
		return fmt.Errorf("sandbox: register Batch job definition %s: %w", name, err)
	}
	return nil
}

// createMotoRole creates an IAM role that service may assume, in moto (Lambda's
// CreateFunction checks that its role exists), and returns its ARN. It speaks
// IAM's query protocol directly: the module has no IAM client, and moto does
// not check signatures.
func (sb *Sandbox) createMotoRole(ctx context.Context, cfg aws.Config, name, service string) (string, error) {
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole"}]}`}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, aws.ToString(cfg.BaseEndpoint)+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+adminKey+"/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("sandbox: create IAM role %s in moto: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("sandbox: create IAM role %s in moto: HTTP %d %s", name, resp.StatusCode, body)
	}
	return "arn:aws:iam::" + sb.Account + ":role/" + name, nil
}
