package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

const repo = "mlops/retail-api"

// emu is an ECR emulator with the real SDK client pointed at it (8 attempts,
// as the functions and the CLI configure it).
type emu struct {
	srv    *ecremu.Server
	client *ecr.Client
}

func startEmu(t *testing.T) *emu {
	t.Helper()
	srv := ecremu.New(ecremu.Config{Seed: 7})
	url, stop, err := srv.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	if err := srv.CreateRepository(repo, ecremu.RepositoryOptions{}); err != nil {
		t.Fatal(err)
	}
	return &emu{srv: srv, client: ecr.NewFromConfig(emuhttp.ClientConfig(url, 8))}
}

func (e *emu) seed(t *testing.T, tags ...string) string {
	t.Helper()
	d, err := e.srv.SeedImage(repo, ecremu.Image{Tags: tags, Size: 1 << 20, PushedAt: time.Now().Add(-100 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// hooked runs a function before the first call of one operation, to change
// the registry between gc's steps the way a concurrent push would.
type hooked struct {
	*ecr.Client
	beforeDescribe, beforeDelete func()
	deleteTwice                  bool
}

func (h *hooked) DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput, o ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	if f := h.beforeDescribe; f != nil {
		h.beforeDescribe = nil
		f()
	}
	return h.Client.DescribeImages(ctx, in, o...)
}

func (h *hooked) BatchDeleteImage(ctx context.Context, in *ecr.BatchDeleteImageInput, o ...func(*ecr.Options)) (*ecr.BatchDeleteImageOutput, error) {
	if f := h.beforeDelete; f != nil {
		h.beforeDelete = nil
		f()
	}
	if h.deleteTwice {
		// An SDK retry of a call ECR had already carried out (the
		// loopback "use of closed network connection" retries of
		// aws-sdk-go-v2#2737): the caller sees the second answer.
		if _, err := h.Client.BatchDeleteImage(ctx, in, o...); err != nil {
			return nil, err
		}
	}
	return h.Client.BatchDeleteImage(ctx, in, o...)
}

func planned(e *emu, t *testing.T, digests ...string) []Planned {
	t.Helper()
	imgs := e.srv.Images(repo)
	var out []Planned
	for _, d := range digests {
		out = append(out, Planned{Digest: d, Tags: imgs[d]})
	}
	return out
}

func TestDeleteBatchesAndCounts(t *testing.T) {
	e := startEmu(t)
	var ds []string
	for i := range 250 {
		var tags []string
		switch i % 3 {
		case 0:
			tags = []string{fmt.Sprintf("v%d", i)}
		case 1:
			tags = []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)}
		}
		ds = append(ds, e.seed(t, tags...))
	}
	e.srv.Log().Reset()
	r, err := Delete(context.Background(), e.client, "", repo, planned(e, t, ds...))
	if err != nil {
		t.Fatal(err)
	}
	// 84 one-tag, 83 two-tag and 83 untagged images: 84 + 166 + 83 = 333 ids.
	if len(r.Deleted) != 250 || r.Calls != 4 || r.Checks != 3 {
		t.Errorf("deleted %d in %d calls after %d checks; want 250 in ceil(333/100) = 4 after ceil(250/100) = 3", len(r.Deleted), r.Calls, r.Checks)
	}
	if n := e.srv.Log().Count("BatchDeleteImage"); n != 4 {
		t.Errorf("BatchDeleteImage calls logged = %d, want 4", n)
	}
	if n := len(e.srv.Images(repo)); n != 0 {
		t.Errorf("%d images left", n)
	}
}

// TestDeleteRaces changes an image between planning and deletion. Deleting
// by digest (what gc did before) deletes a tag pushed in between; deleting
// tagged images by their tags keeps it.
func TestDeleteRaces(t *testing.T) {
	tests := []struct {
		name string
		// tags of the planned image; change runs at the hook.
		tags        []string
		atDescribe  bool // change before the re-check, else just before the delete
		change      func(t *testing.T, e *emu, digest string)
		wantImage   bool
		wantDeleted bool
		wantKept    string
		wantRaced   string
	}{
		{
			name: "tag pushed before the re-check: kept", tags: []string{"v1"}, atDescribe: true,
			change: retag("hotfix"), wantImage: true, wantKept: "tagged hotfix since it was planned",
		},
		{
			name: "tag pushed after the re-check: the tag keeps the image", tags: []string{"v1"},
			change: retag("hotfix"), wantImage: true, wantDeleted: true,
		},
		{
			name: "untagged image tagged after the re-check: deleted, and reported", tags: nil,
			change: retag("hotfix"), wantDeleted: true, wantRaced: "deleted by digest although tagged hotfix just before",
		},
		{
			name: "tag moved to another image after the re-check: kept", tags: []string{"v1"},
			change: func(t *testing.T, e *emu, _ string) {
				if _, err := e.srv.SeedImage(repo, ecremu.Image{Tags: []string{"v1"}, Size: 1}); err != nil {
					t.Fatal(err)
				}
			},
			wantImage: true, wantKept: "a tag moved to another image since the re-check",
		},
		{
			name: "deleted by someone else: gone, not deleted by us", tags: []string{"v1"}, atDescribe: true,
			change: func(t *testing.T, e *emu, d string) {
				if _, err := e.client.BatchDeleteImage(context.Background(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo),
					ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(d)}}}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmu(t)
			d := e.seed(t, tc.tags...)
			other := e.seed(t, "v0")
			plan := planned(e, t, d, other)
			h := &hooked{Client: e.client}
			hook := func() { tc.change(t, e, d) }
			if tc.atDescribe {
				h.beforeDescribe = hook
			} else {
				h.beforeDelete = hook
			}
			r, err := Delete(context.Background(), h, "", repo, plan)
			if err != nil {
				t.Fatal(err)
			}
			_, exists := e.srv.Images(repo)[d]
			if exists != tc.wantImage {
				t.Errorf("image exists = %v, want %v", exists, tc.wantImage)
			}
			if got := slices.Contains(r.Deleted, d); got != tc.wantDeleted {
				t.Errorf("reported deleted = %v, want %v (report %+v)", got, tc.wantDeleted, r)
			}
			if !slices.Contains(r.Deleted, other) {
				t.Errorf("the unchanged image was not deleted: %+v", r)
			}
			if got := whyOf(r.Kept, d); got != tc.wantKept {
				t.Errorf("kept because %q, want %q", got, tc.wantKept)
			}
			if got := whyOf(r.Raced, d); got != tc.wantRaced {
				t.Errorf("raced because %q, want %q", got, tc.wantRaced)
			}
		})
	}
}

