package ecr_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

// BenchmarkDescribeImages measures DescribeImages requests per second over
// loopback with the real SDK client (signing, serialization, HTTP, the
// emulator and deserialization) on a repository of 2,500 images.
func BenchmarkDescribeImages(b *testing.B) {
	for _, page := range []int32{100, 1000} {
		b.Run(fmt.Sprintf("maxResults=%d", page), func(b *testing.B) {
			e := newEnv(b)
			const repo = "mlops/retail-api"
			e.createRepo(b, repo)
			for i := range 2500 {
				if _, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{fmt.Sprintf("v%d", i)}, Size: 1000}); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			in := &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(page)}
			for b.Loop() {
				if _, err := e.client.DescribeImages(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkHandlerDescribeImages measures the emulator alone: one
// DescribeImages page of 100 from 2,500 images, served to an
// httptest.ResponseRecorder without network or SDK.
func BenchmarkHandlerDescribeImages(b *testing.B) {
	srv := ecr.New(ecr.Config{})
	const repo = "mlops/retail-api"
	if err := srv.CreateRepository(repo, ecr.RepositoryOptions{}); err != nil {
		b.Fatal(err)
	}
	for i := range 2500 {
		if _, err := srv.SeedImage(repo, ecr.Image{Tags: []string{fmt.Sprintf("v%d", i)}, Size: 1000}); err != nil {
			b.Fatal(err)
		}
	}
	body := `{"repositoryName":"mlops/retail-api","maxResults":100}`
	for b.Loop() {
		if status, typ, msg := rawCall(b, srv, ecr.TargetPrefix+"DescribeImages", body); status != 200 {
			b.Fatalf("status %d %s: %s", status, typ, msg)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
