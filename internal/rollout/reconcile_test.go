package rollout

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// fakeECR lists images two a page and serves scan findings by digest.
type fakeECR struct {
	images   []ecrtypes.ImageDetail
	listErr  error // returned for the second page
	findings map[string][]ecrtypes.ImageScanFinding
	// status overrides the findings read's COMPLETE status by digest.
	status  map[string]ecrtypes.ScanStatus
	scanned []string // digests whose findings were read
}

func (f *fakeECR) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
		if f.listErr != nil {
			return nil, f.listErr
		}
	}
	end := min(start+2, len(f.images))
	out := &ecr.DescribeImagesOutput{ImageDetails: f.images[start:end]}
	if end < len(f.images) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeECR) DescribeImageScanFindings(_ context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	d := aws.ToString(in.ImageId.ImageDigest)
	f.scanned = append(f.scanned, d)
	fs, ok := f.findings[d]
	if !ok {
		return nil, &ecrtypes.ScanNotFoundException{Message: aws.String("no scan")}
	}
	status := ecrtypes.ScanStatusComplete
	if st, ok := f.status[d]; ok {
		status = st
	}
	return &ecr.DescribeImageScanFindingsOutput{
		ImageScanStatus:   &ecrtypes.ImageScanStatus{Status: status},
		ImageScanFindings: &ecrtypes.ImageScanFindings{Findings: fs},
	}, nil
}

// scan is the scan state DescribeImages reports for an image.
type scan struct {
	status ecrtypes.ScanStatus
	counts map[string]int32
}

var (
	cleanScan = &scan{status: ecrtypes.ScanStatusComplete, counts: map[string]int32{}}
	highScan  = &scan{status: ecrtypes.ScanStatusComplete, counts: map[string]int32{"HIGH": 1}}
)

func detail(d string, pushed time.Time, s *scan, tags ...string) ecrtypes.ImageDetail {
	out := ecrtypes.ImageDetail{RegistryId: aws.String("123456789012"), RepositoryName: aws.String("mlops/retail-api"),
		ImageDigest: aws.String(d), ImageTags: tags, ImagePushedAt: aws.Time(pushed)}
	if s != nil {
		out.ImageScanStatus = &ecrtypes.ImageScanStatus{Status: s.status}
		if s.status == ecrtypes.ScanStatusComplete {
			out.ImageScanFindingsSummary = &ecrtypes.ImageScanFindingsSummary{FindingSeverityCounts: s.counts}
		}
	}
	return out
}

func high(id string) ecrtypes.ImageScanFinding {
	return ecrtypes.ImageScanFinding{Name: aws.String(id), Severity: ecrtypes.FindingSeverityHigh}
}

// testOrigin is the function's own registry: testRegistry.
var testOrigin = ecrevent.Origin{Partition: "aws", Account: "123456789012", Region: "ap-southeast-1"}

