package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Planned is an image a plan deletes (or archives), as it was listed.
type Planned struct {
	Digest string
	// Tags are the image's tags when it was listed.
	Tags []string
	// Status is its imageStatus when listed (ACTIVE when empty).
	Status types.ImageStatus
}

// Change is an image left alone, or acted on, although it changed since it
// was planned.
type Change struct {
	Digest string
	Why    string
}

// Failure is an image ECR refused to delete.
type Failure struct {
	Digest string
	Code   types.ImageFailureCode
	Reason string
}

// Report is the outcome of Delete.
type Report struct {
	// Deleted are the digests gc deleted: those the re-check found and
	// BatchDeleteImage then answered as deleted or, for every id of the image,
	// as not found (a call the SDK retried after ECR had already done it
	// answers ImageNotFound for our own deletions).
	Deleted []string
	// Gone are digests the re-check no longer found (deleted by someone else).
	Gone []string
	// Kept are images not deleted because they changed since planning: a
	// new tag, another status, a tag moved away.
	Kept []Change
	// Raced are untagged images deleted by digest although a tag was added
	// between the re-check and the deletion: ECR offers no conditional
	// delete, so this window (one round trip) can only be reported.
	Raced []Change
	// Failed are digests ECR refused, with its reason.
	Failed []Failure
	// Calls counts BatchDeleteImage calls; Checks the DescribeImages calls
	// of the re-check.
	Calls, Checks int
}

// DeleteAPI is the subset of the ECR client Delete uses.
type DeleteAPI interface {
	ecr.DescribeImagesAPIClient
	BatchDeleteImageAPI
}

// Delete deletes planned images without deleting more than was planned.
//
//  1. Re-check: DescribeImages by digest (100 a call) reads what each image
//     is now. An image that is gone is reported Gone; one that gained a tag or
//     changed status since it was listed is kept and reported.
//  2. Delete: a tagged image is deleted by its tags (tag and digest together,
//     so a tag moved to another image fails with ImageTagDoesNotMatchDigest
//     instead of deleting that image); ECR deletes an image when its last tag
//     goes, so a tag added after the re-check keeps the image. An untagged
//     image is deleted by digest. Ids go in plan order (indexes before their
//     children), 100 a call; a child refused because its index had not gone
//     yet is retried once at the end.
//
// On a failed call Delete stops and returns what it did so far with the
// error; refused images are reported in Failed, not as an error.
func Delete(ctx context.Context, client DeleteAPI, registryID, repository string, planned []Planned) (Report, error) {
	var r Report
	ready, gone, kept, err := recheckPlanned(ctx, client, registryID, repository, planned, &r.Checks)
	r.Gone, r.Kept = gone, kept
	if err != nil {
		return r, err
	}
	type state struct {
		ids     int  // ids sent
		acked   int  // ids answered deleted or not found
		deleted bool // an id was answered deleted
		byTag   bool
		failed  *Failure
		tagged  []string // tags the answer names for a digest deletion
	}
	states := map[string]*state{}
	var ids []types.ImageIdentifier
	for _, p := range ready {
		cur := p.current
		st := &state{}
		states[p.Digest] = st
		if len(cur.ImageTags) == 0 {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(p.Digest)})
			st.ids = 1
			continue
		}
		st.byTag = true
		for _, t := range cur.ImageTags {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(p.Digest), ImageTag: aws.String(t)})
			st.ids++
		}
	}
	answer := func(out *ecr.BatchDeleteImageOutput, retry *[]types.ImageIdentifier) {
		for _, id := range out.ImageIds {
			st := states[aws.ToString(id.ImageDigest)]
			if st == nil {
				continue
			}
			st.deleted = true
			if !st.byTag {
				if id.ImageTag != nil {
					st.tagged = append(st.tagged, aws.ToString(id.ImageTag))
				}
				st.acked = st.ids // a digest deletion lists each removed tag
				continue
			}
			st.acked++
		}
		for _, f := range out.Failures {
			if f.ImageId == nil {
				continue
			}
			st := states[aws.ToString(f.ImageId.ImageDigest)]
			if st == nil {
				continue
			}
			switch f.FailureCode {
			case types.ImageFailureCodeImageNotFound:
				st.acked++
			case types.ImageFailureCodeImageReferencedByManifestList:
				if retry != nil {
					*retry = append(*retry, *f.ImageId)
					continue
				}
				fallthrough
			default:
				if st.failed == nil {
					st.failed = &Failure{Digest: aws.ToString(f.ImageId.ImageDigest), Code: f.FailureCode, Reason: aws.ToString(f.FailureReason)}
				}
			}
		}
	}
	var referenced []types.ImageIdentifier
	for start := 0; start < len(ids); start += MaxBatchIDs {
		out, err := deleteIDs(ctx, client, registryID, repository, ids[start:min(start+MaxBatchIDs, len(ids))], &r)
		if err != nil {
			return r, err
		}
		answer(out, &referenced)
	}
	for start := 0; start < len(referenced); start += MaxBatchIDs {
		out, err := deleteIDs(ctx, client, registryID, repository, referenced[start:min(start+MaxBatchIDs, len(referenced))], &r)
		if err != nil {
			return r, err
		}
		answer(out, nil)
	}
	for _, p := range planned {
		st := states[p.Digest]
		switch {
		case st == nil:
		case st.failed != nil:
			if st.failed.Code == types.ImageFailureCodeImageTagDoesNotMatchDigest {
				r.Kept = append(r.Kept, Change{Digest: p.Digest, Why: "a tag moved to another image since the re-check"})
			} else {
				r.Failed = append(r.Failed, *st.failed)
			}
		case st.acked >= st.ids:
			r.Deleted = append(r.Deleted, p.Digest)
			if len(st.tagged) > 0 {
				r.Raced = append(r.Raced, Change{Digest: p.Digest,
					Why: "deleted by digest although tagged " + strings.Join(st.tagged, ", ") + " just before"})
			}
		default:
			r.Failed = append(r.Failed, Failure{Digest: p.Digest, Reason: fmt.Sprintf("ECR answered %d of the image's %d ids", st.acked, st.ids)})
		}
	}
	return r, nil
}

