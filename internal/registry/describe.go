package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	smithy "github.com/aws/smithy-go"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	json "github.com/goccy/go-json"
)

// Why this file exists: the pinned SDK (service/ecr v1.67.6, smithy-go
// v1.28.9) deserializes awsJson responses with its schema-based decoder,
// reading each body into a pooled buffer that the pool then drops (it keeps
// buffers of at most 64 KiB, and a 1,000-image page is about 600 KiB), and
// slicing strings out of arenas that stay alive while any of their strings
// does. On a 100,000-image listing (100 pages, BenchmarkDescribeImagesDecode)
// it took 2.7 s and allocated 467 MB in 3.6 million allocations, the larger
// part of a gc run; encoding/json, which validates each page before decoding
// it, was no faster. listingProtocol decodes successful DescribeImages pages
// itself with github.com/goccy/go-json (a drop-in encoding/json, one pass) into
// a small struct, from a reused buffer: 0.6 s and 1.7 million allocations on
// the same benchmark. Every other response, and every error, still goes
// through the SDK.

// listingProtocol wraps the client's protocol for the calls EachPage makes.
type listingProtocol struct {
	smithyhttp.ClientProtocol
}

// withListingDecoder is the per-call option EachPage passes.
func withListingDecoder(o *ecr.Options) {
	if _, done := o.Protocol.(listingProtocol); !done && o.Protocol != nil {
		o.Protocol = listingProtocol{o.Protocol}
	}
}

var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// detailJSON is the part of an ImageDetail gc reads; the scan status and
// findings summary are skipped. Value fields, not pointers: an absent
// member reads as its zero value, which ImageDetail renders as nil.
type detailJSON struct {
	RegistryID             string   `json:"registryId"`
	RepositoryName         string   `json:"repositoryName"`
	ImageDigest            string   `json:"imageDigest"`
	ImageTags              []string `json:"imageTags"`
	ImageSizeInBytes       *int64   `json:"imageSizeInBytes"`
	ImagePushedAt          float64  `json:"imagePushedAt"`
	ImageManifestMediaType string   `json:"imageManifestMediaType"`
	ArtifactMediaType      string   `json:"artifactMediaType"`
	SubjectManifestDigest  string   `json:"subjectManifestDigest"`
	ImageStatus            string   `json:"imageStatus"`
	LastRecordedPullTime   float64  `json:"lastRecordedPullTime"`
	LastArchivedAt         float64  `json:"lastArchivedAt"`
	LastActivatedAt        float64  `json:"lastActivatedAt"`
}

type pageJSON struct {
	ImageDetails []detailJSON `json:"imageDetails"`
	NextToken    *string      `json:"nextToken"`
}

// DeserializeResponse decodes a successful DescribeImages response and
// hands anything else to the SDK.
func (p listingProtocol) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, registry *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	page, ok := out.(*ecr.DescribeImagesOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return p.ClientProtocol.DeserializeResponse(ctx, schema, registry, resp, out)
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); pageBuffers.Put(buf) }()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("read DescribeImages response: %w", err)}
	}
	var raw pageJSON
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("decode DescribeImages response: %w", err), Snapshot: snapshot(buf.Bytes())}
	}
	if raw.NextToken != nil {
		page.NextToken = &[]string{strings.Clone(*raw.NextToken)}[0]
	}
	n := len(raw.ImageDetails)
	page.ImageDetails = make([]types.ImageDetail, n)
	// go-json's strings point into its copy of the page: every string kept
	// is cloned, so a digest kept for the plan does not pin 600 KiB of
	// JSON. Values that repeat on every image are cloned once a page; the
	// pointers ImageDetail wants point into one array per page each.
	a := &pageArena{same: map[string]*string{}, strs: make([]string, 0, 2*n), times: make([]time.Time, 0, 2*n)}
	for i := range raw.ImageDetails {
		d := &raw.ImageDetails[i]
		var tags []string
		if len(d.ImageTags) > 0 {
			tags = make([]string, len(d.ImageTags))
			for j, t := range d.ImageTags {
				tags[j] = strings.Clone(t)
			}
		}
		page.ImageDetails[i] = types.ImageDetail{
			RegistryId:             a.shared(d.RegistryID),
			RepositoryName:         a.shared(d.RepositoryName),
			ImageDigest:            a.str(d.ImageDigest),
			ImageTags:              tags,
			ImageSizeInBytes:       d.ImageSizeInBytes,
			ImagePushedAt:          a.time(d.ImagePushedAt),
			ImageManifestMediaType: a.shared(d.ImageManifestMediaType),
			ArtifactMediaType:      a.shared(d.ArtifactMediaType),
			SubjectManifestDigest:  a.str(d.SubjectManifestDigest),
			ImageStatus:            types.ImageStatus(a.sharedValue(d.ImageStatus)),
			LastRecordedPullTime:   a.time(d.LastRecordedPullTime),
			LastArchivedAt:         a.time(d.LastArchivedAt),
			LastActivatedAt:        a.time(d.LastActivatedAt),
		}
	}
	return nil
}

// pageArena holds the values one page's ImageDetails point to.
type pageArena struct {
	same  map[string]*string
	strs  []string
	times []time.Time
}

// str returns a pointer to a copy of s; nil for "".
func (a *pageArena) str(s string) *string {
	if s == "" {
		return nil
	}
	if len(a.strs) == cap(a.strs) {
		a.strs = make([]string, 0, max(cap(a.strs), 16)) // earlier pointers keep the full array alive
	}
	a.strs = append(a.strs, strings.Clone(s))
	return &a.strs[len(a.strs)-1]
}

// shared returns a pointer to one copy of s per page; nil for "".
func (a *pageArena) shared(s string) *string {
	if s == "" {
		return nil
	}
	if p, ok := a.same[s]; ok {
		return p
	}
	c := strings.Clone(s)
	a.same[c] = &c
	return &c
}

func (a *pageArena) sharedValue(s string) string {
	if p := a.shared(s); p != nil {
		return *p
	}
	return ""
}

// time converts awsJson's epoch seconds as the SDK does (0: absent).
func (a *pageArena) time(f float64) *time.Time {
	if f == 0 {
		return nil
	}
	if len(a.times) == cap(a.times) {
		a.times = make([]time.Time, 0, max(cap(a.times), 16))
	}
	a.times = append(a.times, smithytime.ParseEpochSeconds(f))
	return &a.times[len(a.times)-1]
}

func snapshot(b []byte) []byte {
	if len(b) > 1024 {
		b = b[:1024]
	}
	return bytes.Clone(b)
}
