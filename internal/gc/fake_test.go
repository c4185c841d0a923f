package gc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// fakeECR is a stateful in-memory ECR: repositories of images, paged
// DescribeImages, index manifests for BatchGetImage, and BatchDeleteImage.
type fakeECR struct {
	images    map[string][]types.ImageDetail // repository → images in push order
	manifests map[string]string              // index digest → manifest JSON

	// failPage fails the DescribeImages page with that number (1-based) of
	// the repository.
	failPage map[string]int
	// failGet fails BatchGetImage.
	failGet error
	// refuse makes BatchDeleteImage report the digest as failed with the code.
	refuse map[string]types.ImageFailureCode
	// failDelete fails every BatchDeleteImage call.
	failDelete error
	// policies are native lifecycle policies by repository.
	policies map[string]string

	calls map[string]int
}

func newFakeECR() *fakeECR {
	return &fakeECR{images: map[string][]types.ImageDetail{}, manifests: map[string]string{}, failPage: map[string]int{},
		refuse: map[string]types.ImageFailureCode{}, calls: map[string]int{}, policies: map[string]string{}}
}

func (f *fakeECR) add(repo string, digest string, pushed time.Time, size int64, tags ...string) {
	f.images[repo] = append(f.images[repo], types.ImageDetail{
		ImageDigest: aws.String(digest), ImageTags: tags, ImagePushedAt: aws.Time(pushed),
		ImageSizeInBytes: aws.Int64(size), ImageManifestMediaType: aws.String("application/vnd.oci.image.manifest.v1+json"),
	})
}

func (f *fakeECR) DescribeRepositories(ctx context.Context, params *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	f.calls["DescribeRepositories"]++
	var out ecr.DescribeRepositoriesOutput
	for _, name := range params.RepositoryNames {
		if _, ok := f.images[name]; !ok {
			return nil, &types.RepositoryNotFoundException{Message: aws.String("repository " + name + " not found")}
		}
		out.Repositories = append(out.Repositories, types.Repository{
			RepositoryName: aws.String(name), RegistryId: aws.String("123456789012"),
			RepositoryUri: aws.String("123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/" + name),
		})
	}
	return &out, nil
}

func (f *fakeECR) DescribeImages(ctx context.Context, params *ecr.DescribeImagesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	f.calls["DescribeImages"]++
	repo := aws.ToString(params.RepositoryName)
	if params.ImageIds != nil {
		var out ecr.DescribeImagesOutput
		for _, id := range params.ImageIds {
			i := f.find(repo, aws.ToString(id.ImageDigest))
			if i < 0 {
				return nil, &types.ImageNotFoundException{Message: aws.String("not found")}
			}
			out.ImageDetails = append(out.ImageDetails, f.images[repo][i])
		}
		return &out, nil
	}
	start := 0
	if params.NextToken != nil {
		start, _ = strconv.Atoi(*params.NextToken)
	}
	size := int(aws.ToInt32(params.MaxResults))
	page := start/size + 1
	if f.failPage[repo] == page {
		return nil, &types.ServerException{Message: aws.String("injected page failure")}
	}
	all := f.images[repo]
	end := min(start+size, len(all))
	out := &ecr.DescribeImagesOutput{ImageDetails: slices.Clone(all[start:end])}
	if end < len(all) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeECR) BatchGetImage(ctx context.Context, params *ecr.BatchGetImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error) {
	f.calls["BatchGetImage"]++
	if f.failGet != nil {
		return nil, f.failGet
	}
	var out ecr.BatchGetImageOutput
	for _, id := range params.ImageIds {
		d := aws.ToString(id.ImageDigest)
		out.Images = append(out.Images, types.Image{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)},
			ImageManifest: aws.String(f.manifests[d])})
	}
	return &out, nil
}

