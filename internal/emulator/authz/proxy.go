package authz

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// maxProxyBody bounds a proxied request body.
const maxProxyBody = 10 << 20

// Proxy is an authorizing reverse proxy in front of a server that serves AWS services
// without checking permissions (moto_server): it identifies the caller and the
// service from the SigV4 signature, maps the operation to IAM actions and resources
// (awsJson via X-Amz-Target, awsQuery via Action, and the REST operations of Lambda
// and Batch by path), and forwards the request only when the caller is allowed, else
// answers AccessDenied in the request's protocol. An operation without a specific
// mapping is authorized as <service>:<Operation> on "*", the way IAM names most
// actions; a role that does not grant it is refused with a message naming it.
type Proxy struct {
	guard           Guard
	next            http.Handler
	region, account string
}

// NewProxy returns a proxy to target (http://127.0.0.1:PORT) for resources in region
// and account. Without an authorizer it forwards everything.
func NewProxy(target, region, account string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("proxy target %q is not a URL", target)
	}
	return NewProxyTo(httputil.NewSingleHostReverseProxy(u), region, account), nil
}

// NewProxyTo returns a proxy that hands each request it allows to next, in the same
// process, instead of forwarding it itself: next is another handler in front of the
// same server (the sandbox chains the fault-injecting motoproxy.Proxy behind it, so a
// call is authorized first, then counted and perhaps failed on purpose).
func NewProxyTo(next http.Handler, region, account string) *Proxy {
	return &Proxy{next: next, region: region, account: account}
}

// SetAuthorizer turns enforcement on (nil turns it off).
func (p *Proxy) SetAuthorizer(a *Authorizer) { p.guard.SetAuthorizer(a) }

// protocol is how a request was encoded, which decides the shape of a denial.
type protocol int

const (
	protoJSON protocol = iota
	protoQuery
	protoREST
)

// ServeHTTP authorizes and forwards one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxProxyBody+1))
	if err != nil || len(body) > maxProxyBody {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if p.guard.Enabled() {
		service := Service(r)
		op, proto, reqs := p.requests(service, r, body)
		if d := p.guard.Check(r, op, reqs...); d != nil {
			writeProxyDenial(w, service, proto, d)
			return
		}
	}
	r.ContentLength = int64(len(body))
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.next.ServeHTTP(w, r)
}

// requests maps one request to its operation, protocol and IAM requests.
func (p *Proxy) requests(service string, r *http.Request, body []byte) (string, protocol, []iam.Request) {
	var op string
	var params map[string]any
	proto := protoREST
	switch target := r.Header.Get("X-Amz-Target"); {
	case target != "":
		proto = protoJSON
		_, op, _ = strings.Cut(target, ".")
		_ = json.Unmarshal(body, &params)
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		proto = protoQuery
		form, _ := url.ParseQuery(string(body))
		op = form.Get("Action")
		params = map[string]any{}
		for k, v := range form {
			params[k] = v[0]
		}
	default:
		op, params = restOperation(service, r)
	}
	str := func(k string) string { s, _ := params[k].(string); return s }
	arn := func(svc, res string) string { return ARN(svc, p.region, p.account, res) }
	action, resources := service+":"+op, []string{"*"}
	switch service {
	case "sqs":
		action = "sqs:" + strings.TrimSuffix(op, "Batch") // SendMessageBatch is sqs:SendMessage, …
		switch {
		case str("QueueUrl") != "":
			resources = []string{queueARN(p.region, str("QueueUrl"))}
		case str("QueueName") != "":
			resources = []string{arn("sqs", str("QueueName"))}
		}
	case "lambda":
		if name := str("FunctionName"); name != "" {
			if !strings.HasPrefix(name, "arn:") {
				name = arn("lambda", "function:"+name)
			}
			// A version or alias is part of the resource: function:name:3.
			if q := str("Qualifier"); q != "" && strings.Count(name, ":") == 6 {
				name += ":" + q
			}
			resources = []string{name}
		}
	case "ecs":
		cluster := str("cluster")
		if cluster == "" {
			cluster = "default"
		}
		cluster = cluster[strings.LastIndex(cluster, "/")+1:]
		switch op {
		case "DescribeServices":
			resources = ecsARNs(params["services"], arn("ecs", "service/"+cluster+"/"))
		case "DescribeTasks":
			resources = ecsARNs(params["tasks"], arn("ecs", "task/"+cluster+"/"))
		}
	case "sagemaker":
		// SageMaker ARNs carry resource names in lower case.
		kinds := map[string]string{"DescribeModel": "model/", "DescribeEndpoint": "endpoint/", "DescribeEndpointConfig": "endpoint-config/",
			"DescribeTrainingJob": "training-job/", "DescribeProcessingJob": "processing-job/", "DescribeTransformJob": "transform-job/",
			"DescribeHyperParameterTuningJob": "hyper-parameter-tuning-job/"}
		for _, k := range []string{"ModelName", "EndpointName", "EndpointConfigName", "TrainingJobName", "ProcessingJobName", "TransformJobName",
			"HyperParameterTuningJobName"} {
			if name := str(k); name != "" && kinds[op] != "" {
				resources = []string{arn("sagemaker", kinds[op]+strings.ToLower(name))}
			}
		}
	}
	reqs := make([]iam.Request, len(resources))
	for i, res := range resources {
		reqs[i] = iam.Request{Action: action, Resource: res}
	}
	return op, proto, reqs
}

