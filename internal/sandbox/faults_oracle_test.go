package sandbox_test

// The oracle of the fault-schedule test: what the driver did (the model) and
// the invariants of issue 14 checked against what the emulators, the API
// server and the functions' logs show.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/alert"
	"github.com/ecrwarden/ecrwarden/internal/audit"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// imageModel is what the driver knows of one image it pushed or seeded.
type imageModel struct {
	Repo     string
	Tags     []string
	PushedAt time.Time
	// Findings are the severities its scan reports now; Scanned is false for
	// an image never scanned; Complete is false while the scanner answers an
	// incomplete status.
	Findings          []string
	Scanned, Complete bool
	// Size is the image's size in bytes as seeded (0 for CI's pushes, which
	// no rule may expire within the scenario).
	Size int64
}

// blocking reports whether the image may not pass a scan gate: not scanned,
// not complete, or a finding at or above the gate's threshold (HIGH) or of
// an unknown severity.
func (im *imageModel) blocking() string {
	switch {
	case !im.Scanned:
		return "never scanned"
	case !im.Complete:
		return "scan not complete"
	}
	for _, s := range im.Findings {
		switch s {
		case "CRITICAL", "HIGH", "UNTRIAGED", "UNDEFINED":
			return "scan found " + s
		}
	}
	return ""
}

// alertWant is an alert that must reach Slack and SNS: a text it contains.
type alertWant struct{ Text, Why string }

// model is the driver's record of one scenario.
type model struct {
	registry string
	images   map[string]*imageModel // by digest
	// deployed is the image each workload container ran at the last check.
	deployed map[string]string
	alerts   []alertWant
	// rejected are digests onpush may delete (a rejected tag in a repository
	// that deletes violations): not gc's deletions.
	rejected map[string]bool
	// retagged are old releases CI tagged anew while gc ran: digest → tag.
	retagged map[string]string
	// pushed are the digests CI pushed during the scenario.
	pushed []string

	mu        sync.Mutex // fail is called from gc's goroutine too
	violation []string
}

func newModel(registry string) *model {
	return &model{registry: registry, images: map[string]*imageModel{}, deployed: map[string]string{},
		rejected: map[string]bool{}, retagged: map[string]string{}}
}

func (m *model) fail(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.violation = append(m.violation, fmt.Sprintf(format, args...))
}

