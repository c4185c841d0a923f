package gc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/inuse"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// controlPlane is the package's shared kube-apiserver; nil with -short.
var controlPlane *testenv.Kube

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithKube(m, func(k *testenv.Kube) { controlPlane = k }))
}

func requireKube(t *testing.T) *testenv.Kube {
	t.Helper()
	testenv.RequireControlPlane(t, controlPlane != nil)
	return controlPlane
}

// emulator is an ECR emulator and an SDK client pointed at it, with the
// standard retryer (8 attempts, as fnconfig configures it) and short backoff.
type emulator struct {
	server *ecremu.Server
	client *ecr.Client
	host   string
}

func startECR(t *testing.T) *emulator {
	t.Helper()
	s := ecremu.New(ecremu.Config{Seed: 1, Now: func() time.Time { return now }})
	url, stop, err := s.Start("")
	if err != nil {
		t.Fatalf("start ECR emulator: %v", err)
	}
	t.Cleanup(func() { _ = stop() })
	c := ecr.New(ecr.Options{
		BaseEndpoint: aws.String(url), Region: ecremu.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  emuhttp.HTTPClient(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 8
			o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
		}),
	})
	return &emulator{server: s, client: c, host: s.Account() + ".dkr.ecr." + s.Region() + ".amazonaws.com"}
}

func (e *emulator) seed(t *testing.T, repo string, img ecremu.Image) string {
	t.Helper()
	d, err := e.server.SeedImage(repo, img)
	if err != nil {
		t.Fatalf("seed %s %v: %v", repo, img.Tags, err)
	}
	return d
}

func (e *emulator) createRepo(t *testing.T, name string) {
	t.Helper()
	if err := e.server.CreateRepository(name, ecremu.RepositoryOptions{}); err != nil {
		t.Fatalf("%v", err)
	}
}

// manifest is a distinct OCI image manifest per note.
func manifest(note string) string {
	return `{"schemaVersion":2,"mediaType":"` + ecremu.MediaTypeOCIManifest + `","annotations":{"note":"` + note + `"}}`
}

func daysAgo(d float64) time.Time { return now.Add(-time.Duration(d * float64(24*time.Hour))) }

// seedsHistory seeds the retail-forecast registry of the seeds and returns a
// label per digest. Children of an index are labelled by the planner's unit.
func seedsHistory(t *testing.T, e *emulator) map[string]string {
	t.Helper()
	e.createRepo(t, "mlops/retail-api")
	e.createRepo(t, "mlops/train-model")
	labels := map[string]string{}
	add := func(repo, label string, img ecremu.Image) {
		if img.Size == 0 && len(img.Children) == 0 {
			img.Size = 100 << 20
		}
		labels[e.seed(t, repo, img)] = label
	}
	api, train := "mlops/retail-api", "mlops/train-model"
	// Twelve releases over twelve days; v1.0.1 and v1.0.5 are multi-arch.
	for i := range 12 {
		tag := fmt.Sprintf("v1.0.%d", i)
		img := ecremu.Image{Tags: []string{tag}, PushedAt: daysAgo(float64(40 - i))}
		if i == 1 || i == 5 {
			img.Children = []ecremu.Image{{Platform: "linux/amd64", Size: 90 << 20}, {Platform: "linux/arm64", Size: 80 << 20}}
		}
		if i == 11 {
			img.Tags = append(img.Tags, "latest")
		}
		add(api, tag, img)
	}
	for i, c := range "abcdefg" {
		tags := []string{"dev-" + string(c)}
		if c == 'g' {
			tags = append(tags, "dev-latest")
		}
		add(api, tags[0], ecremu.Image{Tags: tags, PushedAt: daysAgo(float64(20 - i))})
	}
	add(api, "feature-x-1", ecremu.Image{Tags: []string{"feature-x-1"}, PushedAt: daysAgo(3)})
	add(api, "feature-x-2", ecremu.Image{Tags: []string{"feature-x-2"}, PushedAt: daysAgo(2)})
	add(api, "main-1", ecremu.Image{Tags: []string{"main-1"}, PushedAt: daysAgo(1)})
	add(api, "untagged-old", ecremu.Image{PushedAt: daysAgo(3), Manifest: manifest("old")})
	add(api, "untagged-new", ecremu.Image{PushedAt: now.Add(-2 * time.Hour), Manifest: manifest("new")})

	for i, age := range []float64{40, 31, 29, 1} {
		tag := fmt.Sprintf("exp-%d", i+1)
		add(train, tag, ecremu.Image{Tags: []string{tag}, PushedAt: daysAgo(age)})
	}
	for i := range 6 {
		tags := []string{fmt.Sprintf("v0.%d.0", i+1)}
		if i == 5 {
			tags = append(tags, "latest")
		}
		add(train, tags[0], ecremu.Image{Tags: tags, PushedAt: daysAgo(float64(60 - i))})
	}
	add(train, "untagged", ecremu.Image{PushedAt: daysAgo(2), Manifest: manifest("train")})
	return labels
}

