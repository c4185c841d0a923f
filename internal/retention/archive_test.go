package retention

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// act is a row with the archive decision too.
type act struct {
	Digest string
	Action string // keep, delete, archive
	Reason string
}

func acts(res *Result) []act {
	var out []act
	for _, d := range res.Decisions {
		a := act{Digest: strings.TrimPrefix(d.Digest, "sha256:"), Action: "keep", Reason: d.Reason}
		switch {
		case d.Delete:
			a.Action = "delete"
		case d.Archive:
			a.Action = "archive"
		}
		out = append(out, a)
	}
	return out
}

func pulled(img Image, ago time.Duration) Image { img.LastPulled = now.Add(-ago); return img }

func archived(img Image, ago time.Duration) Image {
	img.Status, img.ArchivedAt = StatusArchived, now.Add(-ago)
	return img
}

func TestPlanPullArchive(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		images []Image
		inUse  InUse
		want   []act
	}{
		{
			name:   "notPulledFor alone: pull time, or push time when never pulled, plus the record lag",
			policy: `{ match: "*", notPulledFor: 90d }`,
			images: []Image{
				pulled(image("recent", 200*day, "v3"), 10*day),
				pulled(image("stale", 300*day, "v2"), 120*day),
				pulled(image("edge", 300*day, "v2.1"), 90*day+12*time.Hour), // within the 1d lag
				image("never", 100*day, "v1"),
			},
			want: []act{
				{"never", "delete", "retention[0]: never pulled, pushed 100d ago, notPulledFor 90d (*)"},
				{"recent", "keep", "retention[0]: last pulled 10d ago, within notPulledFor 90d (+1d ECR record lag)"},
				{"edge", "keep", "retention[0]: last pulled 90d12h ago, within notPulledFor 90d (+1d ECR record lag)"},
				{"stale", "delete", "retention[0]: last pulled 120d ago, notPulledFor 90d (*)"},
			},
		},
		{
			name:   "keepNewest is a floor under notPulledFor",
			policy: `{ match: "v*", keepNewest: 2, notPulledFor: 30d }`,
			images: []Image{
				pulled(image("a", 1*day, "v5"), 100*day),
				pulled(image("b", 2*day, "v4"), 100*day),
				pulled(image("c", 3*day, "v3"), 100*day),
				pulled(image("d", 4*day, "v2"), 5*day),
			},
			want: []act{
				{"a", "keep", "retention[0]: rank 1 of keepNewest 2"},
				{"b", "keep", "retention[0]: rank 2 of keepNewest 2"},
				{"c", "delete", "retention[0]: rank 3 beyond keepNewest 2 and last pulled 100d ago, notPulledFor 30d (v*)"},
				{"d", "keep", "retention[0]: last pulled 5d ago, within notPulledFor 30d (+1d ECR record lag)"},
			},
		},
		{
			name: "archive, and a deleting rule wins over an archiving one",
			policy: `{ match: "v*", notPulledFor: 60d, action: archive }
      - { match: "*", maxAge: 365d }`,
			images: []Image{
				pulled(image("cold", 100*day, "v2"), 80*day),
				pulled(image("ancient", 400*day, "v1"), 300*day),
				pulled(image("warm", 100*day, "v3"), 1*day),
			},
			want: []act{
				{"cold", "archive", "retention[0]: last pulled 80d ago, notPulledFor 60d (v*)"},
				{"warm", "keep", "retention[0]: last pulled 1d ago, within notPulledFor 60d (+1d ECR record lag); retention[1]: pushed 100d ago, within maxAge 365d"},
				{"ancient", "delete", "retention[1]: pushed 400d ago, maxAge 365d (*)"},
			},
		},
		{
			name: "active rules do not see archived images; archivedFor rules see only them",
			policy: `{ match: "*", keepNewest: 1 }
      - { match: "*", archivedFor: 180d }`,
			images: []Image{
				image("new", 1*day, "v9"),
				image("old", 50*day, "v8"),
				archived(image("arch-long", 900*day, "v1"), 200*day),
				archived(image("arch-short", 800*day, "v2"), 100*day),
			},
			want: []act{
				{"new", "keep", "retention[0]: rank 1 of keepNewest 1"},
				{"old", "delete", "retention[0]: rank 2 beyond keepNewest 1 (*)"},
				{"arch-short", "keep", "retention[1]: archived 100d ago, within archivedFor 180d"},
				{"arch-long", "delete", "retention[1]: archived 200d ago, archivedFor 180d (*)"},
			},
		},
		{
			name:   "deleting before the 90-day archive minimum says what is still charged",
			policy: `{ untagged: true, archivedFor: 30d, acceptArchiveMinimumCharge: true }`,
			images: []Image{archived(image("x", 400*day), 40*day)},
			want: []act{
				{"x", "delete", "retention[0]: archived 40d ago, archivedFor 30d (untagged); 50d of the 90-day archive minimum are still charged"},
			},
		},
		{
			name:   "an archived image a workload references is kept; one being restored is left alone",
			policy: `{ match: "*", archivedFor: 100d }`,
			images: []Image{
				archived(image("ref", 900*day, "v1"), 500*day),
				func() Image { i := image("back", 900*day, "v2"); i.Status = StatusActivating; return i }(),
			},
			inUse: InUse{Tags: tags("v1")},
			want: []act{
				{"back", "keep", "restoring: ACTIVATING, back from the archive soon"},
				{"ref", "keep", "in use: tag v1; overrides retention[0]: archived 500d ago, archivedFor 100d (*)"},
			},
		},
		{
			name:   "in-use and protected images are never archived",
			policy: `{ match: "*", notPulledFor: 30d, action: archive }`,
			images: []Image{image("used", 100*day, "v1"), image("free", 100*day, "v2")},
			inUse:  InUse{Digests: digests("used")},
			want: []act{
				{"free", "archive", "retention[0]: never pulled, pushed 100d ago, notPulledFor 30d (*)"},
				{"used", "keep", "in use: digest sha256:used; overrides retention[0]: never pulled, pushed 100d ago, notPulledFor 30d (*)"},
			},
		},
		{
			name:   "untagged grace keeps a platform image pushed before its index",
			policy: `{ untagged: true, keepNewest: 0 }`,
			images: []Image{image("fresh-child", 2*time.Hour), image("old-child", 7*time.Hour)},
			want: []act{
				{"fresh-child", "keep", "grace: untagged, pushed 2h ago, protect.untaggedNewerThan 6h; overrides retention[0]: rank 1 beyond keepNewest 0 (untagged)"},
				{"old-child", "delete", "retention[0]: rank 2 beyond keepNewest 0 (untagged)"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := repository(t, "\n  - name: app\n    retention:\n      - "+tc.policy+"\n")
			got := acts(Plan(repo, tc.images, tc.inUse, now))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanIndexPullTime: an index's own pull record is gc's BatchGetImage;
// its children's records are the clients'.
func TestPlanIndexPullTime(t *testing.T) {
	repo := repository(t, "\n  - name: app\n    retention:\n      - { match: \"*\", notPulledFor: 30d }\n")
	idx := index("idx", 100*day, []string{"amd64", "arm64"}, "v1")
	idx[0].LastPulled = now.Add(-time.Hour) // gc read the manifest an hour ago
	idx[1].LastPulled = now.Add(-60 * day)
	idx[2].LastPulled = now.Add(-70 * day)
	res := Plan(repo, idx, InUse{}, now)
	if !res.Decisions[0].Delete || !strings.Contains(res.Decisions[0].Reason, "last pulled 60d ago") {
		t.Errorf("index decision = %+v, want deleted by its children's last pull (60d)", res.Decisions[0])
	}
	idx[2].LastPulled = now.Add(-2 * day)
	if res := Plan(repo, idx, InUse{}, now); res.Decisions[0].Delete {
		t.Errorf("index with a child pulled 2d ago deleted: %s", res.Decisions[0].Reason)
	}
}

// TestPlanCosignTags: a cosign signature (sha256-<hex>.sig) lives and dies
// with the image it signs, and its tag does not make its subject "tagged".
func TestPlanCosignTags(t *testing.T) {
	hex := strings.Repeat("5e", 32)
	subject := Image{Digest: "sha256:" + hex, Tags: []string{"v1"}, PushedAt: now.Add(-400 * day), Size: 1000, MediaType: manifestOCI}
	sig := image("sig", 400*day, "sha256-"+hex+".sig")
	orphan := image("orphan", 400*day, "sha256-"+strings.Repeat("0f", 32)+".att")
	repo := repository(t, "\n  - name: app\n    retention:\n      - { match: \"*\", maxAge: 30d }\n")

	res := Plan(repo, []Image{subject, sig, orphan}, InUse{Tags: tags("v1")}, now)
	got := map[string]string{}
	for _, d := range res.Decisions {
		got[strings.TrimPrefix(d.Digest, "sha256:")] = d.Unit
	}
	want := map[string]string{hex: "sha256:" + hex, "sig": "sha256:" + hex, "orphan": "sha256:orphan"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("units (-want +got):\n%s", diff)
	}
	for _, d := range res.Decisions {
		if d.Digest == "sha256:sig" && d.Delete {
			t.Errorf("signature of a running image deleted: %s", d.Reason)
		}
		if d.Digest == "sha256:orphan" && !d.Delete {
			t.Errorf("attestation of an absent image kept: %s", d.Reason)
		}
	}
	// The signature's tag does not select its subject for a sha256-* rule.
	repo = repository(t, "\n  - name: app\n    retention:\n      - { match: \"sha256-*\", maxAge: 30d }\n")
	for _, d := range Plan(repo, []Image{subject, sig}, InUse{}, now).Decisions {
		if d.Delete {
			t.Errorf("%s deleted by a rule on signature tags: %s", d.Digest, d.Reason)
		}
	}
}

func TestPlanArchiveTotals(t *testing.T) {
	repo := repository(t, "\n  - name: app\n    retention:\n      - { match: \"*\", maxAge: 30d, action: archive }\n")
	images := concat(index("idx", 100*day, []string{"amd64", "arm64"}, "v1"), []Image{image("single", 100*day, "v0")})
	res := Plan(repo, images, InUse{}, now)
	if res.Archives != 4 || res.ArchiveBytes != 3000 || res.Deletes != 0 || res.ReclaimBytes != 0 {
		t.Errorf("archives %d (%d bytes), deletes %d (%d bytes); want 4 archives of 3000 bytes (the index counted by its children)",
			res.Archives, res.ArchiveBytes, res.Deletes, res.ReclaimBytes)
	}
}

func TestAppendAgoMatchesAgo(t *testing.T) {
	for _, d := range []time.Duration{-time.Hour, 0, 30 * time.Second, time.Minute, 45 * time.Minute, 3 * time.Hour,
		2*time.Hour + 30*time.Minute + 10*time.Second, 24 * time.Hour, 24*time.Hour + 59*time.Minute, 90*24*time.Hour + 12*time.Hour + 5*time.Minute, 800 * 24 * time.Hour} {
		if got, want := string(appendAgo(nil, d)), ago(d); got != want {
			t.Errorf("appendAgo(%v) = %q, ago = %q", d, got, want)
		}
	}
}
