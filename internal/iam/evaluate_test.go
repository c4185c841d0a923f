package iam

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t testing.TB, doc string) Document {
	t.Helper()
	d, err := ParseDocument([]byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

// The examples of the IAM User Guide: "Policy evaluation logic" (Carlos's policy),
// "IAM JSON policy elements: NotAction" and "NotResource", and "Condition operators".
func TestEvaluateDocumentationExamples(t *testing.T) {
	const carlos = `{"Version": "2012-10-17", "Statement": [
	  {"Sid": "AllowS3ListRead", "Effect": "Allow",
	   "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"],
	   "Resource": "arn:aws:s3:::*"},
	  {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
	   "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
	  {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"}]}`
	const notActionAllowS3 = `{"Statement": {"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"}}`
	const notActionAllowAllButIAM = `{"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}`
	const denyWithoutMFA = `{"Version": "2012-10-17", "Statement": [{"Sid": "DenyAllUsersNotUsingMFA", "Effect": "Deny",
	  "NotAction": "iam:*", "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}`
	const notResource = `{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:*",
	  "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]}}`
	const allowAll = `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`
	const sourceArn = `{"Statement": {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
	  "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:*"},
	                "StringEquals": {"aws:SourceAccount": "111122223333"}}}}`

	tests := []struct {
		name     string
		policies []string
		req      Request
		want     Effect
	}{
		{"carlos lists his buckets", []string{carlos}, Request{Action: "s3:ListAllMyBuckets", Resource: "arn:aws:s3:::amzn-s3-demo-bucket"}, Allowed},
		{"carlos writes to his bucket", []string{carlos}, Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/notes.txt"}, Allowed},
		{"carlos may not write to a log bucket", []string{carlos}, Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/a"}, ExplicitDeny},
		{"carlos may not touch another bucket", []string{carlos}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-other/a"}, ImplicitDeny},
		{"NotAction allow: any S3 action on S3", []string{notActionAllowS3}, Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::bucket/key"}, Allowed},
		{"NotAction allow: not DeleteBucket", []string{notActionAllowS3}, Request{Action: "s3:DeleteBucket", Resource: "arn:aws:s3:::bucket"}, ImplicitDeny},
		{"NotAction allow: ListAllMyBuckets needs the * resource", []string{notActionAllowS3}, Request{Action: "s3:ListAllMyBuckets", Resource: "*"}, ImplicitDeny},
		{"NotAction allow: other services' resources do not match", []string{notActionAllowS3}, Request{Action: "iam:CreateUser", Resource: "arn:aws:iam::111122223333:user/Bob"}, ImplicitDeny},
		{"everything but IAM: EC2", []string{notActionAllowAllButIAM}, Request{Action: "ec2:RunInstances", Resource: "*"}, Allowed},
		{"everything but IAM: IAM", []string{notActionAllowAllButIAM}, Request{Action: "iam:CreateUser", Resource: "*"}, ImplicitDeny},
		{"no MFA: S3 denied", []string{allowAll, denyWithoutMFA}, Request{Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:MultiFactorAuthPresent": {"false"}}}, ExplicitDeny},
		{"no MFA key (long-term keys): S3 denied", []string{allowAll, denyWithoutMFA}, Request{Action: "s3:GetObject", Resource: "*"}, ExplicitDeny},
		{"no MFA: IAM still allowed", []string{allowAll, denyWithoutMFA}, Request{Action: "iam:ChangePassword", Resource: "*"}, Allowed},
		{"MFA: S3 allowed", []string{allowAll, denyWithoutMFA}, Request{Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:MultiFactorAuthPresent": {"true"}}}, Allowed},
		{"NotResource deny: payroll not denied (nor allowed)", []string{notResource}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Payroll/2024.csv"}, ImplicitDeny},
		{"NotResource deny: elsewhere denied", []string{allowAll, notResource}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Other"}, ExplicitDeny},
		{"NotResource deny: payroll allowed by another policy", []string{allowAll, notResource}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Payroll"}, Allowed},
		{"source ARN and account match", []string{sourceArn}, Request{Action: "sns:Publish", Resource: "arn:aws:sns:us-east-1:111122223333:t",
			Context: map[string][]string{"aws:SourceArn": {"arn:aws:cloudwatch:us-east-1:111122223333:alarm:high-cpu"}, "AWS:SOURCEACCOUNT": {"111122223333"}}}, Allowed},
		{"source account differs", []string{sourceArn}, Request{Action: "sns:Publish", Resource: "arn:aws:sns:us-east-1:111122223333:t",
			Context: map[string][]string{"aws:SourceArn": {"arn:aws:cloudwatch:us-east-1:111122223333:alarm:high-cpu"}, "aws:SourceAccount": {"444455556666"}}}, ImplicitDeny},
		{"source keys absent", []string{sourceArn}, Request{Action: "sns:Publish", Resource: "arn:aws:sns:us-east-1:111122223333:t"}, ImplicitDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []Policy
			for i, p := range tt.policies {
				ps = append(ps, Policy{Name: string(rune('A' + i)), Document: mustParse(t, p)})
			}
			if got := Evaluate(tt.req, ps...); got.Effect != tt.want {
				t.Errorf("Evaluate(%s on %s) = %v, want %v", tt.req.Action, tt.req.Resource, got, tt.want)
			}
		})
	}
}

// The statements of the ecrwarden template as CloudFormation emits them after resolution.
func TestEvaluateTemplateStatements(t *testing.T) {
	doc := mustParse(t, `{"Version": "2012-10-17", "Statement": [
	  {"Action": "sns:Publish", "Effect": "Allow", "Resource": "arn:aws:sns:ap-southeast-1:123456789012:ecrwarden-Alerts-1"},
	  {"Action": ["ecr:DescribeImages", "ecr:DescribeImageScanFindings"], "Effect": "Allow",
	   "Resource": ["arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/train-model"]},
	  {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:ecrwarden/slack-webhook-??????"},
	  {"Action": "inspector2:ListFindings", "Effect": "Allow", "Resource": "*"}]}`)
	p := Policy{Name: "OnpushRoleDefaultPolicy", Document: doc}
	tests := []struct {
		name, action, resource string
		want                   Decision
	}{
		{"describe images", "ecr:DescribeImages", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api",
			Decision{Effect: Allowed, Policy: "OnpushRoleDefaultPolicy", Statement: "#1"}},
		{"actions are case-insensitive", "ECR:describeimages", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/train-model",
			Decision{Effect: Allowed, Policy: "OnpushRoleDefaultPolicy", Statement: "#1"}},
		{"ARNs are case-sensitive", "ecr:DescribeImages", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/Retail-Api", Decision{}},
		{"another repository", "ecr:DescribeImages", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/scratch", Decision{}},
		{"a repository name that only starts alike", "ecr:DescribeImages", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api-2", Decision{}},
		{"ungranted action", "ecr:BatchDeleteImage", "arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api", Decision{}},
		{"secret with its six-character suffix", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:ecrwarden/slack-webhook-AbC123",
			Decision{Effect: Allowed, Policy: "OnpushRoleDefaultPolicy", Statement: "#2"}},
		{"secret whose name only starts alike", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:ecrwarden/slack-webhook-old-AbC123", Decision{}},
		{"wildcard-only action", "inspector2:ListFindings", "arn:aws:inspector2:ap-southeast-1:123456789012:/findings/list",
			Decision{Effect: Allowed, Policy: "OnpushRoleDefaultPolicy", Statement: "#3"}},
		{"other region", "sns:Publish", "arn:aws:sns:us-east-1:123456789012:ecrwarden-Alerts-1", Decision{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(Request{Action: tt.action, Resource: tt.resource}, p)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate(%s on %s) (-want +got):\n%s", tt.action, tt.resource, diff)
			}
		})
	}
}

func TestExplicitDenyWinsAcrossPolicies(t *testing.T) {
	allow := Policy{Name: "allow", Document: mustParse(t, `{"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}`)}
	deny := Policy{Name: "deny", Document: mustParse(t, `{"Statement": [{"Sid": "NoDeletes", "Effect": "Deny", "Action": "ecr:BatchDelete*", "Resource": "*"}]}`)}
	got := Evaluate(Request{Action: "ecr:BatchDeleteImage", Resource: "arn:aws:ecr:r:1:repository/x"}, allow, deny)
	if diff := cmp.Diff(Decision{Effect: ExplicitDeny, Policy: "deny", Statement: "NoDeletes"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Evaluate(Request{Action: "ecr:PutImage", Resource: "arn:aws:ecr:r:1:repository/x"}, allow, deny); !got.Allowed() {
		t.Errorf("PutImage: %v, want allowed", got)
	}
	if got := Evaluate(Request{Action: "ecr:PutImage", Resource: "*"}); got.Effect != ImplicitDeny {
		t.Errorf("no policies: %v, want implicit deny", got)
	}
}

func TestConditions(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		ctx       map[string][]string
		want      bool // the Allow statement applies
	}{
		{"StringEquals", `{"StringEquals": {"aws:SourceAccount": "1"}}`, map[string][]string{"aws:SourceAccount": {"1"}}, true},
		{"StringEquals other value", `{"StringEquals": {"aws:SourceAccount": "1"}}`, map[string][]string{"aws:SourceAccount": {"2"}}, false},
		{"StringEquals any of the values", `{"StringEquals": {"k": ["a", "b"]}}`, map[string][]string{"k": {"b"}}, true},
		{"StringEquals is case-sensitive", `{"StringEquals": {"k": "a"}}`, map[string][]string{"k": {"A"}}, false},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase": {"k": "a"}}`, map[string][]string{"k": {"A"}}, true},
		{"StringEquals missing key", `{"StringEquals": {"k": "a"}}`, nil, false},
		{"StringEqualsIfExists missing key", `{"StringEqualsIfExists": {"k": "a"}}`, nil, true},
		{"StringEqualsIfExists present, other value", `{"StringEqualsIfExists": {"k": "a"}}`, map[string][]string{"k": {"b"}}, false},
		{"StringNotEquals missing key", `{"StringNotEquals": {"k": "a"}}`, nil, true},
		{"StringNotEquals same", `{"StringNotEquals": {"k": "a"}}`, map[string][]string{"k": {"a"}}, false},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase": {"k": "a"}}`, map[string][]string{"k": {"A"}}, false},
		{"StringLike", `{"StringLike": {"k": "ecr-*-?"}}`, map[string][]string{"k": {"ecr-x-1"}}, true},
		{"StringNotLike", `{"StringNotLike": {"k": "ecr-*"}}`, map[string][]string{"k": {"ecr-x"}}, false},
		{"ArnLike per segment", `{"ArnLike": {"aws:SourceArn": "arn:aws:events:*:1:rule/*"}}`, map[string][]string{"aws:SourceArn": {"arn:aws:events:eu-west-1:1:rule/r"}}, true},
		{"ArnEquals other account", `{"ArnEquals": {"aws:SourceArn": "arn:aws:events:*:1:rule/r"}}`, map[string][]string{"aws:SourceArn": {"arn:aws:events:eu-west-1:2:rule/r"}}, false},
		{"ArnNotLike missing key", `{"ArnNotLike": {"aws:SourceArn": "arn:*"}}`, nil, true},
		{"ArnNotEquals other", `{"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:r:1:t"}}`, map[string][]string{"aws:SourceArn": {"arn:aws:sns:r:1:u"}}, true},
		{"Bool JSON boolean", `{"Bool": {"aws:SecureTransport": true}}`, map[string][]string{"aws:SecureTransport": {"true"}}, true},
		{"Bool false", `{"Bool": {"aws:SecureTransport": "true"}}`, map[string][]string{"aws:SecureTransport": {"false"}}, false},
		{"Bool missing", `{"Bool": {"aws:SecureTransport": "true"}}`, nil, false},
		{"Null true, absent", `{"Null": {"aws:TokenIssueTime": "true"}}`, nil, true},
		{"Null true, present", `{"Null": {"aws:TokenIssueTime": "true"}}`, map[string][]string{"aws:TokenIssueTime": {"x"}}, false},
		{"Null false, present", `{"Null": {"aws:TokenIssueTime": "false"}}`, map[string][]string{"aws:TokenIssueTime": {"x"}}, true},
		{"two operators are and-ed", `{"StringEquals": {"a": "1"}, "Bool": {"b": "true"}}`, map[string][]string{"a": {"1"}, "b": {"false"}}, false},
		{"two keys are and-ed", `{"StringEquals": {"a": "1", "b": "2"}}`, map[string][]string{"a": {"1"}, "b": {"2"}}, true},
		{"unknown operator: an Allow does not apply", `{"NumericLessThan": {"s3:max-keys": "10"}}`, map[string][]string{"s3:max-keys": {"5"}}, false},
		{"set operator: an Allow does not apply", `{"ForAnyValue:StringEquals": {"k": "a"}}`, map[string][]string{"k": {"a"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, `{"Statement": {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*", "Condition": `+tt.condition+`}}`)
			got := Evaluate(Request{Action: "sns:Publish", Resource: "arn:aws:sns:r:1:t", Context: tt.ctx}, Policy{Name: "p", Document: doc}).Allowed()
			if got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnknownConditionMakesDenyApply(t *testing.T) {
	allow := Policy{Name: "allow", Document: mustParse(t, `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`)}
	deny := Policy{Name: "deny", Document: mustParse(t, `{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*",
	  "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}}`)}
	if got := Evaluate(Request{Action: "s3:GetObject", Resource: "*"}, allow, deny); got.Effect != ExplicitDeny {
		t.Errorf("got %v, want explicit deny: a condition that cannot be evaluated must not let a request through", got)
	}
}

func TestMatchResource(t *testing.T) {
	tests := []struct {
		pattern, arn string
		want         bool
	}{
		{"*", "anything", true},
		{"arn:aws:ecr:*:123456789012:repository/*", "arn:aws:ecr:eu-west-1:123456789012:repository/a/b", true},
		{"arn:aws:ecr:*:123456789012:repository/*", "arn:aws:ecr:eu-west-1:999999999999:repository/a", false},
		{"arn:aws:ecr:*", "arn:aws:ecr:eu-west-1:123456789012:repository/a", true},
		{"arn:aws:ec*", "arn:aws:ecr:eu-west-1:123456789012:repository/a", true},
		{"arn:aws:e*r:eu-west-1:1:x", "arn:aws:e:b:r:eu-west-1:1:x", false},
		{"arn:aws:ecr:eu-*", "arn:aws:ecr:eu-west-1:123456789012:repository/a", true},
		{"arn:aws:ecr:eu-*-1", "arn:aws:ecr:eu-west-1:123456789012:repository/a", false},
		{"arn:aws:ecr:eu-west-?:1:x", "arn:aws:ecr:eu-west-1:1:x", true},
		{"arn:aws:secretsmanager:r:1:secret:a-??????", "arn:aws:secretsmanager:r:1:secret:a-AbCdEf", true},
		{"arn:aws:secretsmanager:r:1:secret:a-??????", "arn:aws:secretsmanager:r:1:secret:a-AbCdE", false},
		{"arn:aws:lambda:r:1:function:f*", "arn:aws:lambda:r:1:function:f:alias", true},
		{"arn:aws:s3:::b", "*", false},
		{"arn:aws:sns:r:1:t", "arn:aws:sns:r:1:t", true},
		{"arn:aws:sns:r:1:t", "arn:aws:sns:r:1:T", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := MatchResource(tt.pattern, tt.arn); got != tt.want {
			t.Errorf("MatchResource(%q, %q) = %v, want %v", tt.pattern, tt.arn, got, tt.want)
		}
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"not JSON", `{`},
		{"no statement", `{"Version": "2012-10-17"}`},
		{"bad effect", `{"Statement": {"Effect": "allow", "Action": "*", "Resource": "*"}}`},
		{"Action and NotAction", `{"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}}`},
		{"neither Action nor NotAction", `{"Statement": {"Effect": "Allow", "Resource": "*"}}`},
		{"no Resource", `{"Statement": {"Effect": "Allow", "Action": "*"}}`},
		{"Action not a string", `{"Statement": {"Effect": "Allow", "Action": 3, "Resource": "*"}}`},
		{"Action null", `{"Statement": {"Effect": "Allow", "Action": null, "Resource": "*"}}`},
		{"unresolved intrinsic", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": {"Ref": "Topic"}}}`},
		{"condition value an object", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"k": {"a": 1}}}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDocument([]byte(tt.doc)); err == nil {
				t.Errorf("ParseDocument(%s) succeeded, want an error", tt.doc)
			}
		})
	}
}

func TestParseDocumentShapes(t *testing.T) {
	got := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Deny", "NotAction": ["s3:*"], "NotResource": "arn:aws:s3:::b",
	  "Condition": {"Bool": {"aws:SecureTransport": false}, "NumericEquals": {"n": [1, 2.5]}}}]}`)
	want := Document{Version: "2012-10-17", Statements: []Statement{{Sid: "A", Effect: Deny, NotAction: []string{"s3:*"}, NotResource: []string{"arn:aws:s3:::b"},
		Condition: map[string]map[string][]string{"Bool": {"aws:SecureTransport": {"false"}}, "NumericEquals": {"n": {"1", "2.5"}}}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