func TestReconcile(t *testing.T) {
	api := testRegistry + "/mlops/retail-api@"
	gated := semverTarget()
	gated.RequireCleanScan = true
	anyV := semverTarget()
	anyV.Tags, anyV.Order = policy.MustCompilePattern("v*"), policy.OrderPushed
	ignoreCVE1 := []policy.Ignore{{ID: "CVE-1", Until: policy.Date{Time: t0.Add(48 * time.Hour)}, Reason: "not reachable"}}
	tests := []struct {
		name      string
		running   string
		ann       map[string]string
		lookup    map[string]ImageInfo
		target    Target
		ignore    []policy.Ignore
		ecr       *fakeECR
		want      TargetResult
		wantImage string
		wantErr   bool
		wantScans []string
	}{
		{
			name:    "lagging deployment moves to the newest by semver, not by push time",
			running: api + digest('b'), lookup: map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.0"}}},
			target: semverTarget(),
			ecr: &fakeECR{images: []ecrtypes.ImageDetail{
				detail(digest('b'), t0, nil, "v1.2.0"),
				detail(digest('d'), t0.Add(time.Hour), nil, "v1.10.0"),
				detail(digest('c'), t0.Add(2*time.Hour), nil, "v1.3.0", "latest"),
				detail(digest('e'), t0.Add(3*time.Hour), nil),
			}},
			want:      TargetResult{Result: ReconcilePatched, Image: "mlops/retail-api:v1.10.0@" + digest('d')},
			wantImage: api + digest('d'),
		},
		{
			name:    "a deployment ahead of the registry's newest is not moved back",
			running: api + digest('e'), lookup: map[string]ImageInfo{digest('e'): {Found: true, Tags: []string{"v2.0.0"}}},
			target:    semverTarget(),
			ecr:       &fakeECR{images: []ecrtypes.ImageDetail{detail(digest('c'), t0, nil, "v1.3.0")}},
			want:      TargetResult{Result: ReconcileKept, Image: "mlops/retail-api:v1.3.0@" + digest('c'), Reason: "v1.3.0 is not newer than the running v2.0.0 (order semver)"},
			wantImage: api + digest('e'),
		},
		{
			name:      "a deployment at the newest image is left alone",
			running:   api + digest('c'),
			target:    semverTarget(),
			ecr:       &fakeECR{images: []ecrtypes.ImageDetail{detail(digest('b'), t0, nil, "v1.2.0"), detail(digest('c'), t0, nil, "v1.3.0")}},
			want:      TargetResult{Result: ReconcileKept, Image: "mlops/retail-api:v1.3.0@" + digest('c'), Reason: "already at " + digest('c')},
			wantImage: api + digest('c'),
		},
		{
			name:    "a tag the target selects but the tag rules do not allow is passed over",
			running: testRegistry + "/mlops/retail-api:latest", lookup: map[string]ImageInfo{"latest": {Found: true, Tags: []string{"latest"}, PushedAt: t0.Add(-time.Hour)}},
			target: anyV,
			ecr: &fakeECR{images: []ecrtypes.ImageDetail{
				detail(digest('c'), t0, nil, "v1.3.0"),
				detail(digest('x'), t0.Add(time.Hour), nil, "v-experimental"),
			}},
			want:      TargetResult{Result: ReconcilePatched, Image: "mlops/retail-api:v1.3.0@" + digest('c')},
			wantImage: api + digest('c'),
		},
		{
			name:    "gated target skips dirty, unscanned and failed images by their summary and takes the newest clean one",
			running: api + digest('b'), lookup: map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.0"}}},
			target: gated,
			ecr: &fakeECR{
				images: []ecrtypes.ImageDetail{
					detail(digest('f'), t0, highScan, "v1.4.0"),
					detail(digest('g'), t0, nil, "v1.3.5"),
					detail(digest('j'), t0, &scan{status: ecrtypes.ScanStatusFailed}, "v1.3.4"),
					detail(digest('h'), t0, cleanScan, "v1.3.2"),
					detail(digest('b'), t0, cleanScan, "v1.2.0"),
				},
				findings: map[string][]ecrtypes.ImageScanFinding{digest('h'): {}},
			},
			want:      TargetResult{Result: ReconcilePatched, Image: "mlops/retail-api:v1.3.2@" + digest('h')},
			wantImage: api + digest('h'),
			wantScans: []string{digest('h')},
		},
		{
			name:    "gated target confirms findings against the ignore list",
			running: api + digest('b'), lookup: map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.0"}}},
			target: gated, ignore: ignoreCVE1,
			ecr: &fakeECR{
				images: []ecrtypes.ImageDetail{
					detail(digest('f'), t0, highScan, "v1.4.0"),
					detail(digest('i'), t0, cleanScan, "v1.3.8"),
					detail(digest('h'), t0, highScan, "v1.3.2"),
				},
				findings: map[string][]ecrtypes.ImageScanFinding{
					digest('f'): {high("CVE-1"), high("CVE-2")},
					digest('h'): {high("CVE-1")},
					// i has a summary but no findings to read: never rolled out.
				},
			},
			want:      TargetResult{Result: ReconcilePatched, Image: "mlops/retail-api:v1.3.2@" + digest('h')},
			wantImage: api + digest('h'),
			wantScans: []string{digest('f'), digest('i'), digest('h')},
		},
		{
			name:    "gated target passes over a candidate whose findings read is not complete, and one with an unknown severity",
			running: api + digest('b'), lookup: map[string]ImageInfo{digest('b'): {Found: true, Tags: []string{"v1.2.0"}}},
			target: gated,
			ecr: &fakeECR{
				images: []ecrtypes.ImageDetail{
					detail(digest('f'), t0, cleanScan, "v1.4.0"),
					detail(digest('i'), t0, cleanScan, "v1.3.8"),
					detail(digest('k'), t0, &scan{status: ecrtypes.ScanStatusComplete, counts: map[string]int32{"UNDEFINED": 1}}, "v1.3.6"),
					detail(digest('h'), t0, cleanScan, "v1.3.2"),
				},
				findings: map[string][]ecrtypes.ImageScanFinding{
					digest('f'): {},
					digest('i'): {{Name: aws.String("CVE-9"), Severity: ecrtypes.FindingSeverityUndefined}},
					digest('h'): {},
				},
				status: map[string]ecrtypes.ScanStatus{digest('f'): ecrtypes.ScanStatusInProgress},
			},
			want:      TargetResult{Result: ReconcilePatched, Image: "mlops/retail-api:v1.3.2@" + digest('h')},
			wantImage: api + digest('h'),
			wantScans: []string{digest('f'), digest('i'), digest('h')},
		},
		{
			name:      "gated target without a clean image is skipped",
			running:   api + digest('b'),
			target:    gated,
			ecr:       &fakeECR{images: []ecrtypes.ImageDetail{detail(digest('f'), t0, highScan, "v1.4.0"), detail(digest('g'), t0, nil, "v1.3.5")}},
			want:      TargetResult{Result: ReconcileSkipped, Reason: "no candidate has a clean completed scan (skipped map[dirty:1 unscanned:1])"},
			wantImage: api + digest('b'),
		},
		{
			name:    "a listing error patches nothing",
			running: api + digest('b'),
			target:  semverTarget(),
			ecr: &fakeECR{listErr: errors.New("throttled"), images: []ecrtypes.ImageDetail{
				detail(digest('c'), t0, nil, "v1.3.0"), detail(digest('d'), t0, nil, "v1.0.0"), detail(digest('e'), t0, nil, "v1.4.0"),
			}},
			want:      TargetResult{Result: ReconcileFailed, Reason: "listing failed: describe images in mlops/retail-api (after 2 images): throttled"},
			wantImage: api + digest('b'),
			wantErr:   true,
		},
		{
			name:    "a held deployment is left alone",
			running: api + digest('b'), ann: map[string]string{AnnotationHold: "rollback by alice at 2026-11-25T09:00:00Z: latency"},
			target: semverTarget(),
			ecr:    &fakeECR{images: []ecrtypes.ImageDetail{detail(digest('c'), t0, nil, "v1.3.0")}},
			want: TargetResult{Result: ReconcileSkipped, Image: "mlops/retail-api:v1.3.0@" + digest('c'),
				Reason: "held: rollback by alice at 2026-11-25T09:00:00Z: latency"},
			wantImage: api + digest('b'),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := setup(t, tt.running, tt.ann)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			lookup := &fakeLookup{images: tt.lookup}
			repo := policy.Repository{Name: "mlops/retail-api",
				Tags: &policy.TagRules{Allow: []policy.Pattern{policy.MustCompilePattern("v{semver}"), policy.MustCompilePattern("latest")}},
				Scan: policy.ScanPolicy{AlertAt: policy.SeverityHigh, Ignore: tt.ignore}}
			r := &Reconciler{
				Policy: &policy.File{Repositories: []policy.Repository{repo, {Name: "mlops/untracked"}}},
				Images: tt.ecr, Scans: tt.ecr,
				Discover: func(_ context.Context, _ *policy.File, name string) ([]Target, []error, error) {
					if name == repo.Name {
						return []Target{tt.target}, nil, nil
					}
					return nil, nil, nil
				},
				Roll: NewEngine(staticClients{client}, lookup, nil, log),
				Now:  func() time.Time { return t0 }, Log: log,
			}
			got, err := r.Reconcile(context.Background(), testOrigin, "2026-11-25T10:15:00Z")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if len(got) != 1 {
				t.Fatalf("results = %+v, want one", got)
			}
			want := tt.want
			want.Target = tt.target
			if want.Reason == "" && got[0].Result == ReconcilePatched {
				want.Reason = got[0].Reason // the engine's "old → new"
			}
			if diff := cmp.Diff(want, got[0], cmp.Comparer(func(a, b policy.Pattern) bool { return a.String() == b.String() })); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if img := srv.image("default", "retail-forecast-api", "api"); img != tt.wantImage {
				t.Errorf("image = %s, want %s", img, tt.wantImage)
			}
			if diff := cmp.Diff(tt.wantScans, tt.ecr.scanned); diff != "" {
				t.Errorf("findings read (-want +got):\n%s", diff)
			}
			if got[0].Result == ReconcilePatched {
				if id := srv.deps["default/retail-forecast-api"].Metadata.Annotations[kube.AnnotationEventID]; id != "reconcile:2026-11-25T10:15:00Z" {
					t.Errorf("event id = %q, want reconcile:<run id>", id)
				}
				if !strings.Contains(got[0].Reason, "→") {
					t.Errorf("patched reason %q does not name the change", got[0].Reason)
				}
			}
		})
	}
}

