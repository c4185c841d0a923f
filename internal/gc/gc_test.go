package gc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

const testPolicy = `
version: 1
clusters:
  - { name: east, namespaces: [default] }
  - { name: west, namespaces: [prod] }
repositories:
  - name: app
    retention:
      - { match: "v*", keepNewest: 2 }
      - { untagged: true, maxAge: 1d }
    protect:
      tags: [latest]
  - name: tools
    retention:
      - { match: "*", keepNewest: 1 }
`

const host = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Images of the base history: in app, v1..v5 pushed 10..6 days ago, u1
// untagged 3 days ago and u2 untagged an hour ago; in tools, t1..t3.
var (
	v1, v2, v3, v4, v5 = digest(1), digest(2), digest(3), digest(4), digest(5)
	u1, u2             = digest(11), digest(12)
	t1, t2, t3         = digest(21), digest(22), digest(23)
)

const mib = 1 << 20

func baseECR() *fakeECR {
	f := newFakeECR()
	for i, d := range []string{v1, v2, v3, v4, v5} {
		f.add("app", d, now.Add(-time.Duration(10-i)*24*time.Hour), int64(i+1)*mib, "v1.0."+string(rune('1'+i)))
	}
	f.add("app", u1, now.Add(-72*time.Hour), 7*mib)
	f.add("app", u2, now.Add(-time.Hour), 8*mib)
	for i, d := range []string{t1, t2, t3} {
		f.add("tools", d, now.Add(-time.Duration(3-i)*time.Hour), mib, "t"+string(rune('1'+i)))
	}
	return f
}

// baseClusters: east runs app:v1.0.1 by tag, west runs v2 by digest.
func baseClusters() *fakeClusters {
	return &fakeClusters{
		refs: map[string][]string{
			"east": {host + "/app:v1.0.1", "docker.io/library/nginx:1.25"},
			"west": {host + "/app@" + v2},
		},
		fail: map[string]error{},
	}
}

