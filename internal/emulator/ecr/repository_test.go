package ecr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
)

func TestCreateRepository(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.client.CreateRepository(ctx, &awsecr.CreateRepositoryInput{
		RepositoryName:             aws.String("mlops/retail-api"),
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
	})
	if err != nil {
		t.Fatalf("CreateRepository: %v", err)
	}
	r := out.Repository
	type got struct {
		ARN, URI, Registry, Mutability string
		ScanOnPush                     bool
		Created                        int64
	}
	want := got{
		ARN:        "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api",
		URI:        "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/retail-api",
		Registry:   "123456789012",
		Mutability: "IMMUTABLE",
		ScanOnPush: true,
		Created:    e.clock.Now().Unix(),
	}
	g := got{aws.ToString(r.RepositoryArn), aws.ToString(r.RepositoryUri), aws.ToString(r.RegistryId),
		string(r.ImageTagMutability), r.ImageScanningConfiguration.ScanOnPush, r.CreatedAt.Unix()}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("repository (-want +got):\n%s", diff)
	}

	_, err = e.client.CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String("mlops/retail-api")})
	var exists *types.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("second CreateRepository error = %v, want RepositoryAlreadyExistsException", err)
	}

	_, err = e.client.CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String("Bad_Name")})
	var invalid *types.InvalidParameterException
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "repositoryName") {
		t.Fatalf("invalid name error = %v, want InvalidParameterException naming repositoryName", err)
	}
}

func TestDescribeRepositories(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("team/repo-%d", i)
		e.createRepo(t, name)
		want = append(want, name)
	}

	p := awsecr.NewDescribeRepositoriesPaginator(e.client, &awsecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2)})
	var got []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		for _, r := range page.Repositories {
			got = append(got, aws.ToString(r.RepositoryName))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if n := e.srv.Log().Count("DescribeRepositories"); n != 3 {
		t.Errorf("DescribeRepositories calls = %d, want 3", n)
	}

	out, err := e.client.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/repo-3"}})
	if err != nil || len(out.Repositories) != 1 || aws.ToString(out.Repositories[0].RepositoryName) != "team/repo-3" {
		t.Fatalf("DescribeRepositories by name = %+v, %v", out, err)
	}

	_, err = e.client.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/missing"}})
	var nf *types.RepositoryNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("missing repository error = %v, want RepositoryNotFoundException", err)
	}
	wantMsg := "The repository with name 'team/missing' does not exist in the registry with id '123456789012'"
	if nf.ErrorMessage() != wantMsg {
		t.Errorf("message = %q, want %q", nf.ErrorMessage(), wantMsg)
	}
}

func TestPutLifecyclePolicy(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "mlops/train-model")
	policy := `{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
	tests := []struct {
		name     string
		repo     string
		text     string
		wantCode string
	}{
		{name: "stored", repo: "mlops/train-model", text: policy},
		{name: "too short", repo: "mlops/train-model", text: `{"rules":[]}`, wantCode: "InvalidParameterException"},
		{name: "not a policy", repo: "mlops/train-model", text: strings.Repeat(" ", 100) + "[]", wantCode: "InvalidParameterException"},
		{name: "missing repository", repo: "mlops/none", text: policy, wantCode: "RepositoryNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.PutLifecyclePolicy(context.Background(), &awsecr.PutLifecyclePolicyInput{
				RepositoryName: aws.String(tc.repo), LifecyclePolicyText: aws.String(tc.text),
			})
			if got := errorCode(err); got != tc.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tc.wantCode)
			}
			if err == nil && aws.ToString(out.LifecyclePolicyText) != tc.text {
				t.Errorf("returned policy = %q", aws.ToString(out.LifecyclePolicyText))
			}
		})
	}
	if got, _ := e.srv.LifecyclePolicy("mlops/train-model"); got != policy {
		t.Errorf("stored policy = %q, want %q", got, policy)
	}
}