func (f *fakeECR) BatchDeleteImage(ctx context.Context, params *ecr.BatchDeleteImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	f.calls["BatchDeleteImage"]++
	if f.failDelete != nil {
		return nil, f.failDelete
	}
	if len(params.ImageIds) > 100 {
		return nil, &types.InvalidParameterException{Message: aws.String("too many image ids")}
	}
	repo := aws.ToString(params.RepositoryName)
	var out ecr.BatchDeleteImageOutput
	for _, id := range params.ImageIds {
		d := aws.ToString(id.ImageDigest)
		if code, ok := f.refuse[d]; ok {
			out.Failures = append(out.Failures, types.ImageFailure{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)},
				FailureCode: code, FailureReason: aws.String("injected")})
			continue
		}
		i := f.find(repo, d)
		if i < 0 {
			out.Failures = append(out.Failures, types.ImageFailure{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)},
				FailureCode: types.ImageFailureCodeImageNotFound, FailureReason: aws.String("not found")})
			continue
		}
		img := &f.images[repo][i]
		if id.ImageTag != nil && len(img.ImageTags) > 1 {
			img.ImageTags = slices.DeleteFunc(slices.Clone(img.ImageTags), func(t string) bool { return t == *id.ImageTag })
		} else {
			f.images[repo] = slices.Delete(f.images[repo], i, i+1)
		}
		out.ImageIds = append(out.ImageIds, id)
	}
	return &out, nil
}

func (f *fakeECR) find(repo, digest string) int {
	return slices.IndexFunc(f.images[repo], func(img types.ImageDetail) bool { return aws.ToString(img.ImageDigest) == digest })
}

func (f *fakeECR) GetLifecyclePolicy(ctx context.Context, params *ecr.GetLifecyclePolicyInput, optFns ...func(*ecr.Options)) (*ecr.GetLifecyclePolicyOutput, error) {
	f.calls["GetLifecyclePolicy"]++
	text, ok := f.policies[aws.ToString(params.RepositoryName)]
	if !ok {
		return nil, &types.LifecyclePolicyNotFoundException{Message: aws.String("no lifecycle policy")}
	}
	return &ecr.GetLifecyclePolicyOutput{LifecyclePolicyText: aws.String(text), RepositoryName: params.RepositoryName}, nil
}

func (f *fakeECR) UpdateImageStorageClass(ctx context.Context, params *ecr.UpdateImageStorageClassInput, optFns ...func(*ecr.Options)) (*ecr.UpdateImageStorageClassOutput, error) {
	f.calls["UpdateImageStorageClass"]++
	repo := aws.ToString(params.RepositoryName)
	i := f.find(repo, aws.ToString(params.ImageId.ImageDigest))
	if i < 0 {
		return nil, &types.ImageNotFoundException{Message: aws.String("not found")}
	}
	status := types.ImageStatusArchived
	if params.TargetStorageClass == types.TargetStorageClassStandard {
		status = types.ImageStatusActivating
	}
	f.images[repo][i].ImageStatus = status
	return &ecr.UpdateImageStorageClassOutput{ImageId: params.ImageId, ImageStatus: status}, nil
}

// digests returns the digests left in repo, sorted.
func (f *fakeECR) digests(repo string) []string {
	var ds []string
	for _, img := range f.images[repo] {
		ds = append(ds, aws.ToString(img.ImageDigest))
	}
	slices.Sort(ds)
	return ds
}

// fakeClusters lists in-use images per cluster from references, or fails.
// gc lists sources concurrently: list is safe for concurrent use.
type fakeClusters struct {
	refs  map[string][]string // cluster → image references
	fail  map[string]error
	mu    sync.Mutex
	calls []string
}

// sources returns the in-use sources of testPolicy's clusters, read through c.
func (c *fakeClusters) sources(tb testing.TB) []inuse.Source {
	return inuse.Clusters(mustPolicy(tb, testPolicy), c.list)
}

func (c *fakeClusters) list(ctx context.Context, cluster string) (kube.InUse, error) {
	c.mu.Lock()
	c.calls = append(c.calls, cluster)
	c.mu.Unlock()
	if err := c.fail[cluster]; err != nil {
		return kube.InUse{}, err
	}
	var u kube.InUse
	for _, s := range c.refs[cluster] {
		ref, err := kube.ParseImageRef(s)
		if err != nil {
			return kube.InUse{}, fmt.Errorf("fake: %w", err)
		}
		u.Images = append(u.Images, kube.ImageUse{Image: s, Ref: ref, Kind: "Deployment", Namespace: "default", Name: "app"})
	}
	return u, nil
}

var errClusterDown = errors.New("dial tcp 127.0.0.1:1: connection refused")

// digest makes a distinct sha256 digest from n.
func digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

func mustPolicy(t testing.TB, yaml string) *policy.File {
	t.Helper()
	f, err := policy.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return f
}
