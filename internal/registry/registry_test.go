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

type fakeDelete struct {
	calls  [][]string
	answer func(batch []string, call int) *ecr.BatchDeleteImageOutput
	err    error
}

func (f *fakeDelete) BatchDeleteImage(_ context.Context, in *ecr.BatchDeleteImageInput, _ ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	var batch []string
	for _, id := range in.ImageIds {
		batch = append(batch, aws.ToString(id.ImageDigest)+aws.ToString(id.ImageTag))
	}
	f.calls = append(f.calls, batch)
	if len(batch) > MaxBatchIDs {
		return nil, errors.New("InvalidParameterException: too many image ids")
	}
	if f.err != nil && len(f.calls) == 2 {
		return nil, f.err
	}
	return f.answer(batch, len(f.calls)), nil
}

func deleteAll(batch []string, _ int) *ecr.BatchDeleteImageOutput {
	out := &ecr.BatchDeleteImageOutput{}
	for _, d := range batch {
		// ECR lists an image once per tag: simulate two tags each.
		out.ImageIds = append(out.ImageIds, types.ImageIdentifier{ImageDigest: aws.String(d), ImageTag: aws.String("a")},
			types.ImageIdentifier{ImageDigest: aws.String(d), ImageTag: aws.String("b")})
	}
	return out
}

func TestDeleteBatches(t *testing.T) {
	var ds []string
	for i := range 250 {
		ds = append(ds, digest(i))
	}
	f := &fakeDelete{answer: deleteAll}
	r, err := Delete(context.Background(), f, "", "repo", ds)
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls != 3 || len(f.calls) != 3 || len(f.calls[0]) != 100 || len(f.calls[2]) != 50 {
		t.Errorf("calls = %d, want ceil(250/100) = 3 of 100, 100, 50", len(f.calls))
	}
	if len(r.Deleted) != 250 {
		t.Errorf("deleted = %d, want 250 (once each, whatever the tags)", len(r.Deleted))
	}
}

func TestDeletePartialFailures(t *testing.T) {
	ds := []string{digest(1), digest(2), digest(3), digest(4)}
	f := &fakeDelete{answer: func(batch []string, call int) *ecr.BatchDeleteImageOutput {
		out := &ecr.BatchDeleteImageOutput{}
		for _, d := range batch {
			switch {
			case d == digest(2):
				out.Failures = append(out.Failures, types.ImageFailure{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}, FailureCode: types.ImageFailureCodeImageNotFound, FailureReason: aws.String("Requested image not found")})
			case d == digest(3):
				out.Failures = append(out.Failures, types.ImageFailure{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}, FailureCode: types.ImageFailureCodeKmsError, FailureReason: aws.String("kms unavailable")})
			case d == digest(4) && call == 1:
				out.Failures = append(out.Failures, types.ImageFailure{ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}, FailureCode: types.ImageFailureCodeImageReferencedByManifestList, FailureReason: aws.String("referenced")})
			default:
				out.ImageIds = append(out.ImageIds, types.ImageIdentifier{ImageDigest: aws.String(d)})
			}
		}
		return out
	}}
	r, err := Delete(context.Background(), f, "", "repo", ds)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		Deleted: []string{digest(1), digest(4)},
		Gone:    []string{digest(2)},
		Failed:  []Failure{{Digest: digest(3), Code: types.ImageFailureCodeKmsError, Reason: "kms unavailable"}},
		Calls:   2,
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(Report{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".seen" }, cmp.Ignore())); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestDeleteStopsOnCallError(t *testing.T) {
	var ds []string
	for i := range 300 {
		ds = append(ds, digest(i))
	}
	boom := errors.New("ThrottlingException: retries exhausted")
	f := &fakeDelete{answer: deleteAll, err: boom}
	r, err := Delete(context.Background(), f, "", "repo", ds)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if len(f.calls) != 2 || len(r.Deleted) != 100 {
		t.Errorf("calls %d deleted %d: Delete must stop at the failed call and report what it did", len(f.calls), len(r.Deleted))
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

func TestDeleteTag(t *testing.T) {
	f := &fakeDelete{answer: func(batch []string, _ int) *ecr.BatchDeleteImageOutput {
		return &ecr.BatchDeleteImageOutput{ImageIds: []types.ImageIdentifier{{ImageTag: aws.String(batch[0])}}}
	}}
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
		f := &fakeDelete{answer: func([]string, int) *ecr.BatchDeleteImageOutput {
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