func TestRun(t *testing.T) {
	untouchedApp := []string{v1, v2, v3, v4, v5, u1, u2}
	untouchedTools := []string{t1, t2, t3}
	tests := []struct {
		name    string
		setup   func(*fakeECR, *fakeClusters)
		names   []string
		opts    Options
		want    map[string][]string // digests left per repository
		refused bool
		errs    []string // repositories with an error, in order
		deletes int      // BatchDeleteImage calls
		report  []alert.GCRepository
	}{
		{
			name:    "deletes what rules expire, never what clusters run",
			opts:    Options{Cap: 100},
			want:    map[string][]string{"app": {v1, v2, v4, v5, u2}, "tools": {t3}},
			deletes: 2,
			report:  []alert.GCRepository{{Name: "app", Images: 2, Bytes: 10 * mib}, {Name: "tools", Images: 2, Bytes: 2 * mib}},
		},
		{
			name:   "dry run deletes nothing and reports the plan",
			opts:   Options{Cap: 100, DryRun: true},
			want:   map[string][]string{"app": untouchedApp, "tools": untouchedTools},
			report: []alert.GCRepository{{Name: "app", Images: 2, Bytes: 10 * mib}, {Name: "tools", Images: 2, Bytes: 2 * mib}},
		},
		{
			name:    "a plan over the cap deletes nothing",
			opts:    Options{Cap: 3},
			want:    map[string][]string{"app": untouchedApp, "tools": untouchedTools},
			refused: true,
			report:  []alert.GCRepository{{Name: "app", Images: 2, Bytes: 10 * mib}, {Name: "tools", Images: 2, Bytes: 2 * mib}},
		},
		{
			name:  "a cluster that cannot be listed stops every deletion",
			setup: func(_ *fakeECR, c *fakeClusters) { c.fail["west"] = errClusterDown },
			opts:  Options{Cap: 100},
			want:  map[string][]string{"app": untouchedApp, "tools": untouchedTools},
			errs:  []string{"app", "tools"},
			report: []alert.GCRepository{
				{Name: "app", Error: "list images in use: EKS cluster west: " + errClusterDown.Error()},
				{Name: "tools", Error: "list images in use: EKS cluster west: " + errClusterDown.Error()},
			},
		},
		{
			name: "a failed second DescribeImages page deletes nothing in that repository",
			setup: func(f *fakeECR, _ *fakeClusters) {
				for i := range 1200 {
					f.add("app", digest(1000+i), now.Add(-30*24*time.Hour), mib)
				}
				f.failPage["app"] = 2
			},
			opts:    Options{Cap: 100},
			want:    map[string][]string{"tools": {t3}},
			errs:    []string{"app"},
			deletes: 1,
		},
		{
			name: "a failed index manifest read deletes nothing in that repository",
			setup: func(f *fakeECR, _ *fakeClusters) {
				f.add("app", digest(99), now.Add(-20*24*time.Hour), 0, "v0.9.0")
				f.images["app"][len(f.images["app"])-1].ImageManifestMediaType = aws.String("application/vnd.oci.image.index.v1+json")
				f.failGet = &types.ServerException{Message: aws.String("boom")}
			},
			opts:    Options{Cap: 100},
			want:    map[string][]string{"app": append([]string{digest(99)}, untouchedApp...), "tools": {t3}},
			errs:    []string{"app"},
			deletes: 1,
		},
		{
			name:    "an image ECR refuses to delete is reported",
			setup:   func(f *fakeECR, _ *fakeClusters) { f.refuse[v3] = types.ImageFailureCodeKmsError },
			opts:    Options{Cap: 100},
			want:    map[string][]string{"app": {v1, v2, v3, v4, v5, u2}, "tools": {t3}},
			deletes: 2,
			report:  []alert.GCRepository{{Name: "app", Images: 1, Bytes: 7 * mib, Failed: 1}, {Name: "tools", Images: 2, Bytes: 2 * mib}},
		},
		{
			name:    "a failed delete call is an error",
			setup:   func(f *fakeECR, _ *fakeClusters) { f.failDelete = &types.ServerException{Message: aws.String("down")} },
			names:   []string{"tools"},
			opts:    Options{Cap: 100},
			want:    map[string][]string{"tools": untouchedTools},
			errs:    []string{"tools"},
			deletes: 1,
		},
		{
			name:  "a repository the policy does not name",
			names: []string{"stranger"},
			opts:  Options{Cap: 100},
			want:  map[string][]string{"app": untouchedApp},
			errs:  []string{"stranger"},
		},
		{
			name:  "a missing repository is an error, others proceed",
			setup: func(f *fakeECR, _ *fakeClusters) { delete(f.images, "tools") },
			opts:  Options{Cap: 100},
			want:  map[string][]string{"app": {v1, v2, v4, v5, u2}},
			errs:  []string{"tools"}, deletes: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := baseECR(), baseClusters()
			if tc.setup != nil {
				tc.setup(f, c)
			}
			tc.opts.Now = now
			r := &Runner{ECR: f, Sources: c.sources(t)}
			res := r.Run(context.Background(), mustPolicy(t, testPolicy), tc.names, tc.opts)
			for repo, want := range tc.want {
				want = sorted(want)
				if diff := cmp.Diff(want, f.digests(repo)); diff != "" {
					t.Errorf("images left in %s (-want +got):\n%s", repo, diff)
				}
			}
			if res.CapRefused != tc.refused {
				t.Errorf("CapRefused = %v, want %v", res.CapRefused, tc.refused)
			}
			var errs []string
			for _, o := range res.Outcomes {
				if o.Err != nil {
					errs = append(errs, o.Repository)
				}
			}
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("repositories with errors (-want +got):\n%s", diff)
			}
			if got := f.calls["BatchDeleteImage"]; got != tc.deletes {
				t.Errorf("BatchDeleteImage calls = %d, want %d", got, tc.deletes)
			}
			if tc.report != nil {
				a := res.Alert(DefaultPrices)
				if diff := cmp.Diff(tc.report, a.GC.Repositories); diff != "" {
					t.Errorf("report (-want +got):\n%s", diff)
				}
				if a.GC.DryRun != tc.opts.DryRun || a.GC.CapRefused != tc.refused || a.GC.Cap != tc.opts.Cap {
					t.Errorf("report header = %+v, want dryRun %v capRefused %v cap %d", a.GC, tc.opts.DryRun, tc.refused, tc.opts.Cap)
				}
				if a.Kind != alert.KindGCReport || a.Region != "ap-southeast-1" || a.Account != "123456789012" {
					t.Errorf("alert = %+v", a)
				}
			}
			if !res.Noteworthy() {
				t.Errorf("Noteworthy() = false for a run with deletions or errors")
			}
		})
	}
}

