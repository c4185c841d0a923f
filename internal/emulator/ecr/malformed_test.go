package ecr_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

// rawCall posts body to the emulator's handler as the given operation and
// returns the HTTP status and the decoded error, if any.
func rawCall(t testing.TB, h http.Handler, target, body string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &e)
	return rec.Code, e.Type, e.Message
}

func TestMalformedRequests(t *testing.T) {
	srv := ecr.New(ecr.Config{})
	if err := srv.CreateRepository("mlops/retail-api", ecr.RepositoryOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		op         string
		body       string
		wantStatus int
		wantType   string
		wantInMsg  string
	}{
		{name: "truncated json", op: "DescribeImages", body: `{`, wantStatus: 400, wantType: "SerializationException"},
		{name: "array body", op: "DescribeImages", body: `[]`, wantStatus: 400, wantType: "SerializationException"},
		{name: "string for number", op: "DescribeImages", body: `{"repositoryName":"mlops/retail-api","maxResults":"ten"}`,
			wantStatus: 400, wantType: "SerializationException", wantInMsg: "maxResults"},
		{name: "number for string", op: "CreateRepository", body: `{"repositoryName":42}`,
			wantStatus: 400, wantType: "SerializationException", wantInMsg: "repositoryName"},
		{name: "object for list", op: "BatchDeleteImage", body: `{"repositoryName":"mlops/retail-api","imageIds":{}}`,
			wantStatus: 400, wantType: "SerializationException", wantInMsg: "imageIds"},
		{name: "maxResults overflows int32", op: "ListImages", body: `{"repositoryName":"mlops/retail-api","maxResults":99999999999}`,
			wantStatus: 400, wantType: "SerializationException", wantInMsg: "maxResults"},
		{name: "missing repositoryName", op: "ListImages", body: `{}`, wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "repositoryName"},
		{name: "empty body", op: "DescribeImages", body: ``, wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "repositoryName"},
		{name: "missing imageIds", op: "BatchGetImage", body: `{"repositoryName":"mlops/retail-api"}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "imageIds"},
		{name: "empty imageIds", op: "BatchDeleteImage", body: `{"repositoryName":"mlops/retail-api","imageIds":[]}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "imageIds"},
		{name: "missing imageId", op: "StartImageScan", body: `{"repositoryName":"mlops/retail-api"}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "imageId"},
		{name: "missing manifest", op: "PutImage", body: `{"repositoryName":"mlops/retail-api"}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "imageManifest"},
		{name: "bad registry", op: "DescribeRepositories", body: `{"registryId":"abc"}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "registryId"},
		{name: "bad mutability", op: "CreateRepository", body: `{"repositoryName":"x1","imageTagMutability":"SOMETIMES"}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantInMsg: "imageTagMutability"},
		{name: "unknown operation", op: "DeleteEverything", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "no target", op: "-", body: `{}`, wantStatus: 400, wantType: "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := ecr.TargetPrefix + tc.op
			if tc.op == "-" {
				target = ""
			}
			status, typ, msg := rawCall(t, srv, target, tc.body)
			if status != tc.wantStatus || typ != tc.wantType {
				t.Fatalf("got %d %s (%s), want %d %s", status, typ, msg, tc.wantStatus, tc.wantType)
			}
			if !strings.Contains(msg, tc.wantInMsg) {
				t.Errorf("message %q does not name %q", msg, tc.wantInMsg)
			}
		})
	}
}

var fuzzOps = []string{
	"CreateRepository", "DescribeRepositories", "PutLifecyclePolicy", "PutImage", "BatchGetImage",
	"DescribeImages", "ListImages", "BatchDeleteImage", "DescribeImageScanFindings", "StartImageScan",
}

// FuzzECRHandler decodes arbitrary bodies for every operation against a
// registry with images, an index and scans: the emulator never panics and
// never answers 5xx (no faults are injected).
func FuzzECRHandler(f *testing.F) {
	seeds := []string{
		`{}`, `{`, `null`, `[]`, `"x"`, `{"repositoryName":"mlops/retail-api"}`,
		`{"repositoryName":"mlops/retail-api","maxResults":1,"nextToken":"eyJvIjoiRGVzY3JpYmVJbWFnZXMiLCJzIjoibWxvcHMvcmV0YWlsLWFwaSIsImMiOjF9"}`,
		`{"repositoryName":"mlops/retail-api","imageIds":[{"imageTag":"v1"},{"imageDigest":"sha256:00"},{}]}`,
		`{"repositoryName":"mlops/retail-api","imageId":{"imageTag":"v1"},"maxResults":1000}`,
		`{"repositoryName":"mlops/retail-api","imageManifest":"{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"digest\":\"x\"}]}","imageTag":"v9"}`,
		`{"repositoryName":"mlops/retail-api","filter":{"tagStatus":"UNTAGGED","imageStatus":"ANY"}}`,
		`{"repositoryName":"mlops/retail-api","lifecyclePolicyText":"{\"rules\":[1]}"}`,
		`{"repositoryName":"n/ew","imageTagMutability":"IMMUTABLE_WITH_EXCLUSION","imageTagMutabilityExclusionFilters":[{"filterType":"WILDCARD","filter":"["}]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		srv := ecr.New(ecr.Config{Seed: 1})
		if err := srv.CreateRepository("mlops/retail-api", ecr.RepositoryOptions{ScanOnPush: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.SeedImage("mlops/retail-api", ecr.Image{Tags: []string{"v1"},
			Children: []ecr.Image{{Size: 1}, {Size: 2, Platform: "linux/arm64"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.SeedImage("mlops/retail-api", ecr.Image{Tags: []string{"v2"}, Findings: findings(3)}); err != nil {
			t.Fatal(err)
		}
		status, typ, msg := rawCall(t, srv, ecr.TargetPrefix+fuzzOps[int(op)%len(fuzzOps)], body)
		if status >= 500 {
			t.Fatalf("status %d %s: %s", status, typ, msg)
		}
		if status != 200 && typ == "" {
			t.Fatalf("status %d without __type", status)
		}
	})
}
