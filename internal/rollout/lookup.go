package rollout

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// ECRLookup finds running images in ECR with DescribeImages.
type ECRLookup struct {
	Client     ecr.DescribeImagesAPIClient
	RegistryID string
}

// Image describes the image ref names (its digest if it has one, else its tag).
func (l ECRLookup) Image(ctx context.Context, repository string, ref kube.Ref) (ImageInfo, error) {
	id := types.ImageIdentifier{}
	switch {
	case ref.Digest != "":
		id.ImageDigest = aws.String(ref.Digest)
	case ref.Tag != "":
		id.ImageTag = aws.String(ref.Tag)
	default:
		id.ImageTag = aws.String("latest")
	}
	d, found, err := registry.Describe(ctx, l.Client, l.RegistryID, repository, id)
	if err != nil || !found {
		return ImageInfo{}, err
	}
	return ImageInfo{Found: true, Tags: d.ImageTags, PushedAt: aws.ToTime(d.ImagePushedAt)}, nil
}