func TestReconcileDiscoverErrorPatchesNothing(t *testing.T) {
	boom := errors.New("cluster unreachable")
	ecrFake := &fakeECR{}
	r := &Reconciler{
		Policy: &policy.File{Repositories: []policy.Repository{{Name: "mlops/retail-api"}}},
		Images: ecrFake, Scans: ecrFake,
		Discover: func(context.Context, *policy.File, string) ([]Target, []error, error) { return nil, nil, boom },
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if _, err := r.Reconcile(context.Background(), testOrigin, "run"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the discover error", err)
	}
}

// BenchmarkCandidates ranks a 1,000-image repository (one DescribeImages
// page) for a semver target with tag rules: the per-target cost of a
// reconcile before any API call.
func BenchmarkCandidates(b *testing.B) {
	repo := &policy.Repository{Name: "mlops/retail-api", Tags: &policy.TagRules{Allow: []policy.Pattern{policy.MustCompilePattern("v{semver}"), policy.MustCompilePattern("dev-{sha}")}}}
	images := make([]ecrtypes.ImageDetail, 1000)
	for i := range images {
		tags := []string{"v1." + strconv.Itoa(i/10) + "." + strconv.Itoa(i%10)}
		if i%3 == 0 {
			tags = append(tags, "dev-"+strings.Repeat(strconv.Itoa(i%10), 7))
		}
		images[i] = detail(digest(byte('a'+i%26)), t0.Add(time.Duration(i)*time.Minute), nil, tags...)
	}
	target := semverTarget()
	b.ReportAllocs()
	for b.Loop() {
		if c := candidates(repo, target, images); len(c) != 1000 || c[0].match.Tag != "v1.99.9" {
			b.Fatalf("%d candidates, newest %s", len(c), c[0].match.Tag)
		}
	}
}
