package sandbox_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/cfn"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// mutations selects the mutation check's extent: "all" (the default: ~30 s here)
// removes every exercised action; "sample" one per function and service.
var mutations = flag.String("iam.mutations", "all", `IAM mutation check: "all" or "sample"`)

func requireCluster(t *testing.T) {
	t.Helper()
	testenv.RequireControlPlane(t, cluster != nil)
}

// scenarioTemplate is the template of the scenario policy (synthesized once, cached).
func scenarioTemplate(t *testing.T) *cfn.Template {
	t.Helper()
	tmpl, err := sandbox.ScenarioTemplate(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// exercised runs every scenario with the real template, fails t on a wrong outcome or
// any denial, and returns which scenario first exercised each function's action.
func exercised(t *testing.T, tmpl *cfn.Template) (map[grant]int, []grant) {
	t.Helper()
	first := map[grant]int{}
	for i, s := range sandbox.Scenarios {
		res, err := sandbox.RunScenario(context.Background(), cluster, s, sandbox.ScenarioOptions{Template: tmpl})
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if res.Err != nil {
			t.Errorf("%s: %v", s.Name, res.Err)
		}
		for _, d := range res.Denials {
			t.Errorf("%s: denied: %s", s.Name, d)
		}
		for _, d := range res.Decisions {
			g := grant{d.Principal, d.Action}
			if _, seen := first[g]; !seen && d.Result.Allowed() && d.Principal != "admin" {
				first[g] = i
			}
		}
	}
	var all []grant
	for g := range first {
		all = append(all, g)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].String() < all[j].String() })
	return first, all
}

type grant struct{ function, action string }

func (g grant) String() string { return g.function + " " + g.action }

// TestScenariosWithTheTemplatesIAM: every scenario plays out with exactly the IAM the
// synthesized template grants, no call refused.
func TestScenariosWithTheTemplatesIAM(t *testing.T) {
	requireCluster(t)
	tmpl := scenarioTemplate(t)
	first, all := exercised(t, tmpl)
	t.Logf("%d function actions exercised: %v", len(all), all)
	// What the template grants that no scenario exercised: calls the code makes on
	// paths the scenarios do not take, calls Lambda makes itself, or grants too many.
	for _, fn := range sandbox.Functions {
		granted, err := sandbox.Grants(tmpl, fn)
		if err != nil {
			t.Fatal(err)
		}
		var idle []string
		for _, a := range granted {
			if _, ok := first[grant{fn, a}]; !ok {
				idle = append(idle, a)
			}
		}
		t.Logf("%s: granted, not exercised: %v", fn, idle)
	}
}

// TestLoopClosed: with a template whose onpush role lacks ecr:DescribeImages, the push
// scenario in which onpush lists the repository's images (the reconcile after lost
// events) fails with AccessDenied naming onpush, the action and the repository's ARN;
// TestScenariosWithTheTemplatesIAM passes the same scenario with the real template.
// With enhanced scanning and an onscan role without inspector2:ListFindings, the
// findings scenario fails on that dependent permission.
func TestLoopClosed(t *testing.T) {
	requireCluster(t)
	tmpl := scenarioTemplate(t)
	repoARN := "arn:aws:ecr:" + sandbox.Region + ":" + sandbox.Account + ":repository/mlops/retail-api"
	tests := []struct {
		name             string
		function, action string
		scenario         string
		resource         string
	}{
		{"onpush without ecr:DescribeImages", "onpush", "ecr:DescribeImages", "reconcile after lost events, enhanced scanning", repoARN},
		{"onscan without inspector2:ListFindings", "onscan", "inspector2:ListFindings", "enhanced scanning findings alert",
			"arn:aws:inspector2:" + sandbox.Region + ":" + sandbox.Account + ":/findings/list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutated, err := sandbox.RemoveGrant(tmpl, tt.function, tt.action)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sandbox.RunScenario(context.Background(), cluster, scenario(t, tt.scenario), sandbox.ScenarioOptions{Template: mutated})
			if err != nil {
				t.Fatal(err)
			}
			if res.Err == nil {
				t.Fatalf("%s passed without %s", tt.scenario, tt.action)
			}
			want := tt.function + " " + tt.action + " on " + tt.resource + ": implicit deny"
			if !containsDecision(res.Denials, want) {
				t.Errorf("denials %v, want %q", res.Denials, want)
			}
			if msg := res.Err.Error(); !strings.Contains(msg, "AccessDeniedException") || !strings.Contains(msg, tt.action) || !strings.Contains(msg, tt.resource) {
				t.Errorf("the scenario's failure does not carry AWS's AccessDenied naming %s on %s:\n%s", tt.action, tt.resource, msg)
			}
		})
	}
}

func scenario(t *testing.T, name string) sandbox.Scenario {
	t.Helper()
	for _, s := range sandbox.Scenarios {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return sandbox.Scenario{}
}

func containsDecision(ds []authz.Decision, want string) bool {
	for _, d := range ds {
		if d.String() == want {
			return true
		}
	}
	return false
}

// TestIAMMutation (issue 15 item 5): for each action a function exercised in the
// scenarios, the template without that grant makes the scenario that first exercised
// it fail on that action: -iam.mutations=all (the default) tries every action,
// -iam.mutations=sample one per function and service.
func TestIAMMutation(t *testing.T) {
	requireCluster(t)
	tmpl := scenarioTemplate(t)
	first, all := exercised(t, tmpl)
	if t.Failed() {
		t.FailNow()
	}
	tried := all
	if *mutations != "all" {
		tried = sample(all)
	}
	start := time.Now()
	var caught, uncaught []string
	for _, g := range tried {
		mutated, err := sandbox.RemoveGrant(tmpl, g.function, g.action)
		if err != nil {
			uncaught = append(uncaught, fmt.Sprintf("%s: %v", g, err))
			continue
		}
		s := sandbox.Scenarios[first[g]]
		res, err := sandbox.RunScenario(context.Background(), cluster, s, sandbox.ScenarioOptions{Template: mutated})
		if err != nil {
			t.Fatalf("%s without %s: %v", s.Name, g, err)
		}
		denied := false
		for _, d := range res.Denials {
			denied = denied || d.Principal == g.function && strings.EqualFold(d.Action, g.action)
		}
		switch {
		case denied && res.Err != nil:
			caught = append(caught, fmt.Sprintf("%s (%s: %s)", g, s.Name, firstLine(res.Err.Error())))
		case denied:
			caught = append(caught, fmt.Sprintf("%s (%s: the denial alone fails the end-to-end test)", g, s.Name))
		default:
			uncaught = append(uncaught, fmt.Sprintf("%s (%s passed: %v)", g, s.Name, res.Err))
		}
	}
	t.Logf("IAM mutation check (%s): %d actions exercised, %d tried, %d caught, %d not caught, in %s",
		*mutations, len(all), len(tried), len(caught), len(uncaught), time.Since(start).Round(time.Second))
	for _, c := range caught {
		t.Logf("caught: %s", c)
	}
	for _, u := range uncaught {
		t.Errorf("not caught: %s", u)
	}
}

// sample keeps one action per function and service, so every role and every service's
// mapping is tried in the short form.
func sample(all []grant) []grant {
	seen := map[string]bool{}
	var out []grant
	for _, g := range all {
		service, _, _ := strings.Cut(g.action, ":")
		if k := g.function + " " + service; !seen[k] {
			seen[k] = true
			out = append(out, g)
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 240 {
		line = line[:240] + "…"
	}
	return line
}
