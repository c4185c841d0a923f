package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
)

func digest(i int) string { return fmt.Sprintf("sha256:%064x", i) }

type fakeDescribe struct {
	pages [][]types.ImageDetail
	fail  int // page index that fails, -1 none
	calls []*ecr.DescribeImagesInput
}

func (f *fakeDescribe) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	f.calls = append(f.calls, in)
	i := len(f.calls) - 1
	if i == f.fail {
		return nil, errors.New("InternalServerError")
	}
	out := &ecr.DescribeImagesOutput{ImageDetails: f.pages[i]}
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

func TestListAllOrNothing(t *testing.T) {
	pages := [][]types.ImageDetail{{{ImageDigest: aws.String(digest(1))}}, {{ImageDigest: aws.String(digest(2))}}, {{ImageDigest: aws.String(digest(3))}}}
	f := &fakeDescribe{pages: pages, fail: -1}
	var progress []int
	got, err := List(context.Background(), f, "123456789012", "mlops/retail-api", func(n int) { progress = append(progress, n) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(f.calls) != 3 {
		t.Errorf("images %d calls %d, want 3 and 3", len(got), len(f.calls))
	}
	if aws.ToInt32(f.calls[0].MaxResults) != 1000 || aws.ToString(f.calls[0].RegistryId) != "123456789012" {
		t.Errorf("first call = %+v, want maxResults 1000", f.calls[0])
	}
	if diff := cmp.Diff([]int{1, 2, 3}, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}

	f = &fakeDescribe{pages: pages, fail: 1}
	got, err = List(context.Background(), f, "", "mlops/retail-api", nil)
	if err == nil || got != nil {
		t.Fatalf("a failed page must fail the listing: got %d images, err %v", len(got), err)
	}
	if !strings.Contains(err.Error(), "after 1 images") {
		t.Errorf("error should say how far the listing got: %v", err)
	}
}

type fakeGet struct {
	manifests map[string]string
	calls     int
}

func (f *fakeGet) BatchGetImage(_ context.Context, in *ecr.BatchGetImageInput, _ ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error) {
	f.calls++
	out := &ecr.BatchGetImageOutput{}
	for _, id := range in.ImageIds {
		d := aws.ToString(id.ImageDigest)
		m, ok := f.manifests[d]
		if !ok {
			out.Failures = append(out.Failures, types.ImageFailure{ImageId: &id, FailureCode: types.ImageFailureCodeImageNotFound})
			continue
		}
		out.Images = append(out.Images, types.Image{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}, ImageManifest: aws.String(m)})
	}
	return out, nil
}

func TestIndexChildren(t *testing.T) {
	f := &fakeGet{manifests: map[string]string{}}
	var indexes []string
	for i := range 150 {
		d := digest(1000 + i)
		indexes = append(indexes, d)
		f.manifests[d] = fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"digest":%q},{"digest":%q}]}`, mediaOCIIndex, digest(2*i), digest(2*i+1))
	}
	got, err := IndexChildren(context.Background(), f, "", "repo", indexes)
	if err != nil {
		t.Fatal(err)
	}
	if f.calls != 2 {
		t.Errorf("calls = %d, want ceil(150/100) = 2", f.calls)
	}
	if diff := cmp.Diff([]string{digest(2), digest(3)}, got[digest(1001)]); diff != "" {
		t.Errorf("children (-want +got):\n%s", diff)
	}
	delete(f.manifests, digest(1005))
	if _, err := IndexChildren(context.Background(), f, "", "repo", indexes); err == nil {
		t.Error("a missing index manifest must fail: children unknown means deletions unsafe")
	}
}

// fakeTagDelete records the ids of BatchDeleteImage calls.
// fakeTagDelete records each call's ids (digest+tag) and answers with
// answer, or that the first id was deleted.
type fakeTagDelete struct {
	calls  [][]string
	answer func(batch []string) *ecr.BatchDeleteImageOutput
}

func (f *fakeTagDelete) BatchDeleteImage(_ context.Context, in *ecr.BatchDeleteImageInput, _ ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	var batch []string
	for _, id := range in.ImageIds {
		batch = append(batch, aws.ToString(id.ImageDigest)+aws.ToString(id.ImageTag))
	}
	f.calls = append(f.calls, batch)
	if f.answer != nil {
		return f.answer(batch), nil
	}
	return &ecr.BatchDeleteImageOutput{ImageIds: []types.ImageIdentifier{{ImageTag: aws.String(batch[0])}}}, nil
}

func TestDeleteTag(t *testing.T) {
	f := &fakeTagDelete{}
	if err := DeleteTag(context.Background(), f, "", "repo", "Feature_X", digest(1)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{digest(1) + "Feature_X"}}, f.calls); diff != "" {
		t.Errorf("DeleteTag must name the tag and the digest it was checked against in one id (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		code    types.ImageFailureCode
		wantErr error
	}{
		{types.ImageFailureCodeImageNotFound, nil},
		{types.ImageFailureCodeImageTagDoesNotMatchDigest, ErrTagMoved},
	} {
		f := &fakeTagDelete{answer: func([]string) *ecr.BatchDeleteImageOutput {
			return &ecr.BatchDeleteImageOutput{Failures: []types.ImageFailure{{FailureCode: tt.code, FailureReason: aws.String("no")}}}
		}}
		if err := DeleteTag(context.Background(), f, "", "repo", "Feature_X", digest(1)); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("failure %s: err = %v, want %v", tt.code, err, tt.wantErr)
		}
	}
}

type fakeScanFindings struct {
	pages []*ecr.DescribeImageScanFindingsOutput
	fail  int // page index that fails, -1 none
	calls int
}

func (f *fakeScanFindings) DescribeImageScanFindings(_ context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	i := f.calls
	f.calls++
	if aws.ToInt32(in.MaxResults) != FindingsPageSize {
		return nil, fmt.Errorf("maxResults %d", aws.ToInt32(in.MaxResults))
	}
	if i == f.fail {
		return nil, &types.ScanNotFoundException{Message: aws.String("no scan")}
	}
	out := *f.pages[i]
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return &out, nil
}

// TestScanComplete: only COMPLETE (basic) and ACTIVE (enhanced) say the
// finding set is final; every other status the API documents, a missing
// one and an unknown one do not.
func TestScanComplete(t *testing.T) {
	for _, s := range types.ScanStatus("").Values() {
		want := s == types.ScanStatusComplete || s == types.ScanStatusActive
		if got := ScanComplete(s); got != want {
			t.Errorf("ScanComplete(%s) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []types.ScanStatus{"", "complete", "SOMETHING_NEW"} {
		if ScanComplete(s) {
			t.Errorf("ScanComplete(%q) = true, want false", s)
		}
	}
}

func TestDescribeScanFindings(t *testing.T) {
	page := func(status types.ScanStatus, names ...string) *ecr.DescribeImageScanFindingsOutput {
		out := &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: &types.ImageScanStatus{Status: status}, ImageScanFindings: &types.ImageScanFindings{}}
		for _, n := range names {
			out.ImageScanFindings.Findings = append(out.ImageScanFindings.Findings, types.ImageScanFinding{Name: aws.String(n)})
		}
		return out
	}
	f := &fakeScanFindings{pages: []*ecr.DescribeImageScanFindingsOutput{page(types.ScanStatusComplete, "CVE-1"), page(types.ScanStatusComplete, "CVE-2")}, fail: -1}
	got, err := DescribeScanFindings(context.Background(), f, "", "repo", digest(1))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Complete || len(got.Basic) != 2 || f.calls != 2 {
		t.Errorf("got %+v after %d calls, want both pages of a complete scan", got, f.calls)
	}

	f = &fakeScanFindings{pages: []*ecr.DescribeImageScanFindingsOutput{page(types.ScanStatusComplete), page(types.ScanStatusInProgress)}, fail: -1}
	if got, err := DescribeScanFindings(context.Background(), f, "", "repo", digest(1)); err != nil || got.Complete || got.Status != types.ScanStatusInProgress {
		t.Errorf("got %+v, %v: a page saying IN_PROGRESS makes the scan incomplete and names the status", got, err)
	}

	f = &fakeScanFindings{pages: []*ecr.DescribeImageScanFindingsOutput{page(types.ScanStatusComplete, "CVE-1"), nil}, fail: 1}
	_, err = DescribeScanFindings(context.Background(), f, "", "repo", digest(1))
	var nf *types.ScanNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "page 2") {
		t.Errorf("err = %v, want the page-2 failure, ScanNotFoundException kept", err)
	}
}