func TestRunListsClustersAfterECR(t *testing.T) {
	f, c := baseECR(), baseClusters()
	var (
		mu    sync.Mutex
		order []string
	)
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	p := mustPolicy(t, testPolicy)
	r := &Runner{ECR: f, Sources: inuse.Clusters(p, func(ctx context.Context, cluster string) (kube.InUse, error) {
		record("cluster " + cluster)
		return c.list(ctx, cluster)
	}), Progress: func(repo string, n int) { record("ecr " + repo) }}
	r.Run(context.Background(), p, nil, Options{Now: now, DryRun: true})
	// The clusters are listed concurrently, after every ECR listing.
	if len(order) != 4 {
		t.Fatalf("listings = %v, want 2 repositories then 2 clusters", order)
	}
	slices.Sort(order[2:])
	want := []string{"ecr app", "ecr tools", "cluster east", "cluster west"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("order of listings (-want +got):\n%s", diff)
	}
}

func TestRunWithoutClusterAccess(t *testing.T) {
	f := baseECR()
	p := mustPolicy(t, testPolicy)
	r := &Runner{ECR: f, Sources: inuse.Clusters(p, nil)}
	res := r.Run(context.Background(), p, nil, Options{Now: now, Cap: 100})
	if !errors.Is(res.ClusterErr, inuse.ErrNoClusterAccess) || f.calls["BatchDeleteImage"] != 0 {
		t.Errorf("ClusterErr = %v, deletes = %d; want ErrNoClusterAccess and no delete", res.ClusterErr, f.calls["BatchDeleteImage"])
	}
}

// fakeSource is an in-use source with a fixed listing, or an error.
type fakeSource struct {
	name string
	refs map[string]string // image reference → holder
	err  error
}

func (s fakeSource) Name() string { return s.name }

func (s fakeSource) List(context.Context) (inuse.Listing, error) {
	var l inuse.Listing
	for img, holder := range s.refs {
		l.Add(s.name, holder, img)
	}
	return l, s.err
}

// TestRunInUseSources: an image only an AWS service references is kept,
// with the reason naming it; any source failing deletes nothing and the
// error names the source.
func TestRunInUseSources(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	ecs := fakeSource{name: "ECS", refs: map[string]string{host + "/app:v1.0.3": "service retail/api task definition app:42"}}
	sm := fakeSource{name: "SageMaker", refs: map[string]string{host + "/tools@" + t1: "endpoint forecast model m1"}}

	f := baseECR()
	r := &Runner{ECR: f, Sources: append(baseClusters().sources(t), ecs, sm)}
	res := r.Run(context.Background(), p, nil, Options{Now: now, Cap: 100})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, o := range res.Outcomes {
		for _, d := range o.Plan.Decisions {
			reasons[d.Digest] = d.Reason
		}
	}
	for digest, want := range map[string]string{
		v3: "in use: ECS service retail/api task definition app:42 (tag v1.0.3)",
		t1: "in use: SageMaker endpoint forecast model m1 (digest " + t1 + ")",
	} {
		if !strings.HasPrefix(reasons[digest], want) {
			t.Errorf("reason of %s = %q, want it to start with %q", digest, reasons[digest], want)
		}
	}
	if !slices.Contains(f.digests("app"), v3) || !slices.Contains(f.digests("tools"), t1) {
		t.Errorf("an image in use by ECS or SageMaker was deleted: app %v, tools %v", f.digests("app"), f.digests("tools"))
	}

	down := fakeSource{name: "Lambda", err: errors.New("list functions: AccessDeniedException")}
	f = baseECR()
	r = &Runner{ECR: f, Sources: append(baseClusters().sources(t), ecs, down, sm)}
	res = r.Run(context.Background(), p, nil, Options{Now: now, Cap: 100})
	if res.ClusterErr == nil || !strings.Contains(res.ClusterErr.Error(), "list images in use: Lambda: list functions: AccessDeniedException") {
		t.Errorf("ClusterErr = %v, want the Lambda source named", res.ClusterErr)
	}
	if n := f.calls["BatchDeleteImage"]; n != 0 {
		t.Errorf("BatchDeleteImage calls = %d with a source down, want 0", n)
	}
	for _, o := range res.Outcomes {
		if o.Err == nil || !strings.Contains(o.Err.Error(), "Lambda") {
			t.Errorf("%s: Err = %v, want the Lambda failure", o.Repository, o.Err)
		}
	}
}

