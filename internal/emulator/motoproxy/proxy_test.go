package motoproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func signed(service string) string {
	return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/ap-southeast-1/" + service + "/aws4_request, SignedHeaders=host, Signature=x"
}

func TestIdentify(t *testing.T) {
	tests := []struct {
		name, service, method, path, target, contentType, body string
		want                                                   string
	}{
		{name: "awsJson", service: "ecs", method: "POST", path: "/", target: "AmazonEC2ContainerServiceV20141113.ListServices", want: "ecs:ListServices"},
		{name: "awsJson SageMaker", service: "sagemaker", method: "POST", path: "/", target: "SageMaker.DescribeModel", want: "sagemaker:DescribeModel"},
		{name: "awsQuery", service: "sts", method: "POST", path: "/", contentType: "application/x-www-form-urlencoded", body: "Action=GetCallerIdentity&Version=2011-06-15", want: "sts:GetCallerIdentity"},
		{name: "Lambda list", service: "lambda", method: "GET", path: "/2015-03-31/functions/", want: "lambda:ListFunctions"},
		{name: "Lambda get", service: "lambda", method: "GET", path: "/2015-03-31/functions/scorer", want: "lambda:GetFunction"},
		{name: "Lambda get by ARN", service: "lambda", method: "GET", path: "/2015-03-31/functions/arn:aws:lambda:ap-southeast-1:123456789012:function:scorer", want: "lambda:GetFunction"},
		{name: "Lambda create", service: "lambda", method: "POST", path: "/2015-03-31/functions", want: "lambda:CreateFunction"},
		{name: "Lambda code", service: "lambda", method: "PUT", path: "/2015-03-31/functions/scorer/code", want: "lambda:UpdateFunctionCode"},
		{name: "Batch", service: "batch", method: "POST", path: "/v1/describejobdefinitions", want: "batch:DescribeJobDefinitions"},
		{name: "unknown REST call", service: "lambda", method: "GET", path: "/2018-10-31/layers", want: "lambda:GET /2018-10-31/layers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Header.Set("Authorization", signed(tt.service))
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if got := Identify(r, []byte(tt.body)).Name(); got != tt.want {
				t.Errorf("Identify = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNextPage(t *testing.T) {
	for body, want := range map[string]bool{
		`{"MaxResults":100}`:                   false,
		`{"MaxResults":100,"NextToken":"abc"}`: true,
		`{"nextToken":"abc"}`:                  true,
		`{"NextToken":""}`:                     false,
		`not json`:                             false,
	} {
		if got := NextPage(Call{Body: []byte(body)}); got != want {
			t.Errorf("NextPage(%s) = %v, want %v", body, got, want)
		}
	}
	if !NextPage(Call{Query: map[string][]string{"Marker": {"m"}}}) {
		t.Error("NextPage with a Marker query = false")
	}
}

// TestProxy forwards, records, refuses and faults calls, in each protocol's
// error shape.
func TestProxy(t *testing.T) {
	var forwarded []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		forwarded = append(forwarded, r.Method+" "+r.URL.Path+" "+string(body))
		w.Write([]byte(`{}`))
	}))
	defer upstream.Close()
	p, err := New(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	call := func(service, target, path, contentType, body string) (int, http.Header, string) {
		t.Helper()
		method := http.MethodPost
		if target == "" && contentType == "" {
			method = http.MethodGet
		}
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", signed(service))
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	if code, _, _ := call("ecs", "AmazonEC2ContainerServiceV20141113.ListClusters", "/", "", `{"maxResults":100}`); code != 200 {
		t.Errorf("forwarded call: HTTP %d", code)
	}
	if diff := cmp.Diff([]string{`POST / {"maxResults":100}`}, forwarded); diff != "" {
		t.Errorf("forwarded (-want +got):\n%s", diff)
	}

	p.Refuse(AccessDenied("lambda:*"))
	code, h, body := call("lambda", "", "/2015-03-31/functions/", "", "")
	if code != http.StatusForbidden || h.Get("X-Amzn-Errortype") != "AccessDeniedException" || !strings.Contains(body, "lambda:ListFunctions") {
		t.Errorf("refused Lambda call: %d %v %s", code, h, body)
	}

	p.Faults().Set("ecs:ListServices", fault.Rule{Throttle: 1, ServerError: 1})
	if code, _, body := call("ecs", "AmazonEC2ContainerServiceV20141113.ListServices", "/", "", `{}`); code != 400 || !strings.Contains(body, `"__type":"ThrottlingException"`) {
		t.Errorf("throttled awsJson call: %d %s", code, body)
	}
	if code, _, body := call("ecs", "AmazonEC2ContainerServiceV20141113.ListServices", "/", "", `{}`); code != 500 || !strings.Contains(body, `"__type":"InternalFailure"`) {
		t.Errorf("5xx awsJson call: %d %s", code, body)
	}
	p.Faults().Set("batch:DescribeJobDefinitions", fault.Rule{Throttle: 1})
	if code, h, _ := call("batch", "", "/v1/describejobdefinitions", "application/json", `{}`); code != 429 || h.Get("X-Amzn-Errortype") != "TooManyRequestsException" {
		t.Errorf("throttled restJson call: %d %v", code, h)
	}
	p.Refuse(Refusal{Op: "sts:GetCallerIdentity", Status: 403, Code: "AccessDenied"})
	if code, _, body := call("sts", "", "/", "application/x-www-form-urlencoded", "Action=GetCallerIdentity&Version=2011-06-15"); code != 403 ||
		!strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.HasPrefix(body, "<ErrorResponse>") {
		t.Errorf("refused awsQuery call: %d %s", code, body)
	}
	want := map[string]int{"ecs:ListClusters": 1, "ecs:ListServices": 2, "lambda:ListFunctions": 1, "batch:DescribeJobDefinitions": 1, "sts:GetCallerIdentity": 1}
	for op, n := range want {
		if got := p.Log().Count(op); got != n {
			t.Errorf("log count of %s = %d, want %d", op, got, n)
		}
	}
	if len(forwarded) != 1 {
		t.Errorf("forwarded %d calls, want only the first", len(forwarded))
	}
	p.Clear()
	if p.Log().Count(fault.AnyOp) != 0 {
		t.Error("Clear left calls in the log")
	}
	if code, _, _ := call("lambda", "", "/2015-03-31/functions/", "", ""); code != 200 {
		t.Errorf("after Clear: HTTP %d, want the call forwarded", code)
	}
}
