package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

// dashboardBody decodes the one dashboard of tpl, intrinsics rendered as
// ${Logical.Attr} (render), and returns it with its rendered name.
func dashboardBody(t *testing.T, tpl template) (string, dashboardJSON) {
	t.Helper()
	_, ds := tpl.ofType("AWS::CloudWatch::Dashboard")
	if len(ds) != 1 {
		t.Fatalf("%d dashboards, want 1", len(ds))
	}
	body := render(ds[0].Properties["DashboardBody"])
	var d dashboardJSON
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v\n%s", err, body)
	}
	return render(ds[0].Properties["DashboardName"]), d
}

type dashboardJSON struct {
	Widgets []struct {
		Type       string `json:"type"`
		Width      int    `json:"width"`
		Properties struct {
			Title    string   `json:"title"`
			Markdown string   `json:"markdown"`
			Metrics  [][]any  `json:"metrics"`
			Alarms   []string `json:"alarms"`
		} `json:"properties"`
	} `json:"widgets"`
}

// series renders a widget's metric as "namespace name k=v,k=v stat": the
// CDK writes [namespace, name, key, value, …, {options}].
func series(t *testing.T, m []any) string {
	t.Helper()
	if len(m) < 3 {
		t.Fatalf("metric %v: too short", m)
	}
	opts, ok := m[len(m)-1].(map[string]any)
	if !ok {
		t.Fatalf("metric %v: no options", m)
	}
	var dims []string
	for i := 2; i+1 < len(m)-1; i += 2 {
		dims = append(dims, fmt.Sprintf("%v=%v", m[i], m[i+1]))
	}
	slices.Sort(dims)
	return fmt.Sprintf("%v %v %s %v", m[0], m[1], strings.Join(dims, ","), opts["stat"])
}

