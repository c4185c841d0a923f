package eventpattern

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The EC2 state-change event used throughout the EventBridge documentation, with the
// fields the content-filtering examples refer to.
const ec2Event = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-10-02T18:43:48Z",
  "region": "us-west-1",
  "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
  "detail": {
    "instance-id": "i-1234567890abcdef0",
    "state": "running",
    "c-count": 5,
    "d-count": 9,
    "x-limit": 301.8,
    "sourceIPAddress": "10.0.0.123",
    "FileName": "image.PNG",
    "service": "EventBridge"
  }
}`

// withDetail returns an event whose detail object is the given JSON.
func withDetail(detail string) string {
	return `{"source": "aws.ec2", "time": "2017-10-02T18:43:48Z", "detail": ` + detail + `}`
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		event   string
		want    bool
	}{
		// Exact matching.
		{name: "exact source", pattern: `{"source": ["aws.ec2"]}`, event: ec2Event, want: true},
		{name: "exact source mismatch", pattern: `{"source": ["aws.s3"]}`, event: ec2Event, want: false},
		{name: "exact one of several values", pattern: `{"detail": {"state": ["pending", "running"]}}`, event: ec2Event, want: true},
		{name: "exact is case sensitive", pattern: `{"detail": {"state": ["RUNNING"]}}`, event: ec2Event, want: false},
		{name: "all fields must match", pattern: `{"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}`, event: ec2Event, want: false},
		{name: "missing field does not match", pattern: `{"detail": {"nope": ["x"]}}`, event: ec2Event, want: false},
		{name: "event array matches any element", pattern: `{"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}`, event: ec2Event, want: true},
		{name: "number exact", pattern: `{"detail": {"c-count": [5]}}`, event: ec2Event, want: true},
		{name: "number compared numerically", pattern: `{"detail": {"c-count": [5.0e0]}}`, event: ec2Event, want: true},
		{name: "string pattern does not match number", pattern: `{"detail": {"c-count": ["5"]}}`, event: ec2Event, want: false},
		{name: "null matches null", pattern: `{"detail": {"v": [null]}}`, event: withDetail(`{"v": null}`), want: true},
		{name: "empty string matches empty string", pattern: `{"detail": {"v": [""]}}`, event: withDetail(`{"v": ""}`), want: true},
		{name: "boolean", pattern: `{"detail": {"v": [true]}}`, event: withDetail(`{"v": true}`), want: true},
		{name: "boolean mismatch", pattern: `{"detail": {"v": [true]}}`, event: withDetail(`{"v": false}`), want: false},

		// Prefix matching: {"time": [{"prefix": "2017-10-02"}]}.
		{name: "prefix doc example", pattern: `{"time": [{"prefix": "2017-10-02"}]}`, event: ec2Event, want: true},
		{name: "prefix mismatch", pattern: `{"time": [{"prefix": "2017-10-03"}]}`, event: ec2Event, want: false},
		{name: "prefix ignore case", pattern: `{"detail": {"service": [{"prefix": {"equals-ignore-case": "EVENTB"}}]}}`, event: ec2Event, want: true},
		{name: "prefix on number never matches", pattern: `{"detail": {"c-count": [{"prefix": "5"}]}}`, event: ec2Event, want: false},

		// Suffix and case-insensitive matching.
		{name: "suffix is case sensitive", pattern: `{"detail": {"FileName": [{"suffix": ".png"}]}}`, event: ec2Event, want: false},
		{name: "suffix ignore case", pattern: `{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}`, event: ec2Event, want: true},
		{name: "equals-ignore-case", pattern: `{"detail": {"state": [{"equals-ignore-case": "RUNNING"}]}}`, event: ec2Event, want: true},

		// Anything-but matching.
		{name: "anything-but string", pattern: `{"detail": {"state": [{"anything-but": "initializing"}]}}`, event: ec2Event, want: true},
		{name: "anything-but string excluded", pattern: `{"detail": {"state": [{"anything-but": "running"}]}}`, event: ec2Event, want: false},
		{name: "anything-but number", pattern: `{"detail": {"x-limit": [{"anything-but": 123}]}}`, event: ec2Event, want: true},
		{name: "anything-but number excluded", pattern: `{"detail": {"c-count": [{"anything-but": 5}]}}`, event: ec2Event, want: false},
		{name: "anything-but string list", pattern: `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, event: ec2Event, want: true},
		{name: "anything-but string list excluded", pattern: `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, event: withDetail(`{"state": "overloaded"}`), want: false},
		{name: "anything-but number list", pattern: `{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}`, event: ec2Event, want: true},
		{name: "anything-but number list excluded", pattern: `{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}`, event: withDetail(`{"x-limit": 200}`), want: false},
		{name: "anything-but prefix", pattern: `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, event: ec2Event, want: true},
		{name: "anything-but prefix excluded", pattern: `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, event: withDetail(`{"state": "initializing"}`), want: false},
		{name: "anything-but suffix excluded", pattern: `{"detail": {"FileName": [{"anything-but": {"suffix": ".PNG"}}]}}`, event: ec2Event, want: false},
		{name: "anything-but ignore case excluded", pattern: `{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Running", "stopped"]}}]}}`, event: ec2Event, want: false},
		{name: "anything-but wildcard", pattern: `{"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`, event: withDetail(`{"FilePath": "/usr/bin/x"}`), want: true},
		{name: "anything-but wildcard excluded", pattern: `{"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`, event: withDetail(`{"FilePath": "/usr/lib/x"}`), want: false},
		{name: "anything-but needs the field", pattern: `{"detail": {"missing": [{"anything-but": "x"}]}}`, event: ec2Event, want: false},
		{name: "anything-but string vs number leaf", pattern: `{"detail": {"c-count": [{"anything-but": "5"}]}}`, event: ec2Event, want: true},

		// Numeric matching: the documentation's example and its edges.
		{name: "numeric doc example", pattern: `{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}`, event: ec2Event, want: true},
		{name: "numeric upper bound exclusive", pattern: `{"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}`, event: ec2Event, want: false},
		{name: "numeric lower bound", pattern: `{"detail": {"c-count": [{"numeric": [">=", 5]}]}}`, event: ec2Event, want: true},
		{name: "numeric on string never matches", pattern: `{"detail": {"state": [{"numeric": [">", 0]}]}}`, event: ec2Event, want: false},

		// IP address matching.
		{name: "cidr doc example", pattern: `{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}`, event: ec2Event, want: true},
		{name: "cidr outside", pattern: `{"detail": {"sourceIPAddress": [{"cidr": "10.0.1.0/24"}]}}`, event: ec2Event, want: false},
		{name: "cidr ipv6", pattern: `{"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}`, event: withDetail(`{"ip": "2001:db8::1"}`), want: true},

		// Exists matching: the documentation's examples.
		{name: "exists false doc example", pattern: `{"detail": {"c-count": [{"exists": false}]}}`, event: withDetail(`{"state": ["initializing", "running"]}`), want: true},
		{name: "exists false on non-leaf", pattern: `{"detail": {"c-count": [{"exists": false}]}}`, event: withDetail(`{"state": ["initializing", "running"], "c-count": {"c1": 100}}`), want: true},
		{name: "exists false on present leaf", pattern: `{"detail": {"c-count": [{"exists": false}]}}`, event: ec2Event, want: false},
		{name: "exists true", pattern: `{"detail": {"c-count": [{"exists": true}]}}`, event: ec2Event, want: true},
		{name: "exists true missing", pattern: `{"detail": {"nope": [{"exists": true}]}}`, event: ec2Event, want: false},
		{name: "exists true on non-leaf", pattern: `{"detail": {"c-count": [{"exists": true}]}}`, event: withDetail(`{"c-count": {"c1": 100}}`), want: false},
		{name: "exists false with missing parent", pattern: `{"detail": {"c-count": [{"exists": false}]}}`, event: `{"source": "aws.ec2"}`, want: true},
		{name: "exists true on array", pattern: `{"resources": [{"exists": true}]}`, event: ec2Event, want: true},

		// Wildcard matching.
		{name: "wildcard", pattern: `{"detail": {"FileName": [{"wildcard": "*.PNG"}]}}`, event: ec2Event, want: true},
		{name: "wildcard middle", pattern: `{"detail": {"instance-id": [{"wildcard": "i-*abc*0"}]}}`, event: ec2Event, want: true},
		{name: "wildcard mismatch", pattern: `{"detail": {"FileName": [{"wildcard": "*.png"}]}}`, event: ec2Event, want: false},
		{name: "wildcard escaped star", pattern: `{"detail": {"v": [{"wildcard": "a\\*b"}]}}`, event: withDetail(`{"v": "a*b"}`), want: true},
		{name: "wildcard escaped star is literal", pattern: `{"detail": {"v": [{"wildcard": "a\\*b"}]}}`, event: withDetail(`{"v": "axb"}`), want: false},
		{name: "wildcard overlapping ends", pattern: `{"detail": {"v": [{"wildcard": "ab*ba"}]}}`, event: withDetail(`{"v": "aba"}`), want: false},

		// Complex example and $or.
		{name: "complex doc example", pattern: `{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"anything-but": [100, 200, 300]}]}}`, event: ec2Event, want: true},
		{name: "complex doc example one field off", pattern: `{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 4]}]}}`, event: ec2Event, want: false},
		{name: "or one branch", pattern: `{"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}}`, event: ec2Event, want: true},
		{name: "or no branch", pattern: `{"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"state": ["stopped"]}]}}`, event: ec2Event, want: false},
		{name: "mixed alternatives", pattern: `{"detail": {"state": ["stopped", {"prefix": "run"}]}}`, event: ec2Event, want: true},

		// Arrays of objects must match within one element.
		{name: "array of objects same element", pattern: `{"detail": {"items": {"name": ["a"], "size": [1]}}}`, event: withDetail(`{"items": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]}`), want: true},
		{name: "array of objects across elements", pattern: `{"detail": {"items": {"name": ["a"], "size": [2]}}}`, event: withDetail(`{"items": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]}`), want: false},

		// The ECR push pattern the stack declares.
		{name: "ecr push", pattern: `{"source": ["aws.ecr"], "detail-type": ["ECR Image Action"], "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"], "image-tag": [{"exists": true}]}}`, event: `{"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {"result": "SUCCESS", "repository-name": "mlops/retail-api", "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234abcd", "action-type": "PUSH", "image-tag": "v1.4.0"}}`, want: true},
		{name: "ecr delete is not push", pattern: `{"source": ["aws.ecr"], "detail-type": ["ECR Image Action"], "detail": {"action-type": ["PUSH"]}}`, event: `{"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {"action-type": "DELETE"}}`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile([]byte(tt.pattern))
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.pattern, err)
			}
			got, err := p.Match([]byte(tt.event))
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Match(%s) (-want +got):\n%s", tt.pattern, diff)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{name: "not json", pattern: `{"source": [`, wantErr: "event pattern:"},
		{name: "not an object", pattern: `["aws.ecr"]`, wantErr: "must be a JSON object"},
		{name: "empty", pattern: `{}`, wantErr: "empty object"},
		{name: "bare string leaf", pattern: `{"source": "aws.ecr"}`, wantErr: "source: must be an object or an array"},
		{name: "empty array", pattern: `{"source": []}`, wantErr: "source: empty array"},
		{name: "nested array", pattern: `{"source": [["a"]]}`, wantErr: "source[0]: nested arrays"},
		{name: "unknown operator", pattern: `{"detail": {"x": [{"contains": "a"}]}}`, wantErr: "detail.x[0].contains: unknown operator"},
		{name: "two operators", pattern: `{"x": [{"prefix": "a", "suffix": "b"}]}`, wantErr: "exactly one operator"},
		{name: "exists not bool", pattern: `{"x": [{"exists": "yes"}]}`, wantErr: "x[0].exists: must be true or false"},
		{name: "prefix not string", pattern: `{"x": [{"prefix": 1}]}`, wantErr: "x[0].prefix: must be a string"},
		{name: "anything-but mixed list", pattern: `{"x": [{"anything-but": ["a", 1]}]}`, wantErr: "mixes strings and numbers"},
		{name: "anything-but empty list", pattern: `{"x": [{"anything-but": []}]}`, wantErr: "empty list"},
		{name: "anything-but unknown", pattern: `{"x": [{"anything-but": {"numeric": [">", 1]}}]}`, wantErr: "unknown anything-but operator"},
		{name: "numeric odd", pattern: `{"x": [{"numeric": [">", 1, "<"]}]}`, wantErr: "must be [op, number]"},
		{name: "numeric bad op", pattern: `{"x": [{"numeric": ["!=", 1]}]}`, wantErr: `unknown operator "!="`},
		{name: "numeric two lower bounds", pattern: `{"x": [{"numeric": [">", 1, ">=", 2]}]}`, wantErr: "one lower bound"},
		{name: "numeric out of range", pattern: `{"x": [{"numeric": [">", 1e10]}]}`, wantErr: "outside the range"},
		{name: "numeric string operand", pattern: `{"x": [{"numeric": [">", "1"]}]}`, wantErr: "must be a number"},
		{name: "cidr invalid", pattern: `{"x": [{"cidr": "10.0.0.0/33"}]}`, wantErr: "x[0].cidr:"},
		{name: "wildcard double star", pattern: `{"x": [{"wildcard": "a**b"}]}`, wantErr: "consecutive wildcard"},
		{name: "wildcard bad escape", pattern: `{"x": [{"wildcard": "a\\b"}]}`, wantErr: "invalid escape"},
		{name: "or single branch", pattern: `{"$or": [{"x": ["a"]}]}`, wantErr: "$or must be an array of at least two"},
		{name: "trailing data", pattern: `{"x": ["a"]} {}`, wantErr: "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.pattern))
			if err == nil {
				t.Fatalf("Compile(%s) = nil error, want one containing %q", tt.pattern, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Compile(%s) error = %q, want it to contain %q", tt.pattern, err, tt.wantErr)
			}
		})
	}
}

