package main

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The resource policies below are what the emulators of the end-to-end
// tests cannot see (they enforce identity policies), so they are asserted on
// the template: who may publish to the alert topic and use its key, who may
// put messages into each dead-letter queue, and who may assume the
// Scheduler roles.

// stackAlarmARNs renders the ARN of every alarm in the template from its
// AlarmName, sorted.
func stackAlarmARNs(t *testing.T, tpl template) []string {
	t.Helper()
	_, alarms := tpl.ofType("AWS::CloudWatch::Alarm")
	var arns []string
	for _, a := range alarms {
		name, ok := a.Properties["AlarmName"].(string)
		if !ok || !strings.HasPrefix(name, "ecrwarden-") {
			t.Fatalf("alarm without a stack-prefixed AlarmName: %v", a.Properties["AlarmName"])
		}
		arns = append(arns, "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"+name)
	}
	sort.Strings(arns)
	return arns
}

// fromStackAlarms checks a condition block: this account, and exactly the
// stack's alarms.
func fromStackAlarms(t *testing.T, cond map[string]any, alarms []string) {
	t.Helper()
	account, _ := cond["StringEquals"].(map[string]any)
	if got := render(account["aws:SourceAccount"]); got != "${AWS::AccountId}" {
		t.Errorf("aws:SourceAccount = %s, want the stack's account", got)
	}
	arnEquals, _ := cond["ArnEquals"].(map[string]any)
	var got []string
	for _, a := range asList(arnEquals["aws:SourceArn"]) {
		got = append(got, render(a))
	}
	sort.Strings(got)
	if diff := cmp.Diff(alarms, got); diff != "" {
		t.Errorf("aws:SourceArn, want every alarm of the stack and nothing else (-want +got):\n%s", diff)
	}
	if len(cond) != 2 {
		t.Errorf("conditions %v, want StringEquals and ArnEquals only", cond)
	}
}

// TestAlarmsCanPublish: EnforceSSL gives the topic a policy that holds only a
// Deny and replaces SNS's default policy, so CloudWatch needs an explicit
// Allow, limited to this account's alarms of this stack.
func TestAlarmsCanPublish(t *testing.T) {
	tpl := worked(t)
	topicIDs, _ := tpl.ofType("AWS::SNS::Topic")
	_, policies := tpl.ofType("AWS::SNS::TopicPolicy")
	if len(topicIDs) != 1 || len(policies) != 1 {
		t.Fatalf("topics %v, topic policies %d", topicIDs, len(policies))
	}
	p := policies[0].Properties
	if !cmp.Equal(p["Topics"], []any{map[string]any{"Ref": topicIDs[0]}}) {
		t.Fatalf("topic policy applies to %v", p["Topics"])
	}
	alarms := stackAlarmARNs(t, tpl)
	if len(alarms) != 14 {
		t.Errorf("%d alarms, want 14 (3 per function, 1 per rule, the fan-out and verify queues' ages)", len(alarms))
	}
	var allows int
	for _, s := range asList(p["PolicyDocument"].(map[string]any)["Statement"]) {
		m := s.(map[string]any)
		if m["Effect"] != "Allow" {
			continue
		}
		allows++
		if !cmp.Equal(m["Principal"], map[string]any{"Service": "cloudwatch.amazonaws.com"}) || !cmp.Equal(asStrings(m["Action"]), []string{"sns:Publish"}) {
			t.Errorf("topic policy allows %v to %v, want only CloudWatch to publish", m["Principal"], m["Action"])
			continue
		}
		if render(m["Resource"]) != "${"+topicIDs[0]+"}" {
			t.Errorf("Resource = %v, want the topic", m["Resource"])
		}
		fromStackAlarms(t, m["Condition"].(map[string]any), alarms)
	}
	if allows != 1 {
		t.Errorf("topic policy has %d Allow statements, want 1 (CloudWatch alarms)", allows)
	}
}

