// Package ecr is an in-process emulator of the Amazon ECR API for the
// operations ecrwarden uses, speaking the awsJson1_1 protocol the pinned
// AWS SDK for Go v2 client (service/ecr v1.67.6) sends: POST /, header
// X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>, member
// names of the service model, timestamps as epoch seconds, and errors as
// {"__type": "<Name>Exception", "message": "…"} with the HTTP status AWS uses
// (400 for client errors, 500 for ServerException), which the SDK's
// deserializer turns into the typed errors of service/ecr/types.
//
// Start it with [New] and [Server.Start], and point the unmodified client at
// the returned URL with aws.Config.BaseEndpoint. Requests are signed by the
// SDK, but SigV4 signatures are not verified.
//
// # Faithful
//
//   - CreateRepository, DescribeRepositories, PutLifecyclePolicy,
//     GetLifecyclePolicy and DeleteLifecyclePolicy (stored verbatim,
//     validated with the documented grammar by internal/lifecycle, readable
//     with [Server.LifecyclePolicy]; LifecyclePolicyNotFoundException when
//     there is none), PutImage, BatchGetImage, DescribeImages, ListImages,
//     BatchDeleteImage, UpdateImageStorageClass, DescribeImageScanFindings and
//     StartImageScan.
//   - Storage classes (ECR user guide, "Archiving an image in Amazon ECR",
//     "Restoring an image"): UpdateImageStorageClass ARCHIVE makes an ACTIVE
//     image ARCHIVED (lastArchivedAt); STANDARD makes an ARCHIVED image
//     ACTIVATING and, after Config.ActivationDelay (default 20 minutes, "within
//     20 minutes"; [Server.SetActivationDelay], [Server.Settle]), ACTIVE with
//     lastActivatedAt. Each transition emits the "ECR Image Action"
//     UPDATE_STORAGE_CLASS event of the documented samples (the restore event
//     when the restore completes). DescribeImages and ListImages return ACTIVE
//     images unless filter.imageStatus says ARCHIVED, ACTIVATING or ANY;
//     DescribeImages by imageIds returns an image whatever its status.
//     Archived and activating images cannot be pulled (BatchGetImage answers
//     an ImageNotFound failure: pulls "fail with a 404 error") or scanned
//     (ImageArchivedException); BatchDeleteImage deletes them; pushing an
//     archived image again restores it at once.
//   - lastRecordedPullTime: recorded by every successful BatchGetImage (the
//     manifest fetch a docker pull makes) and [Server.RecordPull]. The
//     documented lag ("refreshes the last image pull timestamp at least once
//     every 24 hours") is not modelled by default; Config.PullTimeRefresh
//     models it (a pull within that long of the recorded one is not recorded).
//   - imageSizeInBytes of an image index is the largest child's, as the API
//     reference says of manifest lists.
//   - Documented limits (ECR API reference): maxResults 1..1000 with a
//     default page of 100 for DescribeImages, ListImages,
//     DescribeImageScanFindings and DescribeRepositories; imageIds 1..100 for
//     BatchGetImage and BatchDeleteImage; maxResults/nextToken refused together
//     with imageIds or repositoryNames; image tags 1..300 characters;
//     manifests up to 4 MiB; repository names by the documented pattern.
//   - Paging tokens are opaque and cursor-based (the last item returned), so
//     deleting images between pages neither skips nor repeats the others; a
//     token from another operation or repository is InvalidParameterException.
//   - ListImages returns one entry per (digest, tag) pair and a digest-only
//     entry for untagged images; tagStatus TAGGED, UNTAGGED, ANY.
//   - PutImage: digest is sha256 of the exact manifest bytes; immutable tags
//     (IMMUTABLE and the *_WITH_EXCLUSION wildcard filters) answer
//     ImageTagAlreadyExistsException; the same manifest with the same (or no)
//     tag answers ImageAlreadyExistsException; a mutable tag moves, leaving the
//     old image untagged; an index whose children are missing answers
//     ReferencedImagesNotFoundException.
//   - BatchDeleteImage: by tag removes only that tag, and the image once its
//     last tag is gone ("When you remove the last tag from an image, the
//     image is deleted from your repository", API reference); by digest
//     removes the image and all its tags; failures[] with the real failure
//     codes ImageNotFound, InvalidImageDigest, ImageTagDoesNotMatchDigest,
//     MissingDigestAndTag and ImageReferencedByManifestList (a child of an
//     index in the repository).
//   - Multi-arch: OCI image indexes and Docker manifest lists are stored
//     with their children, which are ordinary untagged images.
//   - Scanning: basic scan on push (when the repository says so) and
//     StartImageScan with the documented once-per-24-hours limit, scan on push
//     included (LimitExceededException, which the SDK retries as throttling);
//     enhanced repositories are scanned after every push. Findings are seeded
//     per digest with [Server.SetFindings]; basic findings carry attributes
//     package_name, package_version and CVSS2_SCORE (a string), enhanced
//     findings packageVulnerabilityDetails, fixAvailable YES/NO, status
//     ACTIVE, a finding ARN, severity, title and remediation.
//   - Events (via the [Emitter], built by internal/ecrevent in the shapes of
//     testdata/events): "ECR Image Action" PUSH per successful PutImage and
//     DELETE per removed (digest, tag); "ECR Image Scan" COMPLETE or FAILED
//     with finding-severity-counts for basic scans; "Inspector2 Scan"
//     INITIAL_SCAN_COMPLETE and one "Inspector2 Finding" per finding after an
//     enhanced scan, and, from [Server.Rescan], one "Inspector2 Finding" per
//     newly found vulnerability only. Finding ARNs in events and in
//     DescribeImageScanFindings agree.
//   - Malformed input: invalid JSON or wrong member types answer
//     SerializationException naming the member; missing or out-of-range
//     members answer InvalidParameterException naming the member; an unknown
//     X-Amz-Target answers UnknownOperationException. Nothing a client sends
//     makes the emulator panic or answer 5xx (FuzzECRHandler).
//   - Every answer, errors and injected faults included, carries an
//     x-amzn-RequestId header (a UUID), as ECR's do; the SDK reports it in
//     ResultMetadata and ResponseError.ServiceRequestID.
//   - Faults (package fault): per operation, throttling (ThrottlingException,
//     400), server errors (ServerException, 500 or a chosen 5xx), latency,
//     dropped connections and per-item BatchDeleteImage failures (failureCode
//     KmsError), seeded and deterministic; every call is logged.
//
// # Not modelled
//
//   - SigV4 verification, IAM, cross-account registries (any registryId but
//     the emulator's is InvalidParameterException), repository policies,
//     tags on resources, KMS, replication, pull-through cache, layer uploads
//     and downloads (GetDownloadUrlForLayer: pull time is recorded by the
//     manifest fetch), pull-time update exclusions, lifecycle evaluation.
//   - Undocumented storage-class choices: archiving an index moves the
//     children it lists with it (unless another index that stays ACTIVE lists
//     them); a listed child cannot be moved alone; moving an image to the class
//     it is in, or while it is ACTIVATING, answers
//     ImageStorageClassUpdateNotSupportedException.
//   - Scanning is instantaneous: StartImageScan answers IN_PROGRESS as AWS
//     does, but the result is already there. AWS configures enhanced
//     scanning per registry; here it is a per-repository option, and
//     StartImageScan on an enhanced repository is refused with
//     ValidationException "This feature is disabled" (the message users
//     report; the error type is not documented).
//   - Lifecycle policies are stored and validated, never evaluated (gc
//     evaluates them itself with internal/lifecycle to show them side by
//     side).
//   - acceptedMediaTypes of BatchGetImage is validated but no manifest
//     conversion happens.
//   - A failed enhanced scan emits no event. Event delivery is synchronous
//     and exactly once (AWS delivers on a best-effort basis).
//   - Order of DescribeImages and ListImages results is push order; AWS does
//     not document an order.
package ecr
