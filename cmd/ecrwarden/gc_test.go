package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	eksemu "github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// gcPolicy reads no AWS service for images in use (gc.inUse): these tests
// have no moto; TestGCPlanFailures turns the sources back on.
const gcPolicy = `version: 1
gc: { inUse: { ecs: false, lambda: false, sagemaker: false, batch: false } }
repositories:
  - name: team/api
    retention:
      - { match: "v*", keepNewest: 1 }
      - { untagged: true, maxAge: 1d }
  - name: team/worker
    retention:
      - { untagged: true, maxAge: 1d }
`

// gcEmulator starts an ECR emulator with a small history, points the SDK's
// default configuration at it through the environment, and returns it.
func gcEmulator(t *testing.T) *ecremu.Server {
	t.Helper()
	s := ecremu.New(ecremu.Config{})
	url, stop, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_ECR": url, "AWS_REGION": ecremu.DefaultRegion,
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	old := time.Now().Add(-72 * time.Hour)
	seed := func(repo string, img ecremu.Image) {
		if _, err := s.SeedImage(repo, img); err != nil {
			t.Fatal(err)
		}
	}
	for _, repo := range []string{"team/api", "team/worker"} {
		if err := s.CreateRepository(repo, ecremu.RepositoryOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"annotations":{"n":"%s-%d"}}`, ecremu.MediaTypeOCIManifest, repo, i)
			seed(repo, ecremu.Image{Manifest: m, PushedAt: old, Size: 3 << 20})
		}
	}
	seed("team/api", ecremu.Image{Tags: []string{"v1.0.0"}, PushedAt: old.Add(-time.Hour), Size: 10 << 20})
	seed("team/api", ecremu.Image{Tags: []string{"v1.1.0"}, PushedAt: old.Add(time.Hour), Size: 10 << 20})
	return s
}

func writePolicy(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// columns splits a table row on runs of two or more spaces.
var columns = regexp.MustCompile(`\s{2,}`)

func TestGCPlanTable(t *testing.T) {
	s := gcEmulator(t)
	code, out, errOut := runCLI(t, "gc", "plan", "--policy", writePolicy(t, gcPolicy))
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	var rows []string
	for _, line := range strings.Split(out, "\n") {
		cells := columns.Split(strings.TrimSpace(line), -1)
		if len(cells) == 8 {
			// ACTION TAGS SIZE REASON: digests and push times vary.
			rows = append(rows, strings.Join([]string{cells[0], cells[2], cells[6], cells[7]}, " | "))
		}
	}
	want := []string{
		"ACTION | TAGS | SIZE | REASON",
		"keep | v1.1.0 | 10.0 MiB | retention[0]: rank 1 of keepNewest 1",
		"DELETE | - | 3.0 MiB | retention[1]: pushed 3d ago, maxAge 1d (untagged)",
		"DELETE | - | 3.0 MiB | retention[1]: pushed 3d ago, maxAge 1d (untagged)",
		"DELETE | - | 3.0 MiB | retention[1]: pushed 3d ago, maxAge 1d (untagged)",
		"DELETE | v1.0.0 | 10.0 MiB | retention[0]: rank 2 beyond keepNewest 1 (v*)",
		"ACTION | TAGS | SIZE | REASON",
		"DELETE | - | 3.0 MiB | retention[0]: pushed 3d ago, maxAge 1d (untagged)",
		"DELETE | - | 3.0 MiB | retention[0]: pushed 3d ago, maxAge 1d (untagged)",
		"DELETE | - | 3.0 MiB | retention[0]: pushed 3d ago, maxAge 1d (untagged)",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("table rows (-want +got):\n%s\nfull output:\n%s", diff, out)
	}
	if !strings.Contains(out, "TOTAL: 2 repositories, 1 images kept, 7 to delete, 28.0 MiB reclaimed, 0 to archive (0 B)") {
		t.Errorf("no totals line in:\n%s", out)
	}
	if !strings.Contains(out, "COST: saves $0.00/month at ECR pricing 2026-03") {
		t.Errorf("no cost line in:\n%s", out)
	}
	if !strings.Contains(errOut, "team/api: listed 5 images…") || !strings.Contains(errOut, "team/worker: listed 3 images…") {
		t.Errorf("no progress on stderr:\n%s", errOut)
	}
	if n := s.Log().Count("BatchDeleteImage"); n != 0 {
		t.Errorf("gc plan called BatchDeleteImage %d times", n)
	}
	if n := len(s.Images("team/api")) + len(s.Images("team/worker")); n != 8 {
		t.Errorf("%d images left, want all 8", n)
	}
}

func TestGCPlanJSON(t *testing.T) {
	gcEmulator(t)
	code, out, errOut := runCLI(t, "gc", "plan", "--policy", writePolicy(t, gcPolicy), "--repository", "team/worker", "--json")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	var plan struct {
		Repositories []struct {
			Name, Registry string
			Decisions      []struct{ Action, Digest string }
		}
		Keep, Delete int
		ReclaimBytes int64
		Savings      float64 `json:"monthlySavingsUSD"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(plan.Repositories) != 1 || plan.Repositories[0].Name != "team/worker" || plan.Delete != 3 || plan.Keep != 0 ||
		plan.ReclaimBytes != 9<<20 || len(plan.Repositories[0].Decisions) != 3 {
		t.Errorf("plan = %+v", plan)
	}
	if want := "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"; plan.Repositories[0].Registry != want {
		t.Errorf("registry = %q, want %q", plan.Repositories[0].Registry, want)
	}
}

func TestGCPlanFailures(t *testing.T) {
	withCluster := gcPolicy + "clusters:\n  - { name: prod, namespaces: [default] }\n"
	tests := []struct {
		name    string
		args    []string
		policy  string
		code    int
		wantErr string
	}{
		{name: "unknown repository", args: []string{"--repository", "team/nope"}, policy: gcPolicy, code: exitFail,
			wantErr: "team/nope: repository not in the policy"},
		{name: "cluster cannot be described", policy: withCluster, code: exitFail, wantErr: "list images in use: EKS cluster prod"},
		// An in-use source that cannot be reached fails the plan, named.
		{name: "in-use source unreachable", policy: strings.Replace(gcPolicy, "sagemaker: false", "sagemaker: true", 1), code: exitFail,
			wantErr: "team/api: list images in use: SageMaker: "},
		{name: "no clusters flag", args: []string{"--no-clusters"}, policy: withCluster, code: exitOK,
			wantErr: "warning: --no-clusters"},
		{name: "stray argument", args: []string{"extra"}, policy: gcPolicy, code: exitUsage, wantErr: "usage: ecrwarden gc plan"},
		{name: "bad policy path", args: []string{"--policy", "/nonexistent.yaml"}, code: exitFail, wantErr: "nonexistent.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := gcEmulator(t)
			e := eksemu.New(eksemu.Options{})
			url, err := e.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close() })
			t.Setenv("AWS_ENDPOINT_URL_EKS", url)
			t.Setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://"+closedAddr(t))
			args := []string{"gc", "plan"}
			if tc.policy != "" {
				args = append(args, "--policy", writePolicy(t, tc.policy))
			}
			code, _, errOut := runCLI(t, append(args, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, tc.code, errOut, tc.wantErr)
			}
			if n := s.Log().Count("BatchDeleteImage"); n != 0 {
				t.Errorf("BatchDeleteImage calls = %d", n)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestGCPlanPullArchiveNative: pull-based and archive decisions, an
// archived image, the native lifecycle policy side by side, and the cost.
func TestGCPlanPullArchiveNative(t *testing.T) {
	s := gcEmulator(t)
	day := 24 * time.Hour
	if err := s.CreateRepository("team/ml", ecremu.RepositoryOptions{}); err != nil {
		t.Fatal(err)
	}
	seed := func(img ecremu.Image) {
		t.Helper()
		if _, err := s.SeedImage("team/ml", img); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	seed(ecremu.Image{Tags: []string{"v3"}, PushedAt: now.Add(-200 * day), LastPulled: now.Add(-2 * day), Size: 1 << 30})
	seed(ecremu.Image{Tags: []string{"v2"}, PushedAt: now.Add(-300 * day), LastPulled: now.Add(-150 * day), Size: 2 << 30})
	seed(ecremu.Image{Tags: []string{"v1"}, PushedAt: now.Add(-400 * day), ArchivedAt: now.Add(-200 * day), Size: 4 << 30})
	if err := s.SetLifecyclePolicy("team/ml", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":250},"action":{"type":"expire"}}]}`); err != nil {
		t.Fatal(err)
	}
	policy := `version: 1
gc:
  prices: { standardPerGBMonth: 0.10, archivePerGBMonth: 0.07 }
  inUse: { ecs: false, lambda: false, sagemaker: false, batch: false }
repositories:
  - name: team/ml
    retention:
      - { match: "v*", notPulledFor: 90d, action: archive }
      - { match: "v*", archivedFor: 180d }
`
	code, out, errOut := runCLI(t, "gc", "plan", "--policy", writePolicy(t, policy))
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"NATIVE",
		"ARCHIVE", "retention[0]: last pulled 150d ago, notPulledFor 90d (v*)",
		"DELETE", "archived", "retention[1]: archived 200d ago, archivedFor 180d (v*)",
		"expire (rule 1)",
		"1 kept, 1 to delete (4.0 GiB reclaimed), 1 to archive (2.0 GiB); native lifecycle policy: expires 1, archives 0",
		// 4 GiB archived deleted at $0.07 + 2 GiB archived at $0.10 - $0.07.
		"COST: saves $0.34/month at gc.prices in the policy (standard $0.1, archive $0.07)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if n := s.Log().Count("UpdateImageStorageClass") + s.Log().Count("BatchDeleteImage"); n != 0 {
		t.Errorf("gc plan changed the registry (%d calls)", n)
	}
}

// TestGCPlanRetriesLikeTheFunction: gc plan gives up after the functions'
// 8 attempts, not the SDK default of 3.
func TestGCPlanRetriesLikeTheFunction(t *testing.T) {
	s := gcEmulator(t)
	s.Faults().Set("DescribeRepositories", fault.Rule{ServerError: 7})
	code, _, errOut := runCLI(t, "gc", "plan", "--policy", writePolicy(t, gcPolicy))
	if code != exitOK {
		t.Fatalf("exit %d after 7 server errors, want success on the 8th attempt; stderr:\n%s", code, errOut)
	}
	if n := s.Log().Count("DescribeRepositories"); n != 8 {
		t.Errorf("DescribeRepositories attempts = %d, want 8", n)
	}
}

func TestRestore(t *testing.T) {
	s := gcEmulator(t)
	d, err := s.SeedImage("team/api", ecremu.Image{Tags: []string{"v0.9.0"}, ArchivedAt: time.Now().Add(-time.Hour), Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "restore", "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/team/api:v0.9.0")
	if code != exitOK || !strings.Contains(out, "restore started, now ACTIVATING") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if st, _ := s.State("team/api", d); st.Status != ecremu.StatusActivating {
		t.Errorf("image is %s after restore, want ACTIVATING", st.Status)
	}
	code, out, _ = runCLI(t, "restore", "team/api@"+d)
	if code != exitOK || !strings.Contains(out, "already being restored") {
		t.Errorf("second restore: exit %d, %q", code, out)
	}
	for _, tc := range []struct {
		arg  string
		code int
		want string
	}{
		{"team/api", exitUsage, "want REPOSITORY:TAG"},
		{"team/api@sha256:abc", exitUsage, "sha256:<64 hex>"},
		{"team/api:nope", exitFail, "no such image"},
	} {
		if code, _, errOut := runCLI(t, "restore", tc.arg); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("restore %s: exit %d, stderr %q; want %d and %q", tc.arg, code, errOut, tc.code, tc.want)
		}
	}
}