// TestKeyPolicyLetsEveryPublisherUseTheKey: the function roles and
// CloudWatch (for this stack's alarms) may GenerateDataKey and Decrypt with
// the topic's key, and nobody else may use it: the account's root principal
// administers the key, and its cryptographic operations are limited to the
// function roles by aws:PrincipalArn (KMS refuses, for a while, a key policy
// that names a role created in the same deployment as its principal).
func TestKeyPolicyLetsEveryPublisherUseTheKey(t *testing.T) {
	tpl := worked(t)
	_, keys := tpl.ofType("AWS::KMS::Key")
	if len(keys) != 1 {
		t.Fatalf("keys: %d", len(keys))
	}
	var roles []string
	for _, fn := range []string{"onpush", "onscan", "gc"} {
		role := tpl.Resources[functionID(t, tpl, fn)].Properties["Role"]
		roles = append(roles, render(role))
	}
	sort.Strings(roles)
	crypto := []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
		"kms:ReEncryptFrom", "kms:ReEncryptTo"}
	alarms := stackAlarmARNs(t, tpl)
	var users []string
	for _, s := range asList(keys[0].Properties["KeyPolicy"].(map[string]any)["Statement"]) {
		m := s.(map[string]any)
		if m["Effect"] != "Allow" {
			t.Errorf("unexpected %v statement", m["Effect"])
			continue
		}
		actions := asStrings(m["Action"])
		principal := m["Principal"].(map[string]any)
		usesKey := slices.ContainsFunc(actions, func(a string) bool { return slices.Contains(crypto, a) })
		switch {
		case m["Sid"] == "AccountAdministersKey":
			if render(principal["AWS"]) != "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" || usesKey {
				t.Errorf("administration statement: principal %v, actions %v; want the account root without cryptographic operations", principal, actions)
			}
			continue
		case !usesKey:
			t.Errorf("statement %v grants %v", m["Sid"], actions)
			continue
		}
		sort.Strings(actions)
		if diff := cmp.Diff([]string{"kms:Decrypt", "kms:GenerateDataKey"}, actions); diff != "" {
			t.Errorf("%v: a publisher's actions (-want +got):\n%s", m["Sid"], diff)
		}
		if principal["Service"] == "cloudwatch.amazonaws.com" {
			users = append(users, "cloudwatch.amazonaws.com")
			fromStackAlarms(t, m["Condition"].(map[string]any), alarms)
			continue
		}
		if render(principal["AWS"]) != "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" {
			t.Errorf("%v: principal %v, want the account, limited by aws:PrincipalArn", m["Sid"], principal)
		}
		cond, _ := m["Condition"].(map[string]any)
		arnEquals, _ := cond["ArnEquals"].(map[string]any)
		if len(cond) != 1 || len(arnEquals) != 1 || arnEquals["aws:PrincipalArn"] == nil {
			t.Errorf("%v: condition %v, want only ArnEquals aws:PrincipalArn", m["Sid"], cond)
		}
		for _, p := range asList(arnEquals["aws:PrincipalArn"]) {
			users = append(users, render(p))
		}
	}
	sort.Strings(users)
	want := append(slices.Clone(roles), "cloudwatch.amazonaws.com")
	sort.Strings(want)
	if diff := cmp.Diff(want, users); diff != "" {
		t.Errorf("principals that may use the key (-want +got):\n%s", diff)
	}
}