// restOperation names the REST operations of Lambda and Batch that in-use discovery
// calls; other paths are named by method and path.
func restOperation(service string, r *http.Request) (string, map[string]any) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch service {
	case "lambda":
		if rest, ok := strings.CutPrefix(path, "/2015-03-31/functions"); ok {
			name, _ := url.PathUnescape(strings.TrimPrefix(rest, "/"))
			switch {
			case name == "" && r.Method == http.MethodGet:
				return "ListFunctions", nil
			case !strings.Contains(name, "/") && r.Method == http.MethodGet:
				return "GetFunction", map[string]any{"FunctionName": name, "Qualifier": r.URL.Query().Get("Qualifier")}
			}
		}
	case "batch":
		if rest, ok := strings.CutPrefix(path, "/v1/"); ok && r.Method == http.MethodPost {
			ops := map[string]string{"describejobdefinitions": "DescribeJobDefinitions", "describejobqueues": "DescribeJobQueues",
				"listjobs": "ListJobs", "describejobs": "DescribeJobs"}
			if op, ok := ops[rest]; ok {
				return op, nil
			}
		}
	}
	return r.Method + " " + path, nil
}

// queueARN turns a queue URL (…/<account>/<name>) into the queue's ARN.
func queueARN(region, queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return queueURL
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 {
		return queueURL
	}
	return "arn:aws:sqs:" + region + ":" + parts[0] + ":" + parts[1]
}

// ecsARNs turns a list of names or ARNs into ARNs under prefix.
func ecsARNs(v any, prefix string) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		if !strings.HasPrefix(s, "arn:") {
			s = prefix + s
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}

// writeProxyDenial answers a denied request in its protocol's shape: awsJson
// AccessDeniedException (400, with SQS's x-amzn-query-error header), awsQuery
// AccessDenied (403), REST AccessDeniedException (403).
func writeProxyDenial(w http.ResponseWriter, service string, proto protocol, d *Denial) {
	msg, code := d.Message(), d.Code()
	if service == "sqs" {
		msg = d.MessageFor(strings.ToLower(d.Action)) // SQS names actions in lower case
	}
	switch proto {
	case protoJSON:
		if service == "sqs" && !d.Unrecognized {
			w.Header().Set("x-amzn-query-error", "AccessDenied;Sender")
			code = "com.amazon.coral.service#AccessDeniedException"
		}
		emulator.JSONProtocol("application/x-amz-json-1.0").Error(w, http.StatusBadRequest, code, msg)
	case protoQuery:
		if !d.Unrecognized {
			code = "AccessDenied"
		} else {
			code = "InvalidClientTokenId"
		}
		b, _ := xml.Marshal(struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Type      string   `xml:"Error>Type"`
			Code      string   `xml:"Error>Code"`
			Message   string   `xml:"Error>Message"`
			RequestID string   `xml:"RequestId"`
		}{Type: "Sender", Code: code, Message: msg, RequestID: emulator.RequestID()})
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(b)
	default:
		b, _ := json.Marshal(map[string]string{"message": msg, "Message": msg})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", code)
		w.Header().Set("X-Amzn-Requestid", emulator.RequestID())
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(b)
	}
}
