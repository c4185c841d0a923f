package ecr_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// statuses lists digest → imageStatus with the given DescribeImages filter.
func (e *env) statuses(t *testing.T, repo string, filter types.ImageStatusFilter) map[string]string {
	t.Helper()
	in := &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)}
	if filter != "" {
		in.Filter = &types.DescribeImagesFilter{ImageStatus: filter}
	}
	out, err := e.client.DescribeImages(context.Background(), in)
	if err != nil {
		t.Fatalf("describe images: %v", err)
	}
	got := map[string]string{}
	for _, d := range out.ImageDetails {
		got[aws.ToString(d.ImageDigest)] = string(d.ImageStatus)
	}
	return got
}

func (e *env) storageClass(ctx context.Context, repo, digest string, target types.TargetStorageClass) (*awsecr.UpdateImageStorageClassOutput, error) {
	return e.client.UpdateImageStorageClass(ctx, &awsecr.UpdateImageStorageClassInput{
		RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageDigest: aws.String(digest)}, TargetStorageClass: target,
	})
}

// storageEvents returns "ARCHIVE digest" / "STANDARD digest" for each
// UPDATE_STORAGE_CLASS event emitted since the last call.
func (e *env) storageEvents(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, raw := range e.events.Take() {
		k, err := ecrevent.Classify(raw)
		if err != nil {
			t.Fatal(err)
		}
		if k != ecrevent.KindStorageClass {
			continue
		}
		var ev struct {
			Detail struct {
				Target string `json:"target-storage-class"`
				Digest string `json:"image-digest"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Detail.Target+" "+ev.Detail.Digest)
	}
	return out
}

func TestArchiveAndRestore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/train-model"
	e.createRepo(t, repo)
	old := e.push(t, repo, manifest(1, 1000), "v1")
	keep := e.push(t, repo, manifest(2, 1000), "v2")
	e.events.Take()

	out, err := e.storageClass(ctx, repo, old, types.TargetStorageClassArchive)
	if err != nil || out.ImageStatus != types.ImageStatusArchived {
		t.Fatalf("archive = %+v, %v; want ARCHIVED", out, err)
	}
	if got := e.storageEvents(t); !cmp.Equal(got, []string{"ARCHIVE " + old}) {
		t.Errorf("events after archive = %v", got)
	}
	// DescribeImages lists ACTIVE images unless asked (API reference:
	// filter.imageStatus defaults to ACTIVE).
	if got := e.statuses(t, repo, ""); !cmp.Equal(got, map[string]string{keep: "ACTIVE"}) {
		t.Errorf("default listing = %v, want only the active image", got)
	}
	if got := e.statuses(t, repo, types.ImageStatusFilterAny); !cmp.Equal(got, map[string]string{keep: "ACTIVE", old: "ARCHIVED"}) {
		t.Errorf("ANY listing = %v", got)
	}
	if got := e.statuses(t, repo, types.ImageStatusFilterArchived); !cmp.Equal(got, map[string]string{old: "ARCHIVED"}) {
		t.Errorf("ARCHIVED listing = %v", got)
	}
	li, err := e.client.ListImages(ctx, &awsecr.ListImagesInput{RepositoryName: aws.String(repo)})
	if err != nil || len(li.ImageIds) != 1 || aws.ToString(li.ImageIds[0].ImageDigest) != keep {
		t.Errorf("ListImages default = %+v, %v; want the active image only", li, err)
	}
	// Described by id whatever its status, with lastArchivedAt.
	d, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || len(d.ImageDetails) != 1 || !aws.ToTime(d.ImageDetails[0].LastArchivedAt).Equal(e.clock.Now()) {
		t.Fatalf("describe archived by tag = %+v, %v", d, err)
	}

	// Archived images cannot be pulled or scanned.
	bg, err := e.client.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(old)}}})
	if err != nil || len(bg.Images) != 0 || len(bg.Failures) != 1 || bg.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Errorf("pull of archived = %+v, %v; want an ImageNotFound failure", bg, err)
	}
	_, err = e.client.StartImageScan(ctx, &awsecr.StartImageScanInput{RepositoryName: aws.String(repo),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(old)}})
	var archived *types.ImageArchivedException
	if !errors.As(err, &archived) {
		t.Errorf("scan of archived: %v, want ImageArchivedException", err)
	}
	for _, tc := range []struct {
		digest string
		target types.TargetStorageClass
	}{{old, types.TargetStorageClassArchive}, {keep, types.TargetStorageClassStandard}} {
		var ns *types.ImageStorageClassUpdateNotSupportedException
		if _, err := e.storageClass(ctx, repo, tc.digest, tc.target); !errors.As(err, &ns) {
			t.Errorf("%s to %s: %v, want ImageStorageClassUpdateNotSupportedException", tc.digest, tc.target, err)
		}
	}

	// Restore: ACTIVATING for the activation delay, then ACTIVE and the
	// restore event.
	e.clock.Advance(100 * 24 * time.Hour)
	out, err = e.storageClass(ctx, repo, old, types.TargetStorageClassStandard)
	if err != nil || out.ImageStatus != types.ImageStatusActivating {
		t.Fatalf("restore = %+v, %v; want ACTIVATING", out, err)
	}
	if got := e.statuses(t, repo, types.ImageStatusFilterActivating); !cmp.Equal(got, map[string]string{old: "ACTIVATING"}) {
		t.Errorf("ACTIVATING listing = %v", got)
	}
	bg, _ = e.client.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(old)}}})
	if len(bg.Failures) != 1 {
		t.Errorf("pull while activating = %+v, want a failure", bg)
	}
	if got := e.storageEvents(t); len(got) != 0 {
		t.Errorf("events before the restore completes: %v", got)
	}
	e.clock.Advance(ecr.DefaultActivationDelay)
	if got := e.statuses(t, repo, ""); !cmp.Equal(got, map[string]string{keep: "ACTIVE", old: "ACTIVE"}) {
		t.Errorf("after the activation delay = %v", got)
	}
	if got := e.storageEvents(t); !cmp.Equal(got, []string{"STANDARD " + old}) {
		t.Errorf("events after restore = %v", got)
	}
}

func TestArchiveIndexMovesChildren(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/retail-api"
	e.createRepo(t, repo)
	amd := e.push(t, repo, manifest(1, 1000), "")
	arm := e.push(t, repo, manifest(2, 3000), "")
	idx := e.push(t, repo, index(amd, arm), "v1")
	d, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(idx)}}})
	if err != nil || aws.ToInt64(d.ImageDetails[0].ImageSizeInBytes) != 3000 {
		t.Fatalf("index size = %+v, %v; want 3000, the largest child (API reference: ImageDetail.imageSizeInBytes)", d, err)
	}
	var ns *types.ImageStorageClassUpdateNotSupportedException
	if _, err := e.storageClass(ctx, repo, amd, types.TargetStorageClassArchive); !errors.As(err, &ns) {
		t.Fatalf("archive a child alone: %v, want ImageStorageClassUpdateNotSupportedException", err)
	}
	if _, err := e.storageClass(ctx, repo, idx, types.TargetStorageClassArchive); err != nil {
		t.Fatal(err)
	}
	if got := e.statuses(t, repo, types.ImageStatusFilterAny); !cmp.Equal(got, map[string]string{amd: "ARCHIVED", arm: "ARCHIVED", idx: "ARCHIVED"}) {
		t.Errorf("after archiving the index: %v", got)
	}
	// Pushing an archived image again restores it at once (user guide,
	// "Restoring an image").
	if _, err := e.client.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest(1, 1000))}); err != nil {
		t.Fatalf("re-push archived child: %v", err)
	}
	if st, _ := e.srv.State(repo, amd); st.Status != ecr.StatusActive {
		t.Errorf("re-pushed child is %s, want ACTIVE", st.Status)
	}
}

func TestLastRecordedPullTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/train-model"
	e.createRepo(t, repo)
	d := e.push(t, repo, manifest(1, 1000), "v1")
	pulled := func() *time.Time {
		out, err := e.client.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
		if err != nil {
			t.Fatal(err)
		}
		return out.ImageDetails[0].LastRecordedPullTime
	}
	if p := pulled(); p != nil {
		t.Fatalf("never pulled image has lastRecordedPullTime %v", p)
	}
	e.clock.Advance(time.Hour)
	pullAt := e.clock.Now()
	if _, err := e.client.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}}); err != nil {
		t.Fatal(err)
	}
	if p := pulled(); p == nil || !p.Equal(pullAt) {
		t.Fatalf("lastRecordedPullTime = %v, want %v", p, pullAt)
	}

	// With the documented refresh modelled, a pull within 24 hours of the
	// recorded one is not recorded.
	lag := newEnvWith(t, ecr.Config{PullTimeRefresh: 24 * time.Hour})
	lag.createRepo(t, repo)
	d = lag.push(t, repo, manifest(1, 1000), "")
	first := lag.clock.Now()
	for _, step := range []time.Duration{0, 3 * time.Hour, 20 * time.Hour, 2 * time.Hour} {
		lag.clock.Advance(step)
		if err := lag.srv.RecordPull(repo, d); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := lag.srv.State(repo, d)
	if want := first.Add(25 * time.Hour); !st.LastPulled.Equal(want) {
		t.Errorf("with a 24h refresh, lastRecordedPullTime = %v, want %v (pulls at +0h, +3h, +23h, +25h)", st.LastPulled, want)
	}
}

func TestLifecyclePolicyOperations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/train-model"
	e.createRepo(t, repo)
	var nf *types.LifecyclePolicyNotFoundException
	if _, err := e.client.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)}); !errors.As(err, &nf) {
		t.Fatalf("GetLifecyclePolicy without one: %v, want LifecyclePolicyNotFoundException", err)
	}
	policy := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}}]}`
	if _, err := e.client.PutLifecyclePolicy(ctx, &awsecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)})
	if err != nil || aws.ToString(out.LifecyclePolicyText) != policy || aws.ToString(out.RepositoryName) != repo {
		t.Fatalf("GetLifecyclePolicy = %+v, %v", out, err)
	}
	bad := strings.Replace(policy, `"countNumber":90`, `"countNumber":0`, 1)
	_, err = e.client.PutLifecyclePolicy(ctx, &awsecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(bad)})
	if got := errorCode(err); got != "InvalidParameterException" || !strings.Contains(err.Error(), "countNumber") {
		t.Errorf("invalid policy: %v, want InvalidParameterException naming countNumber", err)
	}
	if _, err := e.client.DeleteLifecyclePolicy(ctx, &awsecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String(repo)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)}); !errors.As(err, &nf) {
		t.Errorf("GetLifecyclePolicy after delete: %v, want LifecyclePolicyNotFoundException", err)
	}
}

