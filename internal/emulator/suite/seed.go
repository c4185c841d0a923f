package suite

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/eks"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// SeedFile is the state `ecrwarden emulate --seed FILE` starts from, so
// that a user can reproduce a situation: repositories with their scanning
// and tag mutability, images with tags, push times, sizes, platforms and
// findings, findings for digests still to be pushed, EKS clusters (backed
// by a real control plane on request) with Deployments, and secrets. The
// format is documented in docs/emulate.md; docs/emulate/seed.yaml is the
// worked example.
type SeedFile struct {
	// Repositories are ECR repositories to create, in order.
	Repositories []SeedRepository `yaml:"repositories"`
	// Clusters are EKS clusters to register.
	Clusters []SeedCluster `yaml:"clusters"`
	// Secrets are Secrets Manager secrets to create.
	Secrets []SeedSecret `yaml:"secrets"`
	// SlackSecret names the secret that receives the Slack sink's webhook
	// URL; DefaultSlackSecretName when empty.
	SlackSecret string `yaml:"slackSecret"`

	name string
	root *yaml.Node
}

// SeedRepository is one ECR repository of a seed file.
type SeedRepository struct {
	// Name is the repository name, such as mlops/retail-api.
	Name string `yaml:"name"`
	// Scanning is basic (ECR's scanner, the default) or enhanced (Amazon
	// Inspector, which scans every push).
	Scanning string `yaml:"scanning"`
	// ScanOnPush turns basic scan on push on or off; default on.
	ScanOnPush *bool `yaml:"scanOnPush"`
	// Mutability is MUTABLE (default), IMMUTABLE, IMMUTABLE_WITH_EXCLUSION
	// or MUTABLE_WITH_EXCLUSION.
	Mutability string `yaml:"mutability"`
	// MutabilityExclusions are the wildcard tag filters of the
	// *_WITH_EXCLUSION mutabilities.
	MutabilityExclusions []string `yaml:"mutabilityExclusions"`
	// Images are stored in order, each as if pushed at its push time.
	Images []SeedImage `yaml:"images"`
	// Findings are what the scan of an image pushed later reports, by the
	// digest of its manifest.
	Findings []SeedDigestFindings `yaml:"findings"`
}

// SeedImage is one image of a seed file.
type SeedImage struct {
	// Tags are the image's tags; none makes an untagged image.
	Tags []string `yaml:"tags"`
	// PushedAt is the push time (RFC 3339); Age is the alternative, a
	// duration before now such as 36h or 30d. Now when neither is set.
	PushedAt string `yaml:"pushedAt"`
	Age      string `yaml:"age"`
	// Size is the image size: bytes, or a number with KB, MB, GB, KiB, MiB
	// or GiB. For a multi-arch image, the size of each platform's image.
	Size string `yaml:"size"`
	// Platforms (os/arch) make the image a multi-arch OCI index with one
	// image per platform.
	Platforms []string `yaml:"platforms"`
	// Findings are what the image's scans report.
	Findings []SeedFinding `yaml:"findings"`
}

// SeedFinding is one vulnerability.
type SeedFinding struct {
	// Name is the vulnerability id, such as CVE-2024-6119.
	Name string `yaml:"name"`
	// Severity is CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL or UNDEFINED.
	Severity string `yaml:"severity"`
	// Description, URI, Package, Version and FixedIn describe it; an empty
	// FixedIn means no fix is available.
	Description string `yaml:"description"`
	URI         string `yaml:"uri"`
	Package     string `yaml:"package"`
	Version     string `yaml:"version"`
	FixedIn     string `yaml:"fixedIn"`
	// Score is the CVSS score (enhanced scanning's score, basic scanning's
	// CVSS2_SCORE).
	Score float64 `yaml:"score"`
}

// SeedDigestFindings are the findings of one digest.
type SeedDigestFindings struct {
	// Digest is sha256:<64 hex digits>, the digest of the manifest.
	Digest string `yaml:"digest"`
	// Findings are what its scans report.
	Findings []SeedFinding `yaml:"findings"`
}

