package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// inUseGrant is one read action of gc's in-use sources (internal/inuse)
// and the resource it is granted on: the action's resource type from the
// Service Authorization Reference, in every name of the account and region
// (gc reads them all), or "*" where the action has no resource type.
type inUseGrant struct {
	source, action string
	// service, resource and sep build the ARN (sep "/" or ":"); resource ""
	// means "*".
	service, resource, sep string
}

var inUseGrants = []inUseGrant{
	{policy.InUseECS, "ecs:ListClusters", "", "", ""},
	{policy.InUseECS, "ecs:ListServices", "", "", ""},
	{policy.InUseECS, "ecs:ListTasks", "", "", ""},              // container-instance only when filtering by one
	{policy.InUseECS, "ecs:DescribeTaskDefinition", "", "", ""}, // no resource type
	{policy.InUseECS, "ecs:DescribeServices", "ecs", "service", "/"},
	{policy.InUseECS, "ecs:DescribeTasks", "ecs", "task", "/"},
	{policy.InUseLambda, "lambda:ListFunctions", "", "", ""},
	// Qualified ARNs (function:name:3) match function:* too.
	{policy.InUseLambda, "lambda:GetFunction", "lambda", "function", ":"},
	{policy.InUseSageMaker, "sagemaker:ListModels", "", "", ""},
	{policy.InUseSageMaker, "sagemaker:ListEndpoints", "", "", ""},
	{policy.InUseSageMaker, "sagemaker:ListTrainingJobs", "", "", ""},
	{policy.InUseSageMaker, "sagemaker:ListProcessingJobs", "", "", ""},
	{policy.InUseSageMaker, "sagemaker:ListHyperParameterTuningJobs", "", "", ""},
	{policy.InUseSageMaker, "sagemaker:DescribeModel", "sagemaker", "model", "/"},
	{policy.InUseSageMaker, "sagemaker:DescribeEndpoint", "sagemaker", "endpoint", "/"},
	{policy.InUseSageMaker, "sagemaker:DescribeEndpointConfig", "sagemaker", "endpoint-config", "/"},
	{policy.InUseSageMaker, "sagemaker:DescribeTrainingJob", "sagemaker", "training-job", "/"},
	{policy.InUseSageMaker, "sagemaker:DescribeProcessingJob", "sagemaker", "processing-job", "/"},
	{policy.InUseSageMaker, "sagemaker:DescribeHyperParameterTuningJob", "sagemaker", "hyper-parameter-tuning-job", "/"},
	{policy.InUseBatch, "batch:DescribeJobDefinitions", "", "", ""}, // no resource type
}

// inUseStatements grants the reads of the in-use sources the policy turns
// on (gc's role, and onpush's when a repository deletes on violation): one
// statement per resource, its actions sorted. The second
// result lists, for cdk-nag, the wildcard resources granted.
func (b *builder) inUseStatements(sources []string) ([]awsiam.PolicyStatement, []string) {
	byResource := map[string][]string{}
	var order, nag []string
	for _, g := range inUseGrants {
		if !slices.Contains(sources, g.source) {
			continue
		}
		resource, nagName := "*", "Resource::*"
		if g.resource != "" {
			format := awscdk.ArnFormat_SLASH_RESOURCE_NAME
			if g.sep == ":" {
				format = awscdk.ArnFormat_COLON_RESOURCE_NAME
			}
			resource = *b.stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String(g.service), Resource: jsii.String(g.resource), ResourceName: jsii.String("*"), ArnFormat: format,
			})
			nagName = "Resource::arn:<AWS::Partition>:" + g.service + ":<AWS::Region>:<AWS::AccountId>:" + g.resource + g.sep + "*"
		}
		if _, ok := byResource[resource]; !ok {
			order = append(order, resource)
			nag = append(nag, nagName)
		}
		byResource[resource] = append(byResource[resource], g.action)
	}
	statements := make([]awsiam.PolicyStatement, len(order))
	for i, r := range order {
		actions := byResource[r]
		slices.Sort(actions)
		statements[i] = allow(actions, r)
	}
	return statements, nag
}

// suppressInUseWildcards tells cdk-nag why the in-use reads (gc's, and
// onpush's before it deletes a rejected tag) name every resource of their
// type.
func suppressInUseWildcards(role awsiam.Role, resources []string) {
	if len(resources) == 0 {
		return
	}
	applies := make([]any, len(resources))
	for i, r := range resources {
		applies[i] = jsii.String(r)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("In-use discovery (gc's, and onpush's before it deletes a rejected tag) must read every ECS service and task, Lambda function, " +
			"SageMaker model, endpoint and job, and Batch job definition of the account and region, read-only: any it missed could be running an image that is deleted. " +
			"List actions, ecs:DescribeTaskDefinition and batch:DescribeJobDefinitions support no resource type; the others are scoped to their type in this account and region."),
		AppliesTo: &applies,
	}}, jsii.Bool(true))
}
