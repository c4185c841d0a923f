package cfn

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const template = `{
 "Conditions": {
  "InChina": {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]},
  "NotInChina": {"Fn::Not": [{"Condition": "InChina"}]},
  "Both": {"Fn::And": [{"Condition": "NotInChina"}, {"Fn::Or": [{"Condition": "InChina"}, true]}]}
 },
 "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/hnb659fds/version", "Description": "kept"}},
 "Resources": {
  "AlertKeyC50D0A1D": {"Type": "AWS::KMS::Key", "Properties": {}},
  "Alerts91F83244": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["AlertKeyC50D0A1D", "Arn"]}}},
  "BusEA82B648": {"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, "bus"]]}}},
  "Dedupe2BF0891B": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
  "GCQueueC35E773C": {"Type": "AWS::SQS::Queue", "Properties": {}},
  "OnpushRoleCE219EEB": {"Type": "AWS::IAM::Role", "Properties": {}},
  "OnpushRoleDefaultPolicy0813B952": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": "OnpushRoleDefaultPolicy0813B952", "Roles": [{"Ref": "OnpushRoleCE219EEB"}]}},
  "OnpushFunction9CC166B2": {"Type": "AWS::Lambda::Function", "Metadata": {"aws:cdk:path": "ecrwarden/Onpush/Function/Resource"},
   "Properties": {"Role": {"Fn::GetAtt": ["OnpushRoleCE219EEB", "Arn"]}}},
  "OnscanFunctionBDB45469": {"Type": "AWS::Lambda::Function", "Metadata": {"aws:cdk:path": "ecrwarden/Onscan/Function/Resource"}, "Properties": {}},
  "Repo": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "mlops/retail-api"}},
  "Unnamed": {"Type": "AWS::ECR::Repository", "Properties": {}},
  "ChinaOnly": {"Type": "AWS::SNS::Topic", "Condition": "InChina", "Properties": {}}
 }
}`

func stack(t *testing.T) *Stack {
	t.Helper()
	tmpl, err := Parse([]byte(template))
	if err != nil {
		t.Fatal(err)
	}
	return NewStack(tmpl, "ecrwarden", "123456789012", "ap-southeast-1")
}

