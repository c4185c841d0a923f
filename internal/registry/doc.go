// Package registry is ecrwarden's adapter to the ECR API: it lists a
// repository with the fewest calls the API allows, resolves the children of
// multi-arch indexes, deletes and archives images without touching more than
// was planned, and reports partial failures instead of hiding them.
//
// Call counts, for a repository of N images of which I are indexes, and D
// planned deletions carrying T ids (one per tag, one per untagged image):
// ceil(N/1000) DescribeImages to list (the API's page maximum, every status:
// EachPage), ceil(I/100) BatchGetImage (only when there are indexes:
// DescribeImages does not say which manifests an index lists), ceil(D/100)
// DescribeImages to re-check the planned images just before acting (more only
// when some vanished meanwhile: the API fails a call naming a missing image,
// so the batch is split), and ceil(T/100) BatchDeleteImage (the API's
// per-call maximum), plus one retry call when a child was refused because its
// index, deleted in the same run, had not gone yet. Archiving is one
// UpdateImageStorageClass call per image after the same re-check.
// DescribeRepositories takes 100 names a call (Repositories).
//
// Races. Delete deletes a tagged image by its tags, never by digest: a tag
// pushed after the re-check keeps the image (ECR deletes an image with its
// last tag). An untagged image can only be deleted by digest; if a tag
// arrives in the one round trip between the re-check and the delete, the
// answer names it and the image is reported as Raced. The converse window
// remains: a tagged image that gains a tag in that round trip survives but is
// counted as deleted, because ECR answers the removal of a tag and the
// deletion of an image the same way.
//
// Counting. A retried BatchDeleteImage (the SDK retries a call whose
// connection broke after ECR had acted) answers ImageNotFound for our own
// deletions; an image the re-check found and every id of which came back
// deleted or not found is counted as deleted.
//
// Throttling and 5xx are retried by the SDK's retryer, which the caller
// configures on the client; this package adds no retry loop of its own
// around whole calls.
package registry
