package ecrevent

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"
)

// invoke runs raw through lambda.NewHandler(h).Invoke, the decode path of a
// deployed function, with a handler that takes the typed event T and returns
// summary(event); it returns that summary.
func invoke[T any](t *testing.T, raw []byte, summary func(T) string) string {
	t.Helper()
	h := lambda.NewHandler(func(ctx context.Context, ev T) (string, error) {
		return summary(ev), nil
	})
	out, err := h.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var s string
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("decode handler output %s: %v", out, err)
	}
	return s
}

func TestLambdaInvokeFixtures(t *testing.T) {
	imageAction := func(ev events.ECRImageActionEvent) string {
		return strings.Join([]string{ev.DetailType, ev.Time.Format("15:04:05"), ev.Detail.ActionType, ev.Detail.Result,
			ev.Detail.RepositoryName, ev.Detail.ImageDigest[:15], ev.Detail.ImageTag}, "|")
	}
	libraryScan := func(ev events.ECRScanEvent) string {
		c := ev.Detail.FindingSeverityCounts
		return strings.Join([]string{ev.DetailType, ev.Time, ev.Detail.ScanStatus, ev.Detail.RepositoryName,
			strings.Join(ev.Detail.ImageTags, ","), itoa(c.Critical), itoa(c.High), itoa(c.Medium)}, "|")
	}
	scan := func(ev ScanEvent) string {
		c := ev.Detail.FindingSeverityCounts
		return strings.Join([]string{ev.DetailType, ev.Time.Format("15:04:05"), ev.Detail.ScanStatus, ev.Detail.RepositoryName,
			strings.Join(ev.Detail.ImageTags, ","), itoa(c["HIGH"]), itoa(c["TOTAL"])}, "|")
	}
	finding := func(ev FindingEvent) string {
		r := ev.Detail.Resources[0]
		return strings.Join([]string{ev.DetailType, ev.Detail.Severity, ev.Detail.Status, r.Type, r.ID}, "|")
	}
	classify := func(raw json.RawMessage) string {
		k, err := Classify(raw)
		if err != nil {
			return "error: " + err.Error()
		}
		return k.String()
	}
	tests := []struct {
		name string
		run  func(t *testing.T) string
		want string
	}{
		{"push as events.ECRImageActionEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-action-push.json"), imageAction)
		}, "ECR Image Action|08:15:42|PUSH|SUCCESS|mlops/retail-api|sha256:1fe57ccd|v1.3.0"},
		{"push failure as events.ECRImageActionEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-action-push-failure.json"), imageAction)
		}, "ECR Image Action|08:21:07|PUSH|FAILURE|mlops/retail-api|sha256:6bd24afc|v1.3.1"},
		{"delete as events.ECRImageActionEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-action-delete.json"), imageAction)
		}, "ECR Image Action|02:00:13|DELETE|SUCCESS|mlops/retail-api|sha256:d81575f1|v1.2.0"},
		{"archive as events.ECRImageActionEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-action-update-storage-class.json"), imageAction)
		}, "ECR Image Action|03:30:00|UPDATE_STORAGE_CLASS|SUCCESS|mlops/retail-api|sha256:d81575f1|"},
		{"basic scan as events.ECRScanEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-scan-complete.json"), libraryScan)
		}, "ECR Image Scan|2026-11-20T08:16:30Z|COMPLETE|mlops/retail-api|v1.3.0|0|2|9"},
		{"basic scan as ScanEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-scan-complete.json"), scan)
		}, "ECR Image Scan|08:16:30|COMPLETE|mlops/retail-api|v1.3.0|2|0"},
		{"failed basic scan as ScanEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "ecr-image-scan-failed.json"), scan)
		}, "ECR Image Scan|08:22:10|FAILED|mlops/retail-api||0|0"},
		{"inspector scan as ScanEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "inspector2-scan-ecr.json"), scan)
		}, "Inspector2 Scan|08:17:05|INITIAL_SCAN_COMPLETE|arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api|v1.3.0|3|14"},
		{"clean inspector scan as ScanEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "inspector2-scan-ecr-clean.json"), scan)
		}, "Inspector2 Scan|10:41:52|INITIAL_SCAN_COMPLETE|arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api|v1.2.0|0|0"},
		{"EC2 inspector scan as ScanEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "inspector2-scan-ec2.json"), scan)
		}, "Inspector2 Scan|07:52:35|INITIAL_SCAN_COMPLETE|||0|0"},
		{"finding as FindingEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "inspector2-finding-ecr.json"), finding)
		}, "Inspector2 Finding|MEDIUM|ACTIVE|AWS_ECR_CONTAINER_IMAGE|arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api/" + exDigest},
		{"2021 finding as FindingEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "inspector2-finding-ecr-2021.json"), finding)
		}, "Inspector2 Finding|MEDIUM|ACTIVE|AWS_ECR_CONTAINER_IMAGE|arn:aws:ecr:ap-southeast-1:123456789012:repository/mlops/retail-api/" + exDigest},
		{"EC2 finding as FindingEvent", func(t *testing.T) string {
			return invoke(t, readFixture(t, "inspector2-finding-ec2.json"), finding)
		}, "Inspector2 Finding|MEDIUM|CLOSED|AWS_EC2_INSTANCE|i-0a1b2c3d4e5f67890"},
	}
	for _, fx := range fixtures {
		tests = append(tests, struct {
			name string
			run  func(t *testing.T) string
			want string
		}{"raw " + fx.file, func(t *testing.T) string {
			return invoke(t, readFixture(t, fx.file), classify)
		}, fx.kind.String()})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(t); got != tt.want {
				t.Errorf("handler saw %q, want %q", got, tt.want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestLambdaInvokeRoundTrip runs every fixture through lambda.NewHandler(h).Invoke
// with a handler typed as the fixture's Go type that marshals the event it received:
// what the function sees must be the whole event.
func TestLambdaInvokeRoundTrip(t *testing.T) {
	remarshal := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return "marshal: " + err.Error()
		}
		return string(b)
	}
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			raw := readFixture(t, fx.file)
			var got string
			switch v := fx.newValue().(type) {
			case *events.ECRImageActionEvent:
				got = invoke(t, raw, func(ev events.ECRImageActionEvent) string { return remarshal(ev) })
			case *events.CloudWatchEvent:
				got = invoke(t, raw, func(ev events.CloudWatchEvent) string { return remarshal(ev) })
			case *ScanEvent:
				got = invoke(t, raw, func(ev ScanEvent) string { return remarshal(ev) })
			case *FindingEvent:
				got = invoke(t, raw, func(ev FindingEvent) string { return remarshal(ev) })
			default:
				t.Fatalf("no handler for %T", v)
			}
			if diff := cmp.Diff(generic(t, raw), generic(t, []byte(got))); diff != "" {
				t.Errorf("event seen by the handler (-fixture +seen):\n%s", diff)
			}
		})
	}
}

func TestLambdaInvokeMalformed(t *testing.T) {
	h := lambda.NewHandler(func(ctx context.Context, ev events.ECRImageActionEvent) (string, error) {
		return ev.ID, nil
	})
	raw := readFixture(t, "ecr-image-action-push.json")
	for _, payload := range [][]byte{raw[:len(raw)/2], []byte(`{"time":"yesterday"}`), []byte(`[]`)} {
		if out, err := h.Invoke(context.Background(), payload); err == nil {
			t.Errorf("Invoke(%q) = %s, nil; want a decode error", payload, out)
		}
	}
}
