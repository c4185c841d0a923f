package ecr_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func TestPutImage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createRepo(t, "mlops/retail-api")
	e.createRepo(t, "mlops/locked", func(in *awsecr.CreateRepositoryInput) {
		in.ImageTagMutability = types.ImageTagMutabilityImmutable
	})
	m1, m2 := manifest(1, 5000), manifest(2, 7000)

	d1 := e.push(t, "mlops/retail-api", m1, "v1.0.0")
	if want := ecr.Digest([]byte(m1)); d1 != want {
		t.Fatalf("digest = %s, want sha256 of the manifest %s", d1, want)
	}

	tests := []struct {
		name     string
		repo     string
		manifest string
		tag      string
		digest   string
		wantCode string
	}{
		{name: "same manifest and tag", repo: "mlops/retail-api", manifest: m1, tag: "v1.0.0", wantCode: "ImageAlreadyExistsException"},
		{name: "same manifest no tag", repo: "mlops/retail-api", manifest: m1, wantCode: "ImageAlreadyExistsException"},
		{name: "same manifest new tag", repo: "mlops/retail-api", manifest: m1, tag: "latest"},
		{name: "mutable tag moves", repo: "mlops/retail-api", manifest: m2, tag: "latest"},
		{name: "immutable first push", repo: "mlops/locked", manifest: m1, tag: "v1"},
		{name: "immutable retag", repo: "mlops/locked", manifest: m2, tag: "v1", wantCode: "ImageTagAlreadyExistsException"},
		{name: "missing repository", repo: "mlops/none", manifest: m1, tag: "x", wantCode: "RepositoryNotFoundException"},
		{name: "digest mismatch", repo: "mlops/retail-api", manifest: manifest(3, 10), digest: d1, wantCode: "ImageDigestDoesNotMatchException"},
		{name: "not json", repo: "mlops/retail-api", manifest: "{", wantCode: "InvalidParameterException"},
		{name: "no media type", repo: "mlops/retail-api", manifest: `{"schemaVersion":2}`, wantCode: "InvalidParameterException"},
		{name: "tag too long", repo: "mlops/retail-api", manifest: manifest(4, 10), tag: strings.Repeat("a", 301), wantCode: "InvalidParameterException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &awsecr.PutImageInput{RepositoryName: aws.String(tc.repo), ImageManifest: aws.String(tc.manifest)}
			if tc.tag != "" {
				in.ImageTag = aws.String(tc.tag)
			}
			if tc.digest != "" {
				in.ImageDigest = aws.String(tc.digest)
			}
			_, err := e.client.PutImage(ctx, in)
			if got := errorCode(err); got != tc.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tc.wantCode)
			}
		})
	}

	d2 := ecr.Digest([]byte(m2))
	want := map[string][]string{d1: {"v1.0.0"}, d2: {"latest"}}
	if diff := cmp.Diff(want, e.srv.Images("mlops/retail-api")); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}

	_, err := e.client.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String("mlops/locked"),
		ImageManifest: aws.String(m2), ImageTag: aws.String("v1")})
	var immutable *types.ImageTagAlreadyExistsException
	if !errors.As(err, &immutable) {
		t.Fatalf("error = %v, want ImageTagAlreadyExistsException", err)
	}
	wantMsg := "The image tag 'v1' already exists in the 'mlops/locked' repository and cannot be overwritten because the tag is immutable."
	if immutable.ErrorMessage() != wantMsg {
		t.Errorf("message = %q, want %q", immutable.ErrorMessage(), wantMsg)
	}
}

func TestImmutableWithExclusion(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "mlops/retail-api", func(in *awsecr.CreateRepositoryInput) {
		in.ImageTagMutability = types.ImageTagMutabilityImmutableWithExclusion
		in.ImageTagMutabilityExclusionFilters = []types.ImageTagMutabilityExclusionFilter{
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("dev-*")},
		}
	})
	e.push(t, "mlops/retail-api", manifest(1, 10), "dev-latest")
	e.push(t, "mlops/retail-api", manifest(2, 10), "dev-latest") // excluded: mutable
	e.push(t, "mlops/retail-api", manifest(3, 10), "v1")
	_, err := e.client.PutImage(context.Background(), &awsecr.PutImageInput{RepositoryName: aws.String("mlops/retail-api"),
		ImageManifest: aws.String(manifest(4, 10)), ImageTag: aws.String("v1")})
	if got := errorCode(err); got != "ImageTagAlreadyExistsException" {
		t.Fatalf("retag v1 error = %v, want ImageTagAlreadyExistsException", err)
	}
}

