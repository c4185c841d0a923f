package inuse

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/retention"
)

func TestForRepository(t *testing.T) {
	var l Listing
	l.Add("ECS", "service retail/api task definition retail-api:42", reg+"/mlops/retail-api:v1.2.0")
	l.Add("Lambda", "function scorer version 3", reg+"/mlops/retail-api:v1.2.0")
	l.Add("Lambda", "function scorer version 4", reg+"/mlops/retail-api:v1.2.0")
	l.Add("ECS", "service retail/api task definition retail-api:42", reg+"/mlops/retail-api:v1.2.0") // same holder again
	l.AddResolved("ECS", "task retail/0a1b task definition retail-api:42", reg+"/mlops/retail-api:v1.2.0", dgst(12))
	l.Add("SageMaker", "model forecast", reg+"/mlops/retail-api")                                                    // no tag, no digest: latest
	l.Add("Batch", "job definition nightly:2", reg+"/mlops/train-model:v1.0.0")                                      // another repository
	l.Add("Batch", "job definition copy:1", "999999999999.dkr.ecr.ap-southeast-1.amazonaws.com/mlops/retail-api:v9") // another registry
	l.Add("Batch", "job definition typo:1", "Mlops/Retail-API:v1")                                                   // does not parse
	l.Add("Lambda", "function dual version 1", "123456789012.dkr-ecr.ap-southeast-1.on.aws/mlops/retail-api:v2")     // our registry, dual-stack
	if len(l.Invalid) != 1 || l.Invalid[0].Holder != "job definition typo:1" {
		t.Errorf("Invalid = %+v, want the unparseable reference", l.Invalid)
	}
	got := l.ForRepository(strings.ToUpper(reg), "mlops/retail-api") // hosts compare case-insensitively
	want := retention.InUse{
		Digests: map[string]struct{}{dgst(12): {}},
		Tags:    map[string]struct{}{"v1.2.0": {}, "latest": {}, "v2": {}},
		DigestUses: map[string]string{
			dgst(12): "ECS task retail/0a1b task definition retail-api:42",
		},
		TagUses: map[string]string{
			"v1.2.0": "ECS service retail/api task definition retail-api:42 and 3 more",
			"latest": "SageMaker model forecast",
			"v2":     "Lambda function dual version 1",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ForRepository (-want +got):\n%s", diff)
	}
}

// source is a Source with a fixed listing or error, optionally blocking
// until its context ends.
type source struct {
	name  string
	refs  []string
	err   error
	block bool
	calls *atomic.Int32
}

func (s source) Name() string { return s.name }

func (s source) List(ctx context.Context) (Listing, error) {
	if s.calls != nil {
		s.calls.Add(1)
	}
	if s.block {
		<-ctx.Done()
		return Listing{}, ctx.Err()
	}
	var l Listing
	for _, r := range s.refs {
		l.Add(s.name, "holder", r)
	}
	return l, s.err
}

func TestList(t *testing.T) {
	ctx := context.Background()
	a := source{name: "ECS", refs: []string{reg + "/a:v1"}}
	b := source{name: "Lambda", refs: []string{reg + "/b:v1", reg + "/b:v2"}}
	l, err := List(ctx, []Source{a, b})
	if err != nil || len(l.Uses) != 3 || l.Uses[0].Source != "ECS" {
		t.Fatalf("List = %+v, %v; want 3 uses in source order", l, err)
	}

	// One failing source fails the whole, named, and cancels the others.
	down := source{name: "SageMaker", err: errors.New("list models: api error AccessDeniedException: not authorized")}
	start := time.Now()
	l, err = List(ctx, []Source{a, source{name: "Batch", block: true}, down})
	if err == nil || !strings.HasPrefix(err.Error(), "SageMaker: list models: api error AccessDeniedException") {
		t.Errorf("err = %v, want the SageMaker failure named", err)
	}
	if len(l.Uses) != 0 {
		t.Errorf("a failed listing returned %d uses", len(l.Uses))
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("the blocked source was not cancelled")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := List(cctx, []Source{source{name: "Batch", block: true}}); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context: %v, want context.Canceled", err)
	}
	if l, err := List(ctx, nil); err != nil || len(l.Uses) != 0 {
		t.Errorf("List of no sources = %+v, %v", l, err)
	}
}

const sourcesPolicy = `
clusters:
  - { name: east, namespaces: [default] }
  - { name: west, namespaces: [prod, ml] }
gc: { inUse: { lambda: false } }
repositories:
  - name: app
`

func TestSources(t *testing.T) {
	f, err := policy.Parse("p.yaml", []byte(sourcesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	names := func(ss []Source) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name())
		}
		return out
	}
	var seen []string
	lister := func(ctx context.Context, cluster string) (kube.InUse, error) {
		seen = append(seen, cluster)
		ref, _ := kube.ParseImageRef(reg + "/app:v1")
		return kube.InUse{Images: []kube.ImageUse{{Image: reg + "/app:v1", Ref: ref, Kind: "CronJob", Namespace: "ml", Name: "nightly-train"}},
			Invalid: []kube.ImageUse{{Image: "Bad", Kind: "Pod", Namespace: "ml", Name: "x"}}}, nil
	}
	full := Sources(f, Clients{Clusters: lister, ECS: newFakeECS(), Lambda: &fakeLambda{}, SageMaker: &fakeSageMaker{}, Batch: &fakeBatch{}})
	want := []string{"EKS cluster east", "EKS cluster west", "ECS", "SageMaker", "Batch"} // lambda: false
	if diff := cmp.Diff(want, names(full)); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	l, err := List(context.Background(), full[1:2])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"EKS west CronJob ml/nightly-train: " + reg + "/app:v1", "EKS west Pod ml/x: invalid Bad"}, lines(l)); diff != "" {
		t.Errorf("cluster uses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"west"}, seen); diff != "" {
		t.Errorf("cluster listings (-want +got):\n%s", diff)
	}

	// Without clients, every source the policy asks for fails: never an
	// empty listing.
	for _, s := range Sources(f, Clients{}) {
		_, err := s.List(context.Background())
		if !errors.Is(err, ErrNoClient) && !errors.Is(err, ErrNoClusterAccess) {
			t.Errorf("%s without a client: %v, want an error", s.Name(), err)
		}
	}
}