func TestSeedArchivedAndPulled(t *testing.T) {
	e := newEnv(t)
	const repo = "mlops/train-model"
	e.createRepo(t, repo)
	at := e.clock.Now().Add(-100 * 24 * time.Hour)
	pulled := e.clock.Now().Add(-5 * 24 * time.Hour)
	a, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{"old"}, ArchivedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.srv.SeedImage(repo, ecr.Image{Tags: []string{"used"}, LastPulled: pulled})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.statuses(t, repo, types.ImageStatusFilterAny); !cmp.Equal(got, map[string]string{a: "ARCHIVED", p: "ACTIVE"}) {
		t.Errorf("seeded statuses = %v", got)
	}
	if st, _ := e.srv.State(repo, p); !st.LastPulled.Equal(pulled) {
		t.Errorf("seeded lastPulled = %v, want %v", st.LastPulled, pulled)
	}
}

// TestStorageClassFaults: the new operations go through fault injection and
// the call log like the others.
func TestStorageClassFaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const repo = "mlops/train-model"
	e.createRepo(t, repo)
	d := e.push(t, repo, manifest(1, 1000), "v1")
	e.srv.Log().Reset()
	e.srv.Faults().Set("UpdateImageStorageClass", fault.Rule{Throttle: 1})
	e.srv.Faults().Set("GetLifecyclePolicy", fault.Rule{ServerError: 1})
	if _, err := e.storageClass(ctx, repo, d, types.TargetStorageClassArchive); err != nil {
		t.Fatalf("archive after one throttle: %v", err)
	}
	if got := faultsOf(e.srv.Log().Calls("UpdateImageStorageClass")); !cmp.Equal(got, []fault.Kind{fault.Throttle, fault.None}) {
		t.Errorf("UpdateImageStorageClass attempts = %v", got)
	}
	var nf *types.LifecyclePolicyNotFoundException
	if _, err := e.client.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)}); !errors.As(err, &nf) {
		t.Errorf("GetLifecyclePolicy after a 5xx: %v, want LifecyclePolicyNotFoundException from the retry", err)
	}
	if n := e.srv.Log().Count("GetLifecyclePolicy"); n != 2 {
		t.Errorf("GetLifecyclePolicy calls = %d, want 2", n)
	}
}