func retag(tag string) func(t *testing.T, e *emu, d string) {
	return func(t *testing.T, e *emu, d string) {
		m, err := e.client.BatchGetImage(context.Background(), &ecr.BatchGetImageInput{RepositoryName: aws.String(repo),
			ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(d)}}})
		if err != nil || len(m.Images) != 1 {
			t.Fatalf("get manifest: %v %+v", err, m)
		}
		if _, err := e.client.PutImage(context.Background(), &ecr.PutImageInput{RepositoryName: aws.String(repo),
			ImageManifest: m.Images[0].ImageManifest, ImageTag: aws.String(tag)}); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
}

func whyOf(cs []Change, d string) string {
	for _, c := range cs {
		if c.Digest == d {
			return c.Why
		}
	}
	return ""
}

// TestDeleteCountsRetriedCall: a BatchDeleteImage the SDK sent twice
// answers our own deletions as ImageNotFound the second time; they are
// still counted as deleted, not as gone.
func TestDeleteCountsRetriedCall(t *testing.T) {
	e := startEmu(t)
	a, b, c := e.seed(t, "v1"), e.seed(t, "x", "y"), e.seed(t)
	r, err := Delete(context.Background(), &hooked{Client: e.client, deleteTwice: true}, "", repo, planned(e, t, a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a, b, c}, r.Deleted); diff != "" || len(r.Gone) != 0 {
		t.Errorf("deleted (-want +got):\n%s\ngone %v", diff, r.Gone)
	}
}

