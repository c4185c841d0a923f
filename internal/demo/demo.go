package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/gc"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/status"
)

// Report is what the story did, step by step, and the metrics the
// functions emitted while they did it.
type Report struct {
	Steps []Step
	// Metrics are the series read back from the functions' EMF log lines.
	Metrics []metrics.Series
}

// Step is one push (or the gc run) and its observable outcome.
type Step struct {
	Title string
	// Tag and Digest pushed, if any.
	Tag, Digest string
	// Image is the api container's image after the step.
	Image string
	// Slack and SNS are the messages the step caused.
	Slack []string
	SNS   []string
	// Deliveries are the function invocations the step caused.
	Deliveries []sandbox.Delivery
	// Removed counts the images that left the registry during the step, and
	// PlannedBytes is what the plan said they would reclaim (gc).
	Removed      int
	PlannedBytes int64
	// Archived counts the images that went to the archive storage class
	// during the step, PlannedArchiveBytes is their size as planned, and
	// PlannedSavings the monthly storage cost the plan said it saves (gc).
	Archived            int
	PlannedArchiveBytes int64
	PlannedSavings      float64
	// PodReasons are what the new Pods said (rollout story).
	PodReasons []string
	// Hold and Blocked are the hold and the blocked digest a rollback set.
	Hold, Blocked string
	// Status is what `ecrwarden status` showed after the step.
	Status []status.Row
}

// Step lookup for tests.
func (r *Report) Step(title string) (Step, bool) {
	for _, s := range r.Steps {
		if s.Title == title {
			return s, true
		}
	}
	return Step{}, false
}

const (
	apiRepo    = "mlops/retail-api"
	trainRepo  = "mlops/train-model"
	namespace  = "default"
	deployment = "retail-forecast-api"
)

// Story step titles.
const (
	StepInitial  = "v1.0.0 pushed"
	StepRejected = "Feature_X pushed"
	StepCritical = "v1.1.0 pushed with a CRITICAL CVE"
	StepClean    = "v1.1.1 pushed"
	StepGC       = "gc"
)

// Run plays the story on a started sandbox, narrating to w.
func Run(ctx context.Context, sb *sandbox.Sandbox, w io.Writer) (*Report, error) {
	d := &director{sb: sb, w: w}
	return d.run(ctx)
}

type director struct {
	sb     *sandbox.Sandbox
	w      io.Writer
	report Report
	slack  int // Slack payloads already shown
	sns    int
}

func (d *director) say(format string, args ...any) { fmt.Fprintf(d.w, format+"\n", args...) }

func (d *director) run(ctx context.Context) (*Report, error) {
	d.say("== ecrwarden demo: the retail-forecast registry (%s) and cluster %s", d.sb.Registry, d.sb.Cluster.Name)
	latest, err := d.sb.Push(ctx, apiRepo, "latest")
	if err != nil {
		return nil, err
	}
	if _, err := d.sb.Deliver(ctx); err != nil {
		return nil, err
	}
	if err := d.createDeployment(ctx, d.sb.Registry+"/"+apiRepo+":latest"); err != nil {
		return nil, err
	}
	d.say("   Deployment %s/%s runs %s:latest (%s)", namespace, deployment, apiRepo, registry.ShortDigest(latest))

	steps := []struct {
		title    string
		tag      string
		findings []ecr.Finding
		narrate  string
	}{
		{StepInitial, "v1.0.0", nil, "CI pushes v1.0.0: the tag is valid; the rule waits for a clean scan, then pins the digest"},
		{StepRejected, "Feature_X", nil, "A developer pushes Feature_X: no tag rule allows it"},
		{StepCritical, "v1.1.0", []ecr.Finding{{
			Name: "CVE-2024-6119", Severity: "CRITICAL", Description: "OpenSSL: possible denial of service in X.509 name checks",
			URI: "https://nvd.nist.gov/vuln/detail/CVE-2024-6119", PackageName: "openssl", PackageVersion: "3.0.13-1~deb12u1",
			FixedInVersion: "3.0.14-1~deb12u2", CVSS2Score: "9.1",
		}}, "CI pushes v1.1.0, whose scan finds a CRITICAL CVE"},
		{StepClean, "v1.1.1", nil, "CI pushes v1.1.1 with the fix: the scan is clean"},
	}
	for _, s := range steps {
		d.say("\n-- %s", s.narrate)
		st, err := d.pushAndDeliver(ctx, s.title, s.tag, s.findings)
		if err != nil {
			return nil, err
		}
		d.say("   api container now runs %s", st.Image)
		d.report.Steps = append(d.report.Steps, st)
	}
	st, err := d.gc(ctx)
	if err != nil {
		return nil, err
	}
	d.report.Steps = append(d.report.Steps, st)
	if err := d.metricsSummary(); err != nil {
		return nil, err
	}
	// The rollout story comes after the metrics summary, which accounts for
	// the pushes, scans and gc run before it.
	if err := d.rolloutStory(ctx); err != nil {
		return nil, err
	}
	return &d.report, nil
}

