package sandbox_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

var (
	faultScenarios = flag.Int("faults.scenarios", 0, "scenarios TestFaultSchedule plays (0: a short fixed set in -short-less runs)")
	faultSeed      = flag.Uint64("faults.seed", 1, "seed of TestFaultSchedule's first scenario; scenario i plays seed+i")
	faultVerbose   = flag.Bool("faults.v", false, "log every scenario of TestFaultSchedule, not only failing ones")
	faultOnly      = flag.String("faults.only", "", "replace every scenario's faults with these: target:op:throttle|5xx|drop:count,... (e.g. eventbridge:PutEvents:5xx:20)")
)

// shortFaultScenarios is how many scenarios `make test` plays.
const shortFaultScenarios = 16

// faultTimeout is the functions' timeout in the fault schedule: short, so a
// send that hangs or an invocation killed mid-send costs seconds, and long
// enough for gc's fan-out to finish under throttling.
const faultTimeout = 6 * time.Second

// TestFaultSchedule drives the compiled functions in the sandbox through
// seeded random scenarios (faults_gen_test.go) — pushes with valid and
// rejected tags, gated and not; basic and Inspector scans, incomplete ones
// and rescans; duplicate and reordered deliveries; Lambda timeouts and kills
// mid-send; throttling, 5xx and dropped connections on every AWS API;
// Kubernetes conflicts and list failures; Slack 429 and 5xx; gc runs racing
// pushes and retags — played by the driver (faults_drive_test.go), and
// checks after each the invariants of issue 14 (faults_oracle_test.go): no
// workload runs an image outside our registry or one whose gated scan was
// not complete and clean; every alertable finding set and rejected tag
// reached Slack and SNS and every repeat is counted as a possible duplicate;
// gc deleted nothing in use, protected or within its grace; every deletion
// is audited once and stated by one report of its run on Slack and on SNS.
//
// `make test` plays a short fixed set; -faults.scenarios=500 plays more,
// -faults.seed=N starts elsewhere. A failing scenario prints the command that
// plays it alone.
func TestFaultSchedule(t *testing.T) {
	testenv.RequireControlPlane(t, cluster != nil)
	n := *faultScenarios
	if n == 0 {
		n = shortFaultScenarios
	}
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	logs := &sandbox.LogBuffer{}
	sb, err := sandbox.Start(ctx, sandbox.Options{PolicyPath: filepath.Join(root, "internal/sandbox/testdata/faults.yaml"), Cluster: cluster,
		Logs: logs, Timeout: faultTimeout, KubeFaults: true})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	d := &driver{sb: sb, logs: logs, timeout: faultTimeout, injected: map[string]int{}, armed: map[string]int{}}
	start := time.Now()
	failed := 0
	for i := range n {
		seed := *faultSeed + uint64(i)
		sc := generate(seed)
		if *faultOnly != "" {
			fs, err := parseFaults(*faultOnly)
			if err != nil {
				t.Fatalf("-faults.only: %v", err)
			}
			sc.Faults = fs
		}
		began := time.Now()
		m := d.run(ctx, sc)
		if *faultVerbose {
			t.Logf("scenario %s(%s)", sc, time.Since(began).Round(time.Millisecond))
		}
		if len(m.violation) == 0 {
			continue
		}
		failed++
		t.Errorf("scenario %d of %d violated %d invariants:\n%s  - %s\nreproduce: go test -count=1 -run 'TestFaultSchedule$' ./internal/sandbox/ -faults.seed=%d -faults.scenarios=1",
			i+1, n, len(m.violation), sc, strings.Join(m.violation, "\n  - "), seed)
		if failed >= 5 {
			t.Logf("stopping after %d failing scenarios", failed)
			break
		}
	}
	if failed > 0 {
		// The functions' logs of a failing run, for the violations above.
		if f, err := os.CreateTemp("", "faults-logs-*.txt"); err == nil {
			f.WriteString(logs.String())
			f.Close()
			t.Logf("function logs: %s", f.Name())
		}
	}
	t.Logf("%d scenarios (seeds %d..%d) in %s; faults armed: %s; faults injected: %s", n, *faultSeed, *faultSeed+uint64(n)-1,
		time.Since(start).Round(time.Second), counts(d.armed), counts(d.injected))
	if err := sb.UnexpectedDenials(); err != nil {
		t.Error(err)
	}
}

// parseFaults reads -faults.only.
func parseFaults(spec string) ([]injection, error) {
	var out []injection
	for _, f := range strings.Split(spec, ",") {
		parts := strings.Split(f, ":")
		if len(parts) != 4 {
			return nil, fmt.Errorf("%q: want target:op:kind:count", f)
		}
		n, err := strconv.Atoi(parts[3])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		in := injection{Target: parts[0], Op: parts[1]}
		switch parts[2] {
		case "throttle":
			in.Rule = fault.Rule{Throttle: n}
		case "5xx":
			in.Rule = fault.Rule{ServerError: n, Status: 500}
		case "409":
			in.Rule = fault.Rule{ServerError: n, Status: 409}
		case "drop":
			in.Rule = fault.Rule{Drop: n}
		default:
			return nil, fmt.Errorf("%q: unknown kind %q", f, parts[2])
		}
		out = append(out, in)
	}
	return out, nil
}

