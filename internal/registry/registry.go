package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// API limits, from the ECR API reference: DescribeImages returns at most
// 1,000 images a page; BatchGetImage and BatchDeleteImage take at most 100
// image ids a call.
const (
	PageSize      = 1000
	MaxBatchIDs   = 100
	mediaOCIIndex = "application/vnd.oci.image.index.v1+json"
	mediaDockerML = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// BatchGetImageAPI is the subset of the ECR client IndexChildren uses.
type BatchGetImageAPI interface {
	BatchGetImage(ctx context.Context, params *ecr.BatchGetImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
}

// BatchDeleteImageAPI is the subset of the ECR client Delete uses.
type BatchDeleteImageAPI interface {
	BatchDeleteImage(ctx context.Context, params *ecr.BatchDeleteImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error)
}

// IsIndex reports whether a manifest media type is a multi-arch index.
func IsIndex(mediaType string) bool {
	return mediaType == mediaOCIIndex || mediaType == mediaDockerML
}

// List returns every ACTIVE image of the repository (the images that can
// be pulled), paging DescribeImages at 1,000 images a page. It fails as a whole when any page fails: callers
// that delete must never act on a partial listing. progress, if not nil,
// is called after each page with the running total. Its details are the
// SDK's, scan status and findings summary included (the reconcile's scan
// gate reads them); gc's EachPage alone uses the listing decoder, which
// skips them.
func List(ctx context.Context, client ecr.DescribeImagesAPIClient, registryID, repository string, progress func(images int)) ([]types.ImageDetail, error) {
	in := &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repository),
		MaxResults:     aws.Int32(PageSize),
		Filter:         &types.DescribeImagesFilter{TagStatus: types.TagStatusAny},
	}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	var all []types.ImageDetail
	pages := ecr.NewDescribeImagesPaginator(client, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe images in %s (after %d images): %w", repository, len(all), err)
		}
		all = append(all, out.ImageDetails...)
		if progress != nil {
			progress(len(all))
		}
	}
	return all, nil
}

// EachPage pages DescribeImages over every image of the repository whatever
// its status (ACTIVE, ARCHIVED and ACTIVATING: the default filter lists
// ACTIVE images only), 1,000 a page, and hands each page to fn, which must
// not keep the slice. It returns the number of images listed. It fails as a
// whole when any page (or fn) fails: callers that delete must never act on a
// partial listing. Paging instead of collecting lets a caller convert each
// page and drop it, so a 100,000-image repository never holds 100,000 SDK
// structures at once. Pages are decoded by listingProtocol (describe.go),
// which fills every ImageDetail field but the scan status and findings
// summary.
func EachPage(ctx context.Context, client ecr.DescribeImagesAPIClient, registryID, repository string, fn func([]types.ImageDetail) error) (int, error) {
	in := &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repository),
		MaxResults:     aws.Int32(PageSize),
		Filter:         &types.DescribeImagesFilter{TagStatus: types.TagStatusAny, ImageStatus: types.ImageStatusFilterAny},
	}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	n := 0
	pages := ecr.NewDescribeImagesPaginator(client, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx, withListingDecoder)
		if err != nil {
			return n, fmt.Errorf("describe images in %s (after %d images): %w", repository, n, err)
		}
		n += len(out.ImageDetails)
		if err := fn(out.ImageDetails); err != nil {
			return n, err
		}
	}
	return n, nil
}