func TestResolve(t *testing.T) {
	s := stack(t)
	keyID := s.uuid("AlertKeyC50D0A1D")
	roleName, _ := s.PhysicalName("OnpushRoleCE219EEB")
	s.SetRef("GCQueueC35E773C", "http://127.0.0.1:5000/123456789012/gc")
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"pseudo parameters", `{"Fn::Join": [":", ["arn", {"Ref": "AWS::Partition"}, "ecr", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}, "repository/x"]]}`,
			"arn:aws:ecr:ap-southeast-1:123456789012:repository/x"},
		{"topic Ref is its ARN", `{"Ref": "Alerts91F83244"}`, "arn:aws:sns:ap-southeast-1:123456789012:" + mustName(t, s, "Alerts91F83244")},
		{"key ARN", `{"Fn::GetAtt": ["AlertKeyC50D0A1D", "Arn"]}`, "arn:aws:kms:ap-southeast-1:123456789012:key/" + keyID},
		{"key Ref is its id", `{"Ref": "AlertKeyC50D0A1D"}`, keyID},
		{"bus named by its properties", `{"Ref": "BusEA82B648"}`, "ecrwarden-bus"},
		{"bus ARN, dotted GetAtt", `{"Fn::GetAtt": "BusEA82B648.Arn"}`, "arn:aws:events:ap-southeast-1:123456789012:event-bus/ecrwarden-bus"},
		{"queue URL set by the deployer", `{"Ref": "GCQueueC35E773C"}`, "http://127.0.0.1:5000/123456789012/gc"},
		{"role ARN", `{"Fn::GetAtt": ["OnpushRoleCE219EEB", "Arn"]}`, "arn:aws:iam::123456789012:role/" + roleName},
		{"Fn::Sub with resources, attributes and variables", `{"Fn::Sub": ["arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:${Bus}/${Dedupe2BF0891B.Arn}/${!Literal}", {"Bus": {"Ref": "BusEA82B648"}}]}`,
			"arn:aws:logs:ap-southeast-1:123456789012:ecrwarden-bus/arn:aws:dynamodb:ap-southeast-1:123456789012:table/" + mustName(t, s, "Dedupe2BF0891B") + "/${Literal}"},
		{"Fn::Select of Fn::Split", `{"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}`, "b"},
		{"Fn::If and conditions", `{"Fn::If": ["Both", "yes", "no"]}`, "yes"},
		{"AWS::NoValue drops the key", `{"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}]}`, map[string]any{"B": []any{1.0}}},
		{"parameter default", `{"Ref": "BootstrapVersion"}`, "/cdk-bootstrap/hnb659fds/version"},
		{"repository name", `{"Ref": "Repo"}`, "mlops/retail-api"},
		{"a generated repository name is lower case", `{"Fn::GetAtt": ["Unnamed", "RepositoryUri"]}`, "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/" + mustName(t, s, "Unnamed")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := s.Resolve(decode(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, v); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if n := mustName(t, s, "Unnamed"); n != strings.ToLower(n) || !strings.HasPrefix(n, "ecrwarden-unnamed-") {
		t.Errorf("generated repository name %q", n)
	}
}

func TestResolveErrors(t *testing.T) {
	s := stack(t)
	for _, in := range []string{
		`{"Ref": "Missing"}`,
		`{"Fn::GetAtt": ["Missing", "Arn"]}`,
		`{"Fn::GetAtt": ["Repo", "NoSuchAttribute"]}`,
		`{"Fn::ImportValue": "x"}`,
		`{"Fn::Select": [5, ["a"]]}`,
		`{"Fn::Sub": "${Missing}"}`,
		`{"Fn::If": ["NoCondition", 1, 2]}`,
		`{"Fn::Join": ["", [{"a": 1}]]}`,
	} {
		if v, err := s.Resolve(decode(t, in)); err == nil {
			t.Errorf("Resolve(%s) = %v, want an error", in, v)
		}
	}
}

func TestPhysicalNamesAreStableAndBounded(t *testing.T) {
	a, b := stack(t), stack(t)
	if mustName(t, a, "OnpushRoleCE219EEB") != mustName(t, b, "OnpushRoleCE219EEB") {
		t.Error("names differ between two deployments of the same stack")
	}
	long := stack(t)
	long.Name = strings.Repeat("s", 60)
	if n := mustName(t, long, "OnpushRoleCE219EEB"); len(n) > 64 {
		t.Errorf("role name %q longer than 64", n)
	}
}

func TestFindByPathAndDeployed(t *testing.T) {
	s := stack(t)
	id, err := s.Template.FindByPath("AWS::Lambda::Function", "onpush")
	if err != nil || id != "OnpushFunction9CC166B2" {
		t.Errorf("FindByPath = %q, %v", id, err)
	}
	if _, err := s.Template.FindByPath("AWS::Lambda::Function", "gc"); err == nil {
		t.Error("found a function that is not there")
	}
	if RefTo(s.Template.Resources[id].Properties["Role"]) != "OnpushRoleCE219EEB" {
		t.Error("RefTo the role")
	}
	if ok, err := s.Deployed("ChinaOnly"); ok || err != nil {
		t.Errorf("ChinaOnly deployed = %v, %v", ok, err)
	}
	c := s.Template.Clone()
	delete(c.Resources, "Repo")
	if _, ok := s.Template.Resources["Repo"]; !ok {
		t.Error("Clone shares Resources")
	}
	if c.Parameters["BootstrapVersion"]["Description"] != "kept" {
		t.Error("Clone lost a parameter key")
	}
}

func mustName(t *testing.T, s *Stack, id string) string {
	t.Helper()
	n, err := s.PhysicalName(id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
