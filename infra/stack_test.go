package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
)

// runMainEnv makes the test binary act as the app (see TestBrokenPolicyFailsSynth).
const runMainEnv = "ECRWARDEN_INFRA_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run("..", os.Stderr))
	}
	dir, err := os.MkdirTemp("", "ecrwarden-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedOutdir = dir
	lintDir = filepath.Join(dir, "lint")
	if err := os.Mkdir(lintDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 && !testing.Short() {
		code = lintSynthesized()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// template is a synthesized CloudFormation template, decoded.
type template struct {
	Resources map[string]resource `json:"Resources"`
	Outputs   map[string]any      `json:"Outputs"`
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// ofType returns the logical ids and resources of one type, ids sorted.
func (t template) ofType(typ string) ([]string, []resource) {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	rs := make([]resource, len(ids))
	for i, id := range ids {
		rs[i] = t.Resources[id]
	}
	return ids, rs
}

// synth builds the app from the repository with the given context (bundling
// skipped) and returns the stack.
func synth(t *testing.T, ctx map[string]any) (awscdk.Stack, error) {
	t.Helper()
	return synthTo(t, t.TempDir(), ctx)
}

// synthTo is synth with the cloud assembly in outdir, which must outlive
// every use of the stack (assertions synthesize again into it).
func synthTo(t *testing.T, outdir string, ctx map[string]any) (awscdk.Stack, error) {
	t.Helper()
	all := map[string]any{"aws:cdk:bundling-stacks": []any{}}
	for k, v := range ctx {
		all[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &all, Outdir: jsii.String(outdir)})
	var stderr bytes.Buffer
	stack, err := buildApp(app, "..", &stderr)
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stack, err
}

// mustTemplate synthesizes and decodes the template, failing the test on error.
func mustTemplate(t *testing.T, ctx map[string]any) (template, awscdk.Stack) {
	t.Helper()
	return mustTemplateTo(t, t.TempDir(), ctx)
}

func mustTemplateTo(t *testing.T, outdir string, ctx map[string]any) (template, awscdk.Stack) {
	t.Helper()
	stack, err := synthTo(t, outdir, ctx)
	if err != nil {
		t.Fatalf("buildApp: %v", err)
	}
	raw := assertions.Template_FromStack(stack, nil).ToJSON()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatalf("marshal template: %v", err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("decode template: %v", err)
	}
	keepForLint(t, outdir, stack)
	return tpl, stack
}

var (
	defaultOnce     sync.Once
	defaultTemplate template
	defaultStack    awscdk.Stack
	// sharedOutdir holds the worked example's cloud assembly for the whole run.
	sharedOutdir string
)

// worked synthesizes the stack of the worked example (ecrwarden.yaml) once.
func worked(t *testing.T) template {
	t.Helper()
	defaultOnce.Do(func() { defaultTemplate, defaultStack = mustTemplateTo(t, sharedOutdir, nil) })
	if defaultTemplate.Resources == nil {
		t.Fatal("the worked example did not synthesize")
	}
	return defaultTemplate
}

// writePolicy writes a policy file into a temp dir and returns its path.
func writePolicy(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// examplePolicy is the worked example with replacements applied.
func examplePolicy(t *testing.T, oldNew ...string) string {
	t.Helper()
	b, err := os.ReadFile("../ecrwarden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("the worked example no longer contains %q", oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return writePolicy(t, s)
}

// functionID finds the logical id of the function built for name
// ("onpush" → OnpushFunction1234ABCD).
func functionID(t *testing.T, tpl template, name string) string {
	t.Helper()
	ids, _ := tpl.ofType("AWS::Lambda::Function")
	var found []string
	for _, id := range ids {
		if strings.HasPrefix(strings.ToLower(id), name+"function") {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("functions named %s: %v", name, found)
	}
	return found[0]
}

// canonical round-trips v through JSON so values compare structurally.
func canonical(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func getAttArn(id string) any {
	return map[string]any{"Fn::GetAtt": []any{id, "Arn"}}
}

// render writes a template value as one string, intrinsics as
// ${Logical.Attr} and ${Ref}: Fn::Join of pseudo parameters becomes
// "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/x".
func render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"]; ok {
			return "${" + fmt.Sprint(ref) + "}"
		}
		if att, ok := v["Fn::GetAtt"].([]any); ok && len(att) == 2 {
			return "${" + fmt.Sprint(att[0]) + "." + fmt.Sprint(att[1]) + "}"
		}
		if join, ok := v["Fn::Join"].([]any); ok && len(join) == 2 {
			var parts []string
			for _, p := range asList(join[1]) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, fmt.Sprint(join[0]))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// accountToken stands for the stack's account in the expected patterns;
// the template holds {"Ref": "AWS::AccountId"} in its place.
const accountToken = "ACCOUNT"

func TestRulesUseTheEcreventPatterns(t *testing.T) {
	tpl := worked(t)
	repos := []string{"mlops/retail-api", "mlops/train-model"}
	tests := []struct {
		name     string
		pattern  map[string]any
		function string
	}{
		{"push", ecrevent.PushPattern(accountToken, repos), "onpush"},
		{"basic scan", ecrevent.BasicScanPattern(accountToken, repos), "onscan"},
		{"inspector", ecrevent.InspectorPattern(accountToken, repos), "onscan"},
	}
	_, rules := tpl.ofType("AWS::Events::Rule")
	if len(rules) != len(tests) {
		t.Fatalf("got %d rules, want %d", len(rules), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each rule routes the stack's own account only.
			want := canonical(t, tt.pattern)
			want.(map[string]any)["account"] = []any{map[string]any{"Ref": "AWS::AccountId"}}
			var matched []resource
			for _, r := range rules {
				if cmp.Equal(want, r.Properties["EventPattern"]) {
					matched = append(matched, r)
				}
			}
			if len(matched) != 1 {
				t.Fatalf("rules with the %s pattern: %d, want 1; want pattern %v", tt.name, len(matched), want)
			}
			targets := matched[0].Properties["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("targets: %v", targets)
			}
			target := targets[0].(map[string]any)
			fn := functionID(t, tpl, tt.function)
			if diff := cmp.Diff(getAttArn(fn), target["Arn"]); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
			dlc, ok := target["DeadLetterConfig"].(map[string]any)
			if !ok || dlc["Arn"] == nil {
				t.Errorf("target has no DeadLetterConfig: %v", target)
			}
		})
	}
}

// statement is one IAM policy statement, decoded loosely.
type statement struct {
	Effect    string
	Actions   []string
	Resources []any
	Condition map[string]any
	Where     string
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// policyDocuments finds every policy document in the template: identity
// policies, role trust and inline policies, queue, topic, key and
// repository policies.
func statements(tpl template) []statement {
	var out []statement
	add := func(where string, doc any) {
		d, ok := doc.(map[string]any)
		if !ok {
			return
		}
		for _, s := range asList(d["Statement"]) {
			m := s.(map[string]any)
			cond, _ := m["Condition"].(map[string]any)
			out = append(out, statement{
				Effect:    fmt.Sprint(m["Effect"]),
				Actions:   asStrings(m["Action"]),
				Resources: asList(m["Resource"]),
				Condition: cond,
				Where:     where,
			})
		}
	}
	for id, r := range tpl.Resources {
		switch r.Type {
		case "AWS::IAM::Policy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy":
			add(id, r.Properties["PolicyDocument"])
		case "AWS::KMS::Key":
			add(id, r.Properties["KeyPolicy"])
		case "AWS::ECR::Repository":
			add(id, r.Properties["RepositoryPolicyText"])
		case "AWS::IAM::Role":
			for _, p := range asList(r.Properties["Policies"]) {
				add(id, p.(map[string]any)["PolicyDocument"])
			}
		}
	}
	return out
}

func TestNoWildcardActions(t *testing.T) {
	for _, s := range statements(worked(t)) {
		for _, a := range s.Actions {
			if !strings.Contains(a, "*") {
				continue
			}
			// Only a Deny of plain-HTTP requests may name every action: it
			// takes permissions away (the SQS EnforceSSL statement).
			secure, _ := s.Condition["Bool"].(map[string]any)
			if s.Effect == "Deny" && secure["aws:SecureTransport"] == "false" {
				continue
			}
			t.Errorf("%s: %s statement has wildcard action %q", s.Where, s.Effect, a)
		}
	}
}

// roleActions collects the actions and resources granted to the role of one
// function by its identity policies.
func roleActions(t *testing.T, tpl template, fn string) map[string][]any {
	t.Helper()
	role := tpl.Resources[fn].Properties["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	got := map[string][]any{}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::IAM::Policy" {
			continue
		}
		attached := false
		for _, ref := range asList(r.Properties["Roles"]) {
			if cmp.Equal(ref, map[string]any{"Ref": role}) {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, s := range statements(template{Resources: map[string]resource{id: r}}) {
			if s.Effect != "Allow" {
				t.Errorf("%s: unexpected %s statement", id, s.Effect)
			}
			for _, a := range s.Actions {
				got[a] = append(got[a], s.Resources...)
			}
		}
	}
	return got
}

func TestFunctionPermissions(t *testing.T) {
	tpl := worked(t)
	shared := []string{"dynamodb:DeleteItem", "dynamodb:PutItem", "eks:DescribeCluster", "events:PutEvents", "kms:Decrypt", "kms:GenerateDataKey",
		"logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue", "sns:Publish",
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}
	tests := []struct {
		name string
		want []string
	}{
		// The worked example has no onViolation: delete, so onpush may not delete.
		// The worked example has a requireCleanScan rule: the reconcile confirms scans,
		// which with enhanced scanning also needs inspector2:ListFindings.
		// Neither onpush nor onscan reads a manifest: no ecr:BatchGetImage.
		// onpush runs the verification checks (its SQS event source).
		{"onpush", append([]string{"ecr:DescribeImageScanFindings", "ecr:DescribeImages", "inspector2:ListFindings",
			"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}, shared...)},
		{"onscan", append([]string{"ecr:DescribeImageScanFindings", "ecr:DescribeImages", "inspector2:ListFindings"}, shared...)},
		// The worked example reads every in-use source (gc.inUse) and
		// archives releases of mlops/retail-api only.
		{"gc", append(append([]string{"ecr:BatchDeleteImage", "ecr:BatchGetImage", "ecr:DescribeImages", "ecr:DescribeRepositories",
			"ecr:GetLifecyclePolicy", "ecr:UpdateImageStorageClass", "dynamodb:GetItem", "dynamodb:UpdateItem",
			"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}, shared...), inUseActions...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roleActions(t, tpl, functionID(t, tpl, tt.name))
			var actions []string
			for a, resources := range got {
				actions = append(actions, a)
				if a == "inspector2:ListFindings" {
					// No resource-level permissions exist for it.
					if !cmp.Equal(resources, []any{"*"}) {
						t.Errorf("%s on %v, want only *", a, resources)
					}
					continue
				}
				for _, r := range resources {
					if r == "*" && !slices.Contains(noResourceType, a) {
						t.Errorf("%s is granted on every resource", a)
					}
				}
			}
			sort.Strings(actions)
			want := slices.Clone(tt.want)
			sort.Strings(want)
			want = slices.Compact(want)
			if diff := cmp.Diff(want, actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			for _, r := range got["ecr:DescribeImages"] {
				s := fmt.Sprint(r)
				if !strings.Contains(s, ":repository/mlops/") {
					t.Errorf("ecr:DescribeImages on %s, want the policy's repositories", s)
				}
			}
			for _, r := range got["eks:DescribeCluster"] {
				if s := fmt.Sprint(r); !strings.Contains(s, ":cluster/retail-forecast") {
					t.Errorf("eks:DescribeCluster on %s, want the named cluster", s)
				}
			}
			if rs := got["ecr:UpdateImageStorageClass"]; len(rs) > 0 && (len(rs) != 1 || !strings.Contains(fmt.Sprint(rs[0]), ":repository/mlops/retail-api")) {
				t.Errorf("ecr:UpdateImageStorageClass on %v, want only mlops/retail-api (the repository with an archive rule)", rs)
			}
			for _, a := range []string{"dynamodb:GetItem", "dynamodb:UpdateItem"} {
				for _, r := range got[a] {
					if s := fmt.Sprint(r); !strings.Contains(s, "Dedupe") {
						t.Errorf("%s on %s, want the dedupe table", a, s)
					}
				}
			}
		})
	}
}

// inUseActions are gc's reads of its in-use sources (internal/inuse).
var inUseActions = []string{
	"ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:DescribeTasks", "ecs:ListClusters", "ecs:ListServices", "ecs:ListTasks",
	"lambda:GetFunction", "lambda:ListFunctions",
	"sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeHyperParameterTuningJob", "sagemaker:DescribeModel",
	"sagemaker:DescribeProcessingJob", "sagemaker:DescribeTrainingJob", "sagemaker:ListEndpoints", "sagemaker:ListHyperParameterTuningJobs",
	"sagemaker:ListModels", "sagemaker:ListProcessingJobs", "sagemaker:ListTrainingJobs",
	"batch:DescribeJobDefinitions",
}

// noResourceType are the actions the Service Authorization Reference lists
// without a resource type (or, for ecs:ListTasks, only a container instance
// to filter by): IAM grants them on "*" alone.
var noResourceType = []string{
	"ecs:DescribeTaskDefinition", "ecs:ListClusters", "ecs:ListServices", "ecs:ListTasks", "lambda:ListFunctions",
	"sagemaker:ListEndpoints", "sagemaker:ListHyperParameterTuningJobs", "sagemaker:ListModels", "sagemaker:ListProcessingJobs",
	"sagemaker:ListTrainingJobs", "batch:DescribeJobDefinitions",
}

// TestInUseGrants: each in-use read is granted on its own resource type
// in the stack's account and region, "*" only where the action has none,
// and only for the sources the policy reads.
func TestInUseGrants(t *testing.T) {
	tpl := worked(t)
	got := roleActions(t, tpl, functionID(t, tpl, "gc"))
	want := map[string]string{
		"ecs:DescribeServices": ":ecs:", "ecs:DescribeTasks": ":ecs:", "lambda:GetFunction": ":lambda:",
		"sagemaker:DescribeModel": ":sagemaker:", "sagemaker:DescribeEndpoint": ":sagemaker:", "sagemaker:DescribeEndpointConfig": ":sagemaker:",
		"sagemaker:DescribeTrainingJob": ":sagemaker:", "sagemaker:DescribeProcessingJob": ":sagemaker:",
		"sagemaker:DescribeHyperParameterTuningJob": ":sagemaker:",
	}
	suffix := map[string]string{
		"ecs:DescribeServices": ":service/*", "ecs:DescribeTasks": ":task/*", "lambda:GetFunction": ":function:*",
		"sagemaker:DescribeModel": ":model/*", "sagemaker:DescribeEndpoint": ":endpoint/*", "sagemaker:DescribeEndpointConfig": ":endpoint-config/*",
		"sagemaker:DescribeTrainingJob": ":training-job/*", "sagemaker:DescribeProcessingJob": ":processing-job/*",
		"sagemaker:DescribeHyperParameterTuningJob": ":hyper-parameter-tuning-job/*",
	}
	for _, a := range inUseActions {
		resources := got[a]
		if len(resources) != 1 {
			t.Errorf("%s granted on %v, want one resource", a, resources)
			continue
		}
		r := arnText(resources[0])
		if slices.Contains(noResourceType, a) {
			if r != "*" {
				t.Errorf("%s granted on %s, want *", a, r)
			}
			continue
		}
		if !strings.Contains(r, want[a]) || !strings.HasSuffix(r, suffix[a]) || !strings.Contains(r, "AWS::AccountId") {
			t.Errorf("%s granted on %s, want the account's %s…%s", a, r, want[a], suffix[a])
		}
	}

	// A policy that turns sources off grants none of their reads, to gc nor
	// to onpush (which reads them before it deletes a rejected tag).
	path := examplePolicy(t, "inUse: { ecs: true, lambda: true, sagemaker: true, batch: true }", "inUse: { ecs: false, lambda: false, batch: false }",
		"onViolation: alert", "onViolation: delete")
	variant, _ := mustTemplate(t, map[string]any{ctxPolicy: path})
	for _, fn := range []string{"gc", "onpush"} {
		gotVariant := roleActions(t, variant, functionID(t, variant, fn))
		for _, a := range inUseActions {
			_, granted := gotVariant[a]
			if wantGranted := strings.HasPrefix(a, "sagemaker:"); granted != wantGranted {
				t.Errorf("%s: %s granted = %v with only sagemaker read, want %v", fn, a, granted, wantGranted)
			}
		}
	}
}

// onpushReadsInUse checks that onpush, whose policy deletes a rejected tag,
// may make every read of gc's in-use sources on exactly gc's resources:
// it lists what runs, as gc does, before it deletes.
func onpushReadsInUse(t *testing.T, tpl template) {
	t.Helper()
	onpush, gc := roleActions(t, tpl, functionID(t, tpl, "onpush")), roleActions(t, tpl, functionID(t, tpl, "gc"))
	for _, a := range inUseActions {
		if len(onpush[a]) == 0 {
			t.Errorf("onpush may not %s: it could delete a tag whose image that source runs", a)
			continue
		}
		if diff := cmp.Diff(gc[a], onpush[a]); diff != "" {
			t.Errorf("onpush's %s resources differ from gc's (-gc +onpush):\n%s", a, diff)
		}
	}
}

// arnText renders a resource of a template (a string or an Fn::Join of
// strings and Refs) as text, Refs as <Name>.
func arnText(r any) string {
	switch v := r.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			return "<" + ref + ">"
		}
		if join, ok := v["Fn::Join"].([]any); ok && len(join) == 2 {
			var b strings.Builder
			for _, part := range asList(join[1]) {
				b.WriteString(arnText(part))
			}
			return b.String()
		}
	}
	return fmt.Sprint(r)
}

func TestPolicyVariants(t *testing.T) {
	path := examplePolicy(t, "onViolation: alert", "onViolation: delete", "encryption: AES256", "encryption: KMS",
		"{ untagged: true, maxAge: 1d }", "{ untagged: true, maxAge: 45d }")
	tpl, _ := mustTemplate(t, map[string]any{ctxPolicy: path})
	got := roleActions(t, tpl, functionID(t, tpl, "onpush"))
	resources := got["ecr:BatchDeleteImage"]
	if len(resources) != 1 || !strings.Contains(fmt.Sprint(resources[0]), "repository/mlops/retail-api") {
		t.Errorf("ecr:BatchDeleteImage on %v, want only mlops/retail-api (the one repository with onViolation: delete)", resources)
	}
	onpushReadsInUse(t, tpl)
	_, repos := tpl.ofType("AWS::ECR::Repository")
	for _, r := range repos {
		if r.Properties["RepositoryName"] != "mlops/retail-api" {
			continue
		}
		if diff := cmp.Diff(map[string]any{"EncryptionType": "KMS"}, r.Properties["EncryptionConfiguration"]); diff != "" {
			t.Errorf("encryption (-want +got):\n%s", diff)
		}
		// The backstop never fires before the policy's own untagged maxAge.
		text, _ := r.Properties["LifecyclePolicy"].(map[string]any)["LifecyclePolicyText"].(string)
		if !strings.Contains(text, `"countNumber":45`) {
			t.Errorf("lifecycle %s, want the backstop at the policy's 45 days", text)
		}
	}
}

func TestEveryFunctionHasDLQAndAlarms(t *testing.T) {
	tpl := worked(t)
	fnIDs, _ := tpl.ofType("AWS::Lambda::Function")
	if len(fnIDs) != 3 {
		t.Fatalf("got %d functions, want 3", len(fnIDs))
	}
	_, configs := tpl.ofType("AWS::Lambda::EventInvokeConfig")
	_, alarms := tpl.ofType("AWS::CloudWatch::Alarm")
	topicID, _ := tpl.ofType("AWS::SNS::Topic")
	alarmOn := func(metric string, dimension any) bool {
		for _, a := range alarms {
			p := a.Properties
			if p["MetricName"] != metric {
				continue
			}
			dims := asList(p["Dimensions"])
			if len(dims) != 1 || !cmp.Equal(dims[0].(map[string]any)["Value"], dimension) {
				continue
			}
			if !cmp.Equal(p["AlarmActions"], []any{map[string]any{"Ref": topicID[0]}}) {
				continue
			}
			return true
		}
		return false
	}
	for _, id := range fnIDs {
		t.Run(id, func(t *testing.T) {
			var dlq any
			for _, c := range configs {
				if cmp.Equal(c.Properties["FunctionName"], map[string]any{"Ref": id}) {
					dest, _ := c.Properties["DestinationConfig"].(map[string]any)
					onFailure, _ := dest["OnFailure"].(map[string]any)
					dlq = onFailure["Destination"]
				}
			}
			if dlq == nil {
				t.Fatalf("no async OnFailure destination")
			}
			queue := dlq.(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			if tpl.Resources[queue].Type != "AWS::SQS::Queue" {
				t.Fatalf("OnFailure goes to %s, a %s", queue, tpl.Resources[queue].Type)
			}
			for _, metric := range []string{"Errors", "Throttles"} {
				if !alarmOn(metric, map[string]any{"Ref": id}) {
					t.Errorf("no %s alarm to the topic", metric)
				}
			}
			if !alarmOn("ApproximateNumberOfMessagesVisible", getAttArnName(queue)) {
				t.Errorf("no DLQ depth alarm on %s", queue)
			}
		})
	}
}

func getAttArnName(id string) any {
	return map[string]any{"Fn::GetAtt": []any{id, "QueueName"}}
}

func TestGCScheduleAndFanOut(t *testing.T) {
	tpl := worked(t)
	gc := functionID(t, tpl, "gc")
	p := scheduleProps(t, tpl, "GCSchedule")
	if p["ScheduleExpression"] != "rate(1 day)" {
		t.Errorf("ScheduleExpression = %v, want the policy's rate(1 day)", p["ScheduleExpression"])
	}
	target := p["Target"].(map[string]any)
	if !cmp.Equal(target["Arn"], getAttArn(gc)) {
		t.Errorf("schedule target %v, want gc", target["Arn"])
	}
	if target["DeadLetterConfig"] == nil {
		t.Errorf("schedule target has no DeadLetterConfig")
	}
	// The gc handler names the run by runId, so retries of one scheduled
	// run share their alert dedupe key.
	if in, _ := target["Input"].(string); !strings.Contains(in, `"runId":"<aws.scheduler.scheduled-time>"`) || !strings.Contains(in, `"trigger":"schedule"`) {
		t.Errorf("schedule input = %v, want trigger and the scheduled time as runId", target["Input"])
	}
	m := eventSource(t, tpl, gc)
	if !cmp.Equal(m["FunctionName"], map[string]any{"Ref": gc}) {
		t.Errorf("event source mapping feeds %v, want gc", m["FunctionName"])
	}
	if sc, _ := m["ScalingConfig"].(map[string]any); sc["MaximumConcurrency"] != float64(gcConcurrency) {
		t.Errorf("ScalingConfig = %v, want MaximumConcurrency %d", m["ScalingConfig"], gcConcurrency)
	}
	queue := m["EventSourceArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	redrive, _ := tpl.Resources[queue].Properties["RedrivePolicy"].(map[string]any)
	if redrive["deadLetterTargetArn"] == nil {
		t.Errorf("gc fan-out queue has no redrive policy: %v", tpl.Resources[queue].Properties)
	}
	env := tpl.Resources[gc].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if !cmp.Equal(env[envGCQueueURL], map[string]any{"Ref": queue}) {
		t.Errorf("%s = %v, want the fan-out queue", envGCQueueURL, env[envGCQueueURL])
	}
}

// eventSource returns the one SQS event source mapping of the function fn.
func eventSource(t *testing.T, tpl template, fn string) map[string]any {
	t.Helper()
	_, mappings := tpl.ofType("AWS::Lambda::EventSourceMapping")
	var found []map[string]any
	for _, m := range mappings {
		if cmp.Equal(m.Properties["FunctionName"], map[string]any{"Ref": fn}) {
			found = append(found, m.Properties)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d event source mappings, want 1", fn, len(found))
	}
	return found[0]
}

// TestVerifyQueue: every rollout is verified by delayed checks on one
// queue: onpush and onscan may send to it (and are told its URL), onpush
// runs the checks with partial batch failures, a check that keeps failing
// moves to onpush's DLQ, and a backed-up queue alarms.
func TestVerifyQueue(t *testing.T) {
	tpl := worked(t)
	onpush := functionID(t, tpl, "onpush")
	m := eventSource(t, tpl, onpush)
	queue := m["EventSourceArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	if !strings.HasPrefix(queue, "VerifyQueue") {
		t.Fatalf("onpush's event source is %s, want the VerifyQueue", queue)
	}
	if !cmp.Equal(m["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes = %v, want ReportBatchItemFailures", m["FunctionResponseTypes"])
	}
	if sc, _ := m["ScalingConfig"].(map[string]any); sc["MaximumConcurrency"] != float64(2) {
		t.Errorf("ScalingConfig = %v, want MaximumConcurrency 2", m["ScalingConfig"])
	}
	redrive, _ := tpl.Resources[queue].Properties["RedrivePolicy"].(map[string]any)
	if dlq, _ := redrive["deadLetterTargetArn"].(map[string]any); dlq == nil || !strings.HasPrefix(dlq["Fn::GetAtt"].([]any)[0].(string), "OnpushDLQ") {
		t.Errorf("verify queue redrive = %v, want onpush's DLQ", redrive)
	}
	for _, name := range []string{"onpush", "onscan"} {
		fn := functionID(t, tpl, name)
		sends := roleActions(t, tpl, fn)["sqs:SendMessage"]
		if !slices.ContainsFunc(sends, func(r any) bool { return cmp.Equal(r, getAttArn(queue)) }) {
			t.Errorf("%s: sqs:SendMessage on %v, want the verify queue", name, sends)
		}
		env := tpl.Resources[fn].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		if !cmp.Equal(env[envVerifyQueue], map[string]any{"Ref": queue}) {
			t.Errorf("%s: %s = %v, want the verify queue", name, envVerifyQueue, env[envVerifyQueue])
		}
	}
	if sends := roleActions(t, tpl, functionID(t, tpl, "gc"))["sqs:SendMessage"]; slices.ContainsFunc(sends, func(r any) bool { return cmp.Equal(r, getAttArn(queue)) }) {
		t.Errorf("gc may send to the verify queue")
	}
	_, alarms := tpl.ofType("AWS::CloudWatch::Alarm")
	if !slices.ContainsFunc(alarms, func(a resource) bool {
		return strings.Contains(fmt.Sprint(a.Properties["AlarmName"]), "verify-queue-age")
	}) {
		t.Errorf("no alarm on the verify queue's age")
	}
}

func TestFunctionConfiguration(t *testing.T) {
	tpl := worked(t)
	for _, name := range []string{"onpush", "onscan", "gc"} {
		t.Run(name, func(t *testing.T) {
			p := tpl.Resources[functionID(t, tpl, name)].Properties
			if p["Runtime"] != "provided.al2023" || !cmp.Equal(p["Architectures"], []any{"arm64"}) || p["Handler"] != "bootstrap" {
				t.Errorf("runtime %v %v %v, want provided.al2023 arm64 bootstrap", p["Runtime"], p["Architectures"], p["Handler"])
			}
			logging := p["LoggingConfig"].(map[string]any)
			if logging["LogFormat"] != "JSON" {
				t.Errorf("LogFormat = %v, want JSON", logging["LogFormat"])
			}
			group := logging["LogGroup"].(map[string]any)["Ref"].(string)
			if r := tpl.Resources[group]; r.Properties["RetentionInDays"] != float64(30) {
				t.Errorf("log group retention = %v, want 30", r.Properties["RetentionInDays"])
			}
			env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			for _, k := range []string{envPolicy, envTopicARN, envEventBus, envSlackSecret, envDedupeTable} {
				if env[k] == nil {
					t.Errorf("%s is not set", k)
				}
			}
			if env[envPolicy] != "/var/task/ecrwarden.yaml" || env[envSlackSecret] != "ecrwarden/slack-webhook" {
				t.Errorf("env %v", env)
			}
			if name == "gc" && env[envDryRun] != "false" {
				t.Errorf("%s = %v, want the policy's false", envDryRun, env[envDryRun])
			}
			want := map[string]float64{"onpush": onpushConcurrency, "onscan": onscanConcurrency, "gc": gcConcurrency + 1}[name]
			if p["ReservedConcurrentExecutions"] != want {
				t.Errorf("ReservedConcurrentExecutions = %v, want %v", p["ReservedConcurrentExecutions"], want)
			}
		})
	}
	_, tables := tpl.ofType("AWS::DynamoDB::Table")
	want := map[string]any{"AttributeName": "expiresAt", "Enabled": true}
	if len(tables) != 1 || !cmp.Equal(tables[0].Properties["TimeToLiveSpecification"], want) {
		t.Errorf("dedupe table TTL: %v", tables)
	}
	if ks := asList(tables[0].Properties["KeySchema"]); len(ks) != 1 || ks[0].(map[string]any)["AttributeName"] != "pk" {
		t.Errorf("dedupe key schema: %v", ks)
	}
	_, buses := tpl.ofType("AWS::Events::EventBus")
	if len(buses) != 1 || buses[0].Properties["Name"] != "ecrwarden" {
		t.Errorf("event bus: %v", buses)
	}
}

func TestDryRunContextForcesDryRun(t *testing.T) {
	tpl, _ := mustTemplate(t, map[string]any{ctxDryRun: "true", ctxSlackSecret: ""})
	p := tpl.Resources[functionID(t, tpl, "gc")].Properties
	env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[envDryRun] != "true" {
		t.Errorf("%s = %v, want true", envDryRun, env[envDryRun])
	}
	onpush := tpl.Resources[functionID(t, tpl, "onpush")].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if onpush[envDryRun] != "true" {
		t.Errorf("onpush %s = %v, want true: the dryRun context stops onpush's tag deletions too", envDryRun, onpush[envDryRun])
	}
	if env[envSlackSecret] != "" {
		t.Errorf("%s = %v, want empty (Slack disabled by context)", envSlackSecret, env[envSlackSecret])
	}
	if got := roleActions(t, tpl, functionID(t, tpl, "gc")); got["secretsmanager:GetSecretValue"] != nil {
		t.Errorf("gc may read a secret although Slack is disabled")
	}
}

func TestAlertTopicIsEncrypted(t *testing.T) {
	tpl := worked(t)
	keyIDs, keys := tpl.ofType("AWS::KMS::Key")
	_, topics := tpl.ofType("AWS::SNS::Topic")
	if len(keys) != 1 || len(topics) != 1 {
		t.Fatalf("keys %d topics %d", len(keys), len(topics))
	}
	if !cmp.Equal(topics[0].Properties["KmsMasterKeyId"], getAttArn(keyIDs[0])) {
		t.Errorf("topic KmsMasterKeyId = %v, want the stack's key", topics[0].Properties["KmsMasterKeyId"])
	}
	if keys[0].Properties["EnableKeyRotation"] != true {
		t.Errorf("key rotation disabled")
	}
}

func TestManagedRepositories(t *testing.T) {
	tpl := worked(t)
	_, repos := tpl.ofType("AWS::ECR::Repository")
	byName := map[string]map[string]any{}
	for _, r := range repos {
		byName[r.Properties["RepositoryName"].(string)] = r.Properties
	}
	tests := []struct {
		name       string
		mutability string
		exclusions any
		encryption string
		principals map[string][]string // principal ARN → actions
	}{
		{
			name:       "mlops/retail-api",
			mutability: "IMMUTABLE_WITH_EXCLUSION",
			exclusions: []any{
				map[string]any{"ImageTagMutabilityExclusionFilterType": "WILDCARD", "ImageTagMutabilityExclusionFilterValue": "latest"},
				map[string]any{"ImageTagMutabilityExclusionFilterType": "WILDCARD", "ImageTagMutabilityExclusionFilterValue": "dev-latest"},
			},
			encryption: "AES256",
			// Roles named role/<name> in the policy are the stack's account's.
			principals: map[string][]string{
				"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/mlops-hybrid-eks-nodes-role":         pullActions,
				"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/mlops-retail-forecast-dev-cicd-role": append(slices.Clone(pullActions), pushActions...),
			},
		},
		{
			name:       "mlops/train-model",
			mutability: "IMMUTABLE_WITH_EXCLUSION",
			exclusions: []any{
				map[string]any{"ImageTagMutabilityExclusionFilterType": "WILDCARD", "ImageTagMutabilityExclusionFilterValue": "latest"},
			},
			encryption: "AES256",
			principals: map[string][]string{
				"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/mlops-sagemaker-execution-role":      pullActions,
				"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/mlops-retail-forecast-dev-cicd-role": append(slices.Clone(pullActions), pushActions...),
			},
		},
	}
	if len(repos) != len(tests) {
		t.Fatalf("got %d repositories, want %d", len(repos), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := byName[tt.name]
			if !ok {
				t.Fatalf("not created")
			}
			if diff := cmp.Diff(map[string]any{"ScanOnPush": true}, p["ImageScanningConfiguration"]); diff != "" {
				t.Errorf("scanning (-want +got):\n%s", diff)
			}
			if p["ImageTagMutability"] != tt.mutability {
				t.Errorf("ImageTagMutability = %v, want %s", p["ImageTagMutability"], tt.mutability)
			}
			if diff := cmp.Diff(tt.exclusions, p["ImageTagMutabilityExclusionFilters"]); diff != "" {
				t.Errorf("exclusion filters (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]any{"EncryptionType": tt.encryption}, p["EncryptionConfiguration"]); diff != "" {
				t.Errorf("encryption (-want +got):\n%s", diff)
			}
			var lifecycle struct {
				Rules []struct {
					Selection map[string]any `json:"selection"`
					Action    map[string]any `json:"action"`
				} `json:"rules"`
			}
			text := p["LifecyclePolicy"].(map[string]any)["LifecyclePolicyText"].(string)
			if err := json.Unmarshal([]byte(text), &lifecycle); err != nil {
				t.Fatalf("lifecycle policy: %v", err)
			}
			wantRule := map[string]any{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": float64(30)}
			if len(lifecycle.Rules) != 1 || !cmp.Equal(wantRule, lifecycle.Rules[0].Selection) {
				t.Errorf("lifecycle rules %s, want one untagged backstop after 30 days", text)
			}
			got := map[string][]string{}
			doc := p["RepositoryPolicyText"].(map[string]any)
			for _, s := range asList(doc["Statement"]) {
				m := s.(map[string]any)
				arn := render(m["Principal"].(map[string]any)["AWS"])
				got[arn] = asStrings(m["Action"])
			}
			for k := range tt.principals {
				sort.Strings(tt.principals[k])
				sort.Strings(got[k])
			}
			if diff := cmp.Diff(tt.principals, got); diff != "" {
				t.Errorf("repository policy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrincipalOverrideFromContext(t *testing.T) {
	const arn = "arn:aws:iam::210987654321:role/other-ci"
	tpl, _ := mustTemplate(t, map[string]any{"principal:ci": arn})
	doc, _ := json.Marshal(tpl.Resources)
	if !strings.Contains(string(doc), arn) || strings.Contains(string(doc), "mlops-retail-forecast-dev-cicd-role") {
		t.Errorf("principal:ci did not replace the policy's ci role")
	}
}

const registryPolicy = `version: 1
registry:
  manage: true
  scanning:
    type: ENHANCED
    rules:
      - { filter: "mlops/*", frequency: CONTINUOUS_SCAN }
  replication:
    - destinations: [{ region: us-west-2, registryId: "123456789012" }]
      prefix: mlops/
repositories:
  - name: mlops/retail-api
`

func TestRegistrySettings(t *testing.T) {
	t.Run("not managed by default", func(t *testing.T) {
		tpl := worked(t)
		for _, typ := range []string{"AWS::ECR::RegistryScanningConfiguration", "AWS::ECR::ReplicationConfiguration"} {
			if ids, _ := tpl.ofType(typ); len(ids) != 0 {
				t.Errorf("%s present without opt-in", typ)
			}
		}
	})
	t.Run("policy and context opt in", func(t *testing.T) {
		tpl, _ := mustTemplate(t, map[string]any{ctxPolicy: writePolicy(t, registryPolicy), ctxManageRegistry: "true"})
		_, scanning := tpl.ofType("AWS::ECR::RegistryScanningConfiguration")
		want := map[string]any{
			"ScanType": "ENHANCED",
			"Rules": []any{map[string]any{
				"ScanFrequency":     "CONTINUOUS_SCAN",
				"RepositoryFilters": []any{map[string]any{"Filter": "mlops/*", "FilterType": "WILDCARD"}},
			}},
		}
		if len(scanning) != 1 {
			t.Fatalf("scanning configurations: %d", len(scanning))
		}
		if diff := cmp.Diff(want, scanning[0].Properties); diff != "" {
			t.Errorf("scanning (-want +got):\n%s", diff)
		}
		_, repl := tpl.ofType("AWS::ECR::ReplicationConfiguration")
		wantRepl := map[string]any{"ReplicationConfiguration": map[string]any{"Rules": []any{map[string]any{
			"Destinations":      []any{map[string]any{"Region": "us-west-2", "RegistryId": "123456789012"}},
			"RepositoryFilters": []any{map[string]any{"Filter": "mlops/", "FilterType": "PREFIX_MATCH"}},
		}}}}
		if len(repl) != 1 {
			t.Fatalf("replication configurations: %d", len(repl))
		}
		if diff := cmp.Diff(wantRepl, repl[0].Properties); diff != "" {
			t.Errorf("replication (-want +got):\n%s", diff)
		}
	})
	for _, tt := range []struct {
		name string
		ctx  func(t *testing.T) map[string]any
		want string
	}{
		{"policy alone is refused", func(t *testing.T) map[string]any {
			return map[string]any{ctxPolicy: writePolicy(t, registryPolicy)}
		}, "confirm with -c manageRegistry=true"},
		{"context alone is refused", func(t *testing.T) map[string]any {
			return map[string]any{ctxManageRegistry: "true"}
		}, "registry.manage false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := synth(t, tt.ctx(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("buildApp error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEKSAccessEntries(t *testing.T) {
	edit, view := eksEditPolicy, eksViewPolicy
	deletes := func(t *testing.T) string { return examplePolicy(t, "onViolation: alert", "onViolation: delete") }
	tests := []struct {
		name   string
		ctx    func(t *testing.T) map[string]any
		want   map[string][]string // function → access policy names or Kubernetes groups
		groups bool
	}{
		{"rbac groups by default", func(*testing.T) map[string]any { return nil },
			map[string][]string{"onpush": {rbac.GroupDeployer}, "onscan": {rbac.GroupDeployer}, "gc": {rbac.GroupReader}}, true},
		{"managed access policies", func(*testing.T) map[string]any { return map[string]any{ctxEKSAccess: eksAccessPolicy} },
			map[string][]string{"onpush": {edit}, "onscan": {edit}, "gc": {view}}, false},
		// onpush lists what runs before it deletes a rejected tag.
		{"onViolation delete: onpush is a reader too", func(t *testing.T) map[string]any { return map[string]any{ctxPolicy: deletes(t)} },
			map[string][]string{"onpush": {rbac.GroupDeployer, rbac.GroupReader}, "onscan": {rbac.GroupDeployer}, "gc": {rbac.GroupReader}}, true},
		{"onViolation delete, managed access policies: onpush reads the cluster too", func(t *testing.T) map[string]any {
			return map[string]any{ctxPolicy: deletes(t), ctxEKSAccess: eksAccessPolicy}
		}, map[string][]string{"onpush": {edit, view}, "onscan": {edit}, "gc": {view}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, _ := mustTemplate(t, tt.ctx(t))
			_, entries := tpl.ofType("AWS::EKS::AccessEntry")
			got := map[string][]string{}
			for _, e := range entries {
				p := e.Properties
				if p["ClusterName"] != "retail-forecast" {
					t.Errorf("ClusterName = %v", p["ClusterName"])
				}
				role := p["PrincipalArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
				fn := strings.ToLower(strings.TrimSuffix(role[:len(role)-8], "Role"))
				if tt.groups {
					got[fn] = asStrings(p["KubernetesGroups"])
					if p["AccessPolicies"] != nil {
						t.Errorf("rbac mode has access policies too")
					}
					continue
				}
				for _, raw := range asList(p["AccessPolicies"]) {
					pol := raw.(map[string]any)
					parts := pol["PolicyArn"].(map[string]any)["Fn::Join"].([]any)[1].([]any)
					arn := fmt.Sprint(parts[len(parts)-1])
					if !strings.HasPrefix(arn, ":eks::aws:cluster-access-policy/") {
						t.Errorf("PolicyArn ends %q", arn)
					}
					name := arn[strings.LastIndex(arn, "/")+1:]
					wantScope := map[string]any{"Type": "namespace", "Namespaces": []any{"default"}}
					if name == view { // in-use discovery reads every namespace
						wantScope = map[string]any{"Type": "cluster"}
					}
					if diff := cmp.Diff(wantScope, pol["AccessScope"]); diff != "" {
						t.Errorf("%s %s access scope (-want +got):\n%s", fn, name, diff)
					}
					got[fn] = append(got[fn], name)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("access (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVPCOption(t *testing.T) {
	ctx := map[string]any{ctxVPCID: "vpc-0123456789abcdef0", ctxSubnetIDs: "subnet-0123456789abcdef1, subnet-0123456789abcdef2", ctxClusterSG: "sg-0123456789abcdef0"}
	tpl, _ := mustTemplate(t, ctx)
	sgIDs, _ := tpl.ofType("AWS::EC2::SecurityGroup")
	if len(sgIDs) != 1 {
		t.Fatalf("security groups: %v", sgIDs)
	}
	for _, name := range []string{"onpush", "onscan", "gc"} {
		vc, _ := tpl.Resources[functionID(t, tpl, name)].Properties["VpcConfig"].(map[string]any)
		want := map[string]any{
			"SubnetIds":        []any{"subnet-0123456789abcdef1", "subnet-0123456789abcdef2"},
			"SecurityGroupIds": []any{getAttGroupID(sgIDs[0])},
		}
		if diff := cmp.Diff(want, vc); diff != "" {
			t.Errorf("%s VpcConfig (-want +got):\n%s", name, diff)
		}
	}
	_, ingress := tpl.ofType("AWS::EC2::SecurityGroupIngress")
	want := map[string]any{
		"GroupId": "sg-0123456789abcdef0", "IpProtocol": "tcp", "FromPort": float64(443), "ToPort": float64(443),
		"SourceSecurityGroupId": getAttGroupID(sgIDs[0]), "Description": "ecrwarden functions to the EKS API endpoint",
	}
	if len(ingress) != 1 {
		t.Fatalf("ingress rules: %d", len(ingress))
	}
	if diff := cmp.Diff(want, ingress[0].Properties); diff != "" {
		t.Errorf("cluster ingress (-want +got):\n%s", diff)
	}

	t.Run("incomplete", func(t *testing.T) {
		_, err := synth(t, map[string]any{ctxVPCID: "vpc-0123456789abcdef0"})
		if err == nil || !strings.Contains(err.Error(), "go together") {
			t.Errorf("error = %v, want the three VPC keys to be required together", err)
		}
	})
}

func getAttGroupID(id string) any {
	return map[string]any{"Fn::GetAtt": []any{id, "GroupId"}}
}

func TestContextErrors(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"unknown cluster", map[string]any{ctxClusters: "nope"}, `cluster "nope" is not in the policy`},
		{"unknown principal", map[string]any{"principal:nobody": "arn:aws:iam::123456789012:role/x"}, `no principal "nobody"`},
		{"bad principal arn", map[string]any{"principal:ci": "not-an-arn"}, "is not an IAM role or user ARN"},
		{"bad retention", map[string]any{ctxLogRetention: "8"}, "is not a CloudWatch Logs retention"},
		{"bad eks access", map[string]any{ctxEKSAccess: "admin"}, `want "rbac" or "policy"`},
		{"bad dry run", map[string]any{ctxDryRun: "maybe"}, "want true or false"},
		{"bad stack name", map[string]any{ctxStackName: "ecr_warden"}, "is not a CloudFormation stack name"},
		{"bad account", map[string]any{ctxAccount: "1234"}, "is not a 12-digit account id"},
		{"bad region", map[string]any{ctxRegion: "Europe"}, "is not an AWS Region"},
		{"bad reserved concurrency", map[string]any{ctxReservedConcurrency: "some"}, "want true or false"},
		{"bad manage repositories", map[string]any{ctxStackName: "other", ctxManageRepositories: "yes please"}, "want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := synth(t, tt.ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestBrokenPolicyFailsBuild(t *testing.T) {
	path := examplePolicy(t, "maxDeletesPerRun: 100", "maxDeletesPerRun: -1", "keepNewest: 10", "keepNewest: ten")
	_, err := synth(t, map[string]any{ctxPolicy: path})
	if err == nil {
		t.Fatal("a broken policy built a stack")
	}
	for _, want := range []string{path + ":", "maxDeletesPerRun", "keepNewest", "problem(s) in the policy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestBrokenPolicyFailsSynth runs the app's main (this test binary, re-run
// with runMainEnv) the way the CDK CLI does, with the context in
// CDK_CONTEXT_JSON, and checks that it exits non-zero printing the policy's
// own errors and writes no template.
func TestBrokenPolicyFailsSynth(t *testing.T) {
	path := examplePolicy(t, "maxDeletesPerRun: 100", "maxDeletesPerRun: -5")
	out := t.TempDir()
	ctx, _ := json.Marshal(map[string]any{ctxPolicy: path, "aws:cdk:bundling-stacks": []any{}})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "CDK_CONTEXT_JSON="+string(ctx), "CDK_OUTDIR="+out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), path+":") || !strings.Contains(stderr.String(), "maxDeletesPerRun") {
		t.Errorf("stderr does not show the policy error with its location:\n%s", stderr.String())
	}
	if entries, _ := filepath.Glob(filepath.Join(out, "*.template.json")); len(entries) != 0 {
		t.Errorf("a template was written: %v", entries)
	}
}

func TestCDKNagAwsSolutions(t *testing.T) {
	for _, tt := range []struct {
		name string
		ctx  map[string]any
	}{
		{"worked example", nil},
		{"in the cluster's VPC", map[string]any{ctxVPCID: "vpc-0123456789abcdef0", ctxSubnetIDs: "subnet-0123456789abcdef1", ctxClusterSG: "sg-0123456789abcdef0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stack awscdk.Stack
			if tt.ctx == nil {
				worked(t)
				stack = defaultStack
			} else {
				_, stack = mustTemplate(t, tt.ctx)
			}
			ann := assertions.Annotations_FromStack(stack)
			for _, find := range []func(*string, any) *[]*cxapi.SynthesisMessage{ann.FindError, ann.FindWarning} {
				for _, m := range *find(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
					t.Errorf("%s: %v", *m.Id, m.Entry.Data)
				}
			}
		})
	}
}

// TestBundlingBuildsEachFunction bundles for real (no skip) in a scratch
// module with three tiny functions: each function gets its own asset holding
// an arm64 Linux bootstrap and the policy.
func TestBundlingBuildsEachFunction(t *testing.T) {
	root := t.TempDir()
	policyBytes, err := os.ReadFile("../ecrwarden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":         "module example.com/bundletest\n\ngo 1.26\n",
		"ecrwarden.yaml": string(policyBytes),
	}
	for _, name := range []string{"onpush", "onscan", "gc"} {
		files["functions/"+name+"/main.go"] = "package main\n\nfunc main() { println(\"" + name + "\") }\n"
	}
	for path, body := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	var stderr bytes.Buffer
	if _, err := buildApp(app, root, &stderr); err != nil {
		t.Fatalf("buildApp: %v", err)
	}
	app.Synth(nil)
	if stderr.Len() > 0 {
		t.Fatalf("bundling reported: %s", stderr.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, "ecrwarden.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, name := range []string{"onpush", "onscan", "gc"} {
		code := tpl.Resources[functionID(t, tpl, name)].Properties["Code"].(map[string]any)
		hash := strings.TrimSuffix(fmt.Sprint(code["S3Key"]), ".zip")
		if other, dup := seen[hash]; dup {
			t.Fatalf("%s and %s share asset %s", other, name, hash)
		}
		seen[hash] = name
		dir := filepath.Join(out, "asset."+hash)
		bin, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// ELF, 64-bit, little-endian, e_machine 183 (EM_AARCH64).
		if len(bin) < 20 || string(bin[:4]) != "\x7fELF" || bin[4] != 2 || bin[18] != 183 || bin[19] != 0 {
			t.Errorf("%s: bootstrap is not a linux/arm64 ELF binary", name)
		}
		if !bytes.Contains(bin, []byte(name)) {
			t.Errorf("%s: bootstrap was built from another function", name)
		}
		pol, err := os.ReadFile(filepath.Join(dir, bundledPolicyName))
		if err != nil || !bytes.Equal(pol, policyBytes) {
			t.Errorf("%s: bundled policy differs from the policy file (err %v)", name, err)
		}
	}
}

func TestSimilarNamesGetDistinctIDs(t *testing.T) {
	path := writePolicy(t, `version: 1
repositories:
  - { name: team/app-one, manage: true }
  - { name: team/app_one, manage: true }
`)
	tpl, _ := mustTemplate(t, map[string]any{ctxPolicy: path, ctxSlackSecret: ""})
	_, repos := tpl.ofType("AWS::ECR::Repository")
	var names []string
	for _, r := range repos {
		names = append(names, fmt.Sprint(r.Properties["RepositoryName"]))
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"team/app-one", "team/app_one"}, names); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
}

// BenchmarkSynth measures building and synthesizing the worked example's
// stack in-process (bundling skipped): the app's share of "cdk synth".
func BenchmarkSynth(b *testing.B) {
	for b.Loop() {
		app := awscdk.NewApp(&awscdk.AppProps{
			Context: &map[string]any{"aws:cdk:bundling-stacks": []any{}},
			Outdir:  jsii.String(b.TempDir()),
		})
		if _, err := buildApp(app, "..", &bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
		app.Synth(nil)
	}
}

// scheduleProps returns the properties of the one schedule whose logical id
// starts with prefix.
func scheduleProps(t *testing.T, tpl template, prefix string) map[string]any {
	t.Helper()
	ids, schedules := tpl.ofType("AWS::Scheduler::Schedule")
	var found []map[string]any
	for i, id := range ids {
		if strings.HasPrefix(id, prefix) {
			found = append(found, schedules[i].Properties)
		}
	}
	if len(found) != 1 {
		t.Fatalf("schedules %s*: %d of %v", prefix, len(found), ids)
	}
	return found[0]
}

func TestReconcileSchedule(t *testing.T) {
	tpl := worked(t)
	onpush := functionID(t, tpl, "onpush")
	p := scheduleProps(t, tpl, "ReconcileSchedule")
	if p["ScheduleExpression"] != defaultReconcileSchedule {
		t.Errorf("ScheduleExpression = %v, want %s", p["ScheduleExpression"], defaultReconcileSchedule)
	}
	target := p["Target"].(map[string]any)
	if !cmp.Equal(target["Arn"], getAttArn(onpush)) {
		t.Errorf("schedule target %v, want onpush", target["Arn"])
	}
	var in map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprint(target["Input"])), &in); err != nil {
		t.Fatalf("schedule input %v: %v", target["Input"], err)
	}
	if diff := cmp.Diff(map[string]any{"action": "reconcile", "runId": "<aws.scheduler.scheduled-time>"}, in); diff != "" {
		t.Errorf("schedule input (-want +got):\n%s", diff)
	}
	dlq, _ := target["DeadLetterConfig"].(map[string]any)
	onpushDLQ := tpl.Resources[onpush].Properties["DeadLetterConfig"]
	if dlq == nil {
		t.Fatal("reconcile schedule has no DeadLetterConfig")
	}
	// onpush's DLQ is its async on-failure destination; the schedule uses the same queue.
	dlqID := dlq["Arn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	if !strings.HasPrefix(strings.ToLower(dlqID), "onpushdlq") {
		t.Errorf("reconcile DLQ %s (function DeadLetterConfig %v), want onpush's DLQ", dlqID, onpushDLQ)
	}
	role := target["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	gcRole := scheduleProps(t, tpl, "GCSchedule")["Target"].(map[string]any)["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	if role == gcRole {
		t.Errorf("reconcile and gc schedules share role %s, want one each", role)
	}

	t.Run("context sets and disables it", func(t *testing.T) {
		tpl, _ := mustTemplate(t, map[string]any{ctxReconcileSchedule: "rate(5 minutes)"})
		if got := scheduleProps(t, tpl, "ReconcileSchedule")["ScheduleExpression"]; got != "rate(5 minutes)" {
			t.Errorf("ScheduleExpression = %v, want rate(5 minutes)", got)
		}
		tpl, _ = mustTemplate(t, map[string]any{ctxReconcileSchedule: "off"})
		ids, _ := tpl.ofType("AWS::Scheduler::Schedule")
		if len(ids) != 1 || !strings.HasPrefix(ids[0], "GCSchedule") {
			t.Errorf("schedules with reconcile off: %v, want only gc's", ids)
		}
		if _, err := synth(t, map[string]any{ctxReconcileSchedule: "every 5 minutes"}); err == nil || !strings.Contains(err.Error(), ctxReconcileSchedule) {
			t.Errorf("err = %v, want a reconcileSchedule error", err)
		}
	})

	t.Run("no scan findings without a gated rule", func(t *testing.T) {
		// Both deploy rules of the example (retail-api's Deployment, train-model's CronJob) are gated.
		path := examplePolicy(t, "requireCleanScan: true", "requireCleanScan: false", "requireCleanScan: true", "requireCleanScan: false")
		tpl, _ := mustTemplate(t, map[string]any{ctxPolicy: path})
		if got := roleActions(t, tpl, functionID(t, tpl, "onpush"))["ecr:DescribeImageScanFindings"]; got != nil {
			t.Errorf("onpush may describe scan findings on %v without a requireCleanScan rule", got)
		}
	})
}