func TestBatchGetImage(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "mlops/retail-api")
	m := manifest(1, 10)
	d := e.push(t, "mlops/retail-api", m, "v1")
	e.push(t, "mlops/retail-api", manifest(2, 10), "v2")
	missing := "sha256:" + strings.Repeat("0", 64)
	out, err := e.client.BatchGetImage(context.Background(), &awsecr.BatchGetImageInput{
		RepositoryName: aws.String("mlops/retail-api"),
		ImageIds: []types.ImageIdentifier{
			{ImageTag: aws.String("v1")},
			{ImageDigest: aws.String(d)},
			{ImageTag: aws.String("nope")},
			{ImageDigest: aws.String(missing)},
			{ImageDigest: aws.String(d), ImageTag: aws.String("v2")},
			{ImageDigest: aws.String("not-a-digest")},
		},
	})
	if err != nil {
		t.Fatalf("BatchGetImage: %v", err)
	}
	if len(out.Images) != 2 {
		t.Fatalf("images = %d, want 2", len(out.Images))
	}
	for _, im := range out.Images {
		if aws.ToString(im.ImageManifest) != m || aws.ToString(im.ImageId.ImageDigest) != d ||
			aws.ToString(im.ImageManifestMediaType) != ecr.MediaTypeOCIManifest {
			t.Errorf("image = %+v", im)
		}
	}
	var codes []string
	for _, f := range out.Failures {
		codes = append(codes, string(f.FailureCode))
	}
	want := []string{"ImageNotFound", "ImageNotFound", "ImageTagDoesNotMatchDigest", "InvalidImageDigest"}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("failure codes (-want +got):\n%s", diff)
	}
}

// TestDescribeImagesPaging2500 pages 2,500 images with the SDK paginator at
// maxResults 1000: exactly ceil(2500/1000) = 3 calls.
func TestDescribeImagesPaging2500(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	base := e.clock.Now().Add(-2500 * time.Hour)
	want := make(map[string]bool)
	tagged := 0
	for i := range 2500 {
		img := ecr.Image{PushedAt: base.Add(time.Duration(i) * time.Hour), Size: int64(1000 + i)}
		if i%5 != 0 {
			img.Tags = []string{fmt.Sprintf("v0.%d.0", i)}
			tagged++
		}
		d, err := e.srv.SeedImage(repo, img)
		if err != nil {
			t.Fatalf("seed: %v", err)
		}
		want[d] = true
	}
	e.srv.Log().Reset()

	p := awsecr.NewDescribeImagesPaginator(e.client, &awsecr.DescribeImagesInput{
		RepositoryName: aws.String(repo), MaxResults: aws.Int32(1000),
	})
	got := make(map[string]bool)
	var pages []int
	var prev time.Time
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		pages = append(pages, len(page.ImageDetails))
		for _, d := range page.ImageDetails {
			digest := aws.ToString(d.ImageDigest)
			if got[digest] {
				t.Fatalf("digest %s returned twice", digest)
			}
			got[digest] = true
			if d.ImagePushedAt.Before(prev) {
				t.Fatalf("images out of push order at %s", digest)
			}
			prev = *d.ImagePushedAt
		}
	}
	if diff := cmp.Diff([]int{1000, 1000, 500}, pages); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
	if n := e.srv.Log().Count("DescribeImages"); n != 3 {
		t.Errorf("DescribeImages calls = %d, want 3", n)
	}

	for _, tc := range []struct {
		status types.TagStatus
		want   int
	}{{types.TagStatusTagged, tagged}, {types.TagStatusUntagged, 2500 - tagged}, {types.TagStatusAny, 2500}} {
		p := awsecr.NewDescribeImagesPaginator(e.client, &awsecr.DescribeImagesInput{
			RepositoryName: aws.String(repo), MaxResults: aws.Int32(1000),
			Filter: &types.DescribeImagesFilter{TagStatus: tc.status},
		})
		n := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NextPage: %v", err)
			}
			for _, d := range page.ImageDetails {
				if tc.status == types.TagStatusUntagged && len(d.ImageTags) > 0 ||
					tc.status == types.TagStatusTagged && len(d.ImageTags) == 0 {
					t.Fatalf("%s filter returned %+v", tc.status, d.ImageTags)
				}
			}
			n += len(page.ImageDetails)
		}
		if n != tc.want {
			t.Errorf("%s images = %d, want %d", tc.status, n, tc.want)
		}
	}
}