func TestNothingToDo(t *testing.T) {
	f := newFakeECR()
	f.add("tools", t1, now, mib, "t1")
	r := &Runner{ECR: f, Sources: baseClusters().sources(t)}
	res := r.Run(context.Background(), mustPolicy(t, testPolicy), []string{"tools"}, Options{Now: now, Cap: 100})
	if res.Noteworthy() {
		t.Errorf("Noteworthy() = true for a run with nothing to delete: %+v", res.Alert(DefaultPrices).GC)
	}
	if err := res.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

func TestAuditEvents(t *testing.T) {
	f, c := baseECR(), baseClusters()
	r := &Runner{ECR: f, Sources: c.sources(t)}
	res := r.Run(context.Background(), mustPolicy(t, testPolicy), nil, Options{Now: now, Cap: 100})
	got := res.AuditEvents("run-1", DefaultPrices)
	want := []audit.Event{
		{DetailType: audit.ImagesExpired, Resources: []string{"arn:aws:ecr:ap-southeast-1:123456789012:repository/app"},
			Detail: map[string]any{"repository": "app", "runId": "run-1", "images": 2, "bytes": int64(10 * mib), "failed": 0,
				"digests":  []string{u1, v3}, // plan order: newest first
				"archived": 0, "archivedBytes": int64(0), "monthlySavingsUSD": 0.0, "prices": DefaultPrices.Source}},
		{DetailType: audit.ImagesExpired, Resources: []string{"arn:aws:ecr:ap-southeast-1:123456789012:repository/tools"},
			Detail: map[string]any{"repository": "tools", "runId": "run-1", "images": 2, "bytes": int64(2 * mib), "failed": 0,
				"digests": []string{t2, t1}, "archived": 0, "archivedBytes": int64(0), "monthlySavingsUSD": 0.0, "prices": DefaultPrices.Source}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	dry := r.Run(context.Background(), mustPolicy(t, testPolicy), nil, Options{Now: now, Cap: 100, DryRun: true})
	if ev := dry.AuditEvents("run-2", DefaultPrices); len(ev) != 0 {
		t.Errorf("dry run audit events = %v, want none", ev)
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := baseECR()
	r := &Runner{ECR: f, Sources: inuse.Clusters(mustPolicy(t, testPolicy), func(ctx context.Context, cluster string) (kube.InUse, error) {
		return kube.InUse{}, ctx.Err()
	})}
	res := r.Run(ctx, mustPolicy(t, testPolicy), nil, Options{Now: now, Cap: 100})
	if !errors.Is(res.ClusterErr, context.Canceled) || f.calls["BatchDeleteImage"] != 0 {
		t.Errorf("ClusterErr = %v, deletes %d; want context.Canceled and none", res.ClusterErr, f.calls["BatchDeleteImage"])
	}
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

// TestReportKey: a report that states deletions or archivals has a key of
// its own, the same for the same digests in any order; every other report
// (dry run, cap refusal, failure, nothing left to delete) has the run's key.
func TestReportKey(t *testing.T) {
	deleted := func(repo string, digests ...string) Outcome {
		return Outcome{Repository: repo, Deleted: registry.Report{Deleted: digests, Calls: 1}}
	}
	ab := &Result{Outcomes: []Outcome{deleted("team/api", "sha256:a", "sha256:b")}}
	ba := &Result{Outcomes: []Outcome{deleted("team/api", "sha256:b", "sha256:a")}}
	tests := []struct {
		name   string
		res    *Result
		hashed bool
	}{
		{name: "deleted", res: ab, hashed: true},
		{name: "archived", res: &Result{Outcomes: []Outcome{{Repository: "team/api", Archived: registry.StorageReport{Archived: []string{"sha256:a"}, Calls: 1}}}}, hashed: true},
		{name: "dry run", res: &Result{DryRun: true, Outcomes: ab.Outcomes}},
		{name: "cap refused", res: &Result{CapRefused: true}},
		{name: "in-use listing failed", res: &Result{ClusterErr: errors.New("list pods: 500")}},
		{name: "refused by the run's cap", res: &Result{Outcomes: []Outcome{{Repository: "team/api", Refused: "over the cap"}}}},
		{name: "gone before deletion", res: &Result{Outcomes: []Outcome{{Repository: "team/api", Deleted: registry.Report{Gone: []string{"sha256:a"}, Calls: 0, Checks: 1}}}}},
		{name: "listing failed", res: &Result{Outcomes: []Outcome{{Repository: "team/api", Err: errors.New("describe images: 500")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.res.ReportKey("gc#r#team/api")
			if hashed := got != "gc#r#team/api"; hashed != tt.hashed || hashed && !strings.HasPrefix(got, "gc#r#team/api#") {
				t.Errorf("ReportKey = %q; want a key of its own: %v", got, tt.hashed)
			}
		})
	}
	if a, b := ab.ReportKey("k"), ba.ReportKey("k"); a != b {
		t.Errorf("the same deletions in another order: %q and %q", a, b)
	}
	other := &Result{Outcomes: []Outcome{deleted("team/api", "sha256:a")}}
	if a, b := ab.ReportKey("k"), other.ReportKey("k"); a == b {
		t.Errorf("other deletions, the same key %q", a)
	}
}