// TestEachDLQAllowsExactlyItsSources: EventBridge may send to a function's
// DLQ only for the rules that target that function, and each Scheduler role
// may send only to the DLQ of its own schedule's target.
func TestEachDLQAllowsExactlyItsSources(t *testing.T) {
	tpl := worked(t)
	want := map[string][]string{} // DLQ logical id → rule ARNs
	ruleIDs, rules := tpl.ofType("AWS::Events::Rule")
	for i, r := range rules {
		target := asList(r.Properties["Targets"])[0].(map[string]any)
		dlq := target["DeadLetterConfig"].(map[string]any)["Arn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		want[dlq] = append(want[dlq], "${"+ruleIDs[i]+".Arn}")
	}
	got := map[string][]string{}
	_, queuePolicies := tpl.ofType("AWS::SQS::QueuePolicy")
	for _, qp := range queuePolicies {
		queue := asList(qp.Properties["Queues"])[0].(map[string]any)["Ref"].(string)
		for _, s := range asList(qp.Properties["PolicyDocument"].(map[string]any)["Statement"]) {
			m := s.(map[string]any)
			if m["Effect"] != "Allow" {
				continue
			}
			if !cmp.Equal(m["Principal"], map[string]any{"Service": "events.amazonaws.com"}) || !cmp.Equal(asStrings(m["Action"]), []string{"sqs:SendMessage"}) {
				t.Errorf("%s allows %v to %v", queue, m["Principal"], m["Action"])
				continue
			}
			if render(m["Resource"]) != "${"+queue+".Arn}" {
				t.Errorf("%s: statement on %v", queue, m["Resource"])
			}
			cond, _ := m["Condition"].(map[string]any)
			arnEquals, _ := cond["ArnEquals"].(map[string]any)
			if len(cond) != 1 || arnEquals["aws:SourceArn"] == nil {
				t.Errorf("%s: condition %v, want ArnEquals aws:SourceArn", queue, cond)
				continue
			}
			got[queue] = append(got[queue], render(arnEquals["aws:SourceArn"]))
		}
	}
	for _, m := range []map[string][]string{want, got} {
		for k := range m {
			sort.Strings(m[k])
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EventBridge sources of each DLQ (-want +got):\n%s", diff)
	}

	for _, prefix := range []string{"GCSchedule", "ReconcileSchedule"} {
		t.Run(prefix, func(t *testing.T) {
			target := scheduleProps(t, tpl, prefix)["Target"].(map[string]any)
			dlq := render(target["DeadLetterConfig"].(map[string]any)["Arn"])
			role := target["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			sends := map[string][]string{}
			for id, r := range tpl.Resources {
				if r.Type != "AWS::IAM::Policy" || !slices.ContainsFunc(asList(r.Properties["Roles"]), func(v any) bool { return render(v) == "${"+role+"}" }) {
					continue
				}
				for _, s := range statements(template{Resources: map[string]resource{id: r}}) {
					for _, a := range s.Actions {
						for _, res := range s.Resources {
							sends[a] = append(sends[a], render(res))
						}
					}
				}
			}
			if diff := cmp.Diff([]string{dlq}, sends["sqs:SendMessage"]); diff != "" {
				t.Errorf("%s may send to (-want +got):\n%s", role, diff)
			}
		})
	}
}

// TestSchedulerRolesTrustOnlyThisStacksSchedules: the Scheduler roles'
// trust policies carry aws:SourceAccount and aws:SourceArn (the stack's own
// schedule group, which both schedules use).
func TestSchedulerRolesTrustOnlyThisStacksSchedules(t *testing.T) {
	tpl := worked(t)
	groupIDs, _ := tpl.ofType("AWS::Scheduler::ScheduleGroup")
	if len(groupIDs) != 1 {
		t.Fatalf("schedule groups: %v", groupIDs)
	}
	for _, prefix := range []string{"GCSchedule", "ReconcileSchedule"} {
		t.Run(prefix, func(t *testing.T) {
			p := scheduleProps(t, tpl, prefix)
			if group := tpl.Resources[groupIDs[0]].Properties["Name"]; p["GroupName"] != group {
				t.Errorf("GroupName = %v, want the stack's group %v", p["GroupName"], group)
			}
			role := p["Target"].(map[string]any)["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			trust := asList(tpl.Resources[role].Properties["AssumeRolePolicyDocument"].(map[string]any)["Statement"])
			if len(trust) != 1 {
				t.Fatalf("trust statements: %v", trust)
			}
			m := trust[0].(map[string]any)
			want := map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": "${AWS::AccountId}"},
				"ArnEquals":    map[string]any{"aws:SourceArn": "${" + groupIDs[0] + ".Arn}"},
			}
			got := map[string]any{}
			for op, kv := range m["Condition"].(map[string]any) {
				rendered := map[string]any{}
				for k, v := range kv.(map[string]any) {
					rendered[k] = render(v)
				}
				got[op] = rendered
			}
			if !cmp.Equal(m["Principal"], map[string]any{"Service": "scheduler.amazonaws.com"}) {
				t.Errorf("Principal = %v", m["Principal"])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("trust conditions (-want +got):\n%s", diff)
			}
		})
	}
}