// SeedCluster is one EKS cluster.
type SeedCluster struct {
	// Name is the cluster name.
	Name string `yaml:"name"`
	// ControlPlane asks for a real kube-apiserver (internal/testenv, built
	// from source on first use) that authenticates EKS tokens like EKS;
	// DescribeCluster then points at it. At most one cluster may ask.
	ControlPlane bool `yaml:"controlPlane"`
	// Endpoint and CAFile point DescribeCluster at an API server of your
	// own instead (CAFile relative to the seed file).
	Endpoint string `yaml:"endpoint"`
	CAFile   string `yaml:"caFile"`
	// Version is the Kubernetes version DescribeCluster reports.
	Version string `yaml:"version"`
	// Deployments are created in the control plane (controlPlane only).
	Deployments []SeedDeployment `yaml:"deployments"`
}

// SeedDeployment is one Deployment with one container.
type SeedDeployment struct {
	// Namespace is created if needed; default "default".
	Namespace string `yaml:"namespace"`
	// Name is the Deployment's name.
	Name string `yaml:"name"`
	// Container is the container's name.
	Container string `yaml:"container"`
	// Image is a full reference, or repository:tag (or @digest) in the
	// emulated registry.
	Image string `yaml:"image"`
	// Replicas defaults to 1.
	Replicas *int `yaml:"replicas"`
}

// SeedSecret is one Secrets Manager secret.
type SeedSecret struct {
	// Name and Value are the secret's name and SecretString.
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// LoadSeedFile reads and validates the seed file at path. It returns either
// a seed file that applies cleanly or every problem found, as
// policy.Errors, one per line with the file, line and column.
func LoadSeedFile(path string) (*SeedFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed file: %w", err)
	}
	return ParseSeedFile(path, data)
}