// seedsPolicy is the repository's worked example, ecrwarden.yaml, with its
// cluster's namespace set to the test control plane's.
func seedsPolicy(t *testing.T, namespace string, extraClusters string) *policy.File {
	t.Helper()
	data, err := os.ReadFile("../../ecrwarden.yaml")
	if err != nil {
		t.Fatalf("%v", err)
	}
	text := strings.Replace(string(data), "    namespaces: [default]\n", "    namespaces: ["+namespace+"]\n"+extraClusters, 1)
	f, err := policy.Parse("ecrwarden.yaml", []byte(text))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return f
}

// deploy creates a Deployment running image in the control plane's
// namespace, as the admin, and removes it at the end of the test.
func deploy(t *testing.T, k *testenv.Kube, name, image, initImage string) {
	t.Helper()
	ctx := context.Background()
	obj := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},
		"spec":{"replicas":1,"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},
		"spec":{"initContainers":[{"name":"init","image":%q}],"containers":[{"name":"main","image":%q}]}}}}`,
		name, name, name, initImage, image)
	path := "/apis/apps/v1/namespaces/" + k.Namespace + "/deployments"
	code, out, err := k.Request(ctx, k.Admin, http.MethodPost, path, "application/json", []byte(obj))
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create deployment %s: %d %s %v", name, code, out, err)
	}
	t.Cleanup(func() {
		_, _, _ = k.Request(context.Background(), k.Admin, http.MethodDelete, path+"/"+name, "", nil)
	})
}

// limitedLister lists with the least-privilege user; any other cluster name
// is looked up in others.
func limitedLister(t *testing.T, k *testenv.Kube, others map[string]kube.Config) inuse.ClusterLister {
	t.Helper()
	clients := map[string]*kube.Client{}
	configs := map[string]kube.Config{"retail-forecast": {Host: k.Limited.Host, CAData: k.Limited.CAData, Token: kube.StaticToken(k.Limited.Token)}}
	for name, c := range others {
		configs[name] = c
	}
	for name, cfg := range configs {
		c, err := kube.New(cfg)
		if err != nil {
			t.Fatalf("kube.New(%s): %v", name, err)
		}
		clients[name] = c
	}
	return func(ctx context.Context, cluster string) (kube.InUse, error) {
		c, ok := clients[cluster]
		if !ok {
			return kube.InUse{}, fmt.Errorf("no cluster %s", cluster)
		}
		return c.ListImagesInUse(ctx)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func imagesOf(e *emulator, repo string) []string {
	var ds []string
	for d := range e.server.Images(repo) {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
}

// planTable renders decisions as "repository label action" lines, children
// labelled after their index.
func planTable(res *Result, labels map[string]string) []string {
	var lines []string
	for _, o := range res.Outcomes {
		if o.Plan == nil {
			continue
		}
		for _, d := range o.Plan.Decisions {
			label, ok := labels[d.Digest]
			if !ok {
				label = labels[d.Unit] + "/child"
			}
			action := "keep"
			if d.Delete {
				action = "delete"
			}
			lines = append(lines, o.Repository+" "+label+" "+action)
		}
	}
	slices.Sort(lines)
	return lines
}

func TestSeedsRulesAgainstEmulatorAndCluster(t *testing.T) {
	k := requireKube(t)
	e := startECR(t)
	labels := seedsHistory(t, e)
	// What runs survives every kind of rule: the oldest release (beyond
	// keepNewest 10) by tag; an expired experiment (maxAge 30d and beyond
	// keepNewest 5) by digest in an init container; an untagged image
	// (maxAge 1d) by digest.
	digestOf := func(label string) string {
		for d, l := range labels {
			if l == label {
				return d
			}
		}
		t.Fatalf("no image %s", label)
		return ""
	}
	deploy(t, k, "retail-forecast-api", e.host+"/mlops/retail-api:v1.0.0", "busybox:1.36")
	deploy(t, k, "trainer", e.host+"/mlops/retail-api@"+digestOf("untagged-old"), e.host+"/mlops/train-model@"+digestOf("exp-1"))
	f := seedsPolicy(t, k.Namespace, "")
	r := &Runner{ECR: e.client, Sources: inuse.Clusters(f, limitedLister(t, k, nil))}

	want := []string{
		"mlops/retail-api dev-a delete", "mlops/retail-api dev-b delete", "mlops/retail-api dev-c delete",
		"mlops/retail-api dev-d delete", "mlops/retail-api dev-e delete", "mlops/retail-api dev-f keep", "mlops/retail-api dev-g keep",
		"mlops/retail-api feature-x-1 keep", "mlops/retail-api feature-x-2 keep", "mlops/retail-api main-1 keep",
		"mlops/retail-api untagged-new keep", "mlops/retail-api untagged-old keep", // in use
		"mlops/retail-api v1.0.0 keep", // in use
		"mlops/retail-api v1.0.1 delete", "mlops/retail-api v1.0.1/child delete", "mlops/retail-api v1.0.1/child delete",
		"mlops/retail-api v1.0.10 keep", "mlops/retail-api v1.0.11 keep",
		"mlops/retail-api v1.0.2 keep", "mlops/retail-api v1.0.3 keep", "mlops/retail-api v1.0.4 keep",
		"mlops/retail-api v1.0.5 keep", "mlops/retail-api v1.0.5/child keep", "mlops/retail-api v1.0.5/child keep",
		"mlops/retail-api v1.0.6 keep", "mlops/retail-api v1.0.7 keep", "mlops/retail-api v1.0.8 keep", "mlops/retail-api v1.0.9 keep",
		"mlops/train-model exp-1 keep", // in use
		"mlops/train-model exp-2 delete", "mlops/train-model exp-3 keep", "mlops/train-model exp-4 keep",
		"mlops/train-model untagged delete",
		"mlops/train-model v0.1.0 delete", "mlops/train-model v0.2.0 delete", "mlops/train-model v0.3.0 delete",
		"mlops/train-model v0.4.0 delete", "mlops/train-model v0.5.0 delete",
		"mlops/train-model v0.6.0 keep", // newest five tagged, and latest
	}
	before := map[string][]string{"mlops/retail-api": imagesOf(e, "mlops/retail-api"), "mlops/train-model": imagesOf(e, "mlops/train-model")}

	dry := r.Run(context.Background(), f, nil, Options{Now: now, Cap: 100, DryRun: true})
	if err := dry.Err(); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if diff := cmp.Diff(want, planTable(dry, labels)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for repo, ds := range before {
		if diff := cmp.Diff(ds, imagesOf(e, repo)); diff != "" {
			t.Errorf("dry run changed %s (-want +got):\n%s", repo, diff)
		}
	}
	for _, o := range dry.Outcomes {
		for _, d := range o.Plan.Decisions {
			switch labels[d.Digest] {
			case "v1.0.0", "untagged-old", "exp-1":
				if !strings.HasPrefix(d.Reason, "in use") {
					t.Errorf("%s kept for %q, want in use", labels[d.Digest], d.Reason)
				}
			}
		}
	}

	res := r.Run(context.Background(), f, nil, Options{Now: now, Cap: 100})
	if err := res.Err(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if diff := cmp.Diff(planTable(dry, labels), planTable(res, labels)); diff != "" {
		t.Errorf("the real run planned differently from the dry run (-dry +real):\n%s", diff)
	}
	for _, o := range res.Outcomes {
		var planned []string
		for _, d := range o.Plan.Decisions {
			if d.Delete {
				planned = append(planned, d.Digest)
			}
		}
		var left []string
		for _, d := range before[o.Repository] {
			if !slices.Contains(planned, d) {
				left = append(left, d)
			}
		}
		if diff := cmp.Diff(left, imagesOf(e, o.Repository)); diff != "" {
			t.Errorf("images left in %s (-want +got):\n%s", o.Repository, diff)
		}
		if len(o.Deleted.Failed) > 0 || len(o.Deleted.Deleted) != len(planned) {
			t.Errorf("%s: deleted %d of %d planned, failed %v", o.Repository, len(o.Deleted.Deleted), len(planned), o.Deleted.Failed)
		}
	}
}

func TestClusterFailureDeletesNothing(t *testing.T) {
	k := requireKube(t)
	tests := []struct {
		name string
		cfg  kube.Config
	}{
		{"closed port", kube.Config{Host: "https://" + closedPort(t), CAData: k.Limited.CAData, Token: kube.StaticToken("x")}},
		{"rejected token", kube.Config{Host: k.Limited.Host, CAData: k.Limited.CAData, Token: kube.StaticToken("not-a-token")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startECR(t)
			seedsHistory(t, e)
			before := imagesOf(e, "mlops/retail-api")
			f := seedsPolicy(t, k.Namespace, "  - name: broken\n    namespaces: [default]\n")
			r := &Runner{ECR: e.client, Sources: inuse.Clusters(f, limitedLister(t, k, map[string]kube.Config{"broken": tc.cfg}))}
			res := r.Run(context.Background(), f, nil, Options{Now: now, Cap: 100})
			if res.ClusterErr == nil || !strings.Contains(res.ClusterErr.Error(), "cluster broken") {
				t.Errorf("ClusterErr = %v, want the broken cluster named", res.ClusterErr)
			}
			if n := e.server.Log().Count("BatchDeleteImage"); n != 0 {
				t.Errorf("BatchDeleteImage calls = %d, want 0", n)
			}
			if diff := cmp.Diff(before, imagesOf(e, "mlops/retail-api")); diff != "" {
				t.Errorf("images changed (-want +got):\n%s", diff)
			}
			if a := res.Alert(DefaultPrices); a.GC.Repositories[0].Error == "" {
				t.Errorf("report has no error: %+v", a.GC)
			}
		})
	}
}

// scalePolicy: one repository whose untagged images older than a day expire.
const scalePolicy = `
version: 1
repositories:
  - name: scale/app
    retention:
      - { untagged: true, maxAge: 1d }