func TestMatchDecodedPattern(t *testing.T) {
	// The form a CDK stack declares: typed slices and nested maps, not []any.
	pattern := map[string]any{
		"source":      []string{"aws.ecr"},
		"detail-type": []string{"ECR Image Scan"},
		"detail": map[string]any{
			"scan-status":     []string{"COMPLETE"},
			"repository-name": []any{map[string]any{"prefix": "mlops/"}},
			"finding-severity-counts": map[string]any{
				"CRITICAL": []any{map[string]any{"numeric": []any{">", 0}}},
			},
		},
	}
	tests := []struct {
		name  string
		event string
		want  bool
	}{
		{name: "critical findings", event: `{"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": {"scan-status": "COMPLETE", "repository-name": "mlops/retail-api", "finding-severity-counts": {"CRITICAL": 2, "HIGH": 1}}}`, want: true},
		{name: "no critical findings", event: `{"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": {"scan-status": "COMPLETE", "repository-name": "mlops/retail-api", "finding-severity-counts": {"HIGH": 1}}}`, want: false},
		{name: "other repository", event: `{"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": {"scan-status": "COMPLETE", "repository-name": "web/frontend", "finding-severity-counts": {"CRITICAL": 2}}}`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Match(pattern, []byte(tt.event))
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchInvalidEvent(t *testing.T) {
	p, err := Compile([]byte(`{"source": ["aws.ecr"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{``, `[]`, `"aws.ecr"`, `{"source": "aws.ecr"`} {
		if _, err := p.Match([]byte(ev)); err == nil {
			t.Errorf("Match(%q) = nil error, want an error", ev)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte(`{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}]}}`), []byte(ec2Event))
	f.Add([]byte(`{"detail": {"c-count": [{"exists": false}], "$or": [{"a": [1]}, {"b": [{"wildcard": "x*y"}]}]}}`), []byte(withDetail(`{"a": [1, {"c": 2}], "b": "xzy"}`)))
	f.Add([]byte(`{"x": [{"cidr": "10.0.0.0/8"}, {"anything-but": {"wildcard": ["*a", "b*"]}}]}`), []byte(`{"x": ["10.1.2.3", null, true]}`))
	f.Fuzz(func(t *testing.T, pattern, event []byte) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		got, err := p.Match(event)
		if err != nil {
			return
		}
		// Matching is deterministic: a second run agrees.
		again, _ := p.Match(event)
		if got != again {
			t.Fatalf("Match is not deterministic for %s on %s", pattern, event)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	p, err := Compile([]byte(`{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}], "x-limit": [{"anything-but": [100, 200, 300]}]}}`))
	if err != nil {
		b.Fatal(err)
	}
	event := []byte(ec2Event)
	for b.Loop() {
		if ok, err := p.Match(event); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
