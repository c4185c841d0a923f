package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// physicalNames are the properties that give a resource a fixed name in
// its account and Region. A second stack must not repeat any of them.
var physicalNames = map[string]string{
	"AWS::CloudWatch::Alarm":        "AlarmName",
	"AWS::CloudWatch::Dashboard":    "DashboardName",
	"AWS::DynamoDB::Table":          "TableName",
	"AWS::ECR::Repository":          "RepositoryName",
	"AWS::Events::EventBus":         "Name",
	"AWS::Events::Rule":             "Name",
	"AWS::IAM::Role":                "RoleName",
	"AWS::KMS::Alias":               "AliasName",
	"AWS::Lambda::Function":         "FunctionName",
	"AWS::Logs::LogGroup":           "LogGroupName",
	"AWS::Scheduler::Schedule":      "Name",
	"AWS::Scheduler::ScheduleGroup": "Name",
	"AWS::SNS::Topic":               "TopicName",
	"AWS::SQS::Queue":               "QueueName",
}

// names lists "type name" for every fixed physical name in tpl.
func names(tpl template) []string {
	var out []string
	for _, r := range tpl.Resources {
		if key, ok := physicalNames[r.Type]; ok && r.Properties[key] != nil {
			out = append(out, r.Type+" "+render(r.Properties[key]))
		}
	}
	sort.Strings(out)
	return out
}

// TestSecondStackDoesNotCollide: a second stack (another stackName) in the
// same account and Region repeats no physical name of the first, and must
// say whether it creates the policy's manage: true repositories, whose
// names belong to the registry.
func TestSecondStackDoesNotCollide(t *testing.T) {
	first := worked(t)
	const second = "ecrwarden-staging"

	t.Run("must say who owns the repositories", func(t *testing.T) {
		_, err := synth(t, map[string]any{ctxStackName: second})
		for _, want := range []string{"mlops/retail-api, mlops/train-model", `"ecrwarden-staging"`, "-c manageRepositories=false", "-c manageRepositories=true"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want it to contain %q", err, want)
			}
		}
	})

	tpl, _ := mustTemplate(t, map[string]any{ctxStackName: second, ctxManageRepositories: "false"})
	if got := names(tpl); len(got) == 0 {
		t.Fatal("the second stack has no named resources at all: the check below would prove nothing")
	} else {
		for _, n := range got {
			if slices.Contains(names(first), n) {
				t.Errorf("%s is in both stacks", n)
			}
		}
	}
	_, buses := tpl.ofType("AWS::Events::EventBus")
	if len(buses) != 1 || buses[0].Properties["Name"] != second {
		t.Errorf("bus: %v, want it named after the stack", buses)
	}
	if ids, _ := tpl.ofType("AWS::ECR::Repository"); len(ids) != 0 {
		t.Errorf("manageRepositories=false created repositories %v", ids)
	}
	// It still guards them: the grants name the same repositories.
	if got := roleActions(t, tpl, functionID(t, tpl, "onpush"))["ecr:DescribeImages"]; len(got) != 2 {
		t.Errorf("onpush may describe images in %v, want both policy repositories", got)
	}

	t.Run("the owner says so", func(t *testing.T) {
		tpl, _ := mustTemplate(t, map[string]any{ctxStackName: second, ctxManageRepositories: "true"})
		if ids, _ := tpl.ofType("AWS::ECR::Repository"); len(ids) != 2 {
			t.Errorf("repositories %v, want both", ids)
		}
	})
}

