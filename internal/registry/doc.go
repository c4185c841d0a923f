// Package registry is ecrwarden's adapter to the ECR API: it lists a
// repository with the fewest calls the API allows, resolves the children of
// multi-arch indexes, and deletes images in batches, reporting partial
// failures instead of hiding them.
//
// Call counts, for a repository of N images of which I are indexes, and D
// deletions: ceil(N/1000) DescribeImages (the API's page maximum),
// ceil(I/100) BatchGetImage (only when there are indexes: DescribeImages
// does not say which manifests an index lists), and ceil(D/100)
// BatchDeleteImage (the API's per-call maximum), plus one retry call when a
// child was refused because its index, deleted in the same run, had not
// gone yet.
//
// Throttling and 5xx are retried by the SDK's retryer, which the caller
// configures on the client; this package adds no retry loop of its own
// around whole calls.
package registry