func TestDeleteFailures(t *testing.T) {
	e := startEmu(t)
	var ds []string
	for i := range 150 {
		ds = append(ds, e.seed(t, fmt.Sprintf("v%d", i)))
	}
	e.srv.Faults().Set("BatchDeleteImage", fault.Rule{ItemFailure: 0.1})
	r, err := Delete(context.Background(), e.client, "", repo, planned(e, t, ds...))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failed) == 0 || len(r.Deleted)+len(r.Failed) != 150 {
		t.Fatalf("deleted %d, failed %d of 150", len(r.Deleted), len(r.Failed))
	}
	if f := r.Failed[0]; f.Code != types.ImageFailureCodeKmsError {
		t.Errorf("failure = %+v, want KmsError", f)
	}

	e.srv.Faults().Set("BatchDeleteImage", fault.Rule{Rate: 1, Kind: fault.ServerError})
	left := r.Failed
	var again []string
	for _, f := range left {
		again = append(again, f.Digest)
	}
	r, err = Delete(context.Background(), e.client, "", repo, planned(e, t, again...))
	var se *types.ServerException
	if !errors.As(err, &se) || len(r.Deleted) != 0 || r.Calls != 1 {
		t.Errorf("persistent 5xx: err %v, report %+v; want the ServerException after one call", err, r)
	}
}

func TestDeleteIndexBeforeChildren(t *testing.T) {
	e := startEmu(t)
	idx, err := e.srv.SeedImage(repo, ecremu.Image{Tags: []string{"v2"}, Children: []ecremu.Image{{Size: 10}, {Size: 20, Platform: "linux/arm64"}}})
	if err != nil {
		t.Fatal(err)
	}
	var children []string
	for d := range e.srv.Images(repo) {
		if d != idx {
			children = append(children, d)
		}
	}
	slices.Sort(children)
	// Children first: refused while the index stands, retried once after it goes.
	r, err := Delete(context.Background(), e.client, "", repo, planned(e, t, append(children, idx)...))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Deleted) != 3 || len(r.Failed) != 0 || r.Calls != 2 {
		t.Errorf("report %+v; want 3 deleted in 2 calls", r)
	}
}

func TestArchive(t *testing.T) {
	e := startEmu(t)
	a, b, gone := e.seed(t, "v1"), e.seed(t, "v2"), e.seed(t, "v3")
	plan := planned(e, t, a, b, gone)
	if _, err := e.client.BatchDeleteImage(context.Background(), &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v3")}}}); err != nil {
		t.Fatal(err)
	}
	// b is archived by someone else first: UpdateImageStorageClass refuses,
	// and the re-describe finds it ARCHIVED (the same answer a retried call
	// of ours gets).
	h := &hookedArchive{Client: e.client, before: map[string]func(){b: func() {
		if _, err := UpdateStorageClass(context.Background(), e.client, "", repo, types.ImageIdentifier{ImageDigest: aws.String(b)}, types.TargetStorageClassArchive); err != nil {
			t.Fatal(err)
		}
	}}}
	r, err := Archive(context.Background(), h, "", repo, plan)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a, b}, r.Archived); diff != "" || !cmp.Equal(r.Gone, []string{gone}) || r.Calls != 2 {
		t.Errorf("archived (-want +got):\n%s\nreport %+v", diff, r)
	}
	for _, d := range []string{a, b} {
		if st, _ := e.srv.State(repo, d); st.Status != ecremu.StatusArchived {
			t.Errorf("%s is %s", d, st.Status)
		}
	}
	// Archiving needs the image unchanged: a new tag means someone uses it.
	c := e.seed(t, "v4")
	plan = planned(e, t, c)
	retag("hotfix")(t, e, c)
	r, err = Archive(context.Background(), e.client, "", repo, plan)
	if err != nil || len(r.Archived) != 0 || whyOf(r.Kept, c) != "tagged hotfix since it was planned" {
		t.Errorf("archive of a retagged image: %+v, %v", r, err)
	}
}