// TestDashboard asserts the dashboard's widgets and every series on them.
// The functions' own series are derived from internal/metrics, the
// constants the functions record with: a metric renamed or added there and
// not plotted here, a dimension value the functions never write, or a
// widget dropped, fails this test.
func TestDashboard(t *testing.T) {
	tpl := worked(t)
	name, d := dashboardBody(t, tpl)
	if name != defaultStackName+"-${AWS::Region}" {
		t.Errorf("dashboard name %q, want <stack>-<Region> (dashboard names are account-wide)", name)
	}
	var titles []string
	plotted := map[string][]string{} // title → series
	var alarmWidget []string
	for _, w := range d.Widgets {
		switch w.Type {
		case "text":
			if !strings.Contains(w.Properties.Markdown, "ecrwarden demo") {
				t.Errorf("header %q does not say where to see the same series locally", w.Properties.Markdown)
			}
		case "alarm":
			alarmWidget = w.Properties.Alarms
			titles = append(titles, w.Properties.Title)
		case "metric":
			titles = append(titles, w.Properties.Title)
			for _, m := range w.Properties.Metrics {
				plotted[w.Properties.Title] = append(plotted[w.Properties.Title], series(t, m))
			}
		default:
			t.Errorf("unexpected widget type %q", w.Type)
		}
	}
	wantTitles := []string{
		"Rollouts by outcome", "Push to patch latency (ms)", "Pushes by verdict",
		"Alerts by channel and result", "Scan gates", "Errors by function and kind",
		"gc images per day", "gc reclaimed bytes per day", "gc monthly cost saved (USD) per day",
		"Lambda errors", "Lambda throttles", "Lambda duration (ms)",
		"Dead-letter queue depths", "Alarms",
	}
	if diff := cmp.Diff(wantTitles, titles); diff != "" {
		t.Errorf("widgets (-want +got):\n%s", diff)
	}

	// Every metric the functions emit, with every dimension value it may
	// take, is on the dashboard; nothing in the namespace is plotted that
	// the functions do not emit.
	ns := metrics.DefaultNamespace + "/" + defaultStackName
	var all []string
	for _, ss := range plotted {
		all = append(all, ss...)
	}
	for _, def := range metrics.Definitions() {
		combos := [][]string{nil}
		for _, k := range def.Dimensions {
			var next [][]string
			for _, c := range combos {
				for _, v := range def.Values[k] {
					next = append(next, append(slices.Clone(c), k+"="+v))
				}
			}
			combos = next
		}
		for _, c := range combos {
			slices.Sort(c)
			prefix := fmt.Sprintf("%s %s %s ", ns, def.Name, strings.Join(c, ","))
			if !slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, prefix) }) {
				t.Errorf("%s with %v is not plotted", def.Name, c)
			}
		}
	}
	for _, s := range all {
		if !strings.HasPrefix(s, ns+" ") {
			continue
		}
		f := strings.Fields(s)
		def, ok := definition(metrics.Name(f[1]))
		if !ok {
			t.Errorf("%s: the functions emit no metric %s", s, f[1])
			continue
		}
		if len(f) == 4 && f[2] != "" {
			for _, kv := range strings.Split(f[2], ",") {
				k, v, _ := strings.Cut(kv, "=")
				if !slices.Contains(def.Values[k], v) {
					t.Errorf("%s: the functions never write %s=%s", s, k, v)
				}
			}
		}
	}
	if got := plotted["Push to patch latency (ms)"]; !cmp.Equal(got, []string{
		ns + " PushToPatchLatency  p50", ns + " PushToPatchLatency  p90", ns + " PushToPatchLatency  Maximum",
	}) {
		t.Errorf("latency series %v, want p50, p90 and max", got)
	}

	// Lambda's and SQS's own metrics for each function and queue.
	for _, fn := range []string{"onpush", "onscan", "gc"} {
		ref := "${" + functionID(t, tpl, fn) + "}"
		for title, want := range map[string][]string{
			"Lambda errors":        {"AWS/Lambda Errors FunctionName=" + ref + " Sum"},
			"Lambda throttles":     {"AWS/Lambda Throttles FunctionName=" + ref + " Sum"},
			"Lambda duration (ms)": {"AWS/Lambda Duration FunctionName=" + ref + " p90", "AWS/Lambda Duration FunctionName=" + ref + " Maximum"},
		} {
			for _, w := range want {
				if !slices.Contains(plotted[title], w) {
					t.Errorf("%s: no %s in %v", title, w, plotted[title])
				}
			}
		}
	}
	queues, _ := tpl.ofType("AWS::SQS::Queue")
	var wantQueues []string
	for _, q := range queues {
		wantQueues = append(wantQueues, "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${"+q+".QueueName} Maximum")
	}
	got := slices.Clone(plotted["Dead-letter queue depths"])
	slices.Sort(got)
	if diff := cmp.Diff(wantQueues, got); diff != "" {
		t.Errorf("queue depths (-want +got): every DLQ, the fan-out and the verification queues\n%s", diff)
	}

	// Every alarm of the stack is on the alarm widget.
	alarmIDs, _ := tpl.ofType("AWS::CloudWatch::Alarm")
	var wantAlarms []string
	for _, id := range alarmIDs {
		wantAlarms = append(wantAlarms, "${"+id+".Arn}")
	}
	slices.Sort(alarmWidget)
	if diff := cmp.Diff(wantAlarms, alarmWidget); diff != "" {
		t.Errorf("alarm widget (-want +got):\n%s", diff)
	}

	// The functions write where the dashboard reads.
	_, fns := tpl.ofType("AWS::Lambda::Function")
	for _, f := range fns {
		env, _ := f.Properties["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if got := render(vars[metrics.NamespaceEnv]); got != ns {
			t.Errorf("%s=%q, want %q", metrics.NamespaceEnv, got, ns)
		}
	}
}

func definition(name metrics.Name) (metrics.Definition, bool) {
	for _, d := range metrics.Definitions() {
		if d.Name == name {
			return d, true
		}
	}
	return metrics.Definition{}, false
}

// TestDashboardPerStack: a second stack plots its own namespace under its
// own dashboard name.
func TestDashboardPerStack(t *testing.T) {
	const second = "ecrwarden-staging"
	tpl, _ := mustTemplate(t, map[string]any{ctxStackName: second, ctxManageRepositories: "false"})
	name, d := dashboardBody(t, tpl)
	if name != second+"-${AWS::Region}" {
		t.Errorf("dashboard name %q", name)
	}
	for _, w := range d.Widgets {
		for _, m := range w.Properties.Metrics {
			if ns := fmt.Sprint(m[0]); strings.HasPrefix(ns, metrics.DefaultNamespace) && ns != metrics.DefaultNamespace+"/"+second {
				t.Errorf("%s plots %s", w.Properties.Title, ns)
			}
		}
	}
}