// ParseSeedFile decodes and validates a seed file; name is used in errors
// and to resolve relative caFile paths.
func ParseSeedFile(name string, data []byte) (*SeedFile, error) {
	f := &SeedFile{name: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, f.yamlErrors(err)
	}
	if len(doc.Content) == 0 {
		return nil, policy.Errors{{File: name, Msg: "seed file is empty"}}
	}
	f.root = doc.Content[0]
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs policy.Errors
	var te *yaml.TypeError
	if err := dec.Decode(f); errors.As(err, &te) {
		// Unknown fields and wrong types: the rest still decodes, so the
		// checks below report their problems too.
		errs = f.yamlErrors(err)
	} else if err != nil {
		return nil, f.yamlErrors(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, policy.Errors{{File: name, Line: extra.Line, Column: 1, Msg: "a seed file holds one YAML document; found a second one"}}
	}
	// Apply the file to emulators that serve nothing: every problem the
	// emulators would refuse is found here, at its line, before anything
	// starts.
	placeholder := &eks.Cluster{Endpoint: "https://127.0.0.1:6443", CAPEM: []byte("-")}
	errs = append(errs, f.apply(newSuite(Options{}), time.Now(), placeholder)...)
	if len(errs) > 0 {
		sortProblems(errs)
		return nil, errs
	}
	return f, nil
}

// ControlPlane returns the cluster that asks for a real control plane, or
// nil.
func (f *SeedFile) ControlPlane() *SeedCluster {
	for i := range f.Clusters {
		if f.Clusters[i].ControlPlane {
			return &f.Clusters[i]
		}
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlErrors turns yaml.v3's errors into problems at their lines, in words
// rather than Go types.
func (f *SeedFile) yamlErrors(err error) policy.Errors {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = strings.Split(strings.TrimPrefix(err.Error(), "yaml: "), "\n")
	}
	var errs policy.Errors
	for _, l := range lines {
		l = strings.TrimSpace(l)
		e := &policy.Error{File: f.name, Msg: l}
		if m := yamlLineRE.FindStringSubmatch(l); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Column = f.column(e.Line)
			e.Msg = friendlyYAML(m[2])
		}
		errs = append(errs, e)
	}
	return errs
}

// column is the column of the first node on line, or 1.
func (f *SeedFile) column(line int) int {
	col := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || col > 0 {
			return
		}
		if n.Line == line && n.Kind == yaml.ScalarNode {
			col = n.Column
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(f.root)
	return max(col, 1)
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type suite\.(\w+)$`)
	cannotRE       = regexp.MustCompile("^cannot unmarshal !!(\\w+) (`.*` )?into (.+)$")
	seedTypes      = map[string]reflect.Type{}
)

func init() {
	for _, v := range []any{SeedFile{}, SeedRepository{}, SeedImage{}, SeedFinding{}, SeedDigestFindings{}, SeedCluster{}, SeedDeployment{}, SeedSecret{}} {
		t := reflect.TypeOf(v)
		seedTypes[t.Name()] = t
	}
}

func friendlyYAML(msg string) string {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		var fields []string
		if t, ok := seedTypes[m[2]]; ok {
			for i := range t.NumField() {
				if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
					fields = append(fields, tag)
				}
			}
		}
		return fmt.Sprintf("unknown field %q (want one of: %s)", m[1], strings.Join(fields, ", "))
	}
	if m := cannotRE.FindStringSubmatch(msg); m != nil {
		got := map[string]string{"map": "a mapping", "seq": "a list", "str": "a string", "int": "an integer",
			"float": "a number", "bool": "true or false", "null": "nothing", "timestamp": "a date"}[m[1]]
		if m[2] != "" {
			got += " " + strings.TrimSpace(m[2])
		}
		want := "a mapping"
		switch {
		case strings.HasPrefix(m[3], "[]"):
			want = "a list"
		case m[3] == "int" || m[3] == "*int":
			want = "an integer"
		case m[3] == "float64":
			want = "a number"
		case m[3] == "bool" || m[3] == "*bool":
			want = "true or false"
		case m[3] == "string":
			want = "a string"
		}
		return "want " + want + ", got " + got
	}
	return msg
}

// errorAt is a problem at the node that path (keys and indexes) leads to,
// or at the nearest node on the way.
func (f *SeedFile) errorAt(msg string, path ...any) *policy.Error {
	n := f.root
	var names []string
	for _, p := range path {
		switch p := p.(type) {
		case string:
			names = append(names, p)
			var next *yaml.Node
			if n != nil && n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
					}
				}
			}
			if next != nil {
				n = next
			}
		case int:
			if len(names) > 0 {
				names[len(names)-1] += "[" + strconv.Itoa(p) + "]"
			}
			if n != nil && n.Kind == yaml.SequenceNode && p < len(n.Content) {
				n = n.Content[p]
			}
		}
	}
	e := &policy.Error{File: f.name, Path: strings.Join(names, "."), Msg: msg}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// sizeRE is a size: bytes, or a number and a unit.
var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$`)

func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("size %q: want bytes or a number with KB, MB, GB, KiB, MiB or GiB", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]]
	if v*mult > 1<<50 {
		return 0, fmt.Errorf("size %q is larger than any image", s)
	}
	return int64(v * mult), nil
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)