// IndexChildren fetches the manifests of the given index digests and
// returns the child digests each lists. It fails as a whole when any call
// fails or any manifest cannot be read.
func IndexChildren(ctx context.Context, client BatchGetImageAPI, registryID, repository string, indexes []string) (map[string][]string, error) {
	children := make(map[string][]string, len(indexes))
	for start := 0; start < len(indexes); start += MaxBatchIDs {
		batch := indexes[start:min(start+MaxBatchIDs, len(indexes))]
		in := &ecr.BatchGetImageInput{
			RepositoryName:     aws.String(repository),
			ImageIds:           digestIDs(batch),
			AcceptedMediaTypes: []string{mediaOCIIndex, mediaDockerML},
		}
		if registryID != "" {
			in.RegistryId = aws.String(registryID)
		}
		out, err := client.BatchGetImage(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("get %d index manifests in %s: %w", len(batch), repository, err)
		}
		if len(out.Failures) > 0 {
			f := out.Failures[0]
			return nil, fmt.Errorf("get index manifests in %s: %d failed, first %s: %s: %s",
				repository, len(out.Failures), describeID(f.ImageId), f.FailureCode, aws.ToString(f.FailureReason))
		}
		for _, img := range out.Images {
			digest := aws.ToString(img.ImageId.ImageDigest)
			var m struct {
				Manifests []struct {
					Digest string `json:"digest"`
				} `json:"manifests"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(img.ImageManifest)), &m); err != nil {
				return nil, fmt.Errorf("index %s in %s: decode manifest: %w", digest, repository, err)
			}
			for _, c := range m.Manifests {
				children[digest] = append(children[digest], c.Digest)
			}
		}
	}
	for _, d := range indexes {
		if _, ok := children[d]; !ok {
			return nil, fmt.Errorf("index %s in %s: manifest not returned", d, repository)
		}
	}
	return children, nil
}

// ErrTagMoved reports that a tag DeleteTag was to remove no longer names
// the digest it was checked against: someone pushed it again meanwhile.
var ErrTagMoved = errors.New("the tag names another image now")

// DeleteTag removes one tag, and only while it still names digest: the
// request names both, so ECR refuses with ImageTagDoesNotMatchDigest
// (ErrTagMoved) when the tag was pushed again in between, and the image the
// tag names now is never touched. ECR deletes the image itself only when
// this was its last tag; an image other tags still reference stays. A tag
// that is already gone (ImageNotFound) is the outcome wanted: nil.
func DeleteTag(ctx context.Context, client BatchDeleteImageAPI, registryID, repository, tag, digest string) error {
	in := &ecr.BatchDeleteImageInput{
		RepositoryName: aws.String(repository),
		ImageIds:       []types.ImageIdentifier{{ImageTag: aws.String(tag), ImageDigest: aws.String(digest)}},
	}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	out, err := client.BatchDeleteImage(ctx, in)
	if err != nil {
		return fmt.Errorf("delete tag %s:%s: %w", repository, tag, err)
	}
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		switch f.FailureCode {
		case types.ImageFailureCodeImageNotFound:
			return nil // already gone: the outcome we wanted
		case types.ImageFailureCodeImageTagDoesNotMatchDigest:
			return fmt.Errorf("delete tag %s:%s of %s: %w (%s)", repository, tag, ShortDigest(digest), ErrTagMoved, aws.ToString(f.FailureReason))
		}
		return fmt.Errorf("delete tag %s:%s: %s: %s", repository, tag, f.FailureCode, aws.ToString(f.FailureReason))
	}
	return nil
}

func digestIDs(digests []string) []types.ImageIdentifier {
	ids := make([]types.ImageIdentifier, len(digests))
	for i, d := range digests {
		ids[i] = types.ImageIdentifier{ImageDigest: aws.String(d)}
	}
	return ids
}

func describeID(id *types.ImageIdentifier) string {
	if id == nil {
		return "?"
	}
	if id.ImageDigest != nil {
		return aws.ToString(id.ImageDigest)
	}
	return aws.ToString(id.ImageTag)
}

// Describe returns the details of one image, named by tag or digest. found
// is false when the repository has no such image.
func Describe(ctx context.Context, client ecr.DescribeImagesAPIClient, registryID, repository string, id types.ImageIdentifier) (detail types.ImageDetail, found bool, err error) {
	in := &ecr.DescribeImagesInput{RepositoryName: aws.String(repository), ImageIds: []types.ImageIdentifier{id}}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	out, err := client.DescribeImages(ctx, in)
	var notFound *types.ImageNotFoundException
	switch {
	case errors.As(err, &notFound):
		return types.ImageDetail{}, false, nil
	case err != nil:
		return types.ImageDetail{}, false, fmt.Errorf("describe image %s in %s: %w", describeID(&id), repository, err)
	case len(out.ImageDetails) == 0:
		return types.ImageDetail{}, false, nil
	}
	return out.ImageDetails[0], true, nil
}

// ShortDigest keeps a digest's algorithm and 12 hex digits
// (sha256:0a1b2c3d4e5f): enough to tell images apart at a glance, as docker
// does. Anything that is not algorithm:hex longer than 12 is returned as is.
func ShortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12]
}

// FindingsPageSize is the largest page DescribeImageScanFindings returns.
const FindingsPageSize = 1000

// ScanComplete reports whether a scan status (of DescribeImageScanFindings
// or of DescribeImages' imageScanStatus) says the finding set is final:
// COMPLETE for basic scanning, ACTIVE for enhanced scanning (Inspector
// monitors the image). Every other status — IN_PROGRESS, PENDING,
// FINDINGS_UNAVAILABLE, SCAN_ELIGIBILITY_EXPIRED, FAILED, UNSUPPORTED_IMAGE,
// LIMIT_EXCEEDED, IMAGE_ARCHIVED, a missing or an unknown one — is not: the
// findings read with it are not the image's vulnerabilities, and an empty
// list is not clean. This is the one rule of the scan gate, the reconcile
// and onscan's alerts.
func ScanComplete(status types.ScanStatus) bool {
	return status == types.ScanStatusComplete || status == types.ScanStatusActive
}

// ScanFindings is an image's scan result with every page read.
type ScanFindings struct {
	// Complete reports that every page's status passed [ScanComplete].
	Complete bool
	// Status is the status of the first page that failed ScanComplete
	// ("" for a page without one), else the last page's status.
	Status types.ScanStatus
	// Description is the status description of that page, if any.
	Description string
	Basic       []types.ImageScanFinding
	Enhanced    []types.EnhancedImageScanFinding
}

// DescribeScanFindings reads every page of DescribeImageScanFindings for one
// image. It fails as a whole when a page fails: an alert or a rollout must
// never act on part of a finding set. A ScanNotFoundException is returned
// wrapped, for callers to tell apart with errors.As.
func DescribeScanFindings(ctx context.Context, client ecr.DescribeImageScanFindingsAPIClient, registryID, repository, digest string) (ScanFindings, error) {
	in := &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String(repository),
		ImageId:        &types.ImageIdentifier{ImageDigest: aws.String(digest)},
		MaxResults:     aws.Int32(FindingsPageSize),
	}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	res := ScanFindings{Complete: true}
	p := ecr.NewDescribeImageScanFindingsPaginator(client, in)
	for page := 1; p.HasMorePages(); page++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			return ScanFindings{}, fmt.Errorf("describe scan findings of %s in %s, page %d: %w", digest, repository, page, err)
		}
		var st types.ImageScanStatus
		if out.ImageScanStatus != nil {
			st = *out.ImageScanStatus
		}
		if res.Complete {
			res.Status, res.Description = st.Status, aws.ToString(st.Description)
			res.Complete = ScanComplete(st.Status)
		}
		if f := out.ImageScanFindings; f != nil {
			res.Basic = append(res.Basic, f.Findings...)
			res.Enhanced = append(res.Enhanced, f.EnhancedFindings...)
		}
	}
	return res, nil
}
