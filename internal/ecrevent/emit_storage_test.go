package ecrevent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEmitStorageClass checks that the archive and restore events the ECR
// emulator emits are the documented samples in testdata/events.
func TestEmitStorageClass(t *testing.T) {
	const digest = "sha256:d81575f1938df5096b9e552c6feb0bc4ee22396a73bb8590f09c7591cef205c0"
	base := StorageClassInput{
		Repository: "mlops/retail-api", Digest: digest,
		ManifestMediaType: "application/vnd.oci.image.manifest.v1+json",
		ArtifactMediaType: "application/vnd.oci.image.config.v1+json",
	}
	archive := base
	archive.EnvelopeInput = EnvelopeInput{ID: "e25a13d5-361d-4ba3-9cb0-615188e37e48", Account: "123456789012", Region: "ap-southeast-1",
		Time: time.Date(2026, 11, 22, 3, 30, 0, 0, time.UTC)}
	archive.TargetStorageClass = "ARCHIVE"
	restore := base
	restore.EnvelopeInput = EnvelopeInput{ID: "bce75c39-0889-4218-ae85-b140f35879d5", Account: "123456789012", Region: "ap-southeast-1",
		Time: time.Date(2026, 11, 23, 9, 12, 44, 0, time.UTC)}
	restore.TargetStorageClass = "STANDARD"
	restore.LastActivatedAt = time.Date(2026, 11, 23, 9, 12, 43, 510_000_000, time.UTC)
	for _, tc := range []struct {
		fixture string
		in      StorageClassInput
	}{
		{"ecr-image-action-update-storage-class.json", archive},
		{"ecr-image-action-update-storage-class-restore.json", restore},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			got, err := NewStorageClassEvent(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(generic(t, readFixture(t, tc.fixture)), generic(t, got)); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if k, err := Classify(got); err != nil || k != KindStorageClass {
				t.Errorf("Classify = %v, %v; want %v", k, err, KindStorageClass)
			}
		})
	}
	bad := archive
	bad.TargetStorageClass = "GLACIER"
	if _, err := NewStorageClassEvent(bad); err == nil {
		t.Error("NewStorageClassEvent accepted target storage class GLACIER")
	}
}