type hookedArchive struct {
	*ecr.Client
	before map[string]func()
}

func (h *hookedArchive) UpdateImageStorageClass(ctx context.Context, in *ecr.UpdateImageStorageClassInput, o ...func(*ecr.Options)) (*ecr.UpdateImageStorageClassOutput, error) {
	if f := h.before[aws.ToString(in.ImageId.ImageDigest)]; f != nil {
		f()
	}
	return h.Client.UpdateImageStorageClass(ctx, in, o...)
}

func TestEachPageListsEveryStatus(t *testing.T) {
	e := startEmu(t)
	for i := range 1500 {
		img := ecremu.Image{Tags: []string{fmt.Sprintf("v%d", i)}, Size: 1}
		if i%3 == 0 {
			img.ArchivedAt = time.Now().Add(-time.Hour)
		}
		if _, err := e.srv.SeedImage(repo, img); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.Log().Reset()
	archived, pages := 0, 0
	n, err := EachPage(context.Background(), e.client, "", repo, func(page []types.ImageDetail) error {
		pages++
		for _, d := range page {
			if d.ImageStatus == types.ImageStatusArchived {
				archived++
			}
		}
		return nil
	})
	if err != nil || n != 1500 || archived != 500 || pages != 2 {
		t.Errorf("listed %d (%d archived) in %d pages, err %v; want 1500 (500) in 2", n, archived, pages, err)
	}
	stop := errors.New("stop")
	if _, err := EachPage(context.Background(), e.client, "", repo, func([]types.ImageDetail) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn error = %v, want it returned", err)
	}
}

func TestRepositoriesBatched(t *testing.T) {
	e := startEmu(t)
	names := []string{repo}
	for i := range 149 {
		n := fmt.Sprintf("team/app-%03d", i)
		if err := e.srv.CreateRepository(n, ecremu.RepositoryOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	e.srv.Log().Reset()
	found, errs := Repositories(context.Background(), e.client, "", names)
	if len(found) != 150 || len(errs) != 0 || e.srv.Log().Count("DescribeRepositories") != 2 {
		t.Errorf("found %d, errors %v in %d calls; want 150 in ceil(150/100) = 2", len(found), errs, e.srv.Log().Count("DescribeRepositories"))
	}
	e.srv.Log().Reset()
	found, errs = Repositories(context.Background(), e.client, "", append(names[:3:3], "team/missing"))
	var nf *types.RepositoryNotFoundException
	if len(found) != 3 || !errors.As(errs["team/missing"], &nf) || e.srv.Log().Count("DescribeRepositories") != 5 {
		t.Errorf("found %d, errors %v in %d calls; want 3 found and team/missing not found, in 1 + 4 calls", len(found), errs, e.srv.Log().Count("DescribeRepositories"))
	}
}

func TestLifecyclePolicy(t *testing.T) {
	e := startEmu(t)
	if _, found, err := LifecyclePolicy(context.Background(), e.client, "", repo); found || err != nil {
		t.Fatalf("no policy: found %v, err %v", found, err)
	}
	text := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
	if err := e.srv.SetLifecyclePolicy(repo, text); err != nil {
		t.Fatal(err)
	}
	got, found, err := LifecyclePolicy(context.Background(), e.client, "", repo)
	if !found || err != nil || got != text {
		t.Errorf("policy = %q, %v, %v", got, found, err)
	}
	if _, _, err := LifecyclePolicy(context.Background(), e.client, "", "team/none"); err == nil || !strings.Contains(err.Error(), "team/none") {
		t.Errorf("missing repository: %v", err)
	}
}