func counts(c map[string]int) string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// TestParseGCReport: the oracle reads gc's reports back from their Slack
// and SNS renderings — the run, whether the figures are deletions, and per
// repository the images and size — so a change of the rendering fails here,
// not as a silent pass of the fault schedule.
func TestParseGCReport(t *testing.T) {
	a := alert.Alert{Kind: alert.KindGCReport, Repository: "mlops/retail-api", Region: "ap-southeast-1", Account: "123456789012",
		GC: &alert.GCReport{RunID: "faults-7-1", Cap: 100, Repositories: []alert.GCRepository{{Name: "mlops/retail-api", Images: 2, Bytes: 100 << 20, Failed: 1}}}}
	want := gcReport{run: "faults-7-1", deleted: true, repos: map[string]gcFigures{"mlops/retail-api": {images: 2, size: "100.0 MiB"}}}
	body, err := json.Marshal(alert.Slack(a))
	if err != nil {
		t.Fatal(err)
	}
	_, sns, _ := alert.SNS(a)
	opts := cmp.AllowUnexported(gcReport{}, gcFigures{})
	for channel, text := range map[string]string{"slack": slackTexts(body), "sns": sns} {
		if diff := cmp.Diff(want, parseGCReport(text), opts); diff != "" {
			t.Errorf("%s (-want +got):\n%s", channel, diff)
		}
	}
	a.GC.CapRefused = true
	want.deleted = false
	if diff := cmp.Diff(want, parseGCReport(sns), opts); diff == "" {
		t.Errorf("a cap refusal read as deletions")
	}
	_, sns, _ = alert.SNS(a)
	if diff := cmp.Diff(want, parseGCReport(sns), opts); diff != "" {
		t.Errorf("cap refusal (-want +got):\n%s", diff)
	}
}

// TestGCReportViolations: the oracle's check of gc's reports against the
// deletions, on reports rendered as they reach Slack and SNS.
func TestGCReportViolations(t *testing.T) {
	const repo = "mlops/retail-api"
	rendered := func(run string, images int, bytes int64, errText string) map[string]string {
		a := alert.Alert{Kind: alert.KindGCReport, Repository: repo, Region: "ap-southeast-1", Account: "123456789012",
			GC: &alert.GCReport{RunID: run, Cap: 100, Repositories: []alert.GCRepository{{Name: repo, Images: images, Bytes: bytes, Error: errText}}}}
		body, err := json.Marshal(alert.Slack(a))
		if err != nil {
			t.Fatal(err)
		}
		_, sns, _ := alert.SNS(a)
		return map[string]string{"slack": slackTexts(body), "sns": sns}
	}
	failure := rendered("faults-11-0", 0, 0, "list images in use: list pods: 500")
	deletion := rendered("faults-11-0", 1, 50<<20, "")
	miscount := rendered("faults-11-0", 2, 50<<20, "")
	unnamed := rendered("", 1, 50<<20, "")
	deleted := map[runRepo][]runDeletions{{"faults-11-0", repo}: {{audited: 1, gone: 1, auditedBytes: 50 << 20, bytes: 50 << 20}}}
	tests := []struct {
		name    string
		reports []map[string]string
		runs    map[runRepo][]runDeletions
		dups    []string
		// want are substrings of the violations, one each, per channel.
		want []string
	}{
		{name: "one report of the deletion", reports: []map[string]string{deletion}, runs: deleted},
		{name: "the failed attempt's report, then the deletion's", reports: []map[string]string{failure, deletion}, runs: deleted},
		{name: "only the failed attempt's report (seed 11)", reports: []map[string]string{failure}, runs: deleted,
			want: []string{"deleted 1 image (50.0 MiB) in mlops/retail-api: no report of it reached"}},
		{name: "miscounted", reports: []map[string]string{miscount}, runs: deleted,
			want: []string{"states 2 images (50.0 MiB) deleted, which no attempt", "no report of it reached"}},
		{name: "a deletion nobody made", reports: []map[string]string{deletion},
			want: []string{"which no attempt of the run deleted"}},
		{name: "sent twice, not counted", reports: []map[string]string{deletion, deletion}, runs: deleted,
			want: []string{"reached %s again"}},
		{name: "sent twice, counted", reports: []map[string]string{deletion, deletion}, runs: deleted,
			dups: []string{"gc#faults-11-0#mlops/retail-api#0123456789abcdef"}},
		{name: "no run named", reports: []map[string]string{unnamed}, want: []string{"names no run the driver started"}},
		{name: "audit and registry disagree", runs: map[runRepo][]runDeletions{{"faults-11-0", repo}: {{audited: 2, gone: 1, auditedBytes: 100 << 20, bytes: 50 << 20}}},
			reports: []map[string]string{deletion}, want: []string{"the registry lost 1 of those it lists"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			channels := map[string][]string{}
			dups := map[string][]string{}
			for _, ch := range []string{"slack", "sns"} {
				for _, r := range tt.reports {
					channels[ch] = append(channels[ch], r[ch])
				}
				dups[ch] = tt.dups
			}
			got := gcReportViolations(channels, tt.runs, dups)
			var want []string
			for _, ch := range []string{"slack", "sns"} {
				for _, w := range tt.want {
					if strings.Contains(w, "registry lost") {
						if ch == "slack" {
							want = append(want, w)
						}
						continue
					}
					want = append(want, strings.ReplaceAll(w, "%s", ch))
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
			}
			for _, w := range want {
				if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, w) }) {
					t.Errorf("no violation says %q:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}