func deleteIDs(ctx context.Context, client BatchDeleteImageAPI, registryID, repository string, ids []types.ImageIdentifier, r *Report) (*ecr.BatchDeleteImageOutput, error) {
	in := &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repository), ImageIds: ids}
	if registryID != "" {
		in.RegistryId = aws.String(registryID)
	}
	r.Calls++
	out, err := client.BatchDeleteImage(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("delete %d image ids in %s (%d images deleted before): %w", len(ids), repository, len(r.Deleted), err)
	}
	return out, nil
}

// changed says how the image differs from what was planned, or "".
func changed(p Planned, cur types.ImageDetail) string {
	for _, t := range cur.ImageTags {
		if !slices.Contains(p.Tags, t) {
			return "tagged " + t + " since it was planned"
		}
	}
	was, is := p.Status, cur.ImageStatus
	if was == "" {
		was = types.ImageStatusActive
	}
	if is == "" {
		is = types.ImageStatusActive
	}
	if was != is {
		return fmt.Sprintf("%s since it was planned (was %s)", is, was)
	}
	return ""
}

func digestsOf(planned []Planned) []string {
	out := make([]string, len(planned))
	for i, p := range planned {
		out[i] = p.Digest
	}
	return out
}

// readyImage is a planned image the re-check found unchanged, with what
// it is now.
type readyImage struct {
	Planned
	current types.ImageDetail
}

// recheckPlanned re-checks the planned images (recheck) and sorts them:
// ready to act on, gone, or left alone because they changed (changed).
func recheckPlanned(ctx context.Context, client ecr.DescribeImagesAPIClient, registryID, repository string, planned []Planned, calls *int) (ready []readyImage, gone []string, kept []Change, err error) {
	current, err := recheck(ctx, client, registryID, repository, digestsOf(planned), calls)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, p := range planned {
		cur, ok := current[p.Digest]
		switch {
		case !ok:
			gone = append(gone, p.Digest)
		case changed(p, cur) != "":
			kept = append(kept, Change{Digest: p.Digest, Why: changed(p, cur)})
		default:
			ready = append(ready, readyImage{Planned: p, current: cur})
		}
	}
	return ready, gone, kept, nil
}

// recheck describes the given images by digest, 100 a call, and returns
// those that exist. DescribeImages fails as a whole with
// ImageNotFoundException when any id is missing, so a batch that fails that
// way is split in halves until the missing images are found: one missing
// image among 100 costs about 14 calls more.
func recheck(ctx context.Context, client ecr.DescribeImagesAPIClient, registryID, repository string, digests []string, calls *int) (map[string]types.ImageDetail, error) {
	found := make(map[string]types.ImageDetail, len(digests))
	var describe func(batch []string) error
	describe = func(batch []string) error {
		in := &ecr.DescribeImagesInput{RepositoryName: aws.String(repository), ImageIds: digestIDs(batch)}
		if registryID != "" {
			in.RegistryId = aws.String(registryID)
		}
		*calls++
		out, err := client.DescribeImages(ctx, in)
		var nf *types.ImageNotFoundException
		switch {
		case errors.As(err, &nf):
			if len(batch) == 1 {
				return nil
			}
			half := len(batch) / 2
			if err := describe(batch[:half]); err != nil {
				return err
			}
			return describe(batch[half:])
		case err != nil:
			return fmt.Errorf("re-check %d images in %s before acting: %w", len(batch), repository, err)
		}
		for _, d := range out.ImageDetails {
			found[aws.ToString(d.ImageDigest)] = d
		}
		return nil
	}
	for start := 0; start < len(digests); start += MaxBatchIDs {
		if err := describe(digests[start:min(start+MaxBatchIDs, len(digests))]); err != nil {
			return nil, err
		}
	}
	return found, nil
}
