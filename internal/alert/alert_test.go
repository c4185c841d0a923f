package alert

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden/alert")

const goldenDir = "../../testdata/golden/alert"

const (
	digest  = "sha256:3f1c2b8a9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90"
	region  = "eu-west-1"
	account = "123456789012"
)

func date(t testing.TB, s string) policy.Date {
	t.Helper()
	d, err := policy.ParseDate(s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

// now is after one ignore entry's last day and before the other's.
var now = time.Date(2026, 2, 3, 9, 30, 0, 0, time.UTC)

func sampleFindings() []findings.Finding {
	return []findings.Finding{
		{ID: "CVE-2024-0001", Severity: "HIGH", Score: 7.5, Source: findings.SourceEnhanced,
			Title: "CVE-2024-0001 - zlib", URI: "https://nvd.nist.gov/vuln/detail/CVE-2024-0001",
			Packages: []findings.Package{{Name: "zlib", InstalledVersion: "1.2.13", FixedVersion: "1.3.1"}}},
		{ID: "CVE-2024-0002", Severity: "HIGH", Score: 7.0, Source: findings.SourceEnhanced,
			Title: "CVE-2024-0002 - pyyaml", URI: "https://nvd.nist.gov/vuln/detail/CVE-2024-0002",
			Packages: []findings.Package{{Name: "PyYAML", InstalledVersion: "5.3"}}},
		{ID: "CVE-2024-3094", Severity: "CRITICAL", Score: 10, Source: findings.SourceEnhanced,
			Title: "CVE-2024-3094 - xz-libs, xz <backdoor> & liblzma", URI: "https://nvd.nist.gov/vuln/detail/CVE-2024-3094?a=1&b=2",
			Packages: []findings.Package{
				{Name: "liblzma5", InstalledVersion: "5.6.0", FixedVersion: "5.6.1+really5.4.5"},
				{Name: "xz-utils", InstalledVersion: "5.6.0", FixedVersion: "5.6.1+really5.4.5"},
			}},
		{ID: "GHSA-r9hx-vwmv-q579", Severity: "HIGH", Score: 7.5, Source: findings.SourceEnhanced,
			Title: "GHSA-r9hx-vwmv-q579 - setuptools", URI: "https://github.com/advisories/GHSA-r9hx-vwmv-q579",
			Packages: []findings.Package{{Name: "setuptools", InstalledVersion: "65.5.0", FixedVersion: "65.5.1"}}},
		{ID: "CVE-2023-9999", Severity: "HIGH", Score: 8.1, Source: findings.SourceEnhanced,
			Title: "CVE-2023-9999 - openssl", URI: "https://nvd.nist.gov/vuln/detail/CVE-2023-9999",
			Packages: []findings.Package{{Name: "openssl", InstalledVersion: "3.0.2", FixedVersion: "3.0.13"}}},
		{ID: "CVE-2023-1111", Severity: "MEDIUM", Score: 5.3, Source: findings.SourceEnhanced},
		{ID: "CVE-2023-2222", Severity: "LOW", Score: 2.1, Source: findings.SourceEnhanced},
	}
}

func samplePolicy(t testing.TB) policy.ScanPolicy {
	return policy.ScanPolicy{AlertAt: "HIGH", Ignore: []policy.Ignore{
		{ID: "CVE-2024-0001", Until: date(t, "2026-01-31"), Reason: "zlib is not reachable from the API"},
		{ID: "CVE-2024-0002", Until: date(t, "2026-06-30"), Reason: "yaml only loads trusted config"},
	}}
}

// manyFindings builds n distinct findings with realistic ids, packages and
// links, spread over all severities.
func manyFindings(n int) []findings.Finding {
	sev := []policy.Severity{"CRITICAL", "HIGH", "HIGH", "MEDIUM", "LOW"}
	out := make([]findings.Finding, n)
	for i := range out {
		id := fmt.Sprintf("CVE-2025-%05d", 10000+i*7)
		out[i] = findings.Finding{
			ID: id, Severity: sev[i%len(sev)], Score: float64(40+i%60) / 10, Source: findings.SourceEnhanced,
			Title: id + " - libexample" + fmt.Sprint(i%37),
			URI:   "https://nvd.nist.gov/vuln/detail/" + id,
			Packages: []findings.Package{
				{Name: fmt.Sprintf("libexample%d", i%37), InstalledVersion: fmt.Sprintf("1.%d.%d", i%9, i%13), FixedVersion: fmt.Sprintf("1.%d.%d", i%9, i%13+1)},
			},
		}
		if i%4 == 0 {
			out[i].Packages = append(out[i].Packages, findings.Package{Name: "python3-example", InstalledVersion: "3.11.2"})
		}
	}
	return out
}

func findingsAlert(t testing.TB, repo string, fs []findings.Finding, sp policy.ScanPolicy) Alert {
	r := findings.Evaluate(repo, sp, fs, now)
	return Alert{
		Kind: KindFindings, Repository: repo, Tags: []string{"v1.4.2", "latest"}, Digest: digest,
		Region: region, Account: account, Findings: &r, Fingerprint: findings.Fingerprint(repo, digest, r.Alerting),
	}
}

// attackFindings are findings whose scanner-supplied text tries to ping a
// channel, mention people, link a channel and smuggle links.
func attackFindings() []findings.Finding {
	return []findings.Finding{
		{ID: "CVE-2026-0001", Severity: "CRITICAL", Score: 9.8, Source: findings.SourceEnhanced,
			Title: "<!channel> rotate every key now, ask <@U012ABCDEF> in <#C024BE7LR|security>", URI: "javascript:alert(document.cookie)",
			Packages: []findings.Package{{Name: "<!here>", InstalledVersion: "<!everyone>", FixedVersion: "&lt;!channel&gt;"}}},
		{ID: "CVE-2026-0002|<!subteam^S0123>", Severity: "HIGH", Score: 8.1, Source: findings.SourceEnhanced,
			Title: "see <https://evil.example/|the advisory>", URI: "https://nvd.nist.gov@evil.example/CVE-2026-0002"},
		{ID: "CVE-2026-0003", Severity: "HIGH", Score: 7.5, Source: findings.SourceBasic,
			Title: "@channel @here plain words", URI: "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="},
		{ID: "CVE-2026-0004", Severity: "HIGH", Score: 7.4, Source: findings.SourceBasic,
			Title: "an http advisory of the basic scanner", URI: "http://people.ubuntu.com/~ubuntu-security/cve/CVE-2026-0004"},
		{ID: "CVE-2026-0005", Severity: "HIGH", Score: 7.3, Source: findings.SourceEnhanced,
			Title: "a link with markup in it", URI: "https://nvd.nist.gov/vuln/detail/CVE-2026-0005?q=<!channel>|x"},
		{ID: "CVE-2026-0006", Severity: "UNTRIAGED", Source: findings.SourceEnhanced,
			Title: "<@W0123ABC> untriaged", URI: "slack://channel?team=T1&id=C1"},
	}
}

func goldenCases(t testing.TB) map[string]Alert {
	blocked := findings.Evaluate("mlops/retail-api", samplePolicy(t), sampleFindings(), now)
	attack := findings.Evaluate("mlops/retail-api", policy.ScanPolicy{AlertAt: "HIGH"}, attackFindings(), now)
	unknown := findings.Evaluate("mlops/retail-api", policy.ScanPolicy{AlertAt: "HIGH"}, []findings.Finding{
		{ID: "CVE-2026-4000", Severity: "UNTRIAGED", Source: findings.SourceEnhanced, Packages: []findings.Package{{Name: "openssl", InstalledVersion: "3.0.13"}}},
		{ID: "CVE-2026-4001", Severity: "UNDEFINED", Source: findings.SourceBasic},
		{ID: "CVE-2026-2001", Severity: "MEDIUM", Source: findings.SourceBasic},
	}, now)
	return map[string]Alert{
		"findings-attack": {
			Kind: KindFindings, Repository: "mlops/retail-api", Tags: []string{"v1.4.2"}, Digest: digest,
			Region: region, Account: account, Findings: &attack, Fingerprint: findings.Fingerprint("mlops/retail-api", digest, attack.Alerting),
		},
		"rollout-blocked-attack": {
			Kind: KindRolloutBlocked, Repository: "mlops/retail-api", Tags: []string{"v1.4.2"}, Digest: digest,
			Region: region, Account: account, Findings: &attack,
			Rollout: &Rollout{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api", Tag: "v1.4.2"},
		},
		"rollout-blocked-unknown-severity": {
			Kind: KindRolloutBlocked, Repository: "mlops/retail-api", Tags: []string{"v1.4.3"}, Digest: digest,
			Region: region, Account: account, Findings: &unknown,
			Rollout: &Rollout{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api", Tag: "v1.4.3"},
		},
		"tag-rejected-attack": {
			Kind: KindTagRejected, Repository: "mlops/retail-api", Tags: []string{"Feature_X"}, Digest: digest,
			Region: "evil.example/#", Account: account,
			TagRejection: &TagRejection{Tag: "Feature_X", Action: TagKept, Allowed: []string{"v{semver}", "<!channel>"},
				Reason: "in use: Deployment default/<!here> container <@U012ABCDEF> runs it: nothing deleted"},
		},
		"tag-rejected-kept": {
			Kind: KindTagRejected, Repository: "mlops/scratch", Tags: []string{"Feature_X"}, Digest: digest,
			Region: region, Account: account,
			TagRejection: &TagRejection{Tag: "Feature_X", Action: TagKept, Allowed: []string{"v{semver}"},
				Reason: "in use: Deployment default/batch container scorer in cluster retail-forecast runs 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/scratch:Feature_X: nothing deleted"},
		},
		"findings-expired-ignore": findingsAlert(t, "mlops/retail-api", sampleFindings(), samplePolicy(t)),
		"findings-2000":           findingsAlert(t, "mlops/train-model", manyFindings(2000), policy.ScanPolicy{AlertAt: "LOW"}),
		"scan-failed": {
			Kind: KindScanFailed, Repository: "mlops/retail-api", Tags: []string{"v1.4.3"}, Digest: digest,
			Region: region, Account: account,
			ScanFailure: &ScanFailure{Status: "UNSUPPORTED_IMAGE", Reason: "The operating system and/or package manager are not supported.", Scanner: findings.SourceBasic},
		},
		"tag-rejected-alert": {
			Kind: KindTagRejected, Repository: "mlops/retail-api", Tags: []string{"Final_v2"}, Digest: digest,
			Region: region, Account: account,
			TagRejection: &TagRejection{Tag: "Final_v2", Action: TagAlerted,
				Allowed: []string{"v{semver}", "v{date}-{sha}", "{sha}", "dev-{sha}", "dev-latest", "feature-*-{sha}", "latest"}},
		},
		"tag-rejected-delete": {
			Kind: KindTagRejected, Repository: "mlops/retail-api", Tags: []string{"tmp", "v1.4.2"}, Digest: digest,
			Region: region, Account: account,
			TagRejection: &TagRejection{Tag: "tmp", Action: TagDeleted, Allowed: []string{"v{semver}", "{sha}"}},
		},
		"tag-rejected-delete-failed": {
			Kind: KindTagRejected, Repository: "mlops/retail-api", Tags: []string{"tmp"}, Digest: digest,
			TagRejection: &TagRejection{Tag: "tmp", Action: TagDeleteFailed, Allowed: []string{"v{semver}"},
				Error: "batch delete image: AccessDeniedException: not authorized to perform ecr:BatchDeleteImage"},
		},
		"rollout-blocked": {
			Kind: KindRolloutBlocked, Repository: "mlops/retail-api", Tags: []string{"v1.4.2"}, Digest: digest,
			Region: region, Account: account, Findings: &blocked,
			Rollout: &Rollout{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api", Tag: "v1.4.2"},
		},
		"rollout-failed-rolled-back": {
			Kind: KindRolloutFailed, Repository: "mlops/retail-api", Tags: []string{"v1.2.0"}, Digest: digest,
			Region: region, Account: account,
			Verification: &Verification{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api",
				Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api@" + digest, Previous: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api:v1.1.1",
				Action: RolledBack, Hold: "rollback by ecrwarden at 2026-11-25T10:00:00Z: verification failed: pod retail-forecast-api-7d9f-x2 container api: CrashLoopBackOff, 3 restarts",
				Reasons: []string{"pod retail-forecast-api-7d9f-x2 container api: CrashLoopBackOff, 3 restarts"},
				Events:  []string{"pod retail-forecast-api-7d9f-x2: Warning BackOff: Back-off restarting failed container api (×4)"}},
		},
		"rollout-failed-refused": {
			Kind: KindRolloutFailed, Repository: "mlops/retail-api", Tags: []string{"v1.2.0"}, Digest: digest,
			Region: region, Account: account,
			Verification: &Verification{Cluster: "retail-forecast", Namespace: "default", Deployment: "<!channel>", Container: "api",
				Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api@" + digest, Previous: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api:v1.1.1",
				Action: RollbackRefused, Refusal: "the previous image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api:v1.1.1 no longer exists in ECR: rolling back would leave nothing that runs",
				Reasons: []string{"pod retail-forecast-api-7d9f-x2 container api: ImagePullBackOff (Back-off pulling image <@U012ABCDEF>)"}},
		},
		"rollout-verified": {
			Kind: KindRolloutVerified, Repository: "mlops/retail-api", Tags: []string{"v1.2.1"}, Digest: digest,
			Region: region, Account: account,
			Verification: &Verification{Cluster: "retail-forecast", Namespace: "default", Deployment: "retail-forecast-api", Container: "api",
				Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api@" + digest, Seconds: 94},
		},
		"gc-dry-run": {
			Kind: KindGCReport, Region: region, Account: account,
			GC: &GCReport{DryRun: true, Cap: 100, Repositories: []GCRepository{
				{Name: "mlops/retail-api", Images: 12, Bytes: 12 * 187_654_321},
				{Name: "mlops/train-model", Images: 3, Bytes: 3 * 2_345_678_901},
			}},
		},
		"gc-deleted": {
			Kind: KindGCReport, Region: region, Account: account,
			GC: &GCReport{RunID: "2026-11-30T03:00:00Z", Cap: 100, Repositories: []GCRepository{
				{Name: "mlops/retail-api", Images: 7, Bytes: 7 * 187_654_321, Failed: 1},
				{Name: "mlops/train-model", Images: 0, Bytes: 0, Error: "describe images: listing cut short after page 3"},
			}},
		},
		"gc-archive-cost": {
			Kind: KindGCReport, Region: region, Account: account,
			GC: &GCReport{RunID: "8f14e45f-ceea-4167-a5a6-1b3c9d2e7f00", Cap: 100, MonthlySavings: 41.87, MinimumCharge: 2.5,
				Prices: "ECR pricing 2026-03 (standard $0.10, archive $0.10 first 150 TB/month)",
				Repositories: []GCRepository{
					{Name: "mlops/train-model", Images: 4, Bytes: 4 * 2_345_678_901, Archived: 9, ArchivedBytes: 9 * 2_345_678_901, Kept: 1,
						Warnings: []string{
							"sha256:0a1b2c3d4e5f (exp-baseline): a workload references it but it is archived and cannot be pulled: restore it (ecrwarden restore)",
							"sha256:5e5e5e5e5e5e (v1.2.0): in use, but the native lifecycle policy will expire it (rule 1: last pulled 120d ago, more than 90 days)",
						}},
				}},
		},
		"gc-cap-refused": {
			Kind: KindGCReport, Repository: "mlops/train-model", Region: region, Account: account,
			GC: &GCReport{RunID: "2026-11-30T03:00:00Z", Cap: 100, CapRefused: true, Repositories: []GCRepository{
				{Name: "mlops/train-model", Images: 412, Bytes: 412 * 1_234_567_890},
			}},
		},
	}
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		a := cases[name]
		t.Run(name, func(t *testing.T) {
			msg := Slack(a)
			checkSlackLimits(t, msg)
			slackJSON, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatalf("marshal slack message: %v", err)
			}
			golden(t, name+".slack.json", append(slackJSON, '\n'))

			subject, body, attrs := SNS(a)
			checkSNSLimits(t, subject, body, attrs)
			var b bytes.Buffer
			fmt.Fprintf(&b, "Subject: %s\n", subject)
			for _, k := range []string{AttrKind, AttrRepository, AttrSeverity} {
				fmt.Fprintf(&b, "Attribute %s: %s\n", k, attrs[k])
			}
			b.WriteString("\n" + body)
			golden(t, name+".sns.txt", b.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatalf("create golden dir: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./internal/alert -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func checkSlackLimits(t *testing.T, m SlackMessage) {
	t.Helper()
	if m.Text == "" || runes(m.Text) > SlackMaxText {
		t.Errorf("text has %d characters, want 1..%d", runes(m.Text), SlackMaxText)
	}
	if n := len(m.Blocks); n == 0 || n > SlackMaxBlocks {
		t.Errorf("%d blocks, want 1..%d", n, SlackMaxBlocks)
	}
	if n := m.TextLength(); n > SlackTextBudget {
		t.Errorf("blocks hold %d characters, want ≤ %d", n, SlackTextBudget)
	}
	for i, b := range m.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || runes(b.Text.Text) > SlackMaxHeader {
				t.Errorf("block %d: header %+v breaks the plain_text ≤%d rule", i, b.Text, SlackMaxHeader)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: section without text or fields", i)
			}
			if b.Text != nil && (runes(b.Text.Text) > SlackMaxSectionText || b.Text.Text == "") {
				t.Errorf("block %d: section text has %d characters, want 1..%d", i, runes(b.Text.Text), SlackMaxSectionText)
			}
			if len(b.Fields) > SlackMaxFields {
				t.Errorf("block %d: %d fields, want ≤ %d", i, len(b.Fields), SlackMaxFields)
			}
			for _, f := range b.Fields {
				if runes(f.Text) > SlackMaxFieldText {
					t.Errorf("block %d: field has %d characters, want ≤ %d", i, runes(f.Text), SlackMaxFieldText)
				}
			}
		case "context":
			if n := len(b.Elements); n == 0 || n > SlackMaxContextElements {
				t.Errorf("block %d: %d context elements, want 1..%d", i, n, SlackMaxContextElements)
			}
		case "divider":
		default:
			t.Errorf("block %d: unexpected type %q", i, b.Type)
		}
	}
}

func checkSNSLimits(t *testing.T, subject, body string, attrs map[string]string) {
	t.Helper()
	if subject == "" || len(subject) > SNSMaxSubject {
		t.Errorf("subject has %d characters, want 1..%d", len(subject), SNSMaxSubject)
	}
	for _, r := range subject {
		if r < 0x20 || r > 0x7e {
			t.Errorf("subject %q holds %U, want printable ASCII", subject, r)
		}
	}
	if !utf8.ValidString(body) || body == "" {
		t.Errorf("body is empty or not UTF-8")
	}
	size := len(body)
	for _, k := range []string{AttrRepository, AttrSeverity, AttrKind} {
		v, ok := attrs[k]
		if !ok || v == "" {
			t.Errorf("attribute %q = %q, want a value", k, v)
		}
		size += len(k) + len("String") + len(v)
	}
	if len(attrs) != 3 {
		t.Errorf("attributes %v, want exactly repository, severity, kind", attrs)
	}
	if size > SNSMaxPayload {
		t.Errorf("message plus attributes is %d bytes, want ≤ %d", size, SNSMaxPayload)
	}
}

func TestTwoThousandFindingsAreCut(t *testing.T) {
	a := goldenCases(t)["findings-2000"]
	total := len(a.Findings.Alerting)
	if total != 2000 {
		t.Fatalf("fixture has %d alerting findings, want 2000", total)
	}
	msg := Slack(a)
	shown := 0
	var more string
	for _, b := range msg.Blocks {
		if b.Type == "section" && b.Text != nil && strings.Contains(b.Text.Text, "nvd.nist.gov") {
			shown++
		}
		if b.Type == "context" && strings.Contains(b.Elements[0].Text, "more findings") {
			more = b.Elements[0].Text
		}
	}
	if shown == 0 || shown > SlackMaxFindings {
		t.Errorf("Slack shows %d findings, want 1..%d", shown, SlackMaxFindings)
	}
	if want := fmt.Sprintf("and %d more findings", total-shown); !strings.Contains(more, want) {
		t.Errorf("Slack 'more' line = %q, want it to contain %q", more, want)
	}
	// The most severe come first.
	first := msg.Blocks[slices.IndexFunc(msg.Blocks, func(b SlackBlock) bool { return b.Type == "divider" })+1]
	if !strings.Contains(first.Text.Text, "CRITICAL") {
		t.Errorf("first finding %q is not CRITICAL", first.Text.Text)
	}

	_, body, _ := SNS(a)
	listed := strings.Count(body, "https://nvd.nist.gov/vuln/detail/")
	if listed == 0 || listed >= total {
		t.Fatalf("SNS lists %d findings, want a cut below %d", listed, total)
	}
	if want := fmt.Sprintf("and %d more findings", total-listed); !strings.Contains(body, want) {
		t.Errorf("SNS body lacks %q", want)
	}
	if len(body) < SNSMaxPayload/2 {
		t.Errorf("SNS body is %d bytes: the cut wastes most of the %d-byte budget", len(body), SNSMaxPayload)
	}
}

func TestSlackEscapesAndLinks(t *testing.T) {
	a := goldenCases(t)["findings-expired-ignore"]
	js, err := json.Marshal(Slack(a))
	if err != nil {
		t.Fatal(err)
	}
	s := string(js)
	for _, want := range []string{
		`xz \u0026lt;backdoor\u0026gt; \u0026amp; liblzma`,                                      // mrkdwn escaped (then JSON-escaped)
		`\u003chttps://nvd.nist.gov/vuln/detail/CVE-2024-3094?a=1\u0026b=2|CVE-2024-3094\u003e`, // link intact
		"CVE-2024-0001: ignore entry expired after 2026-01-31",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Slack JSON lacks %s:\n%s", want, s)
		}
	}
}

// TestSlackNeverRendersMentionsOrUnsafeLinks: whatever a finding, a tag
// rejection or a region says, no text of a Slack message can open a
// control sequence (<!channel>, <!here>, <@U…>, <#C…>, <!subteam^…>) or a
// link the renderer did not write to an http(s) URL; every mrkdwn text is
// verbatim; the fallback text and the header hold no < or >.
func TestSlackNeverRendersMentionsOrUnsafeLinks(t *testing.T) {
	linkRE := regexp.MustCompile(`<(https?://[^|<>\s]+)\|[^<>]*>`)
	for _, name := range []string{"findings-attack", "rollout-blocked-attack", "tag-rejected-attack", "rollout-blocked-unknown-severity"} {
		t.Run(name, func(t *testing.T) {
			msg := Slack(goldenCases(t)[name])
			if strings.ContainsAny(msg.Text, "<>") {
				t.Errorf("fallback text holds markup: %q", msg.Text)
			}
			var texts []SlackText
			for _, b := range msg.Blocks {
				if b.Text != nil {
					texts = append(texts, *b.Text)
				}
				texts = append(texts, b.Fields...)
				texts = append(texts, b.Elements...)
			}
			for _, tx := range texts {
				switch tx.Type {
				case "plain_text":
					if strings.ContainsAny(tx.Text, "<>") {
						t.Errorf("plain_text holds markup: %q", tx.Text)
					}
				case "mrkdwn":
					if !tx.Verbatim {
						t.Errorf("mrkdwn text is not verbatim: %q", tx.Text)
					}
					rest := tx.Text
					for _, m := range linkRE.FindAllStringSubmatch(tx.Text, -1) {
						u, err := url.Parse(m[1])
						if err != nil || u.User != nil || u.Host == "" || u.Host == "evil.example" {
							t.Errorf("unsafe link %q in %q", m[1], tx.Text)
						}
						rest = strings.Replace(rest, m[0], "", 1)
					}
					if strings.ContainsAny(rest, "<>") {
						t.Errorf("mrkdwn holds a control sequence outside the renderer's links: %q", tx.Text)
					}
				}
			}
			js, _ := json.Marshal(msg)
			for _, bad := range []string{"javascript:", "data:text", "slack://", "evil.example/#"} {
				if strings.Contains(string(js), bad) {
					t.Errorf("message carries %q: %s", bad, js)
				}
			}
		})
	}
}

func TestSafeURL(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"https://nvd.nist.gov/vuln/detail/CVE-2024-3094", true},
		{"HTTPS://NVD.NIST.GOV/x", true},
		{"http://people.ubuntu.com/~ubuntu-security/cve/CVE-2024-1", true},
		{" https://github.com/advisories/GHSA-r9hx-vwmv-q579 ", true},
		{"javascript:alert(1)", false},
		{"JavaScript://%0aalert(1)", false},
		{"data:text/html,x", false},
		{"vbscript:x", false},
		{"slack://open", false},
		{"file:///etc/passwd", false},
		{"//evil.example/x", false},
		{"/relative", false},
		{"https://nvd.nist.gov@evil.example/x", false},
		{"https://user:pass@nvd.nist.gov/", false},
		{"https:evil", false},
		{"https://nvd.nist.gov/\nx", false},
		{"https://", false},
		{"", false},
		{"https://nvd.nist.gov/" + strings.Repeat("a", slackMaxURL), false},
	} {
		if _, ok := safeURL(tt.in); ok != tt.ok {
			t.Errorf("safeURL(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

func TestSNSOmitsUnsafeLinks(t *testing.T) {
	_, body, _ := SNS(goldenCases(t)["findings-attack"])
	// Titles are plain text in SNS; links are lines of their own, safe ones only.
	for _, bad := range []string{"javascript:", "data:text", "nvd.nist.gov@evil.example", "slack://"} {
		if strings.Contains(body, bad) {
			t.Errorf("SNS body carries %q:\n%s", bad, body)
		}
	}
	if !strings.Contains(body, "http://people.ubuntu.com/~ubuntu-security/cve/CVE-2026-0004") {
		t.Errorf("SNS body dropped a safe http link:\n%s", body)
	}
}

func TestSNSSubject(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "[HIGH] ecrwarden: x", "[HIGH] ecrwarden: x"},
		{"newlines and tabs become one space", "a\r\n\tb", "a b"},
		{"non-ASCII", "tag é → ok…", "tag ? -> ok..."},
		{"empty", "\n", "ecrwarden alert"},
		{"long", strings.Repeat("abcdefghij", 12), strings.Repeat("abcdefghij", 9) + "abcdef..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := snsSubject(tt.in)
			if got != tt.want {
				t.Errorf("snsSubject(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > SNSMaxSubject {
				t.Errorf("len = %d, want ≤ %d", len(got), SNSMaxSubject)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	r := findings.Evaluate("r", policy.ScanPolicy{}, []findings.Finding{{ID: "a", Severity: "CRITICAL"}}, now)
	empty := findings.Evaluate("r", policy.ScanPolicy{AlertAt: "MEDIUM"}, nil, now)
	tests := []struct {
		name string
		a    Alert
		want policy.Severity
	}{
		{"findings: highest", Alert{Kind: KindFindings, Findings: &r}, "CRITICAL"},
		{"findings: none alerting gives the threshold", Alert{Kind: KindFindings, Findings: &empty}, "MEDIUM"},
		{"override", Alert{Kind: KindFindings, Findings: &r, Severity: "low"}, "LOW"},
		{"rollout without findings", Alert{Kind: KindRolloutBlocked}, "HIGH"},
		{"scan failed", Alert{Kind: KindScanFailed}, "HIGH"},
		{"tag rejected", Alert{Kind: KindTagRejected}, "MEDIUM"},
		{"gc clean", Alert{Kind: KindGCReport, GC: &GCReport{DryRun: true}}, "INFORMATIONAL"},
		{"gc cap", Alert{Kind: KindGCReport, GC: &GCReport{CapRefused: true}}, "HIGH"},
		{"gc partial failure", Alert{Kind: KindGCReport, GC: &GCReport{Repositories: []GCRepository{{Failed: 1}}}}, "HIGH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Level(); got != tt.want {
				t.Errorf("Level() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConsoleURL(t *testing.T) {
	tests := []struct {
		name string
		a    Alert
		want string
	}{
		{"image", Alert{Repository: "mlops/retail-api", Digest: digest, Region: "us-east-1", Account: "123456789012"},
			"https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/mlops/retail-api/_/image/" + digest + "/details?region=us-east-1"},
		{"repository", Alert{Repository: "app", Region: "us-east-1", Account: "123456789012"},
			"https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/app?region=us-east-1"},
		{"malformed digest: the repository", Alert{Repository: "app", Digest: "sha256:ab/../../x", Region: "us-east-1", Account: "123456789012"},
			"https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/app?region=us-east-1"},
		{"no account", Alert{Repository: "app", Digest: digest, Region: "us-east-1"}, ""},
		{"a region that is a host", Alert{Repository: "app", Region: "evil.example/#", Account: "123456789012"}, ""},
		{"an account that is not one", Alert{Repository: "app", Region: "us-east-1", Account: "123@evil"}, ""},
		{"a repository with markup", Alert{Repository: "app|<!channel>", Region: "us-east-1", Account: "123456789012"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.ConsoleURL(); got != tt.want {
				t.Errorf("ConsoleURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLongInputsStayWithinLimits(t *testing.T) {
	long := strings.Repeat("x<&>", 3000)
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("pattern-%d-%s", i, strings.Repeat("y", 50))
	}
	repos := make([]GCRepository, 3000)
	for i := range repos {
		repos[i] = GCRepository{Name: fmt.Sprintf("team%d/%s", i, strings.Repeat("z", 200)), Images: i, Bytes: int64(i) << 20, Error: long[:100]}
	}
	fs := manyFindings(300)
	for i := range fs {
		fs[i].Title = long
		fs[i].Packages[0].Name = long
	}
	r := findings.Evaluate(long, policy.ScanPolicy{AlertAt: "LOW"}, fs, now)
	alerts := []Alert{
		{Kind: KindFindings, Repository: long, Tags: many, Digest: long, Region: region, Account: account, Findings: &r},
		{Kind: KindTagRejected, Repository: long, Tags: many, TagRejection: &TagRejection{Tag: long, Allowed: many, Action: TagDeleteFailed, Error: long}},
		{Kind: KindScanFailed, Repository: long, ScanFailure: &ScanFailure{Status: long, Reason: long}},
		{Kind: KindGCReport, GC: &GCReport{Repositories: repos}},
		{Kind: KindRolloutBlocked, Repository: long, Findings: &r, Rollout: &Rollout{Deployment: long, Tag: long}},
		{Kind: "something-new", Repository: long},
		{Kind: KindFindings}, // no detail at all: no panic
	}
	for _, a := range alerts {
		t.Run(string(a.Kind), func(t *testing.T) {
			checkSlackLimits(t, Slack(a))
			subject, body, attrs := SNS(a)
			checkSNSLimits(t, subject, body, attrs)
		})
	}
}

// TestRolloutBlockedNamesTheKind: a held rollout of a CronJob says CronJob, not Deployment.
func TestRolloutBlockedNamesTheKind(t *testing.T) {
	for _, tt := range []struct{ kind, want string }{{"", "Deployment"}, {"CronJob", "CronJob"}} {
		a := Alert{Kind: KindRolloutBlocked, Repository: "mlops/train-model", Digest: "sha256:" + strings.Repeat("a", 64),
			Region: "ap-southeast-1", Account: "123456789012", Findings: &findings.Result{},
			Rollout: &Rollout{Cluster: "retail-forecast", Namespace: "default", Deployment: "nightly-train", Kind: tt.kind, Container: "train", Tag: "v2.4.0"}}
		js, err := json.Marshal(Slack(a))
		if err != nil {
			t.Fatal(err)
		}
		if want := `*` + tt.want + `*`; !strings.Contains(string(js), want) {
			t.Errorf("kind %q: Slack message lacks the field %s: %s", tt.kind, want, js)
		}
	}
}

// TestGCReportNamesItsRun: the gc report's context line (Slack) and footer
// (SNS) name the run its audit events carry, so an operator can match the
// alert to the audit trail; a run id from the invocation's payload stays one
// line of plain text, cut to its bound, and a report outside a run (gc plan)
// has no run line.
func TestGCReportNamesItsRun(t *testing.T) {
	repos := []GCRepository{{Name: "mlops/retail-api", Images: 2, Bytes: 100 << 20}}
	tests := []struct {
		name, runID string
		// slack is the context element and sns the body line; "" for none.
		slack, sns string
	}{
		{name: "scheduled time", runID: "2026-11-30T03:00:00Z", slack: "run 2026-11-30T03:00:00Z", sns: "\nrun 2026-11-30T03:00:00Z\n"},
		{name: "markup and line breaks", runID: "r1\n<!channel> & <@U012ABCDEF>",
			slack: "run r1 &lt;!channel&gt; &amp; &lt;@U012ABCDEF&gt;", sns: "\nrun r1 <!channel> & <@U012ABCDEF>\n"},
		{name: "long", runID: strings.Repeat("r", 400), slack: "run " + strings.Repeat("r", 149) + "…", sns: "\nrun " + strings.Repeat("r", 149) + "…\n"},
		{name: "no run (gc plan)", runID: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Alert{Kind: KindGCReport, Region: "eu-west-1", Account: "123456789012", GC: &GCReport{RunID: tt.runID, Cap: 10, Repositories: repos}}
			msg := Slack(a)
			ctx := msg.Blocks[len(msg.Blocks)-1]
			if ctx.Type != "context" {
				t.Fatalf("last block is %q, want the context line", ctx.Type)
			}
			var runs []string
			for _, e := range ctx.Elements {
				if strings.HasPrefix(e.Text, "run ") {
					runs = append(runs, e.Text)
				}
			}
			var want []string
			if tt.slack != "" {
				want = []string{tt.slack}
			}
			if diff := cmp.Diff(want, runs); diff != "" {
				t.Errorf("Slack context run elements (-want +got):\n%s", diff)
			}
			_, body, _ := SNS(a)
			switch {
			case tt.sns != "" && !strings.Contains(body, tt.sns):
				t.Errorf("SNS body lacks %q:\n%s", tt.sns, body)
			case tt.sns == "" && strings.Contains(body, "\nrun "):
				t.Errorf("SNS body names a run although the report has none:\n%s", body)
			}
		})
	}
}
