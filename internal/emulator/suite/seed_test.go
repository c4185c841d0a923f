package suite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

func TestSeedFileProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{name: "empty", yaml: "", want: []string{"seed.yaml: seed file is empty"}},
		{name: "syntax", yaml: "repositories:\n  - name: [a\n", want: []string{"seed.yaml:1:1: did not find expected ',' or ']'"}},
		{name: "unknown field and wrong types", yaml: "repositories:\n  - name: a/b\n    scaning: basic\n    images: {tags: v1}\nclusters: 3\n", want: []string{
			`seed.yaml:3:5: unknown field "scaning" (want one of: name, scanning, scanOnPush, mutability, mutabilityExclusions, images, findings)`,
			"seed.yaml:4:5: want a list, got a mapping",
			"seed.yaml:5:1: want a list, got an integer `3`",
		}},
		{name: "every problem of a repository", yaml: `repositories:
  - name: Mlops/Bad
    scanning: fancy
    mutability: SOMETIMES
    images:
      - tags: [v1, ""]
      - { pushedAt: yesterday, age: 1d }
      - { size: lots, platforms: [linux] }
      - findings: [{ name: CVE-1, severity: SEVERE }]
    findings:
      - { digest: sha256:abc, findings: [] }
`, want: []string{
			"seed.yaml:2:11: repositories[0].name: create repository Mlops/Bad: InvalidParameterException: 1 validation error detected: Value at 'repositoryName' failed to satisfy constraint: Member must satisfy regular expression pattern: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
			`seed.yaml:3:15: repositories[0].scanning: unknown scanning "fancy": want basic or enhanced`,
			`seed.yaml:4:17: repositories[0].mutability: unknown mutability "SOMETIMES"`,
			`seed.yaml:6:9: repositories[0].images[0]: seed image in invalid-0: InvalidParameterException: 1 validation error detected: Value at 'tag' failed to satisfy constraint: Member must have length between 1 and 300`,
			"seed.yaml:7:37: repositories[0].images[1].age: set pushedAt or age, not both",
			`seed.yaml:8:17: repositories[0].images[2].size: size "lots": want bytes or a number with KB, MB, GB, KiB, MiB or GiB`,
			`seed.yaml:8:34: repositories[0].images[2].platforms: platform "linux": want os/arch such as linux/arm64`,
			`seed.yaml:9:19: repositories[0].images[3].findings: finding CVE-1: unknown severity "SEVERE"`,
			`seed.yaml:11:19: repositories[0].findings[0].digest: digest "sha256:abc": want sha256: and 64 hex digits`,
		}},
		{name: "clusters and secrets", yaml: `clusters:
  - name: a
  - { name: b, controlPlane: true, endpoint: "https://x" }
  - name: c
    controlPlane: true
    deployments: [{ name: d }]
  - { name: e, endpoint: "https://x", caFile: missing.pem }
secrets:
  - { name: s, value: v }
  - { name: s, value: w }
`, want: []string{
			"seed.yaml:2:5: clusters[0]: a cluster needs controlPlane: true, or an endpoint and a caFile",
			"seed.yaml:3:5: clusters[1]: a controlPlane cluster takes no endpoint or caFile: the control plane provides both",
			"seed.yaml:5:19: clusters[2].controlPlane: only one cluster can have controlPlane: true",
			"seed.yaml:6:19: clusters[2].deployments[0]: a deployment needs name, container and image",
			"seed.yaml:7:47: clusters[3].caFile: read caFile: open missing.pem: no such file or directory",
			`seed.yaml:10:13: secrets[1].name: secret name "s" is empty or used twice (slackSecret included)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseSeedFile("seed.yaml", []byte(tt.yaml))
			var errs policy.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("ParseSeedFile = %v, %v; want problems", f, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSeedFileExample starts a suite from docs/emulate/seed.yaml and reads
// it back through the real clients.
func TestSeedFileExample(t *testing.T) {
	f, err := LoadSeedFile("../../../docs/emulate/seed.yaml")
	if err != nil {
		t.Fatalf("the example seed file: %v", err)
	}
	cp := &eks.Cluster{Endpoint: "https://127.0.0.1:6443", CAPEM: []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")}
	s := startSuite(t, Options{SeedFile: f, ControlPlane: cp})
	ctx := context.Background()
	cfg := emulator.ClientConfig("", 1)
	ecrc := awsecr.NewFromConfig(cfg, func(o *awsecr.Options) { o.BaseEndpoint = aws.String(s.Endpoints()[0].URL) })

	repos, err := ecrc.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	type repo struct {
		Name, Mutability string
		ScanOnPush       bool
	}
	var gotRepos []repo
	for _, r := range repos.Repositories {
		gotRepos = append(gotRepos, repo{aws.ToString(r.RepositoryName), string(r.ImageTagMutability), r.ImageScanningConfiguration.ScanOnPush})
	}
	if diff := cmp.Diff([]repo{{"mlops/retail-api", "IMMUTABLE_WITH_EXCLUSION", true}, {"mlops/train-model", "MUTABLE", true}}, gotRepos); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}

	imgs, err := ecrc.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("mlops/retail-api")})
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string]ecrtypes.ImageDetail{}
	untagged := 0
	for _, d := range imgs.ImageDetails {
		if len(d.ImageTags) == 0 {
			untagged++
		}
		for _, tag := range d.ImageTags {
			byTag[tag] = d
		}
	}
	if untagged != 3 { // the index's two platform images and the untagged one
		t.Errorf("%d untagged images, want 3", untagged)
	}
	if d := byTag["v1.0.0"]; aws.ToInt64(d.ImageSizeInBytes) != 48<<20 || time.Since(aws.ToTime(d.ImagePushedAt)) < 30*24*time.Hour-time.Minute {
		t.Errorf("v1.0.0: size %d pushed %s, want 48 MiB 30 days ago", aws.ToInt64(d.ImageSizeInBytes), aws.ToTime(d.ImagePushedAt))
	}
	if d := byTag["latest"]; aws.ToString(d.ImageManifestMediaType) != "application/vnd.oci.image.index.v1+json" || !cmp.Equal(d.ImageTags, []string{"dev-latest", "latest"}) {
		t.Errorf("latest: %s %v, want an index tagged dev-latest and latest", aws.ToString(d.ImageManifestMediaType), d.ImageTags)
	}
	scan, err := ecrc.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("mlops/retail-api"), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v0.9.0")}})
	if err != nil || len(scan.ImageScanFindings.Findings) != 1 || scan.ImageScanFindings.Findings[0].Severity != ecrtypes.FindingSeverityCritical {
		t.Errorf("v0.9.0 findings = %+v, %v; want one CRITICAL", scan, err)
	}

	// The digest's findings apply to the manifest pushed later.
	manifest, err := os.ReadFile("../../../docs/emulate/v1.2.0.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ecrc.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String("mlops/retail-api"), ImageTag: aws.String("v1.2.0"), ImageManifest: aws.String(string(manifest))}); err != nil {
		t.Fatalf("push v1.2.0: %v", err)
	}
	scan, err = ecrc.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("mlops/retail-api"), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v1.2.0")}})
	if err != nil || len(scan.ImageScanFindings.Findings) != 1 {
		t.Errorf("v1.2.0 findings = %+v, %v; want the seeded CRITICAL", scan, err)
	}
	enhanced, err := ecrc.DescribeImageScanFindings(ctx, &awsecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("mlops/train-model"), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("v2.3.0")}})
	if err != nil || enhanced.ImageScanStatus.Status != ecrtypes.ScanStatusActive {
		t.Errorf("train-model scan = %+v, %v; want an enhanced (ACTIVE) scan", enhanced, err)
	}

	eksc := awseks.NewFromConfig(cfg, func(o *awseks.Options) { o.BaseEndpoint = aws.String(s.Endpoints()[5].URL) })
	c, err := eksc.DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: aws.String("retail-forecast")})
	if err != nil || aws.ToString(c.Cluster.Endpoint) != cp.Endpoint {
		t.Errorf("DescribeCluster = %v, %v; want the control plane's endpoint", c, err)
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.Endpoints()[3].URL) })
	sec, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("ecrwarden/slack-webhook")})
	if err != nil || aws.ToString(sec.SecretString) != s.Slack.WebhookURL() {
		t.Errorf("Slack secret = %v, %v; want the sink's URL", sec, err)
	}
}

// TestSeedFileClusterOfYourOwn registers a cluster by endpoint and CA file,
// the CA read relative to the seed file, and creates a secret.
func TestSeedFileClusterOfYourOwn(t *testing.T) {
	dir := t.TempDir()
	ca := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "seed.yaml")
	seed := "clusters:\n  - { name: prod-eu, endpoint: \"https://10.0.0.1:443\", caFile: ca.pem, version: \"1.31\" }\nsecrets:\n  - { name: db/password, value: hunter2 }\nslackSecret: team/slack\n"
	if err := os.WriteFile(path, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadSeedFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.ControlPlane() != nil {
		t.Errorf("ControlPlane() = %+v, want none", f.ControlPlane())
	}
	s := startSuite(t, Options{SeedFile: f})
	if s.SlackSecretName() != "team/slack" {
		t.Errorf("SlackSecretName = %q, want the seed file's", s.SlackSecretName())
	}
	ctx := context.Background()
	cfg := emulator.ClientConfig("", 1)
	eksc := awseks.NewFromConfig(cfg, func(o *awseks.Options) { o.BaseEndpoint = aws.String(s.Endpoints()[5].URL) })
	c, err := eksc.DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: aws.String("prod-eu")})
	if err != nil || aws.ToString(c.Cluster.Endpoint) != "https://10.0.0.1:443" || aws.ToString(c.Cluster.Version) != "1.31" || !strings.Contains(aws.ToString(c.Cluster.CertificateAuthority.Data), "LS0t") {
		t.Errorf("DescribeCluster = %+v, %v", c, err)
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.Endpoints()[3].URL) })
	for name, want := range map[string]string{"db/password": "hunter2", "team/slack": s.Slack.WebhookURL()} {
		sec, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil || aws.ToString(sec.SecretString) != want {
			t.Errorf("secret %s = %v, %v; want %q", name, sec, err, want)
		}
	}
	// A control-plane cluster without a control plane is refused.
	cpSeed, err := ParseSeedFile("cp.yaml", []byte("clusters:\n  - { name: c, controlPlane: true }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Start(ctx, Options{SeedFile: cpSeed}); err == nil || !strings.Contains(err.Error(), "cp.yaml:2:30: clusters[0].controlPlane: cluster asks for a control plane but none was started") {
		if s2 != nil {
			_ = s2.Close()
		}
		t.Errorf("Start without a control plane: %v", err)
	}
}
