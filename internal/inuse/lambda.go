package inuse

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// GetFunctionAPI is the Lambda client's GetFunction, with its SDK v2 signature.
type GetFunctionAPI interface {
	GetFunction(ctx context.Context, params *lambda.GetFunctionInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
}

// LambdaAPI is the subset of the Lambda client the Lambda source calls.
type LambdaAPI interface {
	lambda.ListFunctionsAPIClient
	GetFunctionAPI
}

// lambdaPage is ListFunctions' largest page (MaxItems).
const lambdaPage = 50

// Lambda is the source of the account's functions packaged as container
// images: $LATEST and every published version (an alias or a provisioned
// concurrency setting can point at an old version, which scales out from
// its own image), each by the image URI it was created with and by the
// digest Lambda resolved it to (Code.ResolvedImageUri).
//
// Calls for V function versions, I of them images: ceil(V/50) ListFunctions
// (FunctionVersion ALL) + I GetFunction. Zip functions cost no GetFunction.
type Lambda struct {
	Client LambdaAPI
}

// Name implements Source.
func (l *Lambda) Name() string { return "Lambda" }

// List implements Source.
func (l *Lambda) List(ctx context.Context) (Listing, error) {
	var images []types.FunctionConfiguration
	p := lambda.NewListFunctionsPaginator(l.Client, &lambda.ListFunctionsInput{
		FunctionVersion: types.FunctionVersionAll, MaxItems: aws.Int32(lambdaPage),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list functions: %w", err)
		}
		for _, f := range out.Functions {
			if f.PackageType == types.PackageTypeImage {
				images = append(images, f)
			}
		}
	}
	parts := make([]Listing, len(images))
	err := each(ctx, len(images), func(ctx context.Context, i int) error {
		f := images[i]
		name, version := aws.ToString(f.FunctionName), aws.ToString(f.Version)
		in := &lambda.GetFunctionInput{FunctionName: f.FunctionName}
		if version != "" {
			in.Qualifier = f.Version
		}
		out, err := l.Client.GetFunction(ctx, in)
		if err != nil {
			return fmt.Errorf("get function %s version %s: %w", name, version, err)
		}
		if out.Code == nil || aws.ToString(out.Code.ImageUri) == "" {
			return fmt.Errorf("get function %s version %s: an image function without Code.ImageUri", name, version)
		}
		holder := "function " + name + " version " + version
		parts[i].Add("Lambda", holder, aws.ToString(out.Code.ImageUri))
		if r := aws.ToString(out.Code.ResolvedImageUri); r != "" {
			parts[i].Add("Lambda", holder, r)
		}
		return nil
	})
	if err != nil {
		return Listing{}, err
	}
	return gather(parts), nil
}