func TestDescribeImagesDefaultPageAndIDs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	var digests []string
	for i := range 150 {
		d, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{fmt.Sprintf("t%d", i)}, Size: 42})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	out, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != 100 || out.NextToken == nil {
		t.Errorf("default page = %d images, nextToken %v; want 100 and a token", len(out.ImageDetails), out.NextToken)
	}

	out, err = e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("t7")}, {ImageDigest: aws.String(digests[9])}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range out.ImageDetails {
		got = append(got, aws.ToString(d.ImageDigest))
		if aws.ToInt64(d.ImageSizeInBytes) != 42 || d.ImageManifestMediaType == nil {
			t.Errorf("detail = %+v", d)
		}
	}
	if diff := cmp.Diff([]string{digests[7], digests[9]}, got); diff != "" {
		t.Errorf("by id (-want +got):\n%s", diff)
	}

	tests := []struct {
		name     string
		in       awsecr.DescribeImagesInput
		wantCode string
		wantMsg  string
	}{
		{name: "missing id", in: awsecr.DescribeImagesInput{ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("gone")}}},
			wantCode: "ImageNotFoundException",
			wantMsg:  "The image with imageId {imageDigest:'null', imageTag:'gone'} does not exist within the repository with name 'mlops/retail-api' in the registry with id '123456789012'"},
		{name: "ids with maxResults", in: awsecr.DescribeImagesInput{ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("t1")}}, MaxResults: aws.Int32(5)},
			wantCode: "InvalidParameterException"},
		{name: "maxResults 0", in: awsecr.DescribeImagesInput{MaxResults: aws.Int32(0)}, wantCode: "InvalidParameterException"},
		{name: "maxResults 1001", in: awsecr.DescribeImagesInput{MaxResults: aws.Int32(1001)}, wantCode: "InvalidParameterException",
			wantMsg: "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{name: "bad token", in: awsecr.DescribeImagesInput{NextToken: aws.String("garbage")}, wantCode: "InvalidParameterException"},
		{name: "bad tag status", in: awsecr.DescribeImagesInput{Filter: &types.DescribeImagesFilter{TagStatus: "SOME"}}, wantCode: "InvalidParameterException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.RepositoryName = aws.String(repo)
			_, err := e.client.DescribeImages(ctx, &in)
			if got := errorCode(err); got != tc.wantCode {
				t.Fatalf("error code = %q (%v), want %q", got, err, tc.wantCode)
			}
			var ae interface{ ErrorMessage() string }
			if tc.wantMsg != "" && (!errors.As(err, &ae) || ae.ErrorMessage() != tc.wantMsg) {
				t.Errorf("message = %v, want %q", err, tc.wantMsg)
			}
		})
	}
}

func TestListImages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	type pair struct{ Digest, Tag string }
	var want []pair
	for i := range 30 {
		var tags []string
		switch i % 3 {
		case 1:
			tags = []string{fmt.Sprintf("v%d", i)}
		case 2:
			tags = []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)}
		}
		d, err := e.srv.SeedImage(repo, ecr.Image{Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) == 0 {
			want = append(want, pair{d, ""})
		}
		for _, tg := range tags {
			want = append(want, pair{d, tg})
		}
	}
	list := func(status types.TagStatus, max int32) []pair {
		t.Helper()
		p := awsecr.NewListImagesPaginator(e.client, &awsecr.ListImagesInput{RepositoryName: aws.String(repo),
			MaxResults: aws.Int32(max), Filter: &types.ListImagesFilter{TagStatus: status}})
		var got []pair
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NextPage: %v", err)
			}
			for _, id := range page.ImageIds {
				got = append(got, pair{aws.ToString(id.ImageDigest), aws.ToString(id.ImageTag)})
			}
		}
		return got
	}
	e.srv.Log().Reset()
	if diff := cmp.Diff(want, list(types.TagStatusAny, 7)); diff != "" {
		t.Errorf("ANY (-want +got):\n%s", diff)
	}
	// 40 (digest, tag) pairs at 7 per page: 6 calls.
	if n := e.srv.Log().Count("ListImages"); n != 6 {
		t.Errorf("ListImages calls = %d, want 6", n)
	}
	var untagged, tagged []pair
	for _, p := range want {
		if p.Tag == "" {
			untagged = append(untagged, p)
		} else {
			tagged = append(tagged, p)
		}
	}
	if diff := cmp.Diff(untagged, list(types.TagStatusUntagged, 1000)); diff != "" {
		t.Errorf("UNTAGGED (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tagged, list(types.TagStatusTagged, 3)); diff != "" {
		t.Errorf("TAGGED (-want +got):\n%s", diff)
	}
}