// metricsSummary prints the series the functions emitted as EMF, read back
// from their logs: what the stack's dashboard plots from the same lines.
func (d *director) metricsSummary() error {
	if p := d.sb.Metrics.Problems(); len(p) > 0 {
		return fmt.Errorf("the functions wrote invalid EMF metrics: %s", strings.Join(p, "; "))
	}
	d.report.Metrics = d.sb.Metrics.Series()
	d.say("\n-- metrics the functions emitted (embedded metric format in their logs; the dashboard plots these series)")
	tw := tabwriter.NewWriter(d.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   metric\tdimensions\tvalue")
	for _, s := range d.report.Metrics {
		fmt.Fprintf(tw, "   %s\t%s\t%s\n", s.Name, s.DimString(), formatSeries(s))
	}
	return tw.Flush()
}

// formatSeries writes counters as their sum, latencies as count, p50 and
// max, bytes in binary units and the cost saved in dollars.
func formatSeries(s metrics.Series) string {
	switch {
	case s.Unit == metrics.Milliseconds:
		return fmt.Sprintf("n=%d p50=%.0f ms max=%.0f ms", len(s.Values), s.Quantile(0.5), s.Quantile(1))
	case s.Unit == metrics.Bytes:
		return gc.HumanBytes(int64(s.Sum()))
	case s.Name == metrics.GCMonthlyCostSaved:
		return fmt.Sprintf("$%.2f a month", s.Sum())
	default:
		return strconv.FormatFloat(s.Sum(), 'f', -1, 64)
	}
}

func (d *director) pushAndDeliver(ctx context.Context, title, tag string, findings []ecr.Finding) (Step, error) {
	digest, err := d.sb.Push(ctx, apiRepo, tag, findings...)
	if err != nil {
		return Step{}, err
	}
	return d.deliver(ctx, title, tag, digest)
}

// narrateDeliveries says which function each event reached and how it ended.
func (d *director) narrateDeliveries(deliveries []sandbox.Delivery) {
	for _, dl := range deliveries {
		result := "ok"
		if dl.Err != nil {
			result = "error: " + dl.Err.Error()
		}
		d.say("   %-7s ← %-16s %s (%d ms)", dl.Function, dl.DetailType, result, dl.Result.Duration.Milliseconds())
	}
}

func (d *director) createDeployment(ctx context.Context, image string) error {
	dep := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": deployment, "namespace": namespace, "labels": map[string]string{"app": deployment}},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"matchLabels": map[string]string{"app": deployment}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]string{"app": deployment}},
				"spec": map[string]any{"containers": []map[string]any{{
					"name": "api", "image": image, "ports": []map[string]any{{"containerPort": 8000, "name": "http"}},
				}}},
			},
		},
	}
	return d.create(ctx, "/apis/apps/v1/namespaces/"+namespace+"/deployments", dep)
}

func (d *director) create(ctx context.Context, path string, obj any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	k := d.sb.Cluster.Kube
	code, out, err := k.Request(ctx, k.Admin, http.MethodPost, path, "application/json", body)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return fmt.Errorf("create %s: HTTP %d: %s", path, code, out)
	}
	return nil
}

func (d *director) apiImage(ctx context.Context) (string, error) {
	k := d.sb.Cluster.Kube
	code, out, err := k.Request(ctx, k.Admin, http.MethodGet, "/apis/apps/v1/namespaces/"+namespace+"/deployments/"+deployment, "", nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("get deployment: HTTP %d: %s", code, out)
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Name, Image string } `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &dep); err != nil {
		return "", err
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "api" {
			return c.Image, nil
		}
	}
	return "", fmt.Errorf("deployment %s has no api container", deployment)
}

// newMessages returns the Slack and SNS messages sent since the last call,
// Slack rendered as a reader sees it.
func (d *director) newMessages() (slack, sns []string) {
	payloads := d.sb.Suite.Slack.Payloads()
	for _, p := range payloads[d.slack:] {
		slack = append(slack, RenderSlack(p.Text, p.Blocks))
	}
	d.slack = len(payloads)
	msgs := d.sb.Suite.SNS.Messages(d.sb.TopicARN)
	for _, m := range msgs[d.sns:] {
		sns = append(sns, m.Subject)
	}
	d.sns = len(msgs)
	return slack, sns
}

// RenderSlack flattens a Slack payload's Block Kit to the text a reader sees
// (the demo and `ecrwarden emulate --functions` print it).
func RenderSlack(fallback string, blocks json.RawMessage) string {
	var bs []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	}
	if json.Unmarshal(blocks, &bs) != nil || len(bs) == 0 {
		return fallback
	}
	var lines []string
	for _, b := range bs {
		if b.Text != nil {
			lines = append(lines, b.Text.Text)
		}
		var fields []string
		for _, f := range b.Fields {
			fields = append(fields, strings.ReplaceAll(f.Text, "\n", " "))
		}
		if len(fields) > 0 {
			lines = append(lines, strings.Join(fields, " · "))
		}
		for _, e := range b.Elements {
			if e.Text != "" {
				lines = append(lines, e.Text)
			}
		}
		if b.Type == "divider" {
			lines = append(lines, "────────")
		}
	}
	return strings.Join(lines, "\n")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
