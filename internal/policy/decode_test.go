package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadExample(t *testing.T) {
	f, err := Load("../../ecrwarden.yaml")
	if err != nil {
		t.Fatalf("Load(ecrwarden.yaml): %v", err)
	}
	if got, want := f.RepositoryNames(), []string{"mlops/retail-api", "mlops/train-model"}; !cmp.Equal(got, want) {
		t.Errorf("repositories (-want +got):\n%s", cmp.Diff(want, got))
	}
	api, ok := f.Repository("mlops/retail-api")
	if !ok {
		t.Fatal("mlops/retail-api missing")
	}
	if len(api.Deploy) != 1 {
		t.Fatalf("retail-api deploy rules = %d, want 1", len(api.Deploy))
	}
	d := api.Deploy[0]
	if d.Deployment != "retail-forecast-api" || d.Container != "api" || d.Order != OrderSemver || d.Pin != PinDigest || !d.RequireCleanScan {
		t.Errorf("deploy rule = %+v", d)
	}
	if api.Scan.AlertAt != SeverityHigh {
		t.Errorf("alertAt = %q, want HIGH", api.Scan.AlertAt)
	}
	train, _ := f.Repository("mlops/train-model")
	if got := train.Retention[0].MaxAge.Std(); got != 30*24*time.Hour {
		t.Errorf("train-model exp- maxAge = %v, want 720h", got)
	}
	if train.Encryption != EncryptionAES256 {
		t.Errorf("train-model encryption default = %q, want AES256", train.Encryption)
	}
	if f.GC.Dry() || f.GC.MaxDeletesPerRun != 100 {
		t.Errorf("gc = %+v, want dryRun false, cap 100", f.GC)
	}
	for tag, want := range map[string]bool{
		"v1.2.3": true, "v20241009-abc1234": true, "dev-0a1b2c3": true, "feature-x-0a1b2c3": true,
		"latest": true, "0a1b2c3d": true, "Feature_X": false, "v1.2": false, "dev-xyz": false,
	} {
		if _, got := api.Tags.Allowed(tag); got != want {
			t.Errorf("retail-api allows %q = %v, want %v", tag, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	f, err := Parse("p.yaml", []byte("repositories:\n  - name: app\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || f.GC.Schedule != DefaultSchedule || f.GC.MaxDeletesPerRun != DefaultMaxDeletesPerRun || !f.GC.Dry() {
		t.Errorf("defaults = %+v", f)
	}
	if f.Repositories[0].Scan.AlertAt != SeverityHigh {
		t.Errorf("alertAt default = %q", f.Repositories[0].Scan.AlertAt)
	}
}

func TestInUseSources(t *testing.T) {
	tests := []struct {
		name string
		gc   string
		want []string
	}{
		{"every source by default", "", []string{InUseECS, InUseLambda, InUseSageMaker, InUseBatch}},
		{"an empty inUse is the default", "gc: { inUse: {} }\n", []string{InUseECS, InUseLambda, InUseSageMaker, InUseBatch}},
		{"one turned off", "gc: { inUse: { batch: false } }\n", []string{InUseECS, InUseLambda, InUseSageMaker}},
		{"true is the default, spelled out", "gc: { inUse: { ecs: true, lambda: false, sagemaker: false, batch: false } }\n", []string{InUseECS}},
		{"all off", "gc: { inUse: { ecs: false, lambda: false, sagemaker: false, batch: false } }\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("p.yaml", []byte(tt.gc+"repositories:\n  - name: app\n"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, f.GC.InUse.Enabled()); diff != "" {
				t.Errorf("enabled sources (-want +got):\n%s", diff)
			}
		})
	}
	_, err := Parse("p.yaml", []byte("gc: { inUse: { eks: true, ecs: yes please } }\nrepositories:\n  - name: app\n"))
	for _, want := range []string{`gc.inUse.eks: unknown key "eks"`, "gc.inUse.ecs: want true or false"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// TestParseErrors checks that each kind of mistake is reported with its
// line, column and field path.
// TestDeleteDryByDefault: onViolation delete only reports until dryRun is
// set false.
func TestDeleteDryByDefault(t *testing.T) {
	for src, want := range map[string]bool{
		"repositories: [{ name: app, tags: { allow: [\"v{semver}\"], onViolation: delete } }]":                false,
		"repositories: [{ name: app, tags: { allow: [\"v{semver}\"], onViolation: delete, dryRun: true } }]":  false,
		"repositories: [{ name: app, tags: { allow: [\"v{semver}\"], onViolation: delete, dryRun: false } }]": true,
	} {
		f, err := Parse("p.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if deletes := !f.Repositories[0].Tags.DeleteDry(); deletes != want {
			t.Errorf("%s: deletes = %v, want %v", src, deletes, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "line:col path: message substring"
	}{
		{
			name: "unknown key",
			yaml: "repositories:\n  - name: app\n    retension: []\n",
			want: []string{`3:5 repositories[0].retension: unknown key "retension"`},
		},
		{
			name: "wrong type",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { match: \"v*\", keepNewest: ten }\n",
			want: []string{`4:36 repositories[0].retention[0].keepNewest: want an integer, got a string`},
		},
		{
			name: "negative count",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { match: \"v*\", keepNewest: -1 }\n",
			want: []string{`4:36 repositories[0].retention[0].keepNewest: must not be negative (got -1)`},
		},
		{
			name: "duplicate repositories",
			yaml: "repositories:\n  - name: app\n  - name: app\n",
			want: []string{`3:11 repositories[1].name: duplicate repository "app" (also repositories[0])`},
		},
		{
			name: "empty pattern",
			yaml: "repositories:\n  - name: app\n    tags: { allow: [\"\"] }\n",
			want: []string{`3:21 repositories[0].tags.allow[0]: empty pattern`},
		},
		{
			name: "pattern that can never match",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { match: \"release/v*\", keepNewest: 3 }\n",
			want: []string{`4:18 repositories[0].retention[0].match: pattern "release/v*" can never match`},
		},
		{
			name: "unknown severity",
			yaml: "repositories:\n  - name: app\n    scan: { alertAt: high }\n",
			want: []string{`3:22 repositories[0].scan.alertAt: unknown severity "high" (did you mean HIGH?)`},
		},
		{
			name: "unparseable duration",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { untagged: true, maxAge: 1 week }\n",
			want: []string{`4:35 repositories[0].retention[0].maxAge: invalid duration "1 week"`},
		},
		{
			name: "rule without effect",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { match: \"v*\" }\n",
			want: []string{`4:9 repositories[0].retention[0]: has no effect`},
		},
		{
			name: "rule selecting nothing",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { keepNewest: 3 }\n",
			want: []string{`4:9 repositories[0].retention[0]: selects nothing`},
		},
		{
			name: "deploy to unknown cluster",
			yaml: "repositories:\n  - name: app\n    deploy:\n      - { cluster: prod, namespace: default, deployment: api, container: api, tags: \"v{semver}\" }\n",
			want: []string{`4:20 repositories[0].deploy[0].cluster: unknown cluster "prod"`},
		},
		{
			name: "unknown workload kind",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, kind: Job, name: api, container: api, tags: \"v{semver}\" }\n",
			want: []string{`5:49 repositories[0].deploy[0].kind: unknown value "Job": want one of Deployment, StatefulSet, DaemonSet, CronJob`},
		},
		{
			name: "workload named twice",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, deployment: api, name: api, container: api, tags: \"v{semver}\" }\n",
			want: []string{`5:66 repositories[0].deploy[0].name: give either deployment or kind and name, not both`},
		},
		{
			name: "workload not named",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, kind: CronJob, container: api, tags: \"v{semver}\" }\n",
			want: []string{`5:9 repositories[0].deploy[0]: name the workload: deployment: NAME, or kind: KIND and name: NAME`},
		},
		{
			name: "kind with deployment",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, kind: CronJob, deployment: train, container: api, tags: \"v{semver}\" }\n",
			want: []string{`5:49 repositories[0].deploy[0].kind: kind CronJob with deployment: name the CronJob with name: instead`},
		},
		{
			name: "invalid workload name",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, kind: StatefulSet, name: Db_1, container: api, tags: \"v{semver}\" }\n",
			want: []string{`5:68 repositories[0].deploy[0].name: "Db_1" is not a valid StatefulSet name`},
		},
		{
			name: "the same container by deployment and by kind and name",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, deployment: api, container: api, tags: \"v{semver}\" }\n      - { cluster: c, namespace: default, kind: Deployment, name: api, container: api, tags: \"v{semver}\" }\n",
			want: []string{`6:9 repositories[0].deploy[1]: container api of Deployment default/api in cluster c is already rolled out by repositories[0].deploy[0]`},
		},
		{
			name: "tags.dryRun without onViolation delete",
			yaml: "repositories:\n  - name: app\n    tags: { allow: [\"v{semver}\"], dryRun: false }\n",
			want: []string{`3:43 repositories[0].tags.dryRun: only applies to onViolation: delete`},
		},
		{
			name: "tag pin on a repository ecrwarden does not manage",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    deploy:\n      - { cluster: c, namespace: default, deployment: api, container: api, tags: \"v{semver}\", pin: tag }\n",
			want: []string{`5:100 repositories[0].deploy[0].pin: pin: tag needs an immutable repository, and ecrwarden knows app is immutable only when it manages it (manage: true)`},
		},
		{
			name: "tag pin on tags a mutable filter keeps mutable",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    manage: true\n    mutableTags: [latest, \"*-latest\"]\n    deploy:\n      - { cluster: c, namespace: default, deployment: api, container: api, tags: \"v{semver}\", pin: tag }\n",
			want: []string{`7:100 repositories[0].deploy[0].pin: pin: tag needs immutable tags, but mutableTags "*-latest" keeps tags that "v{semver}" selects mutable (such as "v0.0.0-latest")`},
		},
		{
			name: "deploy rule rejected by tag rules",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\nrepositories:\n  - name: app\n    tags: { allow: [\"dev-{sha}\"] }\n    deploy:\n      - { cluster: c, namespace: default, deployment: api, container: api, tags: \"v{semver}\" }\n",
			want: []string{`6:82 repositories[0].deploy[0].tags: can never fire`},
		},
		{
			name: "semver order without placeholder",
			yaml: "repositories:\n  - name: app\n    retention:\n      - { match: \"v*\", keepNewest: 3, order: semver }\n",
			want: []string{`4:46 repositories[0].retention[0].order: semver order needs a {semver} placeholder`},
		},
		{
			name: "missing required key",
			yaml: "repositories:\n  - manage: true\n",
			want: []string{`2:5 repositories[0].name: missing required key "name"`},
		},
		{
			name: "duplicate key",
			yaml: "repositories:\n  - name: app\n    name: other\n",
			want: []string{`3:5 repositories[0].name: duplicate key "name"`},
		},
		{
			name: "unknown principal",
			yaml: "repositories:\n  - name: app\n    manage: true\n    access: { pull: [nodes] }\n",
			want: []string{`4:22 repositories[0].access.pull[0]: unknown principal "nodes"`},
		},
		{
			name: "managed-only setting on unmanaged repository",
			yaml: "repositories:\n  - name: app\n    encryption: KMS\n",
			want: []string{`3:17 repositories[0].encryption: only applies to repositories the suite manages`},
		},
		{
			name: "ignore without reason and with a bad date",
			yaml: "repositories:\n  - name: app\n    scan:\n      ignore:\n        - { id: CVE-2024-1, until: 2027-02-30, reason: \"\" }\n",
			want: []string{
				`5:36 repositories[0].scan.ignore[0].until: invalid date "2027-02-30"`,
				`5:56 repositories[0].scan.ignore[0].reason: must say why`,
			},
		},
		{
			name: "principal that is neither an ARN nor a role name",
			yaml: "principals: { ci: mlops-ci-role }\nrepositories:\n  - name: app\n",
			want: []string{`1:19 principals.ci: "mlops-ci-role" is neither an IAM role or user ARN`},
		},
		{
			name: "fixed tags an immutable repository can never move",
			yaml: "clusters: [{ name: c, namespaces: [default] }]\n" +
				"repositories:\n" +
				"  - name: app\n" +
				"    manage: true\n" +
				"    mutableTags: [dev-*]\n" +
				"    tags: { allow: [\"v{semver}\", latest, dev-latest, stable] }\n" +
				"    protect: { tags: [latest, \"v*\"] }\n" +
				"    deploy:\n" +
				"      - { cluster: c, namespace: default, deployment: api, container: api, tags: stable, pin: tag }\n",
			want: []string{
				`6:34 repositories[0].tags.allow[1]: allows the fixed tag "latest", but app is created IMMUTABLE (manage: true) and mutableTags does not exclude "latest"`,
				`6:54 repositories[0].tags.allow[3]: allows the fixed tag "stable"`,
				`7:23 repositories[0].protect.tags[0]: protects the fixed tag "latest"`,
				`9:82 repositories[0].deploy[0].tags: tracks the fixed tag "stable"`,
			},
		},
		{
			name: "syntax error",
			yaml: "repositories:\n  - name: app\n   bad: [\n",
			want: []string{`YAML syntax`},
		},
		{
			name: "empty file",
			yaml: "",
			want: []string{`policy is empty`},
		},
		{
			name: "three separate mistakes are all reported",
			yaml: "gc: { maxDeletesPerRun: 0 }\nrepositories:\n  - name: App\n    scan: { alertAt: SEVERE }\n    retention:\n      - { match: \"v*\", keepNewest: -3 }\n",
			want: []string{
				`1:25 gc.maxDeletesPerRun: must be at least 1`,
				`3:11 repositories[0].name: "App" is not a valid ECR repository name`,
				`4:22 repositories[0].scan.alertAt: unknown severity "SEVERE"`,
				`6:36 repositories[0].retention[0].keepNewest: must not be negative`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("p.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want errors %q", f, tt.want)
			}
			if f != nil {
				t.Errorf("Parse returned a policy alongside errors")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not policy.Errors: %v", err, err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, e := range errs {
				got := e.Error()
				if !strings.HasPrefix(got, "p.yaml") {
					t.Errorf("error %q does not name the file", got)
				}
				loc, msg, _ := strings.Cut(tt.want[i], " ")
				if strings.Contains(loc, ":") {
					if !strings.HasPrefix(got, "p.yaml:"+loc+": ") || !strings.Contains(got, msg) {
						t.Errorf("error %d = %q, want location %s and %q", i, got, loc, msg)
					}
				} else if !strings.Contains(got, tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestFixedTagsOnlyMatterWhereTheSuiteSetsImmutability(t *testing.T) {
	for _, tt := range []struct{ name, yaml string }{
		{"excluded by a filter", "repositories:\n  - name: app\n    manage: true\n    mutableTags: [\"*latest\"]\n" +
			"    tags: { allow: [latest, dev-latest] }\n    protect: { tags: [latest, dev-latest] }\n"},
		{"unmanaged repository: its mutability is the registry's", "repositories:\n  - name: app\n" +
			"    tags: { allow: [latest] }\n    protect: { tags: [latest] }\n"},
		{"patterns with placeholders or wildcards name new tags", "repositories:\n  - name: app\n    manage: true\n" +
			"    tags: { allow: [\"v{semver}\", \"exp-*\"] }\n    protect: { tags: [\"v*\"] }\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("p.yaml", []byte(tt.yaml)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestPrincipals(t *testing.T) {
	f, err := Parse("p.yaml", []byte("principals:\n"+
		"  a: arn:aws:iam::111122223333:role/ci\n"+
		"  b: role/mlops-ci\n"+
		"  c: role/service-role/path/x\n"+
		"  d: user/deployer\n"+
		"  e: \"\"\n"+
		"repositories:\n  - name: app\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct{ name, want string }{
		{"a", "arn:aws:iam::111122223333:role/ci"},
		{"b", "arn:aws-cn:iam::444455556666:role/mlops-ci"},
		{"c", "arn:aws-cn:iam::444455556666:role/service-role/path/x"},
		{"d", "arn:aws-cn:iam::444455556666:user/deployer"},
		{"e", ""},
	}
	for _, tt := range tests {
		if got := PrincipalARN(f.Principals[tt.name], "aws-cn", "444455556666"); got != tt.want {
			t.Errorf("PrincipalARN(%q) = %q, want %q", f.Principals[tt.name], got, tt.want)
		}
	}
}

const verifyPolicy = `clusters:
  - name: c
    namespaces: [default]
repositories:
  - name: app
    deploy:
      - { cluster: c, namespace: default, deployment: api, container: api, tags: "v{semver}"%s }
`

func TestVerify(t *testing.T) {
	tests := []struct {
		name    string
		verify  string
		want    Verify
		wantErr string
	}{
		{name: "defaults", want: Verify{Timeout: DefaultVerifyTimeout, OnFailure: OnFailureRollback}},
		{name: "set", verify: ", verify: { timeout: 90s, onFailure: alert, notifySuccess: true }",
			want: Verify{Timeout: Duration(90 * time.Second), OnFailure: OnFailureAlert, NotifySuccess: true}},
		{name: "unknown onFailure", verify: ", verify: { onFailure: ignore }", wantErr: `repositories[0].deploy[0].verify.onFailure: unknown`},
		{name: "timeout too short", verify: ", verify: { timeout: 5s }", wantErr: `repositories[0].deploy[0].verify.timeout: 5s: want between 10s and 24h`},
		{name: "timeout too long", verify: ", verify: { timeout: 2d }", wantErr: `want between 10s and 24h`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("p.yaml", []byte(fmt.Sprintf(verifyPolicy, tt.verify)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, f.Repositories[0].Deploy[0].Verify); diff != "" {
				t.Errorf("verify (-want +got):\n%s", diff)
			}
		})
	}
}
