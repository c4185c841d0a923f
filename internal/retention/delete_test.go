package retention

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeleteIDs(t *testing.T) {
	tests := []struct {
		name   string
		repo   string
		images []Image
		want   [][]string // waves, for readability; DeleteIDs returns them in sequence
	}{
		{
			name:   "retail-api history: the expired index goes before its children",
			repo:   retailAPI,
			images: retailHistory(),
			want: [][]string{
				{"u25", "dev5", "main", "dev6", "rel-1.1", "rel-1.0"},
				{"rel-1.0-amd64", "rel-1.0-arm64"},
			},
		},
		{
			name: "a referrer goes before its subject index, which goes before its children",
			repo: retailAPI,
			images: concat(
				index("idx", 3*day, []string{"amd64", "arm64"}),
				[]Image{referrer("sig", 3*day-time.Hour, "idx"), image("plain", 4*day)},
			),
			want: [][]string{
				{"sig", "plain"},
				{"idx"},
				{"amd64", "arm64"},
			},
		},
		{
			name: "nested indexes",
			repo: retailAPI,
			images: []Image{
				{Digest: "sha256:outer", PushedAt: now.Add(-3 * day), MediaType: indexOCI, Manifests: []string{"sha256:inner"}},
				{Digest: "sha256:inner", PushedAt: now.Add(-3 * day), MediaType: indexOCI, Manifests: []string{"sha256:leaf"}},
				image("leaf", 3*day),
			},
			want: [][]string{{"outer"}, {"inner"}, {"leaf"}},
		},
		{
			name: "a reference cycle (malformed input) ends in a last wave",
			repo: retailAPI,
			images: []Image{
				{Digest: "sha256:a", PushedAt: now.Add(-3 * day), Manifests: []string{"sha256:b"}},
				{Digest: "sha256:b", PushedAt: now.Add(-3 * day), Manifests: []string{"sha256:a"}},
				image("c", 4*day),
			},
			want: [][]string{{"c"}, {"a", "b"}},
		},
		{
			name:   "nothing to delete",
			repo:   retailAPI,
			images: []Image{image("a", time.Hour)},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Plan(repository(t, tt.repo), tt.images, InUse{}, now)
			var want []string
			for _, wave := range tt.want {
				for _, name := range wave {
					want = append(want, "sha256:"+name)
				}
			}
			got := res.DeleteIDs()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DeleteIDs() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