`

// seedScale seeds n images of which d are untagged and two days old.
func seedScale(t *testing.T, e *emulator, n, d int) {
	t.Helper()
	e.createRepo(t, "scale/app")
	for i := range n {
		img := ecremu.Image{Manifest: manifest(fmt.Sprint(i)), Size: 1 << 20, PushedAt: daysAgo(2)}
		if i >= d {
			img.Tags = []string{fmt.Sprintf("build-%d", i)}
		}
		e.seed(t, "scale/app", img)
	}
}

func TestExactCallCounts(t *testing.T) {
	e := startECR(t)
	seedScale(t, e, 2500, 250)
	r := &Runner{ECR: e.client}
	res := r.Run(context.Background(), mustPolicy(t, scalePolicy), nil, Options{Now: now, Cap: 1000})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, op := range []string{"DescribeImages", "BatchDeleteImage", "BatchGetImage", "DescribeRepositories", "GetLifecyclePolicy"} {
		got[op] = e.server.Log().Count(op)
	}
	// DescribeImages: ceil(2500/1000) pages to list and ceil(250/100) to
	// re-check the planned images before deleting them; GetLifecyclePolicy
	// reads the native policy to show it beside the plan.
	want := map[string]int{"DescribeImages": 3 + 3, "BatchDeleteImage": 3, "BatchGetImage": 0, "DescribeRepositories": 1, "GetLifecyclePolicy": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ECR calls (-want +got):\n%s", diff)
	}
	if n := len(e.server.Images("scale/app")); n != 2250 {
		t.Errorf("%d images left, want 2250", n)
	}
}

func TestECRFaults(t *testing.T) {
	tests := []struct {
		name string
		// arm sets faults; it runs before the run and again after the first
		// DescribeImages page (page == 1).
		arm         func(inj *fault.Injector, page int)
		wantLeft    int // images left of 1,500 (300 expired)
		wantErr     bool
		wantFailed  bool
		wantFaulted map[string]int // faulted calls per operation
	}{
		{
			name: "second page fails after retries: nothing deleted",
			arm: func(inj *fault.Injector, page int) {
				if page == 1 {
					inj.Set("DescribeImages", fault.Rule{ServerError: 8})
				}
			},
			wantLeft: 1500, wantErr: true,
			wantFaulted: map[string]int{"DescribeImages": 8},
		},
		{
			name: "throttling is retried",
			arm: func(inj *fault.Injector, page int) {
				if page == 0 {
					inj.Set("DescribeImages", fault.Rule{Throttle: 2})
					inj.Set("BatchDeleteImage", fault.Rule{Throttle: 2, ServerError: 1})
				}
			},
			wantLeft:    1200,
			wantFaulted: map[string]int{"DescribeImages": 2, "BatchDeleteImage": 3},
		},
		{
			name: "partial failures are reported",
			arm: func(inj *fault.Injector, page int) {
				if page == 0 {
					inj.Set("BatchDeleteImage", fault.Rule{ItemFailure: 0.1})
				}
			},
			wantFailed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startECR(t)
			seedScale(t, e, 1500, 300)
			inj := e.server.Faults()
			tc.arm(inj, 0)
			r := &Runner{ECR: e.client, Progress: func(_ string, n int) {
				if n == 1000 {
					tc.arm(inj, 1)
				}
			}}
			res := r.Run(context.Background(), mustPolicy(t, scalePolicy), nil, Options{Now: now, Cap: 1000})
			o := res.Outcomes[0]
			if (o.Err != nil) != tc.wantErr {
				t.Errorf("error = %v, want error %v", o.Err, tc.wantErr)
			}
			left := len(e.server.Images("scale/app"))
			if tc.wantLeft != 0 && left != tc.wantLeft {
				t.Errorf("%d images left, want %d", left, tc.wantLeft)
			}
			faulted := map[string]int{}
			for _, c := range e.server.Log().Calls(fault.AnyOp) {
				if c.Fault != fault.None {
					faulted[c.Op]++
				}
			}
			if tc.wantFaulted != nil {
				if diff := cmp.Diff(tc.wantFaulted, faulted); diff != "" {
					t.Errorf("faulted calls (-want +got):\n%s", diff)
				}
			}
			if tc.wantFailed {
				failed := o.Deleted.Failed
				if len(failed) == 0 || left != 1200+len(failed) {
					t.Fatalf("failed %d, left %d: want failures reported and exactly those left", len(failed), left)
				}
				for _, fl := range failed {
					if fl.Code != types.ImageFailureCodeKmsError {
						t.Errorf("failure %+v, want KmsError", fl)
					}
				}
				if rep := res.Alert(DefaultPrices).GC.Repositories[0]; rep.Failed != len(failed) || rep.Images != len(o.Deleted.Deleted) {
					t.Errorf("report %+v, want %d failed and %d deleted", rep, len(failed), len(o.Deleted.Deleted))
				}
			}
		})
	}
}

func TestCapStopsRunawayPlan(t *testing.T) {
	e := startECR(t)
	seedScale(t, e, 300, 150)
	r := &Runner{ECR: e.client}
	res := r.Run(context.Background(), mustPolicy(t, scalePolicy), nil, Options{Now: now, Cap: 100})
	if !res.CapRefused || res.Planned != 150 {
		t.Errorf("CapRefused = %v, Planned = %d; want true, 150", res.CapRefused, res.Planned)
	}
	if n := e.server.Log().Count("BatchDeleteImage"); n != 0 {
		t.Errorf("BatchDeleteImage calls = %d, want 0", n)
	}
	a := res.Alert(DefaultPrices)
	if !a.GC.CapRefused || a.GC.Repositories[0].Images != 150 {
		t.Errorf("report = %+v, want the refused plan of 150", a.GC)
	}
}