// TestListImagesStableUnderDeletion deletes images between pages: the
// cursor neither skips nor repeats the images that remain.
func TestListImagesStableUnderDeletion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	var digests []string
	for i := range 20 {
		d, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{fmt.Sprintf("t%02d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	first, err := e.client.ListImages(ctx, &awsecr.ListImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	// Delete the last image of the first page and the first two of the next.
	var ids []types.ImageIdentifier
	for _, d := range []string{digests[4], digests[5], digests[6]} {
		ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(d)})
	}
	if _, err := e.client.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: ids}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range first.ImageIds {
		got = append(got, aws.ToString(id.ImageDigest))
	}
	p := awsecr.NewListImagesPaginator(e.client, &awsecr.ListImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(5),
		NextToken: first.NextToken})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range page.ImageIds {
			got = append(got, aws.ToString(id.ImageDigest))
		}
	}
	want := append(append([]string{}, digests[:5]...), digests[7:]...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
}

func TestBatchDeleteImage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	multi := e.push(t, repo, manifest(1, 10), "v1")
	e.push(t, repo, manifest(1, 10), "stable")
	single := e.push(t, repo, manifest(2, 10), "v2")
	byDigest := e.push(t, repo, manifest(3, 10), "v3")
	e.push(t, repo, manifest(3, 10), "v3-alias")
	missing := "sha256:" + strings.Repeat("a", 64)

	del := func(ids ...types.ImageIdentifier) (*awsecr.BatchDeleteImageOutput, error) {
		return e.client.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: ids})
	}
	out, err := del(
		types.ImageIdentifier{ImageTag: aws.String("v1")},        // other tag remains: image kept
		types.ImageIdentifier{ImageTag: aws.String("v2")},        // last tag: image deleted
		types.ImageIdentifier{ImageDigest: aws.String(byDigest)}, // by digest: both tags go
		types.ImageIdentifier{ImageDigest: aws.String(missing)},
		types.ImageIdentifier{ImageTag: aws.String("nope")},
		types.ImageIdentifier{ImageDigest: aws.String("sha256:xyz")},
		types.ImageIdentifier{},
	)
	if err != nil {
		t.Fatalf("BatchDeleteImage: %v", err)
	}
	type id struct{ Digest, Tag string }
	var deleted []id
	for _, d := range out.ImageIds {
		deleted = append(deleted, id{aws.ToString(d.ImageDigest), aws.ToString(d.ImageTag)})
	}
	wantDeleted := []id{{multi, "v1"}, {single, "v2"}, {byDigest, "v3"}, {byDigest, "v3-alias"}}
	if diff := cmp.Diff(wantDeleted, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	var failures []string
	for _, f := range out.Failures {
		failures = append(failures, string(f.FailureCode)+": "+aws.ToString(f.FailureReason))
	}
	wantFailures := []string{
		"ImageNotFound: Requested image not found",
		"ImageNotFound: Requested image not found",
		"InvalidImageDigest: Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
		"MissingDigestAndTag: Invalid request parameters: both tag and digest cannot be null",
	}
	if diff := cmp.Diff(wantFailures, failures); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{multi: {"stable"}}, e.srv.Images(repo)); diff != "" {
		t.Errorf("remaining (-want +got):\n%s", diff)
	}

	var ids []types.ImageIdentifier
	for i := range 101 {
		ids = append(ids, types.ImageIdentifier{ImageTag: aws.String(fmt.Sprintf("t%d", i))})
	}
	_, err = del(ids...)
	var invalid *types.InvalidParameterException
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "imageIds") {
		t.Fatalf("101 ids error = %v, want InvalidParameterException naming imageIds", err)
	}
	if _, err := del(ids[:100]...); err != nil {
		t.Fatalf("100 ids: %v", err)
	}
}

