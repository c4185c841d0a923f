package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/motoproxy"
)

// inUseServices are the SDK service ids of gc's in-use sources that moto
// serves; AWS_ENDPOINT_URL_<ID> points the functions at them.
var inUseServices = []string{"ECS", "Lambda", "SageMaker", "Batch"}

// startInUse resets the cluster's moto, puts the fault proxy in front of it
// and points the functions' ECS, Lambda, SageMaker and Batch clients at the
// proxy. A policy that reads those services needs moto.
func (sb *Sandbox) startInUse(ctx context.Context, env map[string]string) error {
	sb.moto = sb.Cluster.Moto
	if sb.moto == nil {
		if on := sb.Policy.GC.InUse.Enabled(); len(on) > 0 {
			return fmt.Errorf("sandbox: the policy reads %s for images in use (gc.inUse), and the cluster runs no moto_server", strings.Join(on, ", "))
		}
		return nil
	}
	if err := sb.moto.Reset(ctx); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	proxy, err := motoproxy.New(sb.moto.URL)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	sb.InUse = proxy
	sb.inUse = httptest.NewServer(proxy)
	for _, s := range inUseServices {
		env["AWS_ENDPOINT_URL_"+strings.ToUpper(s)] = sb.inUse.URL
	}
	return nil
}

// InUseEndpoint is the URL of the proxy in front of moto (empty without
// moto): one BaseEndpoint for ECS, Lambda, SageMaker and Batch clients.
func (sb *Sandbox) InUseEndpoint() string {
	if sb.inUse == nil {
		return ""
	}
	return sb.inUse.URL
}

// MotoConfig is an SDK configuration that reaches moto directly, not
// through the proxy, for tests and the demo to create what runs there (ECS
// services, SageMaker models…) without filling the proxy's call log.
func (sb *Sandbox) MotoConfig() (aws.Config, error) {
	if sb.moto == nil {
		return aws.Config{}, errors.New("sandbox: the cluster runs no moto_server")
	}
	cfg := sb.AWS.Copy()
	cfg.BaseEndpoint = aws.String(sb.moto.URL)
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
