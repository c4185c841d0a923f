package retention

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	day            = 24 * time.Hour
	manifestOCI    = "application/vnd.oci.image.manifest.v1+json"
	indexOCI       = "application/vnd.oci.image.index.v1+json"
	manifestListV2 = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// The seeds' retention rules (ecrwarden.yaml).
const (
	retailAPI = `
  - name: mlops/retail-api
    retention:
      - { match: "v*", keepNewest: 10 }
      - { match: ["dev-*", "feature-*", "main-*"], keepNewest: 5 }
      - { untagged: true, maxAge: 1d }
    protect:
      tags: [latest, dev-latest]
`
	trainModel = `
  - name: mlops/train-model
    retention:
      - { match: "exp-*", maxAge: 30d }
      - { match: "*", keepNewest: 5 }
      - { untagged: true, maxAge: 1d }
    protect:
      tags: [latest]
`
)

// repository parses one repository entry the way the policy file holds it.
func repository(t testing.TB, entry string) *policy.Repository {
	t.Helper()
	f, err := policy.Parse("test.yaml", []byte("version: 1\nrepositories:"+entry))
	if err != nil {
		t.Fatalf("parse policy: %v", err)
	}
	return &f.Repositories[0]
}

func image(name string, age time.Duration, tags ...string) Image {
	return Image{Digest: "sha256:" + name, Tags: tags, PushedAt: now.Add(-age), Size: 1000, MediaType: manifestOCI}
}

// index is a multi-arch index pushed at age; its children are pushed a
// minute earlier and are untagged.
func index(name string, age time.Duration, children []string, tags ...string) []Image {
	img := Image{Digest: "sha256:" + name, Tags: tags, PushedAt: now.Add(-age), Size: 500, MediaType: indexOCI}
	out := []Image{img}
	for _, c := range children {
		out[0].Manifests = append(out[0].Manifests, "sha256:"+c)
		out = append(out, image(c, age+time.Minute))
	}
	return out
}

func referrer(name string, age time.Duration, subject string) Image {
	img := image(name, age)
	img.MediaType = manifestOCI
	img.Subject = "sha256:" + subject
	return img
}

// row is the part of a decision the tests compare; Unit is empty when the
// image is its own unit's parent.
type row struct {
	Digest string
	Delete bool
	Reason string
	Unit   string
}

func rows(res *Result) []row {
	var out []row
	for _, d := range res.Decisions {
		r := row{Digest: d.Digest, Delete: d.Delete, Reason: d.Reason}
		if d.Unit != d.Digest {
			r.Unit = d.Unit
		}
		out = append(out, r)
	}
	return out
}

func keep(name, reason string) row { return row{Digest: "sha256:" + name, Reason: reason} }
func remove(name, reason string) row {
	return row{Digest: "sha256:" + name, Delete: true, Reason: reason}
}
func member(r row, unit string) row { r.Unit = "sha256:" + unit; return r }

func concat(parts ...[]Image) []Image {
	var out []Image
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func digests(names ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m["sha256:"+n] = struct{}{}
	}
	return m
}

