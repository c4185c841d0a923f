package ecrevent

import (
	"errors"
	"strings"
	"testing"
)

func TestClassifyFixtures(t *testing.T) {
	reasons := map[string]string{
		"inspector2-scan-ec2.json":           "EC2 instance i-0a1b2c3d4e5f67890",
		"inspector2-finding-ec2.json":        "AWS_EC2_INSTANCE",
		"ecr-replication-action.json":        "ECR Replication Action",
		"ecr-pull-through-cache-action.json": "ECR Pull Through Cache Action",
		"ecr-referrer-action.json":           "ECR Referrer Action",
		"ecr-scan-resource-change.json":      "ECR Scan Resource Change",
	}
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			got, reason, err := ClassifyWithReason(readFixture(t, fx.file))
			if err != nil {
				t.Fatalf("ClassifyWithReason: %v", err)
			}
			if got != fx.kind {
				t.Errorf("kind = %v, want %v (reason %q)", got, fx.kind, reason)
			}
			if reason == "" {
				t.Error("empty reason")
			}
			if want, ok := reasons[fx.file]; ok && !strings.Contains(reason, want) {
				t.Errorf("reason = %q, want it to mention %q", reason, want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		want    Kind
		wantErr string // substring of the error; empty for no error
	}{
		{name: "push", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"action-type":"PUSH","result":"SUCCESS"}}`, want: KindPush},
		{name: "push failed", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"action-type":"PUSH","result":"FAILED"}}`, want: KindPushFailure},
		{name: "push without result", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"action-type":"PUSH"}}`, want: KindPushFailure},
		{name: "delete failed", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"action-type":"DELETE","result":"FAILURE"}}`, want: KindIgnored},
		{name: "unknown action", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"action-type":"RETAG","result":"SUCCESS"}}`, want: KindIgnored},
		{name: "replication looks like a push", event: `{"source":"aws.ecr","detail-type":"ECR Replication Action","detail":{"action-type":"PUSH","result":"SUCCESS","repository-name":"mlops/retail-api","image-tag":"v1"}}`, want: KindIgnored},
		{name: "push fields from another source", event: `{"source":"custom.ci","detail-type":"ECR Image Action","detail":{"action-type":"PUSH","result":"SUCCESS"}}`, want: KindIgnored},
		{name: "scan fields under Inspector coverage", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Coverage","detail":{"scan-status":"x"}}`, want: KindIgnored},
		{name: "lambda finding", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Finding","detail":{"resources":[{"type":"AWS_LAMBDA_FUNCTION"}]}}`, want: KindIgnored},
		{name: "lambda scan", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Scan","detail":{"scan-status":"INITIAL_SCAN_COMPLETE","finding-severity-counts":{"TOTAL":0},"version":"1.0"}}`, want: KindIgnored},
		{name: "finding with an ECR resource among others", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Finding","detail":{"resources":[{"type":"AWS_EC2_INSTANCE"},{"type":"AWS_ECR_CONTAINER_IMAGE"}]}}`, want: KindInspectorFinding},

		{name: "empty input", event: ``, wantErr: "decode envelope"},
		{name: "truncated", event: `{"source":"aws.ecr","detail-type":"ECR Im`, wantErr: "decode envelope"},
		{name: "array", event: `[]`, wantErr: "decode envelope"},
		{name: "null", event: `null`, wantErr: "no source"},
		{name: "no source", event: `{"detail-type":"ECR Image Action","detail":{}}`, wantErr: "no source"},
		{name: "empty source", event: `{"source":"","detail-type":"ECR Image Action","detail":{}}`, wantErr: "no source"},
		{name: "no detail-type", event: `{"source":"aws.ecr","detail":{}}`, wantErr: "no detail-type"},
		{name: "source is a number", event: `{"source":7,"detail-type":"ECR Image Action"}`, wantErr: "decode envelope"},
		{name: "image action without detail", event: `{"source":"aws.ecr","detail-type":"ECR Image Action"}`, wantErr: "has no detail"},
		{name: "image action with null detail", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":null}`, wantErr: "has no detail"},
		{name: "image action detail is a string", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":"PUSH"}`, wantErr: "not an object"},
		{name: "image action without action-type", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"result":"SUCCESS"}}`, wantErr: "no action-type"},
		{name: "action-type is a number", event: `{"source":"aws.ecr","detail-type":"ECR Image Action","detail":{"action-type":1}}`, wantErr: "decode ECR Image Action detail"},
		{name: "scan without detail", event: `{"source":"aws.ecr","detail-type":"ECR Image Scan"}`, wantErr: "has no detail"},
		{name: "inspector scan with a plain repository name", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Scan","detail":{"repository-name":"mlops/retail-api"}}`, wantErr: "not an ECR repository ARN"},
		{name: "finding without resources", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Finding","detail":{"severity":"HIGH"}}`, wantErr: "no resources"},
		{name: "finding resources is an object", event: `{"source":"aws.inspector2","detail-type":"Inspector2 Finding","detail":{"resources":{"type":"AWS_ECR_CONTAINER_IMAGE"}}}`, wantErr: "decode Inspector2 Finding detail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Classify([]byte(tt.event))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Classify = %v, nil; want error containing %q", got, tt.wantErr)
				}
				if !errors.Is(err, ErrMalformedEvent) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %q, want ErrMalformedEvent containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	if got := KindInspectorFinding.String(); got != "inspector-finding" {
		t.Errorf("String = %q", got)
	}
	if got := Kind(42).String(); got != "kind(42)" {
		t.Errorf("String = %q", got)
	}
}
