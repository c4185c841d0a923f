package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// UpdateImageStorageClassAPI is the subset of the ECR client that archives
// and restores images.
type UpdateImageStorageClassAPI interface {
	UpdateImageStorageClass(ctx context.Context, params *ecr.UpdateImageStorageClassInput, optFns ...func(*ecr.Options)) (*ecr.UpdateImageStorageClassOutput, error)
}

// ArchiveAPI is the subset of the ECR client Archive uses.
type ArchiveAPI interface {
	ecr.DescribeImagesAPIClient
	UpdateImageStorageClassAPI
}

// StorageReport is the outcome of Archive.
type StorageReport struct {
	// Archived are the digests now ARCHIVED (by this call, or by an earlier
	// attempt of it the SDK retried).
	Archived []string
	// Gone are digests the re-check no longer found.
	Gone []string
	// Kept are images not archived because they changed since planning.
	Kept []Change
	// Failed are images ECR refused to archive, with its reason.
	Failed []Failure
	// Calls counts UpdateImageStorageClass calls; Checks the DescribeImages
	// calls of the re-check.
	Calls, Checks int
}

// Archive moves planned images to the archive storage class, one
// UpdateImageStorageClass call per image (the API takes one), after the same
// re-check as Delete: an image tagged or changed since it was planned is not
// archived, since an archived image cannot be pulled. Pass the parents of
// units only: ECR moves what an index lists with it. optFns apply to every
// UpdateImageStorageClass call (gc passes an adaptive retryer there, so a
// burst of calls slows down on throttling instead of failing).
//
// An image ECR will not move (ImageStorageClassUpdateNotSupportedException)
// is described again: already ARCHIVED counts as archived (a retried call of
// ours, or someone else's), anything else is reported in Failed. A call that
// fails after the SDK's retries stops Archive, which returns what it did.
func Archive(ctx context.Context, client ArchiveAPI, registryID, repository string, planned []Planned, optFns ...func(*ecr.Options)) (StorageReport, error) {
	var r StorageReport
	ready, gone, kept, err := recheckPlanned(ctx, client, registryID, repository, planned, &r.Checks)
	r.Gone, r.Kept = gone, kept
	if err != nil {
		return r, err
	}
	for _, p := range ready {
		r.Calls++
		_, err := UpdateStorageClass(ctx, client, registryID, repository, types.ImageIdentifier{ImageDigest: aws.String(p.Digest)}, types.TargetStorageClassArchive, optFns...)
		var ns *types.ImageStorageClassUpdateNotSupportedException
		var nf *types.ImageNotFoundException
		switch {
		case err == nil:
			r.Archived = append(r.Archived, p.Digest)
		case errors.As(err, &nf):
			r.Gone = append(r.Gone, p.Digest)
		case errors.As(err, &ns):
			d, found, derr := Describe(ctx, client, registryID, repository, types.ImageIdentifier{ImageDigest: aws.String(p.Digest)})
			switch {
			case derr != nil:
				return r, derr
			case !found:
				r.Gone = append(r.Gone, p.Digest)
			case d.ImageStatus == types.ImageStatusArchived:
				r.Archived = append(r.Archived, p.Digest)
			default:
				r.Failed = append(r.Failed, Failure{Digest: p.Digest, Code: "ImageStorageClassUpdateNotSupported", Reason: ns.ErrorMessage()})
			}
		default:
			return r, fmt.Errorf("archive %s in %s (%d archived before): %w", p.Digest, repository, len(r.Archived), err)
		}
	}
	return r, nil
}

// UpdateStorageClass moves one image to the target storage class and
// returns its status after the call: ARCHIVED, or ACTIVATING for a restore
// (it becomes ACTIVE when ECR finishes, "within 20 minutes").
func UpdateStorageClass(ctx context.Context, client UpdateImageStorageClassAPI, registryID, repository string, id types.ImageIdentifier, target types.TargetStorageClass, optFns ...func(*ecr.Options)) (types.ImageStatus, error) {
	in := &ecr.UpdateImageStorageClassInput{RepositoryName: aws.String(repository), ImageId: &id, TargetStorageClass: target}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	out, err := client.UpdateImageStorageClass(ctx, in, optFns...)
	if err != nil {
		return "", fmt.Errorf("move %s in %s to %s: %w", describeID(&id), repository, target, err)
	}
	return out.ImageStatus, nil
}

// GetLifecyclePolicyAPI is the subset of the ECR client that reads a
// repository's native lifecycle policy.
type GetLifecyclePolicyAPI interface {
	GetLifecyclePolicy(ctx context.Context, params *ecr.GetLifecyclePolicyInput, optFns ...func(*ecr.Options)) (*ecr.GetLifecyclePolicyOutput, error)
}

// LifecyclePolicy returns a repository's lifecycle policy text; found is
// false when it has none (LifecyclePolicyNotFoundException).
func LifecyclePolicy(ctx context.Context, client GetLifecyclePolicyAPI, registryID, repository string) (text string, found bool, err error) {
	in := &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repository)}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	out, err := client.GetLifecyclePolicy(ctx, in)
	var nf *types.LifecyclePolicyNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("get lifecycle policy of %s: %w", repository, err)
	}
	return aws.ToString(out.LifecyclePolicyText), true, nil
}

// DescribeRepositoriesAPI is the subset of the ECR client that reads
// repositories.
type DescribeRepositoriesAPI interface {
	DescribeRepositories(ctx context.Context, params *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
}

// MaxRepositoryNames is the most names one DescribeRepositories call takes.
const MaxRepositoryNames = 100

// Repositories describes the named repositories, 100 names a call. ECR
// answers a call naming a missing repository with
// RepositoryNotFoundException for the whole call, so such a batch is asked
// again one name at a time to tell which: the others are still returned,
// and errs says what went wrong with each name that is not.
func Repositories(ctx context.Context, client DescribeRepositoriesAPI, registryID string, names []string) (found map[string]types.Repository, errs map[string]error) {
	found, errs = map[string]types.Repository{}, map[string]error{}
	describe := func(batch []string) error {
		in := &ecr.DescribeRepositoriesInput{RepositoryNames: batch}
		if registryID != "" {
			in.RegistryId = aws.String(registryID)
		}
		out, err := client.DescribeRepositories(ctx, in)
		if err != nil {
			return err
		}
		for _, r := range out.Repositories {
			found[aws.ToString(r.RepositoryName)] = r
		}
		return nil
	}
	for start := 0; start < len(names); start += MaxRepositoryNames {
		batch := names[start:min(start+MaxRepositoryNames, len(names))]
		err := describe(batch)
		var nf *types.RepositoryNotFoundException
		if errors.As(err, &nf) && len(batch) > 1 {
			for _, n := range batch {
				if err := describe([]string{n}); err != nil {
					errs[n] = fmt.Errorf("describe repository %s: %w", n, err)
				}
			}
			continue
		}
		for _, n := range batch {
			if err != nil {
				errs[n] = fmt.Errorf("describe repository %s: %w", n, err)
			} else if _, ok := found[n]; !ok {
				errs[n] = fmt.Errorf("describe repository %s: not returned", n)
			}
		}
	}
	return found, errs
}