func tags(names ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

// retailHistory is a realistic mlops/retail-api: twelve releases (the newest
// and oldest multi-arch), develop, feature and main builds, untagged leftovers
// and a tag no rule names.
func retailHistory() []Image {
	imgs := concat(
		index("rel-1.11", 7*day, []string{"rel-1.11-amd64", "rel-1.11-arm64"}, "v1.11.0", "latest"),
		index("rel-1.0", 40*day, []string{"rel-1.0-amd64", "rel-1.0-arm64"}, "v1.0.0"),
	)
	for i, v := range []string{"1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10"} {
		imgs = append(imgs, image("rel-"+v, time.Duration(37-3*i)*day, "v"+v+".0"))
	}
	return append(imgs,
		image("dev1", 6*time.Hour, "dev-0000001", "dev-latest"),
		image("dev2", 1*day, "dev-0000002"),
		image("dev3", 2*day, "dev-0000003"),
		image("feat", 2*day+12*time.Hour, "feature-x-aaaaaaa"),
		image("dev4", 3*day, "dev-0000004"),
		image("dev5", 4*day, "dev-0000005"),
		image("main", 5*day, "main-bbbbbbb"),
		image("dev6", 6*day, "dev-0000006"),
		image("u23", 23*time.Hour),
		image("u25", 25*time.Hour),
		image("nightly", 2*day+6*time.Hour, "nightly"),
	)
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		repo   string
		images []Image
		inUse  InUse
		want   []row
	}{
		{
			name:   "retail-api history",
			repo:   retailAPI,
			images: retailHistory(),
			want: []row{
				keep("dev1", "protected tag dev-latest (dev-latest)"),
				keep("u23", "retention[2]: pushed 23h ago, within maxAge 1d"),
				keep("dev2", "retention[1]: rank 2 of keepNewest 5"),
				remove("u25", "retention[2]: pushed 1d1h ago, maxAge 1d (untagged)"),
				keep("dev3", "retention[1]: rank 3 of keepNewest 5"),
				keep("nightly", "no rule selects it"),
				keep("feat", "retention[1]: rank 4 of keepNewest 5"),
				keep("dev4", "retention[1]: rank 5 of keepNewest 5"),
				remove("dev5", "retention[1]: rank 6 beyond keepNewest 5 (dev-*, feature-*, main-*)"),
				remove("main", "retention[1]: rank 7 beyond keepNewest 5 (dev-*, feature-*, main-*)"),
				remove("dev6", "retention[1]: rank 8 beyond keepNewest 5 (dev-*, feature-*, main-*)"),
				keep("rel-1.11", "protected tag latest (latest)"),
				member(keep("rel-1.11-amd64", "protected tag latest (latest)"), "rel-1.11"),
				member(keep("rel-1.11-arm64", "protected tag latest (latest)"), "rel-1.11"),
				keep("rel-1.10", "retention[0]: rank 2 of keepNewest 10"),
				keep("rel-1.9", "retention[0]: rank 3 of keepNewest 10"),
				keep("rel-1.8", "retention[0]: rank 4 of keepNewest 10"),
				keep("rel-1.7", "retention[0]: rank 5 of keepNewest 10"),
				keep("rel-1.6", "retention[0]: rank 6 of keepNewest 10"),
				keep("rel-1.5", "retention[0]: rank 7 of keepNewest 10"),
				keep("rel-1.4", "retention[0]: rank 8 of keepNewest 10"),
				keep("rel-1.3", "retention[0]: rank 9 of keepNewest 10"),
				keep("rel-1.2", "retention[0]: rank 10 of keepNewest 10"),
				remove("rel-1.1", "retention[0]: rank 11 beyond keepNewest 10 (v*)"),
				remove("rel-1.0", "retention[0]: rank 12 beyond keepNewest 10 (v*)"),
				member(remove("rel-1.0-amd64", "retention[0]: rank 12 beyond keepNewest 10 (v*)"), "rel-1.0"),
				member(remove("rel-1.0-arm64", "retention[0]: rank 12 beyond keepNewest 10 (v*)"), "rel-1.0"),
			},
		},
		{
			name: "train-model: an exp- image among the 5 newest but 31 days old is deleted",
			repo: trainModel,
			images: []Image{
				image("exp-new", 29*day, "exp-lr-0.01"),
				image("exp-old", 31*day, "exp-lr-0.1"),
				image("rel-1.2", 45*day, "v1.2.0", "latest"),
				image("rel-1.1", 50*day, "v1.1.0"),
				image("rel-1.0", 60*day, "v1.0.0"),
				image("rel-0.9", 70*day, "v0.9.0"),
			},
			want: []row{
				keep("exp-new", "retention[0]: pushed 29d ago, within maxAge 30d; retention[1]: rank 1 of keepNewest 5"),
				remove("exp-old", "retention[0]: pushed 31d ago, maxAge 30d (exp-*)"),
				keep("rel-1.2", "protected tag latest (latest)"),
				keep("rel-1.1", "retention[1]: rank 4 of keepNewest 5"),
				keep("rel-1.0", "retention[1]: rank 5 of keepNewest 5"),
				remove("rel-0.9", "retention[1]: rank 6 beyond keepNewest 5 (*)"),
			},
		},
		{
			name: "an image in use by digest survives every rule",
			repo: trainModel,
			images: []Image{
				image("a", 1*day, "v1.5.0"), image("b", 2*day, "v1.4.0"), image("c", 3*day, "v1.3.0"),
				image("d", 4*day, "v1.2.0"), image("e", 5*day, "v1.1.0"),
				image("old-exp", 90*day, "exp-first"),
				image("untagged", 10*day),
			},
			inUse: InUse{Digests: digests("old-exp", "untagged")},
			want: []row{
				keep("a", "retention[1]: rank 1 of keepNewest 5"),
				keep("b", "retention[1]: rank 2 of keepNewest 5"),
				keep("c", "retention[1]: rank 3 of keepNewest 5"),
				keep("d", "retention[1]: rank 4 of keepNewest 5"),
				keep("e", "retention[1]: rank 5 of keepNewest 5"),
				{Digest: "sha256:untagged", Reason: "in use: digest sha256:untagged; overrides retention[2]: pushed 10d ago, maxAge 1d (untagged)"},
				{Digest: "sha256:old-exp", Reason: "in use: digest sha256:old-exp; overrides retention[0]: pushed 90d ago, maxAge 30d (exp-*)"},
			},
		},
		{
			name: "an image in use by tag survives",
			repo: trainModel,
			images: []Image{
				image("new", 1*day, "exp-b"),
				image("old", 40*day, "exp-a"),
			},
			inUse: InUse{Tags: tags("exp-a")},
			want: []row{
				keep("new", "retention[0]: pushed 1d ago, within maxAge 30d; retention[1]: rank 1 of keepNewest 5"),
				keep("old", "in use: tag exp-a; overrides retention[0]: pushed 40d ago, maxAge 30d (exp-*)"),
			},
		},
		{
			name: "the reason names what uses the image, by tag or digest",
			repo: trainModel,
			images: []Image{
				image("new", 1*day, "exp-b"),
				image("old", 40*day, "exp-a"),
				image("older", 50*day, "exp-c"),
			},
			inUse: InUse{Tags: tags("exp-a"), Digests: digests("older"),
				TagUses:    map[string]string{"exp-a": "ECS service retail/api task definition retail-api:42"},
				DigestUses: map[string]string{"sha256:older": "SageMaker endpoint forecast model forecast-v1"}},
			want: []row{
				keep("new", "retention[0]: pushed 1d ago, within maxAge 30d; retention[1]: rank 1 of keepNewest 5"),
				keep("old", "in use: ECS service retail/api task definition retail-api:42 (tag exp-a); overrides retention[0]: pushed 40d ago, maxAge 30d (exp-*)"),
				keep("older", "in use: SageMaker endpoint forecast model forecast-v1 (digest sha256:older); overrides retention[0]: pushed 50d ago, maxAge 30d (exp-*)"),
			},
		},
		{
			name: "in use by a child's digest keeps the whole index",
			repo: trainModel,
			images: concat(
				index("idx", 40*day, []string{"amd64", "arm64"}, "exp-multi"),
			),
			inUse: InUse{Digests: digests("arm64")},
			want: []row{
				keep("idx", "in use: digest sha256:arm64; overrides retention[0]: pushed 40d ago, maxAge 30d (exp-*)"),
				member(keep("amd64", "in use: digest sha256:arm64; overrides retention[0]: pushed 40d ago, maxAge 30d (exp-*)"), "idx"),
				member(keep("arm64", "in use: digest sha256:arm64; overrides retention[0]: pushed 40d ago, maxAge 30d (exp-*)"), "idx"),
			},
		},
		{
			name: "an index and its untagged children are kept together and deleted together",
			repo: `
  - name: mlops/r
    retention:
      - { match: "v*", keepNewest: 1 }
      - { untagged: true, maxAge: 1d }
`,
			images: concat(
				index("new", 10*day, []string{"new-amd64", "new-arm64"}, "v2.0.0"),
				index("old", 20*day, []string{"old-amd64", "old-arm64"}, "v1.0.0"),
			),
			want: []row{
				keep("new", "retention[0]: rank 1 of keepNewest 1"),
				member(keep("new-amd64", "retention[0]: rank 1 of keepNewest 1"), "new"),
				member(keep("new-arm64", "retention[0]: rank 1 of keepNewest 1"), "new"),
				remove("old", "retention[0]: rank 2 beyond keepNewest 1 (v*)"),
				member(remove("old-amd64", "retention[0]: rank 2 beyond keepNewest 1 (v*)"), "old"),
				member(remove("old-arm64", "retention[0]: rank 2 beyond keepNewest 1 (v*)"), "old"),
			},
		},
		{
			name: "a child shared by two indexes survives while one of them is kept",
			repo: `
  - name: mlops/r
    retention:
      - { match: "v*", keepNewest: 1 }
`,
			images: []Image{
				{Digest: "sha256:new", Tags: []string{"v2.0.0"}, PushedAt: now.Add(-1 * day), MediaType: manifestListV2, Manifests: []string{"sha256:shared", "sha256:new-arm64"}},
				{Digest: "sha256:old", Tags: []string{"v1.0.0"}, PushedAt: now.Add(-9 * day), MediaType: indexOCI, Manifests: []string{"sha256:shared", "sha256:old-arm64"}},
				image("shared", 10*day),
				image("new-arm64", 1*day+time.Minute),
				image("old-arm64", 9*day+time.Minute),
			},
			want: []row{
				keep("new", "retention[0]: rank 1 of keepNewest 1"),
				member(keep("new-arm64", "retention[0]: rank 1 of keepNewest 1"), "new"),
				member(keep("shared", "retention[0]: rank 1 of keepNewest 1"), "new"),
				remove("old", "retention[0]: rank 2 beyond keepNewest 1 (v*)"),
				member(remove("old-arm64", "retention[0]: rank 2 beyond keepNewest 1 (v*)"), "old"),
			},
		},
		{
			name: "a child whose index is absent from the listing is an ordinary untagged image",
			repo: retailAPI,
			images: []Image{
				{Digest: "sha256:idx", Tags: []string{"v1.0.0"}, PushedAt: now.Add(-3 * day), MediaType: indexOCI, Manifests: []string{"sha256:gone", "sha256:amd64"}},
				image("amd64", 3*day+time.Minute),
				image("orphan", 3*day),
			},
			want: []row{
				keep("idx", "retention[0]: rank 1 of keepNewest 10"),
				member(keep("amd64", "retention[0]: rank 1 of keepNewest 10"), "idx"),
				remove("orphan", "retention[2]: pushed 3d ago, maxAge 1d (untagged)"),
			},
		},
		{
			name: "referrers live and die with their subject",
			repo: retailAPI,
			images: []Image{
				image("kept", 2*day, "v1.1.0"),
				referrer("kept-sig", 2*day-time.Hour, "kept"),
				image("gone", 3*day, "dev-0000001"),
				referrer("gone-sbom", 3*day-time.Hour, "gone"),
				referrer("dangling-sig", 5*day, "absent"),
				image("d2", 1*day, "dev-0000002"), image("d3", 1*day+time.Hour, "dev-0000003"),
				image("d4", 1*day+2*time.Hour, "dev-0000004"), image("d5", 1*day+3*time.Hour, "dev-0000005"),
				image("d6", 1*day+4*time.Hour, "dev-0000006"),
			},
			want: []row{
				keep("d2", "retention[1]: rank 1 of keepNewest 5"),
				keep("d3", "retention[1]: rank 2 of keepNewest 5"),
				keep("d4", "retention[1]: rank 3 of keepNewest 5"),
				keep("d5", "retention[1]: rank 4 of keepNewest 5"),
				keep("d6", "retention[1]: rank 5 of keepNewest 5"),
				keep("kept", "retention[0]: rank 1 of keepNewest 10"),
				member(keep("kept-sig", "retention[0]: rank 1 of keepNewest 10"), "kept"),
				remove("gone", "retention[1]: rank 6 beyond keepNewest 5 (dev-*, feature-*, main-*)"),
				member(remove("gone-sbom", "retention[1]: rank 6 beyond keepNewest 5 (dev-*, feature-*, main-*)"), "gone"),
				remove("dangling-sig", "retention[2]: pushed 5d ago, maxAge 1d (untagged)"),
			},
		},
		{
			name: "keepNewest with maxAge is a floor: only units beyond N and older than D expire",
			repo: `
  - name: mlops/r
    retention:
      - { match: "*", keepNewest: 2, maxAge: 10d }
`,
			images: []Image{
				image("a", 1*day, "a"), image("b", 2*day, "b"), image("c", 5*day, "c"),
				image("d", 20*day, "d"), image("e", 30*day, "e"),
			},
			want: []row{
				keep("a", "retention[0]: rank 1 of keepNewest 2"),
				keep("b", "retention[0]: rank 2 of keepNewest 2"),
				keep("c", "retention[0]: pushed 5d ago, within maxAge 10d"),
				remove("d", "retention[0]: rank 4 beyond keepNewest 2 and pushed 20d ago, maxAge 10d (*)"),
				remove("e", "retention[0]: rank 5 beyond keepNewest 2 and pushed 30d ago, maxAge 10d (*)"),
			},
		},
		{
			name: "keepNewest with maxAge keeps the N newest however old",
			repo: `
  - name: mlops/r
    retention:
      - { match: "*", keepNewest: 2, maxAge: 10d }
`,
			images: []Image{image("a", 100*day, "a"), image("b", 200*day, "b")},
			want: []row{
				keep("a", "retention[0]: rank 1 of keepNewest 2"),
				keep("b", "retention[0]: rank 2 of keepNewest 2"),
			},
		},
		{
			name: "semver order: v1.10.0 is newer than v1.9.0 though pushed earlier; tags without a value rank last",
			repo: `
  - name: mlops/r
    retention:
      - { match: ["v{semver}", "rc-*"], keepNewest: 1, order: semver }
`,
			images: []Image{
				image("v1.9", 1*day, "v1.9.0"),
				image("v1.10", 5*day, "v1.10.0"),
				image("v1.10-rc", 6*day, "v1.10.0-rc.1"),
				image("rc", 0, "rc-tomorrow"),
			},
			want: []row{
				remove("rc", "retention[0]: rank 4 beyond keepNewest 1 (v{semver}, rc-*)"),
				remove("v1.9", "retention[0]: rank 3 beyond keepNewest 1 (v{semver}, rc-*)"),
				keep("v1.10", "retention[0]: rank 1 of keepNewest 1"),
				remove("v1.10-rc", "retention[0]: rank 2 beyond keepNewest 1 (v{semver}, rc-*)"),
			},
		},
		{
			name: "date order ranks by the tag's date, then push time",
			repo: `
  - name: mlops/r
    retention:
      - { match: "v{date}-{sha}", keepNewest: 1, order: date }
`,
			images: []Image{
				image("rebuilt-old", 1*day, "v20241001-aaaaaaa"),
				image("newest", 3*day, "v20241009-bbbbbbb"),
			},
			want: []row{
				remove("rebuilt-old", "retention[0]: rank 2 beyond keepNewest 1 (v{date}-{sha})"),
				keep("newest", "retention[0]: rank 1 of keepNewest 1"),
			},
		},
		{
			name: "a unit with tags matching two rules, one keeping and one expiring, is deleted",
			repo: retailAPI,
			images: []Image{
				image("both", 10*day, "v1.0.0", "dev-0000000"),
				image("d1", 1*day, "dev-0000001"), image("d2", 2*day, "dev-0000002"),
				image("d3", 3*day, "dev-0000003"), image("d4", 4*day, "dev-0000004"),
				image("d5", 5*day, "dev-0000005"),
			},
			want: []row{
				keep("d1", "retention[1]: rank 1 of keepNewest 5"),
				keep("d2", "retention[1]: rank 2 of keepNewest 5"),
				keep("d3", "retention[1]: rank 3 of keepNewest 5"),
				keep("d4", "retention[1]: rank 4 of keepNewest 5"),
				keep("d5", "retention[1]: rank 5 of keepNewest 5"),
				remove("both", "retention[1]: rank 6 beyond keepNewest 5 (dev-*, feature-*, main-*)"),
			},
		},
		{
			name: "protected units count toward keepNewest",
			repo: retailAPI,
			images: []Image{
				image("d1", 1*day, "dev-0000001", "dev-latest"), image("d2", 2*day, "dev-0000002"),
				image("d3", 3*day, "dev-0000003"), image("d4", 4*day, "dev-0000004"),
				image("d5", 5*day, "dev-0000005"), image("d6", 6*day, "dev-0000006"),
			},
			want: []row{
				keep("d1", "protected tag dev-latest (dev-latest)"),
				keep("d2", "retention[1]: rank 2 of keepNewest 5"),
				keep("d3", "retention[1]: rank 3 of keepNewest 5"),
				keep("d4", "retention[1]: rank 4 of keepNewest 5"),
				keep("d5", "retention[1]: rank 5 of keepNewest 5"),
				remove("d6", "retention[1]: rank 6 beyond keepNewest 5 (dev-*, feature-*, main-*)"),
			},
		},
		{
			name: "grace protects recent pushes",
			repo: `
  - name: mlops/r
    retention:
      - { match: "*", keepNewest: 0 }
      - { untagged: true, maxAge: 1h }
    protect:
      newerThan: 1d
`,
			images: []Image{image("fresh", 2*time.Hour, "x"), image("fresh-untagged", 3*time.Hour), image("stale", 2*day, "y")},
			want: []row{
				keep("fresh", "grace: pushed 2h ago, protect.newerThan 1d; overrides retention[0]: rank 1 beyond keepNewest 0 (*)"),
				keep("fresh-untagged", "grace: pushed 3h ago, protect.newerThan 1d; overrides retention[1]: pushed 3h ago, maxAge 1h (untagged)"),
				remove("stale", "retention[0]: rank 2 beyond keepNewest 0 (*)"),
			},
		},
		{
			name: "in use comes before a protected tag, which comes before grace",
			repo: `
  - name: mlops/r
    retention:
      - { match: "*", keepNewest: 0 }
    protect:
      tags: ["keep-*"]
      newerThan: 1d
`,
			images: []Image{image("a", time.Hour, "keep-a"), image("b", 2*time.Hour, "keep-b", "run")},
			inUse:  InUse{Tags: tags("run")},
			want: []row{
				keep("a", "protected tag keep-a (keep-*); overrides retention[0]: rank 1 beyond keepNewest 0 (*)"),
				keep("b", "in use: tag run; overrides retention[0]: rank 2 beyond keepNewest 0 (*)"),
			},
		},
		{
			name: "no rule selects it: kept",
			repo: retailAPI,
			images: []Image{
				image("nightly", 400*day, "nightly-20241009"),
			},
			want: []row{keep("nightly", "no rule selects it")},
		},
		{
			name: "untagged: 23h old kept, 25h old deleted",
			repo: retailAPI,
			images: []Image{
				image("u23", 23*time.Hour),
				image("u25", 25*time.Hour),
			},
			want: []row{
				keep("u23", "retention[2]: pushed 23h ago, within maxAge 1d"),
				remove("u25", "retention[2]: pushed 1d1h ago, maxAge 1d (untagged)"),
			},
		},
		{
			name: "an untagged index is one untagged unit",
			repo: retailAPI,
			images: concat(
				index("idx", 2*day, []string{"amd64", "arm64"}),
			),
			want: []row{
				remove("idx", "retention[2]: pushed 2d ago, maxAge 1d (untagged)"),
				member(remove("amd64", "retention[2]: pushed 2d ago, maxAge 1d (untagged)"), "idx"),
				member(remove("arm64", "retention[2]: pushed 2d ago, maxAge 1d (untagged)"), "idx"),
			},
		},
		{
			name: "a tag on a child is the unit's tag",
			repo: retailAPI,
			images: []Image{
				{Digest: "sha256:idx", PushedAt: now.Add(-5 * day), MediaType: indexOCI, Manifests: []string{"sha256:amd64"}},
				image("amd64", 5*day+time.Minute, "latest"),
			},
			want: []row{
				keep("idx", "protected tag latest (latest)"),
				member(keep("amd64", "protected tag latest (latest)"), "idx"),
			},
		},
		{
			name: "duplicate listings of one digest are merged",
			repo: retailAPI,
			images: []Image{
				image("dup", 5*day),
				image("dup", 5*day, "latest"),
			},
			want: []row{keep("dup", "protected tag latest (latest)")},
		},
		{
			name:   "no images",
			repo:   retailAPI,
			images: nil,
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Plan(repository(t, tt.repo), tt.images, tt.inUse, now)
			if diff := cmp.Diff(tt.want, rows(res)); diff != "" {
				t.Errorf("Plan() decisions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanWithoutPolicy(t *testing.T) {
	images := concat(index("idx", 400*day, []string{"amd64"}, "v1.0.0"), []Image{image("loose", 400*day)})
	got := rows(Plan(nil, images, InUse{}, now))
	want := []row{
		keep("idx", "no rule selects it"),
		member(keep("amd64", "no rule selects it"), "idx"),
		keep("loose", "no rule selects it"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Plan(nil) decisions mismatch (-want +got):\n%s", diff)
	}
}

func TestPlanCounts(t *testing.T) {
	res := Plan(repository(t, retailAPI), retailHistory(), InUse{}, now)
	got := struct {
		Repository     string
		Deletes, Keeps int
		ReclaimBytes   int64
	}{res.Repository, res.Deletes, res.Keeps, res.ReclaimBytes}
	// u25, dev5, main, dev6, rel-1.1 (1000 bytes each) and rel-1.0's two
	// children (1000 each); the index itself is not counted: ECR reports
	// an index's size as its largest child's.
	want := struct {
		Repository     string
		Deletes, Keeps int
		ReclaimBytes   int64
	}{"mlops/retail-api", 8, 19, 7000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Plan() totals mismatch (-want +got):\n%s", diff)
	}
}
