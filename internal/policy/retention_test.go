package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetentionPullArchiveAndPrices(t *testing.T) {
	f, err := Parse("p.yaml", []byte(`gc:
  prices: { standardPerGBMonth: 0.1, archivePerGBMonth: 0.07 }
repositories:
  - name: app
    protect: { untaggedNewerThan: 0 }
    retention:
      - { match: "v*", keepNewest: 3, notPulledFor: 90d, action: archive }
      - { match: "*", archivedFor: 365d }
      - { untagged: true, archivedFor: 30d, acceptArchiveMinimumCharge: true }
  - name: other
    retention:
      - { untagged: true, notPulledFor: 2d }
`))
	if err != nil {
		t.Fatal(err)
	}
	app := f.Repositories[0]
	r0, r1, r2 := app.Retention[0], app.Retention[1], app.Retention[2]
	if r0.NotPulledFor.Std() != 90*24*time.Hour || r0.Disposal() != DisposalArchive || r0.SelectsArchived() {
		t.Errorf("rule 0 = %+v", r0)
	}
	if !r1.SelectsArchived() || r1.Disposal() != DisposalDelete || r1.ArchivedFor.Std() != 365*24*time.Hour {
		t.Errorf("rule 1 = %+v", r1)
	}
	if !r2.AcceptArchiveMinimumCharge {
		t.Errorf("rule 2 = %+v", r2)
	}
	if g := app.Protect.UntaggedGrace(); g != 0 {
		t.Errorf("explicit untaggedNewerThan 0 = %v", g)
	}
	if g := f.Repositories[1].Protect.UntaggedGrace(); g != DefaultUntaggedGrace {
		t.Errorf("default untagged grace = %v, want %v", g, DefaultUntaggedGrace)
	}
	if p := f.GC.Prices; *p.StandardPerGBMonth != 0.1 || *p.ArchivePerGBMonth != 0.07 {
		t.Errorf("prices = %v, %v", *p.StandardPerGBMonth, *p.ArchivePerGBMonth)
	}
}

func TestRetentionPullArchiveErrors(t *testing.T) {
	repo := func(rule string) string {
		return "repositories:\n  - name: app\n    retention:\n      - " + rule + "\n"
	}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"archivedFor under the minimum", repo(`{ match: "*", archivedFor: 30d }`), []string{`repositories[0].retention[0].archivedFor: 30d is below the 90-day minimum`}},
		{"archivedFor with keepNewest", repo(`{ match: "*", archivedFor: 100d, keepNewest: 3 }`), []string{`retention[0].keepNewest: archivedFor selects archived images, keepNewest active ones`}},
		{"archive archived images", repo(`{ match: "*", archivedFor: 100d, action: archive }`), []string{`retention[0].action: archived images can only be deleted`}},
		{"accept without archivedFor", repo(`{ match: "*", maxAge: 10d, acceptArchiveMinimumCharge: true }`), []string{`acceptArchiveMinimumCharge: only applies with archivedFor`}},
		{"notPulledFor under two days", repo(`{ untagged: true, notPulledFor: 12h }`), []string{`notPulledFor: must be at least 2d`}},
		{"unknown action", repo(`{ match: "*", maxAge: 10d, action: glacier }`), []string{`unknown retention action "glacier"`}},
		{"negative price", "gc: { prices: { archivePerGBMonth: -1 } }\nrepositories:\n  - name: app\n", []string{`gc.prices.archivePerGBMonth: must not be negative`}},
		{"price not a number", "gc: { prices: { archivePerGBMonth: cheap } }\nrepositories:\n  - name: app\n", []string{`gc.prices.archivePerGBMonth: want a number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml))
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != len(tt.want) {
				t.Fatalf("errors = %v, want %q", err, tt.want)
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e.Error(), tt.want[i])
				}
			}
		})
	}
}

func TestSignatureSubject(t *testing.T) {
	hex := strings.Repeat("ab12", 16)
	tests := []struct {
		tag, want string
	}{
		{"sha256-" + hex + ".sig", "sha256:" + hex},
		{"sha256-" + hex + ".att", "sha256:" + hex},
		{"sha256-" + hex + ".sbom", "sha256:" + hex},
		{"sha256-" + hex, ""},
		{"sha256-" + hex[:63] + ".sig", ""},
		{"sha256-" + strings.ToUpper(hex) + ".sig", ""},
		{"sha512-" + hex + ".sig", ""},
		{"v1.2.3", ""},
	}
	for _, tc := range tests {
		got, ok := SignatureSubject(tc.tag)
		if diff := cmp.Diff(tc.want, got); diff != "" || ok != (tc.want != "") {
			t.Errorf("SignatureSubject(%q) = %q, %v; want %q", tc.tag, got, ok, tc.want)
		}
	}
}

// TestDurationString: a duration writes back the way the policy file
// writes it (30m once came out as "3").
func TestDurationString(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "30m"}, {90 * time.Minute, "1h30m"}, {2 * time.Hour, "2h"}, {36 * time.Hour, "1d12h"},
		{36*time.Hour + 30*time.Minute, "1d12h30m"}, {30 * 24 * time.Hour, "30d"}, {10 * time.Second, "10s"}, {0, "0"},
	} {
		if got := Duration(tc.d).String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
		if tc.d > 0 {
			back, err := ParseDuration(tc.want)
			if err != nil || back.Std() != tc.d {
				t.Errorf("ParseDuration(%q) = %v, %v", tc.want, back, err)
			}
		}
	}
}