// apply creates everything the file describes in s, the controlPlane
// cluster with the endpoint and CA of controlPlane, and returns every
// problem, located in the file.
func (f *SeedFile) apply(s *Suite, now time.Time, controlPlane *eks.Cluster) policy.Errors {
	var errs policy.Errors
	fail := func(err error, path ...any) { errs = append(errs, f.errorAt(err.Error(), path...)) }
	for i, r := range f.Repositories {
		f.applyRepository(s, now, i, r, fail)
	}
	controlPlanes := 0
	for i, c := range f.Clusters {
		switch {
		case c.ControlPlane:
			controlPlanes++
			if controlPlanes > 1 {
				fail(errors.New("only one cluster can have controlPlane: true"), "clusters", i, "controlPlane")
			}
			if c.Endpoint != "" || c.CAFile != "" {
				fail(errors.New("a controlPlane cluster takes no endpoint or caFile: the control plane provides both"), "clusters", i)
			}
			if controlPlane == nil {
				fail(errors.New("cluster asks for a control plane but none was started (ecrwarden emulate starts one)"), "clusters", i, "controlPlane")
			} else if _, err := s.EKS.AddCluster(eks.Cluster{Name: c.Name, Endpoint: controlPlane.Endpoint, CAPEM: controlPlane.CAPEM, Version: c.Version}); err != nil {
				fail(err, "clusters", i, "name")
			}
			for j, d := range c.Deployments {
				if d.Name == "" || d.Container == "" || d.Image == "" {
					fail(errors.New("a deployment needs name, container and image"), "clusters", i, "deployments", j)
				}
				if d.Replicas != nil && *d.Replicas < 0 {
					fail(errors.New("replicas cannot be negative"), "clusters", i, "deployments", j, "replicas")
				}
			}
		case c.Endpoint == "" || c.CAFile == "":
			fail(errors.New("a cluster needs controlPlane: true, or an endpoint and a caFile"), "clusters", i)
		case len(c.Deployments) > 0:
			fail(errors.New("deployments need controlPlane: true (ecrwarden does not write to a cluster of your own)"), "clusters", i, "deployments")
		default:
			ca, err := os.ReadFile(filepath.Join(filepath.Dir(f.name), c.CAFile))
			if filepath.IsAbs(c.CAFile) {
				ca, err = os.ReadFile(c.CAFile)
			}
			if err != nil {
				fail(fmt.Errorf("read caFile: %w", err), "clusters", i, "caFile")
				continue
			}
			if _, err := s.EKS.AddCluster(eks.Cluster{Name: c.Name, Endpoint: c.Endpoint, CAPEM: ca, Version: c.Version}); err != nil {
				fail(err, "clusters", i, "name")
			}
		}
	}
	seen := map[string]bool{}
	for i, sec := range f.Secrets {
		if sec.Name == "" || seen[sec.Name] || sec.Name == f.SlackSecret {
			fail(fmt.Errorf("secret name %q is empty or used twice (slackSecret included)", sec.Name), "secrets", i, "name")
			continue
		}
		seen[sec.Name] = true
		s.SecretsManager.PutSecret(sec.Name, sec.Value)
	}
	sortProblems(errs)
	return errs
}