// workloads returns the image of every container of every Deployment in the
// namespace, by "deployment/container".
func workloads(ctx context.Context, sb *sandbox.Sandbox) (map[string]string, error) {
	k := sb.Cluster.Kube
	code, body, err := k.Request(ctx, k.Admin, http.MethodGet, "/apis/apps/v1/namespaces/"+faultsNamespace+"/deployments", "", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("list deployments: %d %s", code, body)
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []struct{ Name, Image string } `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range list.Items {
		for _, c := range d.Spec.Template.Spec.Containers {
			out[d.Metadata.Name+"/"+c.Name] = c.Image
		}
	}
	return out, nil
}

// checkWorkloads is the first invariant, checked after every invocation: no
// workload runs an image outside our registry, and a gated workload that
// changed image runs a digest whose scan is complete and clean now (the
// driver changes scans only between invocations).
func (m *model) checkWorkloads(ctx context.Context, sb *sandbox.Sandbox, after string) {
	now, err := workloads(ctx, sb)
	if err != nil {
		m.fail("read workloads after %s: %v", after, err)
		return
	}
	for name, image := range now {
		if image == m.deployed[name] {
			continue
		}
		m.deployed[name] = image
		if !strings.HasPrefix(image, m.registry+"/") {
			m.fail("after %s, %s runs %s, outside our registry %s", after, name, image, m.registry)
			continue
		}
		if !strings.HasPrefix(name, faultsDeploy+"/") {
			continue
		}
		_, digest, ok := strings.Cut(image, "@")
		if !ok {
			m.fail("after %s, the gated %s runs %s, not pinned by digest", after, name, image)
			continue
		}
		im := m.images[digest]
		switch {
		case im == nil:
			m.fail("after %s, the gated %s runs %s, an image CI never pushed", after, name, image)
		case im.blocking() != "":
			m.fail("after %s, the gated %s runs %s (%v) whose scan gate is closed: %s", after, name, image, im.Tags, im.blocking())
		}
	}
}

// inUse reports whether a workload image (by digest or by one of tags)
// refers to digest in repo.
func (m *model) inUse(images []map[string]string, repo, digest string, tags []string) bool {
	for _, ws := range images {
		for _, image := range ws {
			ref := strings.TrimPrefix(image, m.registry+"/")
			if ref == repo+"@"+digest {
				return true
			}
			for _, t := range tags {
				if ref == repo+":"+t {
					return true
				}
			}
		}
	}
	return false
}

// marks counts, from offset on, the Slack posts and SNS messages that
// contain text.
type marks struct{ slack, sns int }

func alertCounts(sb *sandbox.Sandbox, off offsets, text string) marks {
	var c marks
	for _, p := range sb.Suite.Slack.Payloads()[off.slack:] {
		if strings.Contains(string(p.Body), text) {
			c.slack++
		}
	}
	for _, msg := range sb.Suite.SNS.Messages(sb.TopicARN)[off.sns:] {
		if strings.Contains(msg.Message, text) || strings.Contains(msg.Subject, text) {
			c.sns++
		}
	}
	return c
}

// checkAlerts is the second invariant: every alert the scenario called for
// reached Slack and SNS at least once; every repeated send is counted as a
// possible duplicate in the functions' logs.
func (m *model) checkAlerts(sb *sandbox.Sandbox, off offsets, logs string) {
	for _, a := range m.alerts {
		if c := alertCounts(sb, off, a.Text); c.slack == 0 || c.sns == 0 {
			m.fail("alert lost: %s: %d Slack and %d SNS messages mention %q", a.Why, c.slack, c.sns, a.Text)
		}
	}
	// Identical messages are one alert sent again — except gc's reports,
	// which checkGCReports counts per run and repository against the
	// deletions and the possible duplicates of their key.
	repeats := map[string]int{}
	for _, p := range sb.Suite.Slack.Payloads()[off.slack:] {
		if !strings.Contains(p.Text, "] gc ") {
			repeats["slack\x00"+string(p.Body)]++
		}
	}
	for _, msg := range sb.Suite.SNS.Messages(sb.TopicARN)[off.sns:] {
		if !strings.Contains(msg.Subject, "ecrwarden: gc ") {
			repeats["sns\x00"+msg.Subject+"\x00"+msg.Message]++
		}
	}
	sent := map[string]int{}
	example := map[string]string{}
	for k, n := range repeats {
		channel, body, _ := strings.Cut(k, "\x00")
		if n > 1 {
			sent[channel] += n - 1
			example[channel] = body
		}
	}
	dups := duplicates(logs)
	for _, channel := range []string{"slack", "sns"} {
		if sent[channel] > dups[channel] {
			m.fail("%d repeated %s messages but %d possible duplicates counted by the functions; one: %.400q", sent[channel], channel, dups[channel], example[channel])
		}
	}
}

// duplicates counts the functions' "possible duplicate" log lines by channel.
func duplicates(logs string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		i := strings.Index(line, "{")
		if i < 0 || !strings.Contains(line, "possible duplicate") {
			continue
		}
		var rec struct{ Channel string }
		if json.Unmarshal([]byte(line[i:]), &rec) == nil {
			out[rec.Channel]++
		}
	}
	return out
}

// plannedDeletes reads gc's decisions to delete from its logs: "digest tag"
// for every tag a plan saw on an image it deletes.
func plannedDeletes(logs string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(logs, "\n") {
		i := strings.Index(line, "{")
		if i < 0 || !strings.Contains(line, `"gc decision"`) {
			continue
		}
		var rec struct {
			Digest, Action string
			Tags           []string
		}
		if json.Unmarshal([]byte(line[i:]), &rec) != nil || rec.Action != "delete" {
			continue
		}
		for _, t := range rec.Tags {
			out[rec.Digest+" "+t] = true
		}
	}
	return out
}

// gcWatch is what the driver saw around gc's runs.
type gcWatch struct {
	before  map[string]map[string][]string // repo → digest → tags at the start
	startAt time.Time
}

// checkGC is the third and fourth invariants: gc deleted no image in use,
// protected or younger than its grace; every deletion is reported once in
// the ImagesExpired audit events, which report nothing that was not deleted.
func (m *model) checkGC(sb *sandbox.Sandbox, w *gcWatch, off offsets, final map[string]string, logs string) {
	planned := plannedDeletes(logs)
	deleted := map[string]string{} // digest → repo
	for repo, before := range w.before {
		after := sb.Suite.ECR.Images(repo)
		for d, tags := range before {
			if _, ok := after[d]; ok || m.rejected[d] {
				continue
			}
			deleted[d] = repo
			im := m.images[d]
			switch {
			case m.inUse([]map[string]string{final}, repo, d, tags):
				// In use when gc started and no longer: a rollout moved on
				// while gc ran, and gc may well have read the cluster after.
				m.fail("gc deleted %s@%s %v, which a workload runs", repo, d, tags)
			case slices.Contains(tags, faultsProtected):
				m.fail("gc deleted %s@%s %v, which carries the protected tag %s", repo, d, tags, faultsProtected)
			case im != nil && w.startAt.Sub(im.PushedAt) < faultsGrace:
				m.fail("gc deleted %s@%s %v, pushed %s before the run, within the grace of %s", repo, d, tags, w.startAt.Sub(im.PushedAt).Round(time.Second), faultsGrace)
			case m.retagged[d] != "" && !planned[d+" "+m.retagged[d]]:
				m.fail("gc deleted %s@%s with the tag %s CI added during the run, which no plan of gc's saw", repo, d, m.retagged[d])
			}
		}
	}
	for _, d := range m.pushed {
		im := m.images[d]
		if _, ok := sb.Suite.ECR.Images(im.Repo)[d]; !ok && !m.rejected[d] && w.before[im.Repo][d] == nil {
			m.fail("%s@%s %v, pushed during the scenario, is gone", im.Repo, d, im.Tags)
		}
	}
	reported := map[string]int{}
	images := 0
	// runs are the deletions of each run and repository, one per
	// ImagesExpired event (one per attempt that deleted): what the registry
	// lost that the event names.
	runs := map[runRepo][]runDeletions{}
	for _, raw := range sb.Suite.EventBridge.Events(sb.EventBus)[off.audit:] {
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				Repository string
				RunID      string `json:"runId"`
				Images     int
				Bytes      int64
				Digests    []string
			} `json:"detail"`
		}
		if json.Unmarshal(raw, &ev) != nil || ev.DetailType != audit.ImagesExpired {
			continue
		}
		images += ev.Detail.Images
		k := runRepo{ev.Detail.RunID, ev.Detail.Repository}
		e := runDeletions{audited: ev.Detail.Images, auditedBytes: ev.Detail.Bytes}
		for _, d := range ev.Detail.Digests {
			reported[d]++
			if _, ok := deleted[d]; ok {
				e.gone++
				if im := m.images[d]; im != nil {
					e.bytes += im.Size
				}
			}
		}
		runs[k] = append(runs[k], e)
	}
	m.checkGCReports(sb, off, runs, logs)
	var missing, twice, phantom []string
	for d, repo := range deleted {
		switch reported[d] {
		case 0:
			missing = append(missing, repo+"@"+d)
		case 1:
		default:
			twice = append(twice, repo+"@"+d)
		}
	}
	for d := range reported {
		if _, ok := deleted[d]; !ok {
			phantom = append(phantom, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(twice)
	sort.Strings(phantom)
	if len(missing) > 0 {
		m.fail("gc deleted %d images its audit events do not report: %v", len(missing), missing)
	}
	if len(twice) > 0 {
		m.fail("gc's audit events report %d deletions more than once: %v", len(twice), twice)
	}
	if len(phantom) > 0 {
		m.fail("gc's audit events report %d deletions of images still present or never deleted: %v", len(phantom), phantom)
	}
	if images != len(deleted) {
		m.fail("gc's audit events count %d deleted images; the registry lost %d", images, len(deleted))
	}
	if len(deleted) > 0 {
		if c := alertCounts(sb, off, "gc deleted"); c.slack == 0 || c.sns == 0 {
			m.fail("gc deleted %d images: %d Slack and %d SNS reports", len(deleted), c.slack, c.sns)
		}
	}
}

// runRepo is one repository of one gc run: the fan-out's unit, which
// reports under the key gc#<run>#<repository>.
type runRepo struct{ run, repo string }

// runDeletions is what an attempt of a run deleted in a repository: the
// images and bytes its ImagesExpired event states, and of the digests it
// lists those the registry lost and the bytes the driver seeded them with.
type runDeletions struct {
	audited, gone       int
	auditedBytes, bytes int64
}

// gcReport is one gc report as it reached a channel, read back from its
// rendering: the run its context line or footer names, whether its figures
// are deletions (not a plan), and per repository the images and size it
// states.
type gcReport struct {
	run     string
	deleted bool
	repos   map[string]gcFigures
}

type gcFigures struct {
	images int
	size   string
}

var (
	// gcRunLine is the run line: a Slack context element, an SNS footer line.
	gcRunLine = regexp.MustCompile(`(?m)^run (\S+)$`)
	// gcRepoItem is an item of "Deleted/Planned by repository": "• name: 2
	// images, 100.0 MiB…" in Slack, "  - name: …" in SNS.
	gcRepoItem = regexp.MustCompile(`(?m)^(?:• |  - )([^\s:]+): (\d+) images?, ([0-9.]+ (?:B|[KMGTPE]iB))`)
)

// parseGCReport reads a rendered gc report (the texts of a Slack message's
// blocks, or an SNS body, one per line).
func parseGCReport(text string) gcReport {
	r := gcReport{repos: map[string]gcFigures{}, deleted: strings.Contains(text, "Deleted by repository")}
	if mm := gcRunLine.FindStringSubmatch(text); mm != nil {
		r.run = mm[1]
	}
	for _, mm := range gcRepoItem.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(mm[2])
		r.repos[mm[1]] = gcFigures{images: n, size: mm[3]}
	}
	return r
}

// slackTexts joins the texts of a Slack message's blocks, one a line.
func slackTexts(body []byte) string {
	var msg struct {
		Blocks []struct {
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
			Fields, Elements []struct {
				Text string `json:"text"`
			}
		} `json:"blocks"`
	}
	if json.Unmarshal(body, &msg) != nil {
		return ""
	}
	var lines []string
	for _, b := range msg.Blocks {
		if b.Text != nil {
			lines = append(lines, b.Text.Text)
		}
		for _, t := range append(b.Fields, b.Elements...) {
			lines = append(lines, t.Text)
		}
	}
	return strings.Join(lines, "\n")
}

// duplicateKeys returns the dedupe keys of the functions' "possible
// duplicate" log lines, by channel, a key once per line.
func duplicateKeys(logs string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(logs, "\n") {
		i := strings.Index(line, "{")
		if i < 0 || !strings.Contains(line, "possible duplicate") {
			continue
		}
		var rec struct{ Channel, Key string }
		if json.Unmarshal([]byte(line[i:]), &rec) == nil {
			out[rec.Channel] = append(out[rec.Channel], rec.Key)
		}
	}
	return out
}

// reportOf reports whether key is a dedupe key of a report of run in repo:
// gc#<run>#<repo> (fan-out) or gc#<run> (inline), either followed by the
// hash of a report of deletions (gc.Result.ReportKey).
func reportOf(key string, k runRepo) bool {
	rest, ok := strings.CutPrefix(key, "gc#"+k.run)
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "#"+k.repo)
	return rest == "" || gcReportHash.MatchString(rest)
}

var gcReportHash = regexp.MustCompile(`^#[0-9a-f]{16}$`)

// checkGCReports is the fourth invariant on the alert side: every attempt of
// a run that deleted images in a repository (one ImagesExpired event each)
// sent one report of it to Slack and one to SNS, after retries, 429s and
// deferrals — for a run that deletes in one attempt, exactly one report —
// naming the run and stating as deleted the images and the size its audit
// event and the registry show; a repeat is allowed only as a possible
// duplicate counted under the run's keys. Besides, a run sends what the gc
// function documents (gc.Result.Noteworthy) for an attempt that deleted
// nothing: no report when it had nothing to do and nothing went wrong, else
// one that states 0 deleted — a failure (which fails the attempt: a retry
// that then deletes reports its deletions anew), a change since planning,
// images another run deleted first — or a plan under "Planned" (a cap
// refusal); never a deletion. Every report names a run the driver started.
func (m *model) checkGCReports(sb *sandbox.Sandbox, off offsets, runs map[runRepo][]runDeletions, logs string) {
	channels := map[string][]string{}
	for _, p := range sb.Suite.Slack.Payloads()[off.slack:] {
		if strings.Contains(p.Text, "] gc ") {
			channels["slack"] = append(channels["slack"], slackTexts(p.Body))
		}
	}
	for _, msg := range sb.Suite.SNS.Messages(sb.TopicARN)[off.sns:] {
		if strings.Contains(msg.Subject, "ecrwarden: gc ") {
			channels["sns"] = append(channels["sns"], msg.Message)
		}
	}
	for _, v := range gcReportViolations(channels, runs, duplicateKeys(logs)) {
		m.fail("%s", v)
	}
}

// gcReportViolations is checkGCReports on what reached each channel (the
// rendered gc reports: Slack's block texts, SNS bodies), the deletions of
// each run and repository, and the possible duplicates' keys by channel.
func gcReportViolations(channels map[string][]string, runs map[runRepo][]runDeletions, dups map[string][]string) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for k, events := range runs {
		for _, d := range events {
			if d.audited != d.gone || d.auditedBytes != d.bytes {
				fail("gc run %s in %s: an audit event states %s (%d bytes), the registry lost %d of those it lists (%d bytes)",
					k.run, k.repo, nImages(d.audited), d.auditedBytes, d.gone, d.bytes)
			}
		}
	}
	for _, channel := range []string{"slack", "sns"} {
		// The deletions each report states, by run and repository.
		got := map[runRepo][]gcFigures{}
		for _, text := range channels[channel] {
			r := parseGCReport(text)
			if !strings.HasPrefix(r.run, "faults-") {
				fail("a gc report on %s names no run the driver started (run %q): %.300q", channel, r.run, text)
				continue
			}
			if len(r.repos) == 0 {
				fail("gc report of run %s on %s states no repository: %.300q", r.run, channel, text)
			}
			for repo, f := range r.repos {
				switch {
				case !r.deleted:
					// A plan (cap refusal): nothing deleted in this attempt.
				case f.images == 0:
					// An attempt that deleted nothing.
				default:
					got[runRepo{r.run, repo}] = append(got[runRepo{r.run, repo}], f)
				}
			}
		}
		keys := map[runRepo]bool{}
		for k := range runs {
			keys[k] = true
		}
		for k := range got {
			keys[k] = true
		}
		for k := range keys {
			allowed := 0
			for _, key := range dups[channel] {
				if reportOf(key, k) {
					allowed++
				}
			}
			// Each attempt's deletions are stated by one report; a report
			// stating what no attempt deleted is a false report, unless it
			// repeats one (a counted possible duplicate).
			want := map[gcFigures]int{}
			for _, d := range runs[k] {
				if d.gone > 0 {
					want[gcFigures{images: d.gone, size: alert.HumanBytes(d.bytes)}]++
				}
			}
			matched := map[gcFigures]bool{}
			for _, f := range got[k] {
				switch {
				case want[f] > 0:
					want[f]--
					matched[f] = true
				case matched[f] && allowed > 0:
					allowed--
				case matched[f]:
					fail("gc run %s in %s: its report of %s reached %s again, and no possible duplicate was counted", k.run, k.repo, f, channel)
				default:
					fail("gc run %s in %s: a report on %s states %s deleted, which no attempt of the run deleted (its audit events: %v)", k.run, k.repo, channel, f, runs[k])
				}
			}
			for f, n := range want {
				for range n {
					fail("gc run %s deleted %s in %s: no report of it reached %s (its reports there state %v)", k.run, f, k.repo, channel, got[k])
				}
			}
		}
	}
	return out
}

func (d runDeletions) String() string {
	return fmt.Sprintf("%s, %d bytes", nImages(d.audited), d.auditedBytes)
}

func (f gcFigures) String() string {
	if f.images < 0 {
		return fmt.Sprintf("a plan of %s (%s)", nImages(-1-f.images), f.size)
	}
	return fmt.Sprintf("%s (%s)", nImages(f.images), f.size)
}

func nImages(n int) string {
	if n == 1 {
		return "1 image"
	}
	return strconv.Itoa(n) + " images"
}
