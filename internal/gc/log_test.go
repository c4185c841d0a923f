package gc

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// TestLogPlanLimits: a plan of more decisions than MaxDecisionLines logs the
// first ones a line each with their reason (keeps that a protection decided
// included), the deletions past them in "gc decisions" lines of at most
// MaxLoggedDigests digests, and every deleted digest exactly once.
func TestLogPlanLimits(t *testing.T) {
	f := largeRepository(3000) // 998 releases and 952 untagged images expire
	clusters := &fakeClusters{refs: map[string][]string{"east": {host + "/app:v1.0.999"}}, fail: map[string]error{}}
	var logs bytes.Buffer
	r := &Runner{ECR: f, Sources: clusters.sources(t), Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	res := r.Run(context.Background(), mustPolicy(t, testPolicy), []string{"app"}, Options{DryRun: true, Now: now})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range res.Outcomes[0].Plan.Decisions {
		if d.Delete {
			want = append(want, d.Digest)
		}
	}
	if len(want) <= MaxDecisionLines+MaxLoggedDigests {
		t.Fatalf("%d deletions planned: too few to pass both limits", len(want))
	}
	var got []string
	lines, chunks, keeps := 0, 0, 0
	for l := range strings.Lines(logs.String()) {
		var rec struct {
			Msg, Action, Digest, Reason string
			Digests                     []string
			Images                      int
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Msg {
		case "gc decision":
			lines++
			if rec.Reason == "" {
				t.Errorf("decision line without a reason: %s", l)
			}
			switch rec.Action {
			case "delete":
				got = append(got, rec.Digest)
			case "keep":
				keeps++
				if !strings.Contains(rec.Reason, "in use") {
					t.Errorf("keep line does not say what protects the image: %s", rec.Reason)
				}
			}
		case "gc decisions":
			chunks++
			if len(rec.Digests) > MaxLoggedDigests || rec.Action != "delete" {
				t.Errorf("chunk of %d %s digests", len(rec.Digests), rec.Action)
			}
			got = append(got, rec.Digests...)
		}
	}
	if lines != MaxDecisionLines {
		t.Errorf("%d decision lines, want %d", lines, MaxDecisionLines)
	}
	if keeps != 1 {
		t.Errorf("%d keep lines, want 1 (v1.0.999 is in use)", keeps)
	}
	if chunks < 2 {
		t.Errorf("%d chunk lines for %d deletions past the decision lines", chunks, len(want)-MaxDecisionLines+keeps)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("logged %d deleted digests, planned %d (each must be logged once)", len(got), len(want))
	}
}
