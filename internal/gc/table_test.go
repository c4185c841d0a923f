package gc

import (
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/lifecycle"
	"github.com/ecrwarden/ecrwarden/internal/retention"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestWriteTableColumns: every row of a repository's table starts each
// column where its header does, whatever the widest cell (ARCHIVE, a
// native verdict of a two-digit rule, the tags of an index child).
func TestWriteTableColumns(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dec := func(digest string, tags []string, del, arch bool, status, reason string) retention.Decision {
		return retention.Decision{Image: &retention.Image{Digest: digest, Tags: tags, PushedAt: at, Size: 1023 << 20, Status: status},
			Unit: digest, Delete: del, Archive: arch, Reason: reason}
	}
	child := dec(digest(4), nil, false, true, retention.StatusActive, "child")
	child.Unit = digest(3)
	res := &Result{Outcomes: []Outcome{{Repository: "app",
		Plan: &retention.Result{Decisions: []retention.Decision{
			dec(digest(1), []string{"v1"}, true, false, retention.StatusActive, "one"),
			dec(digest(2), []string{"v2", "latest"}, false, false, retention.StatusActivating, "two"),
			dec(digest(3), []string{"v3"}, false, true, retention.StatusArchived, "three"),
			child,
		}},
		Native: &Native{Verdicts: map[string]lifecycle.Verdict{digest(1): {Action: lifecycle.ActionTransition, Priority: 10}}},
	}}}
	var b strings.Builder
	if err := WriteTable(&b, res, DefaultPrices); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	header := lines[1]
	cols := []string{"DIGEST", "TAGS", "PUSHED", "PULLED", "CLASS", "SIZE", "NATIVE", "REASON"}
	for _, row := range lines[2:6] {
		for _, c := range cols {
			i := strings.Index(header, c)
			if i <= 0 || i > len(row) || row[i-2:i] != "  " || row[i] == ' ' {
				t.Errorf("column %s does not start at %d in row\n%s\n%s", c, i, header, row)
			}
		}
	}
}
