package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

// TestListingDecoderMatchesSDK: every field EachPage's decoder fills is
// what the SDK's own deserializer makes of the same page, archived and
// pulled images, indexes and untagged images included.
func TestListingDecoderMatchesSDK(t *testing.T) {
	e := startEmu(t)
	now := time.Now()
	e.seed(t, "v1")
	e.seed(t)
	if _, err := e.srv.SeedImage(repo, ecremu.Image{Tags: []string{"v2", "latest"}, LastPulled: now.Add(-time.Hour), ArchivedAt: now.Add(-90 * time.Minute),
		Children: []ecremu.Image{{Size: 7}, {Size: 9, Platform: "linux/arm64"}}}); err != nil {
		t.Fatal(err)
	}
	in := func() *ecr.DescribeImagesInput {
		return &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), Filter: &types.DescribeImagesFilter{ImageStatus: types.ImageStatusFilterAny}}
	}
	sdk, err := e.client.DescribeImages(context.Background(), in())
	if err != nil {
		t.Fatal(err)
	}
	ours, err := e.client.DescribeImages(context.Background(), in(), withListingDecoder)
	if err != nil {
		t.Fatal(err)
	}
	if len(sdk.ImageDetails) != 5 {
		t.Fatalf("%d images", len(sdk.ImageDetails))
	}
	ignore := cmpopts.IgnoreFields(types.ImageDetail{}, "ImageScanStatus", "ImageScanFindingsSummary")
	if diff := cmp.Diff(sdk.ImageDetails, ours.ImageDetails, ignore, cmpopts.IgnoreUnexported(types.ImageDetail{})); diff != "" {
		t.Errorf("listing decoder differs from the SDK (-sdk +ours):\n%s", diff)
	}
	// Errors still come from the SDK, typed.
	_, err = e.client.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String("team/none")}, withListingDecoder)
	var nf *types.RepositoryNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("error = %v, want RepositoryNotFoundException", err)
	}
}

// TestListKeepsTheScanSummary: List's details carry the scan status and
// the findings summary, which the reconcile's scan gate reads (with the
// listing decoder, every gated candidate read as unscanned and the
// reconcile never rolled a gated target forward).
func TestListKeepsTheScanSummary(t *testing.T) {
	e := startEmu(t)
	d := e.seed(t, "v1")
	if err := e.srv.SetFindings(repo, d, []ecremu.Finding{{Name: "CVE-2026-1", Severity: "HIGH"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.StartImageScan(context.Background(), &ecr.StartImageScanInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(d)}}); err != nil {
		t.Fatal(err)
	}
	images, err := List(context.Background(), e.client, "", repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 {
		t.Fatalf("%d images, want 1", len(images))
	}
	im := images[0]
	if im.ImageScanStatus == nil || im.ImageScanStatus.Status != types.ScanStatusComplete {
		t.Fatalf("scan status %+v, want COMPLETE", im.ImageScanStatus)
	}
	if im.ImageScanFindingsSummary == nil || im.ImageScanFindingsSummary.FindingSeverityCounts["HIGH"] != 1 {
		t.Fatalf("findings summary %+v, want HIGH 1", im.ImageScanFindingsSummary)
	}
}

// BenchmarkDescribeImagesDecode pages 100,000 images (100 identical pages
// of 1,000) from a canned server with the SDK's deserializer and with the
// listing decoder.
func BenchmarkDescribeImagesDecode(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"imageDetails":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"registryId":"123456789012","repositoryName":"scale/app","imageDigest":"sha256:%064x","imageTags":["dev-%07x"],"imageSizeInBytes":52428800,"imagePushedAt":1.7E9,"imageScanStatus":{"status":"COMPLETE","description":"The scan was completed successfully."},"imageScanFindingsSummary":{"imageScanCompletedAt":1.7E9,"vulnerabilitySourceUpdatedAt":1.7E9,"findingSeverityCounts":{}},"imageManifestMediaType":"application/vnd.oci.image.manifest.v1+json","artifactMediaType":"application/vnd.oci.image.config.v1+json","imageStatus":"ACTIVE","lastRecordedPullTime":1.71E9}`, i, i)
	}
	page := sb.String()
	for _, bc := range []struct {
		name string
		opt  func(*ecr.Options)
	}{{"sdk", func(*ecr.Options) {}}, {"listing", withListingDecoder}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				n++
				if n%100 == 0 {
					fmt.Fprint(w, page+`]}`)
					return
				}
				fmt.Fprint(w, page+`],"nextToken":"x"}`)
			}))
			defer srv.Close()
			c := ecr.NewFromConfig(emuhttp.ClientConfig(srv.URL, 1))
			b.ReportAllocs()
			for b.Loop() {
				p := ecr.NewDescribeImagesPaginator(c, &ecr.DescribeImagesInput{RepositoryName: aws.String("scale/app")})
				images := 0
				for p.HasMorePages() {
					out, err := p.NextPage(context.Background(), bc.opt)
					if err != nil {
						b.Fatal(err)
					}
					images += len(out.ImageDetails)
				}
				if images != 100_000 {
					b.Fatal(images)
				}
			}
		})
	}
}