// TestEnvironmentAgnostic runs the app the way the CDK CLI does, with the
// CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION the CLI derives from the
// machine's credentials (us-east-1 on a machine without any): the template
// must name no account and no Region, so that it deploys wherever it is
// deployed, and be the same on every machine.
func TestEnvironmentAgnostic(t *testing.T) {
	out := t.TempDir()
	ctx, _ := json.Marshal(map[string]any{"aws:cdk:bundling-stacks": []any{}})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "CDK_CONTEXT_JSON="+string(ctx), "CDK_OUTDIR="+out,
		"CDK_DEFAULT_ACCOUNT=111111111111", "CDK_DEFAULT_REGION=us-east-1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("app: %v\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, "ecrwarden.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"111111111111", "us-east-1", "123456789012"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("the template names %s", leak)
		}
	}
	for _, pseudo := range []string{`"Ref":"AWS::AccountId"`, `"Ref":"AWS::Region"`} {
		if !bytes.Contains(bytes.ReplaceAll(raw, []byte(" "), nil), []byte(pseudo)) {
			t.Errorf("the template does not use %s", pseudo)
		}
	}

	t.Run("context pins it", func(t *testing.T) {
		tpl, _ := mustTemplate(t, map[string]any{ctxAccount: "210987654321", ctxRegion: "ap-southeast-1"})
		_, repos := tpl.ofType("AWS::ECR::Repository")
		var principals []string
		for _, s := range asList(repos[0].Properties["RepositoryPolicyText"].(map[string]any)["Statement"]) {
			principals = append(principals, render(s.(map[string]any)["Principal"].(map[string]any)["AWS"]))
		}
		if !slices.Contains(principals, "arn:${AWS::Partition}:iam::210987654321:role/mlops-retail-forecast-dev-cicd-role") {
			t.Errorf("a pinned stack's principals are not in its account: %v", principals)
		}
		role := roleActions(t, tpl, functionID(t, tpl, "onscan"))["ecr:DescribeImages"]
		if len(role) == 0 || !strings.Contains(render(role[0]), ":ecr:ap-southeast-1:210987654321:repository/") {
			t.Errorf("a pinned stack's repository ARNs: %v", role)
		}
	})
}

// TestPrincipalsFromContext: a principal the policy leaves empty must come
// from context; synth says which and how.
func TestPrincipalsFromContext(t *testing.T) {
	path := examplePolicy(t, "ci: role/mlops-retail-forecast-dev-cicd-role", `ci: ""`)
	_, err := synth(t, map[string]any{ctxPolicy: path})
	for _, want := range []string{`principal "ci" has no value in ` + path, "mlops/retail-api, mlops/train-model", "-c principal:ci=arn:aws:iam::"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
	const arn = "arn:aws:iam::210987654321:role/ci"
	tpl, _ := mustTemplate(t, map[string]any{ctxPolicy: path, "principal:ci": arn})
	_, repos := tpl.ofType("AWS::ECR::Repository")
	for _, r := range repos {
		var principals []string
		for _, s := range asList(r.Properties["RepositoryPolicyText"].(map[string]any)["Statement"]) {
			principals = append(principals, render(s.(map[string]any)["Principal"].(map[string]any)["AWS"]))
		}
		if !slices.Contains(principals, arn) {
			t.Errorf("%v: principals %v, want %s", r.Properties["RepositoryName"], principals, arn)
		}
	}
	t.Run("not needed without managed repositories", func(t *testing.T) {
		if _, err := synth(t, map[string]any{ctxPolicy: path, ctxStackName: "other", ctxManageRepositories: "false"}); err != nil {
			t.Errorf("synth: %v", err)
		}
	})
}

// TestOutputsNameWhatOperatorsUse: docs/operations.md tells operators to
// use these outputs; none is exported (an export name is account-wide).
func TestOutputsNameWhatOperatorsUse(t *testing.T) {
	outputs := worked(t).Outputs
	want := []string{"AlertTopicArn", "DedupeTableName", "EventBusArn", "EventBusName", "GCQueueArn", "VerifyQueueArn"}
	for _, fn := range []string{"Onpush", "Onscan", "Gc"} {
		want = append(want, fn+"FunctionName", fn+"RoleArn", fn+"DeadLetterQueueArn", fn+"DeadLetterQueueUrl")
	}
	sort.Strings(want)
	var got []string
	for k, v := range outputs {
		got = append(got, k)
		if v.(map[string]any)["Export"] != nil {
			t.Errorf("output %s is exported", k)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range got {
		if !strings.Contains(string(ops), "`"+k+"`") {
			t.Errorf("docs/operations.md does not mention output %s", k)
		}
	}
}

func TestReservedConcurrencyCanBeLeftOut(t *testing.T) {
	tpl, _ := mustTemplate(t, map[string]any{ctxReservedConcurrency: "false"})
	for _, fn := range []string{"onpush", "onscan", "gc"} {
		if v := tpl.Resources[functionID(t, tpl, fn)].Properties["ReservedConcurrentExecutions"]; v != nil {
			t.Errorf("%s: ReservedConcurrentExecutions = %v with reservedConcurrency=false", fn, v)
		}
	}
}