// TestBatchDeleteImagePartialFailure injects per-item failures: the call
// succeeds and reports the failed ids in failures[].
func TestBatchDeleteImagePartialFailure(t *testing.T) {
	e := newEnv(t)
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	var ids []types.ImageIdentifier
	for i := range 100 {
		d, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{fmt.Sprintf("t%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(d)})
	}
	e.srv.Faults().Set("BatchDeleteImage", fault.Rule{ItemFailure: 0.3})
	out, err := e.client.BatchDeleteImage(context.Background(), &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failures) == 0 || len(out.ImageIds) == 0 || len(out.Failures)+len(out.ImageIds) != 100 {
		t.Fatalf("deleted %d, failed %d; want a split of 100", len(out.ImageIds), len(out.Failures))
	}
	var left []string
	for d := range e.srv.Images(repo) {
		left = append(left, d)
	}
	var failed []string
	for _, f := range out.Failures {
		if f.FailureCode != types.ImageFailureCodeKmsError {
			t.Errorf("failure code = %s", f.FailureCode)
		}
		failed = append(failed, aws.ToString(f.ImageId.ImageDigest))
	}
	sort.Strings(left)
	sort.Strings(failed)
	if diff := cmp.Diff(failed, left); diff != "" {
		t.Errorf("failed ids must be exactly the images left (-failed +left):\n%s", diff)
	}
}

func TestMultiArch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	amd := e.push(t, repo, manifest(1, 1000), "")
	arm := e.push(t, repo, manifest(2, 2000), "")
	idx := e.push(t, repo, index(amd, arm), "v1")

	out, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	type detail struct {
		Digest    string
		Tags      []string
		MediaType string
	}
	var got []detail
	for _, d := range out.ImageDetails {
		got = append(got, detail{aws.ToString(d.ImageDigest), d.ImageTags, aws.ToString(d.ImageManifestMediaType)})
	}
	want := []detail{
		{amd, nil, ecr.MediaTypeOCIManifest},
		{arm, nil, ecr.MediaTypeOCIManifest},
		{idx, []string{"v1"}, ecr.MediaTypeOCIIndex},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}

	bg, err := e.client.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || len(bg.Images) != 1 || aws.ToString(bg.Images[0].ImageManifest) != index(amd, arm) {
		t.Fatalf("BatchGetImage index = %+v, %v", bg, err)
	}

	_, err = e.client.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String(repo),
		ImageManifest: aws.String(index(amd, "sha256:"+strings.Repeat("b", 64)))})
	if got := errorCode(err); got != "ReferencedImagesNotFoundException" {
		t.Errorf("index with missing child error = %v, want ReferencedImagesNotFoundException", err)
	}

	del, err := e.client.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(amd)}}})
	if err != nil || len(del.Failures) != 1 || del.Failures[0].FailureCode != types.ImageFailureCodeImageReferencedByManifestList {
		t.Fatalf("delete child = %+v, %v; want ImageReferencedByManifestList", del, err)
	}
	del, err = e.client.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}, {ImageDigest: aws.String(amd)}, {ImageDigest: aws.String(arm)}}})
	if err != nil || len(del.Failures) != 0 || len(del.ImageIds) != 3 {
		t.Fatalf("delete index then children = %+v, %v", del, err)
	}
	if n := len(e.srv.Images(repo)); n != 0 {
		t.Errorf("%d images left, want 0", n)
	}
}

func TestSeedMultiArch(t *testing.T) {
	e := newEnv(t)
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	pushed := e.clock.Now().Add(-48 * time.Hour)
	idx, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{"v2"}, PushedAt: pushed,
		Children: []ecr.Image{{Size: 100, Platform: "linux/amd64"}, {Size: 200, Platform: "linux/arm64"}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.client.DescribeImages(context.Background(), &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != 3 {
		t.Fatalf("images = %d, want 3", len(out.ImageDetails))
	}
	for _, d := range out.ImageDetails {
		if !d.ImagePushedAt.Equal(pushed) {
			t.Errorf("%s pushedAt = %v, want %v", aws.ToString(d.ImageDigest), d.ImagePushedAt, pushed)
		}
		if aws.ToString(d.ImageDigest) == idx {
			if aws.ToString(d.ImageManifestMediaType) != ecr.MediaTypeOCIIndex || len(d.ImageTags) != 1 {
				t.Errorf("index detail = %+v", d)
			}
		} else if len(d.ImageTags) != 0 {
			t.Errorf("child has tags %v", d.ImageTags)
		}
	}
}

// TestConcurrentClients pushes, lists and deletes from several goroutines
// (run with -race).
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t)
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	ctx := context.Background()
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 10 {
				n := w*100 + i
				out, err := e.client.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String(repo),
					ImageManifest: aws.String(manifest(n, 10)), ImageTag: aws.String(fmt.Sprintf("w%d-%d", w, i))})
				if err != nil {
					errs <- err
					return
				}
				if _, err := e.client.ListImages(ctx, &awsecr.ListImagesInput{RepositoryName: aws.String(repo)}); err != nil {
					errs <- err
					return
				}
				if i%2 == 1 {
					if _, err := e.client.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo),
						ImageIds: []types.ImageIdentifier{{ImageDigest: out.Image.ImageId.ImageDigest}}}); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.srv.Images(repo)); n != 40 {
		t.Errorf("images = %d, want 40", n)
	}
	if n := e.srv.Log().Count("PutImage"); n != 80 {
		t.Errorf("PutImage calls = %d, want 80", n)
	}
}
