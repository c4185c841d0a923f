package ecr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Manifest media types ECR accepts (PutImage's imageManifestMediaType).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
	mediaTypeDockerV1           = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerV1Signed     = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

func isIndex(mediaType string) bool {
	return mediaType == MediaTypeDockerManifestList || mediaType == MediaTypeOCIIndex
}

// Digest returns the image digest ECR assigns to a manifest: "sha256:" and
// the hex SHA-256 of its exact bytes.
func Digest(manifest []byte) string {
	sum := sha256.Sum256(manifest)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// digestPattern is the image digest pattern of ECR's failure reasons.
var digestPattern = regexp.MustCompile(`^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$`)

// manifestDoc is the part of an image manifest or index the emulator reads.
type manifestDoc struct {
	MediaType string `json:"mediaType"`
	Config    *struct {
		MediaType string `json:"mediaType"`
		Size      int64  `json:"size"`
	} `json:"config"`
	Layers []struct {
		Size int64 `json:"size"`
	} `json:"layers"`
	Manifests []struct {
		Digest string `json:"digest"`
	} `json:"manifests"`
}

// order returns the repository's images sorted by arrival; the slice is
// shared and must not be modified. The caller holds s.mu.
func (r *repository) order() []*image {
	if r.unordered {
		r.ordered = r.ordered[:0]
		for _, im := range r.images {
			r.ordered = append(r.ordered, im)
		}
		sort.Slice(r.ordered, func(i, j int) bool { return r.ordered[i].seq < r.ordered[j].seq })
		r.unordered = false
	}
	return r.ordered
}

// parents returns the digests of the indexes in r that reference digest.
func (r *repository) parents(digest string) []string {
	var out []string
	for _, im := range r.images {
		if slices.Contains(im.children, digest) {
			out = append(out, im.digest)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) putImage(c *call, body []byte) (any, error) {
	var in putImageInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ImageManifest == nil {
		return nil, requiredMember("imageManifest")
	}
	// The API reference: imageManifest has length 1..4194304
	// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html).
	if n := len(*in.ImageManifest); n < 1 || n > 4194304 {
		return nil, invalidParameter("imageManifest", "Member must have length between 1 and 4194304")
	}
	if in.ImageTag != nil {
		if err := checkTag(*in.ImageTag, "imageTag"); err != nil {
			return nil, err
		}
	}
	var doc manifestDoc
	if err := json.Unmarshal([]byte(*in.ImageManifest), &doc); err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidParameterException",
			"Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
	}
	mediaType := doc.MediaType
	if in.ImageManifestMediaType != nil {
		if mediaType != "" && mediaType != *in.ImageManifestMediaType {
			return nil, newError(http.StatusBadRequest, "InvalidParameterException",
				"Invalid parameter at 'imageManifestMediaType': '%s' does not match the manifest's mediaType '%s'", *in.ImageManifestMediaType, mediaType)
		}
		mediaType = *in.ImageManifestMediaType
	}
	switch mediaType {
	case MediaTypeDockerManifest, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeOCIIndex, mediaTypeDockerV1, mediaTypeDockerV1Signed:
	case "":
		return nil, newError(http.StatusBadRequest, "InvalidParameterException",
			"Invalid parameter at 'imageManifestMediaType': the manifest has no mediaType field, so imageManifestMediaType must be specified")
	default:
		return nil, newError(http.StatusBadRequest, "InvalidParameterException",
			"Invalid parameter at 'imageManifestMediaType': unsupported media type '%s'", mediaType)
	}
	digest := Digest([]byte(*in.ImageManifest))
	if in.ImageDigest != nil && *in.ImageDigest != digest {
		return nil, newError(http.StatusBadRequest, "ImageDigestDoesNotMatchException",
			"Invalid parameter at 'imageDigest': the digest '%s' does not match the digest '%s' of the manifest", *in.ImageDigest, digest)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	im := &image{digest: digest, manifest: *in.ImageManifest, mediaType: mediaType}
	if isIndex(mediaType) {
		var missing []string
		for _, m := range doc.Manifests {
			im.children = append(im.children, m.Digest)
			if _, ok := r.images[m.Digest]; !ok {
				missing = append(missing, m.Digest)
			}
		}
		if len(missing) > 0 {
			return nil, newError(http.StatusBadRequest, "ReferencedImagesNotFoundException",
				"The following images referenced in the manifest list were not found: [%s]", strings.Join(missing, ", "))
		}
	} else if doc.Config != nil {
		size := doc.Config.Size
		for _, l := range doc.Layers {
			size += l.Size
		}
		im.size = &size
		im.artifactMediaType = doc.Config.MediaType
	}
	tag := ""
	if in.ImageTag != nil {
		tag = *in.ImageTag
	}
	if err := s.store(c, r, im, tag); err != nil {
		return nil, err
	}
	out := imageOut{
		RegistryID:             s.account,
		RepositoryName:         r.name,
		ImageID:                imageID{ImageDigest: ptr(digest), ImageTag: in.ImageTag},
		ImageManifest:          im.manifest,
		ImageManifestMediaType: mediaType,
	}
	return struct {
		Image imageOut `json:"image"`
	}{out}, nil
}

// store adds im (or, if its digest is known, tag to the existing image) to
// r, moving tag from another image when the repository allows it, and emits
// the push and scan-on-push events. The caller holds s.mu.
func (s *Server) store(c *call, r *repository, im *image, tag string) error {
	existing, known := r.images[im.digest]
	if known && !existing.pullable() && (tag == "" || slices.Contains(existing.tags, tag)) {
		s.restoreOnPush(c, r, existing)
		c.events = append(c.events, s.imageActionEvent(r.name, existing.digest, tag, "PUSH"))
		return nil
	}
	if known && (tag == "" || slices.Contains(existing.tags, tag)) {
		return newError(http.StatusBadRequest, "ImageAlreadyExistsException",
			"Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'",
			im.digest, tag, r.name, s.account)
	}
	if tag != "" {
		if old, ok := r.tags[tag]; ok && old != im.digest {
			if r.immutableTag(tag) {
				return newError(http.StatusBadRequest, "ImageTagAlreadyExistsException",
					"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the tag is immutable.",
					tag, r.name)
			}
			prev := r.images[old]
			prev.tags = slices.DeleteFunc(prev.tags, func(t string) bool { return t == tag })
		}
	}
	target := existing
	if known {
		s.restoreOnPush(c, r, existing)
	}
	if !known {
		s.seq++
		im.seq = s.seq
		im.pushedAt = s.now()
		r.images[im.digest] = im
		r.ordered = append(r.ordered, im) // seq only grows: still sorted
		target = im
	}
	if tag != "" {
		target.tags = append(target.tags, tag)
		sort.Strings(target.tags)
		r.tags[tag] = target.digest
	}
	c.events = append(c.events, s.imageActionEvent(r.name, target.digest, tag, "PUSH"))
	if !known && !isIndex(target.mediaType) && (r.scanType == ScanEnhanced || r.scanOnPush) {
		s.runScan(c, r, target)
	}
	return nil
}

// checkTag validates an image tag: the API reference gives length 1..300
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageIdentifier.html).
func checkTag(tag, field string) error {
	if n := len(tag); n < 1 || n > 300 {
		return invalidParameter(field, "Member must have length between 1 and 300")
	}
	return nil
}

// resolution is the outcome of looking up one image id.
type resolution struct {
	image  *image
	code   string
	reason string
}

// resolve looks up an image id the way BatchGetImage and BatchDeleteImage
// do, returning the ECR failure code and reason when it does not name an
// image. The caller holds s.mu.
func (r *repository) resolve(id imageID) resolution {
	if id.ImageDigest == nil && id.ImageTag == nil {
		return resolution{code: "MissingDigestAndTag", reason: "Invalid request parameters: both tag and digest cannot be null"}
	}
	if id.ImageDigest != nil && !digestPattern.MatchString(*id.ImageDigest) {
		return resolution{code: "InvalidImageDigest", reason: "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"}
	}
	if id.ImageTag != nil && checkTag(*id.ImageTag, "imageTag") != nil {
		return resolution{code: "InvalidImageTag", reason: "Invalid request parameters: image tag should have length between 1 and 300"}
	}
	notFound := resolution{code: "ImageNotFound", reason: "Requested image not found"}
	if id.ImageTag != nil {
		d, ok := r.tags[*id.ImageTag]
		if !ok {
			return notFound
		}
		if id.ImageDigest != nil && *id.ImageDigest != d {
			return resolution{code: "ImageTagDoesNotMatchDigest", reason: "Invalid request parameters: image tag does not match digest"}
		}
		return resolution{image: r.images[d]}
	}
	im, ok := r.images[*id.ImageDigest]
	if !ok {
		return notFound
	}
	return resolution{image: im}
}

func checkImageIDs(ids []imageID) error {
	if ids == nil {
		return requiredMember("imageIds")
	}
	// The API reference (BatchGetImage, BatchDeleteImage): imageIds holds
	// 1..100 items (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchDeleteImage.html).
	if len(ids) < 1 {
		return invalidParameter("imageIds", "Member must have length greater than or equal to 1")
	}
	if len(ids) > 100 {
		return invalidParameter("imageIds", "Member must have length less than or equal to 100")
	}
	return nil
}

func (s *Server) batchGetImage(_ *call, body []byte) (any, error) {
	var in imageIDsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkImageIDs(in.ImageIDs); err != nil {
		return nil, err
	}
	if n := len(in.AcceptedMediaTypes); in.AcceptedMediaTypes != nil && (n < 1 || n > 100) {
		return nil, invalidParameter("acceptedMediaTypes", "Member must have length between 1 and 100")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	type result struct {
		Images   []imageOut     `json:"images"`
		Failures []imageFailure `json:"failures"`
	}
	out := result{Images: []imageOut{}, Failures: []imageFailure{}}
	for _, id := range in.ImageIDs {
		res := r.resolve(id)
		if res.image == nil {
			out.Failures = append(out.Failures, imageFailure{ImageID: id, FailureCode: res.code, FailureReason: res.reason})
			continue
		}
		if !res.image.pullable() {
			// "Archived images cannot be pulled. Requests to pull the
			// archived image will fail with a 404 error" (ECR user guide);
			// the failure code for the API call is not documented.
			out.Failures = append(out.Failures, imageFailure{ImageID: id, FailureCode: "ImageNotFound",
				FailureReason: "Requested image is " + res.image.statusName() + " and cannot be pulled"})
			continue
		}
		s.recordPull(res.image)
		rid := imageID{ImageDigest: ptr(res.image.digest), ImageTag: id.ImageTag}
		out.Images = append(out.Images, imageOut{
			RegistryID:             s.account,
			RepositoryName:         r.name,
			ImageID:                rid,
			ImageManifest:          res.image.manifest,
			ImageManifestMediaType: res.image.mediaType,
		})
	}
	return out, nil
}

func (s *Server) imageDetail(r *repository, im *image) imageDetailOut {
	d := imageDetailOut{
		RegistryID:             s.account,
		RepositoryName:         r.name,
		ImageDigest:            im.digest,
		ImageTags:              slices.Clone(im.tags),
		ImageSizeInBytes:       im.size,
		ImagePushedAt:          epoch(im.pushedAt),
		ImageManifestMediaType: im.mediaType,
		ArtifactMediaType:      im.artifactMediaType,
		ImageStatus:            im.statusName(),
	}
	if isIndex(im.mediaType) {
		// "If the image is a manifest list, this will be the max size of all
		// manifests in the list" (ImageDetail.imageSizeInBytes).
		var largest *int64
		for _, c := range im.children {
			if ch, ok := r.images[c]; ok && ch.size != nil && (largest == nil || *ch.size > *largest) {
				largest = ch.size
			}
		}
		d.ImageSizeInBytes = largest
	}
	for _, t := range []struct {
		at  time.Time
		out **float64
	}{{im.lastPulled, &d.LastRecordedPullTime}, {im.archivedAt, &d.LastArchivedAt}, {im.activatedAt, &d.LastActivatedAt}} {
		if !t.at.IsZero() {
			*t.out = ptr(epoch(t.at))
		}
	}
	if sc, ok := r.scans[im.digest]; ok {
		d.ImageScanStatus = &scanStatusOut{Status: sc.status, Description: sc.description}
		if sc.status != "FAILED" {
			d.ImageScanFindingsSummary = &findingsSummaryOut{
				ImageScanCompletedAt:         epoch(sc.completedAt),
				VulnerabilitySourceUpdatedAt: epoch(sc.completedAt),
				FindingSeverityCounts:        severityCounts(sc.findings),
			}
		}
	}
	return d
}

// tagFilter validates filter.tagStatus and returns a predicate over images.
func tagFilter(f *tagStatusFilter) (func(*image) bool, error) {
	status := "ANY"
	if f != nil && f.TagStatus != nil {
		status = *f.TagStatus
	}
	imageStatus := "ACTIVE"
	if f != nil && f.ImageStatus != nil {
		imageStatus = *f.ImageStatus
		switch imageStatus {
		case "ACTIVE", "ARCHIVED", "ACTIVATING", "ANY":
		default:
			return nil, invalidParameter("filter.imageStatus", "Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]")
		}
	}
	// DescribeImages and ListImages return ACTIVE images unless the filter
	// asks for another status or ANY.
	statusOK := func(im *image) bool { return imageStatus == "ANY" || im.statusName() == imageStatus }
	switch status {
	case "ANY":
		return statusOK, nil
	case "TAGGED":
		return func(im *image) bool { return statusOK(im) && len(im.tags) > 0 }, nil
	case "UNTAGGED":
		return func(im *image) bool { return statusOK(im) && len(im.tags) == 0 }, nil
	default:
		return nil, invalidParameter("filter.tagStatus", "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]")
	}
}

// parseList decodes a DescribeImages or ListImages request and validates
// its page size and tag-status filter.
func parseList(body []byte) (in listInput, limit int, keep func(*image) bool, err error) {
	if err = decode(body, &in); err != nil {
		return in, 0, nil, err
	}
	if limit, err = maxResults(in.MaxResults); err != nil {
		return in, 0, nil, err
	}
	keep, err = tagFilter(in.Filter)
	return in, limit, keep, err
}

func (s *Server) describeImages(_ *call, body []byte) (any, error) {
	in, limit, keep, err := parseList(body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	type page struct {
		ImageDetails []imageDetailOut `json:"imageDetails"`
		NextToken    *string          `json:"nextToken,omitempty"`
	}
	out := page{ImageDetails: []imageDetailOut{}}
	if in.ImageIDs != nil {
		// The API reference: maxResults and nextToken cannot be used with
		// imageIds. imageIds holds 1..100 items.
		if in.MaxResults != nil || in.NextToken != nil {
			return nil, newError(http.StatusBadRequest, "InvalidParameterException",
				"Invalid parameter: maxResults and nextToken cannot be used when imageIds is specified")
		}
		if err := checkImageIDs(in.ImageIDs); err != nil {
			return nil, err
		}
		seen := make(map[string]bool)
		for _, id := range in.ImageIDs {
			res := r.resolve(id)
			if res.image == nil {
				if res.code == "ImageNotFound" {
					return nil, s.imageNotFound(r.name, id)
				}
				return nil, newError(http.StatusBadRequest, "InvalidParameterException", "%s", res.reason)
			}
			if !seen[res.image.digest] {
				seen[res.image.digest] = true
				out.ImageDetails = append(out.ImageDetails, s.imageDetail(r, res.image))
			}
		}
		return out, nil
	}
	var after uint64
	if in.NextToken != nil {
		if err := decodeToken(*in.NextToken, "DescribeImages", r.name, &after); err != nil {
			return nil, err
		}
	}
	all := r.order()
	start := sort.Search(len(all), func(i int) bool { return all[i].seq > after })
	for i := start; i < len(all); i++ {
		im := all[i]
		if !keep(im) {
			continue
		}
		if len(out.ImageDetails) == limit {
			out.NextToken = ptr(encodeToken("DescribeImages", r.name, all[i-1].seq))
			break
		}
		out.ImageDetails = append(out.ImageDetails, s.imageDetail(r, im))
	}
	return out, nil
}

// listCursor is a ListImages position: the image's arrival number and the
// tag (empty for an untagged image).
type listCursor struct {
	Seq uint64 `json:"q"`
	Tag string `json:"t"`
}

func (a listCursor) before(b listCursor) bool {
	return a.Seq < b.Seq || (a.Seq == b.Seq && a.Tag < b.Tag)
}

func (s *Server) listImages(_ *call, body []byte) (any, error) {
	in, limit, keep, err := parseList(body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	var after *listCursor
	if in.NextToken != nil {
		after = &listCursor{}
		if err := decodeToken(*in.NextToken, "ListImages", r.name, after); err != nil {
			return nil, err
		}
	}
	type page struct {
		ImageIDs  []imageID `json:"imageIds"`
		NextToken *string   `json:"nextToken,omitempty"`
	}
	out := page{ImageIDs: []imageID{}}
	all := r.order()
	start := 0
	if after != nil {
		start = sort.Search(len(all), func(i int) bool { return all[i].seq >= after.Seq })
	}
	var last listCursor
	for _, im := range all[start:] {
		if !keep(im) {
			continue
		}
		tags := im.tags
		if len(tags) == 0 {
			tags = []string{""}
		}
		for _, t := range tags {
			cur := listCursor{Seq: im.seq, Tag: t}
			if after != nil && !after.before(cur) {
				continue
			}
			if len(out.ImageIDs) == limit {
				out.NextToken = ptr(encodeToken("ListImages", r.name, last))
				return out, nil
			}
			id := imageID{ImageDigest: ptr(im.digest)}
			if t != "" {
				id.ImageTag = ptr(t)
			}
			out.ImageIDs = append(out.ImageIDs, id)
			last = cur
		}
	}
	return out, nil
}

func (s *Server) batchDeleteImage(c *call, body []byte) (any, error) {
	var in imageIDsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkImageIDs(in.ImageIDs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	type result struct {
		ImageIDs []imageID      `json:"imageIds"`
		Failures []imageFailure `json:"failures"`
	}
	out := result{ImageIDs: []imageID{}, Failures: []imageFailure{}}
	for _, id := range in.ImageIDs {
		if s.faults.FailItem("BatchDeleteImage") {
			out.Failures = append(out.Failures, imageFailure{ImageID: id, FailureCode: "KmsError",
				FailureReason: "The image could not be deleted because of an internal error (injected fault)"})
			continue
		}
		res := r.resolve(id)
		if res.image == nil {
			out.Failures = append(out.Failures, imageFailure{ImageID: id, FailureCode: res.code, FailureReason: res.reason})
			continue
		}
		im := res.image
		if id.ImageTag != nil && len(im.tags) > 1 {
			// The API reference: "You can remove a tag from an image by
			// specifying the image's tag in your request. When you remove
			// the last tag from an image, the image is deleted from your
			// repository." (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchDeleteImage.html)
			s.untag(r, im, *id.ImageTag)
			out.ImageIDs = append(out.ImageIDs, imageID{ImageDigest: ptr(im.digest), ImageTag: id.ImageTag})
			c.events = append(c.events, s.imageActionEvent(r.name, im.digest, *id.ImageTag, "DELETE"))
			continue
		}
		if parents := r.parents(im.digest); len(parents) > 0 {
			out.Failures = append(out.Failures, imageFailure{ImageID: id, FailureCode: "ImageReferencedByManifestList",
				FailureReason: "Requested image referenced by manifest list: [" + strings.Join(parents, ", ") + "]"})
			continue
		}
		tags := slices.Clone(im.tags)
		for _, t := range tags {
			s.untag(r, im, t)
		}
		delete(r.images, im.digest)
		delete(r.scans, im.digest)
		r.unordered = true
		if len(tags) == 0 {
			tags = []string{""}
		}
		for _, t := range tags {
			oid := imageID{ImageDigest: ptr(im.digest)}
			if t != "" {
				oid.ImageTag = ptr(t)
			}
			out.ImageIDs = append(out.ImageIDs, oid)
			c.events = append(c.events, s.imageActionEvent(r.name, im.digest, t, "DELETE"))
		}
	}
	return out, nil
}

func (s *Server) untag(r *repository, im *image, tag string) {
	im.tags = slices.DeleteFunc(im.tags, func(t string) bool { return t == tag })
	delete(r.tags, tag)
}