// sortProblems puts problems in file order.
func sortProblems(errs policy.Errors) {
	slices.SortStableFunc(errs, func(a, b *policy.Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

func (f *SeedFile) applyRepository(s *Suite, now time.Time, i int, r SeedRepository, fail func(error, ...any)) {
	opts := ecr.RepositoryOptions{Mutability: r.Mutability, MutabilityExclusions: r.MutabilityExclusions, ScanOnPush: true, ScanType: ecr.ScanBasic}
	switch r.Scanning {
	case "", "basic":
	case "enhanced":
		opts.ScanType = ecr.ScanEnhanced
	default:
		fail(fmt.Errorf("unknown scanning %q: want basic or enhanced", r.Scanning), "repositories", i, "scanning")
	}
	if r.ScanOnPush != nil {
		opts.ScanOnPush = *r.ScanOnPush
	}
	if err := s.ECR.CreateRepository(r.Name, opts); err != nil {
		// Tell a bad name from bad options, and check the images anyway,
		// in a repository that can be created.
		plain := ecr.RepositoryOptions{ScanOnPush: opts.ScanOnPush, ScanType: opts.ScanType}
		if perr := s.ECR.CreateRepository(r.Name, plain); perr != nil {
			fail(perr, "repositories", i, "name")
			r.Name = fmt.Sprintf("invalid-%d", i)
			err = s.ECR.CreateRepository(r.Name, opts)
			if err != nil && s.ECR.CreateRepository(r.Name, plain) != nil {
				return
			}
		}
		if err != nil {
			fail(errors.New(strings.TrimPrefix(err.Error(), "create repository "+r.Name+": ")), "repositories", i, "mutability")
		}
	}
	for j, im := range r.Images {
		img, ok := seedImage(now, im, func(err error, field string) { fail(err, "repositories", i, "images", j, field) })
		if !ok {
			// Check the findings all the same (the file is refused anyway).
			if err := s.ECR.SetFindings(r.Name, "sha256:"+strings.Repeat("0", 64), img.Findings); err != nil {
				fail(err, "repositories", i, "images", j, "findings")
			}
			continue
		}
		digest, err := s.ECR.SeedImage(r.Name, img)
		if err != nil {
			fail(err, "repositories", i, "images", j)
			continue
		}
		if len(img.Findings) > 0 {
			// The seeded scan already has them; setting them again checks
			// them as the emulator does (severities, names).
			if err := s.ECR.SetFindings(r.Name, digest, img.Findings); err != nil {
				fail(err, "repositories", i, "images", j, "findings")
			}
		}
	}
	for j, df := range r.Findings {
		if !digestRE.MatchString(df.Digest) {
			fail(fmt.Errorf("digest %q: want sha256: and 64 hex digits", df.Digest), "repositories", i, "findings", j, "digest")
			continue
		}
		if err := s.ECR.SetFindings(r.Name, df.Digest, findings(df.Findings)); err != nil {
			fail(err, "repositories", i, "findings", j, "findings")
		}
	}
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// seedImage converts one image; ok is false after a problem.
func seedImage(now time.Time, im SeedImage, fail func(err error, field string)) (ecr.Image, bool) {
	img := ecr.Image{Tags: im.Tags, PushedAt: now, Findings: findings(im.Findings)}
	ok := true
	switch {
	case im.PushedAt != "" && im.Age != "":
		fail(errors.New("set pushedAt or age, not both"), "age")
		ok = false
	case im.PushedAt != "":
		t, err := time.Parse(time.RFC3339, im.PushedAt)
		if err != nil {
			fail(fmt.Errorf("pushedAt %q: want an RFC 3339 time such as 2026-11-01T10:00:00Z", im.PushedAt), "pushedAt")
			ok = false
		}
		img.PushedAt = t
	case im.Age != "":
		d, err := policy.ParseDuration(im.Age)
		if err != nil {
			fail(err, "age")
			ok = false
		}
		img.PushedAt = now.Add(-d.Std())
	}
	size, err := parseSize(im.Size)
	if err != nil {
		fail(err, "size")
		ok = false
	}
	img.Size = size
	for _, p := range im.Platforms {
		if !platformRE.MatchString(p) {
			fail(fmt.Errorf("platform %q: want os/arch such as linux/arm64", p), "platforms")
			ok = false
			break
		}
		img.Children = append(img.Children, ecr.Image{Platform: p, Size: size, PushedAt: img.PushedAt})
	}
	return img, ok
}

func findings(fs []SeedFinding) []ecr.Finding {
	var out []ecr.Finding
	for _, f := range fs {
		score := ""
		if f.Score > 0 {
			score = strconv.FormatFloat(f.Score, 'f', -1, 64)
		}
		out = append(out, ecr.Finding{
			Name: f.Name, Severity: f.Severity, Description: f.Description, URI: f.URI,
			PackageName: f.Package, PackageVersion: f.Version, FixedInVersion: f.FixedIn,
			CVSS2Score: score, Score: f.Score,
		})
	}
	return out
}

// ImageRef resolves a Deployment's image reference: repository:tag and
// repository@digest name an image of the emulated registry (host
// <account>.dkr.ecr.<region>.amazonaws.com); anything with a registry host
// is kept as written.
func (d SeedDeployment) ImageRef(registry string) string {
	first, _, _ := strings.Cut(d.Image, "/")
	if strings.ContainsAny(first, ".:") && strings.Contains(d.Image, "/") {
		return d.Image
	}
	return registry + "/" + d.Image
}
