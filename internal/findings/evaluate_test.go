package findings

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

func day(t *testing.T, s string) policy.Date {
	t.Helper()
	d, err := policy.ParseDate(s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

func TestEvaluate(t *testing.T) {
	crit := Finding{ID: "CVE-2024-0003", Severity: "CRITICAL"}
	high := Finding{ID: "CVE-2024-0001", Severity: "HIGH"}
	high2 := Finding{ID: "CVE-2024-0002", Severity: "HIGH"}
	medium := Finding{ID: "CVE-2024-0004", Severity: "MEDIUM"}
	low := Finding{ID: "CVE-2024-0005", Severity: "LOW"}
	undefined := Finding{ID: "CVE-2024-0006", Severity: "UNDEFINED"}
	untriaged := Finding{ID: "CVE-2024-0007", Severity: "UNTRIAGED"}
	all := []Finding{low, high2, medium, crit, undefined, high, untriaged}
	ignore := policy.Ignore{ID: "cve-2024-0001", Until: day(t, "2026-01-31"), Reason: "not reachable"}
	lastDay := time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC)
	dayAfter := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name string
		sp   policy.ScanPolicy
		fs   []Finding
		now  time.Time
		want Result
	}{
		{
			name: "default threshold is HIGH; sorted by severity then id",
			fs:   all,
			now:  lastDay,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "HIGH",
				Alerting: []Finding{crit, high, high2},
				Counts:   map[policy.Severity]int{"CRITICAL": 1, "HIGH": 2},
				Unknown:  []Finding{undefined, untriaged},
				Below:    2,
			},
		},
		{
			name: "MEDIUM threshold, lower case",
			sp:   policy.ScanPolicy{AlertAt: "medium"},
			fs:   all,
			now:  lastDay,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "MEDIUM",
				Alerting: []Finding{crit, high, high2, medium},
				Counts:   map[policy.Severity]int{"CRITICAL": 1, "HIGH": 2, "MEDIUM": 1},
				Unknown:  []Finding{undefined, untriaged},
				Below:    1,
			},
		},
		{
			name: "active ignore on its last day sets the finding aside",
			sp:   policy.ScanPolicy{AlertAt: "HIGH", Ignore: []policy.Ignore{ignore}},
			fs:   all,
			now:  lastDay,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "HIGH",
				Alerting: []Finding{crit, high2},
				Ignored:  []Ignored{{Finding: high, Entry: ignore}},
				Counts:   map[policy.Severity]int{"CRITICAL": 1, "HIGH": 1},
				Unknown:  []Finding{undefined, untriaged},
				Below:    2,
			},
		},
		{
			name: "expired ignore alerts again and is listed as expired",
			sp:   policy.ScanPolicy{AlertAt: "HIGH", Ignore: []policy.Ignore{ignore}},
			fs:   all,
			now:  dayAfter,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "HIGH",
				Alerting: []Finding{crit, high, high2},
				Expired:  []Ignored{{Finding: high, Entry: ignore}},
				Counts:   map[policy.Severity]int{"CRITICAL": 1, "HIGH": 2},
				Unknown:  []Finding{undefined, untriaged},
				Below:    2,
			},
		},
		{
			name: "the longest of duplicate entries wins; an ignore below the threshold changes nothing",
			sp: policy.ScanPolicy{Ignore: []policy.Ignore{
				{ID: "CVE-2024-0001", Until: day(t, "2025-01-01"), Reason: "old"},
				{ID: "CVE-2024-0001", Until: day(t, "2027-01-01"), Reason: "renewed"},
				{ID: "CVE-2024-0005", Until: day(t, "2020-01-01"), Reason: "low anyway"},
			}},
			fs:  all,
			now: dayAfter,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "HIGH",
				Alerting: []Finding{crit, high2},
				Ignored:  []Ignored{{Finding: high, Entry: policy.Ignore{ID: "CVE-2024-0001", Until: day(t, "2027-01-01"), Reason: "renewed"}}},
				Counts:   map[policy.Severity]int{"CRITICAL": 1, "HIGH": 1},
				Unknown:  []Finding{undefined, untriaged},
				Below:    2,
			},
		},
		{
			name: "pages concatenated: duplicates merge before counting",
			fs:   []Finding{high, crit, {ID: "cve-2024-0001", Severity: "CRITICAL"}},
			now:  lastDay,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "HIGH",
				Alerting: []Finding{{ID: "CVE-2024-0001", Severity: "CRITICAL"}, crit},
				Counts:   map[policy.Severity]int{"CRITICAL": 2},
			},
		},
		{
			name: "unknown severities: an active ignore sets one aside, an expired one does not; lower case and blank count as unknown",
			sp: policy.ScanPolicy{Ignore: []policy.Ignore{
				{ID: "CVE-2024-0006", Until: day(t, "2027-01-01"), Reason: "triaged by hand: not reachable"},
				{ID: "CVE-2024-0007", Until: day(t, "2025-01-01"), Reason: "expired"},
			}},
			fs:  []Finding{undefined, untriaged, {ID: "CVE-2024-0008", Severity: "whatever"}, {ID: "CVE-2024-0009"}, low},
			now: dayAfter,
			want: Result{
				Repository: "mlops/retail-api", Threshold: "HIGH",
				Ignored: []Ignored{{Finding: undefined, Entry: policy.Ignore{ID: "CVE-2024-0006", Until: day(t, "2027-01-01"), Reason: "triaged by hand: not reachable"}}},
				Unknown: []Finding{untriaged, {ID: "CVE-2024-0008", Severity: "whatever"}, {ID: "CVE-2024-0009"}},
				Counts:  map[policy.Severity]int{},
				Below:   1,
			},
		},
		{
			name: "nothing alerts",
			fs:   []Finding{low, medium},
			now:  lastDay,
			want: Result{Repository: "mlops/retail-api", Threshold: "HIGH", Counts: map[policy.Severity]int{}, Below: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate("mlops/retail-api", tt.sp, tt.fs, tt.now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResultClean: a gate opens only on a result with nothing alerting and
// nothing of unknown severity; Blocking lists both.
func TestResultClean(t *testing.T) {
	high := Finding{ID: "CVE-2024-0001", Severity: "HIGH"}
	untriaged := Finding{ID: "CVE-2024-0007", Severity: "UNTRIAGED"}
	for _, tt := range []struct {
		name      string
		r         Result
		wantClean bool
		want      []Finding
	}{
		{"empty", Result{}, true, nil},
		{"below and ignored only", Result{Below: 3, Ignored: []Ignored{{Finding: high}}}, true, nil},
		{"alerting", Result{Alerting: []Finding{high}}, false, []Finding{high}},
		{"unknown severity only", Result{Unknown: []Finding{untriaged}}, false, []Finding{untriaged}},
		{"both", Result{Alerting: []Finding{high}, Unknown: []Finding{untriaged}}, false, []Finding{high, untriaged}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Clean(); got != tt.wantClean {
				t.Errorf("Clean() = %v, want %v", got, tt.wantClean)
			}
			if diff := cmp.Diff(tt.want, tt.r.Blocking()); diff != "" {
				t.Errorf("Blocking() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResultHighestAndIDs(t *testing.T) {
	r := Evaluate("r", policy.ScanPolicy{AlertAt: "LOW"}, []Finding{
		{ID: "b", Severity: "LOW"}, {ID: "a", Severity: "MEDIUM"},
	}, time.Time{})
	if got := r.Highest(); got != "MEDIUM" {
		t.Errorf("Highest() = %q, want MEDIUM", got)
	}
	if diff := cmp.Diff([]string{"A", "B"}, r.IDs()); diff != "" {
		t.Errorf("IDs() (-want +got):\n%s", diff)
	}
	if got := (Result{}).Highest(); got != "" {
		t.Errorf("empty Highest() = %q, want empty", got)
	}
}

func ids(s ...string) []Finding {
	out := make([]Finding, len(s))
	for i, id := range s {
		out[i] = Finding{ID: id, Severity: "HIGH"}
	}
	return out
}

func TestFingerprint(t *testing.T) {
	const repo, digest = "mlops/retail-api", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	base := Fingerprint(repo, digest, ids("CVE-1", "CVE-2", "GHSA-x"))

	t.Run("encoding", func(t *testing.T) {
		h := sha256.New()
		for _, s := range []string{fingerprintVersion, repo, digest, "CVE-1", "CVE-2", "GHSA-X"} {
			fmt.Fprintf(h, "%d:%s\n", len(s), s)
		}
		if want := hex.EncodeToString(h.Sum(nil)); base != want {
			t.Errorf("Fingerprint = %s, want %s", base, want)
		}
		if len(base) != 64 {
			t.Errorf("len = %d, want 64", len(base))
		}
	})

	same := []struct {
		name string
		fs   []Finding
	}{
		{"reordered", ids("GHSA-x", "CVE-2", "CVE-1")},
		{"duplicated", ids("CVE-2", "CVE-1", "CVE-2", "GHSA-x", "CVE-1")},
		{"case", ids("cve-1", "CVE-2", "ghsa-X")},
		{"severity and packages do not count", []Finding{
			{ID: "CVE-1", Severity: "CRITICAL", Packages: []Package{{Name: "x"}}},
			{ID: "CVE-2", Severity: "HIGH"}, {ID: "GHSA-x", Severity: "MEDIUM", Score: 9},
		}},
	}
	for _, tt := range same {
		t.Run("same/"+tt.name, func(t *testing.T) {
			if got := Fingerprint(repo, digest, tt.fs); got != base {
				t.Errorf("Fingerprint = %s, want %s", got, base)
			}
		})
	}

	different := []struct {
		name, repo, digest string
		fs                 []Finding
	}{
		{"new CVE on the same image", repo, digest, ids("CVE-1", "CVE-2", "GHSA-x", "CVE-3")},
		{"one fewer", repo, digest, ids("CVE-1", "CVE-2")},
		{"other digest", repo, "sha256:ff", ids("CVE-1", "CVE-2", "GHSA-x")},
		{"other repository", "mlops/train-model", digest, ids("CVE-1", "CVE-2", "GHSA-x")},
		{"boundaries are not ambiguous", repo + "\n4:" + digest, "", ids("CVE-1", "CVE-2", "GHSA-x")},
	}
	for _, tt := range different {
		t.Run("different/"+tt.name, func(t *testing.T) {
			if got := Fingerprint(tt.repo, tt.digest, tt.fs); got == base {
				t.Errorf("Fingerprint = %s, the same as the base set", got)
			}
		})
	}

	t.Run("order independent for random permutations", func(t *testing.T) {
		fs := ids("CVE-5", "CVE-4", "CVE-3", "CVE-2", "CVE-1", "GHSA-a", "ALAS-2024-1")
		want := Fingerprint(repo, digest, fs)
		r := rand.New(rand.NewPCG(1, 2))
		for range 50 {
			r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
			if got := Fingerprint(repo, digest, fs); got != want {
				t.Fatalf("Fingerprint of %v = %s, want %s", fs, got, want)
			}
		}
	})
}
