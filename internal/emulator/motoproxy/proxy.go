package motoproxy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// maxBody bounds the request bodies the proxy reads to name an operation.
const maxBody = 8 << 20

// Call is one request as the proxy names it.
type Call struct {
	// Service is the SigV4 signing name of the request ("ecs", "lambda",
	// "sagemaker", "batch", "sqs"); empty when the request is unsigned.
	Service string
	// Op is the operation name ("ListServices", "GetFunction").
	Op string
	// Body is the request body; Query its URL query.
	Body  []byte
	Query url.Values
}

// Name is the call's name in the fault rules and the call log:
// "service:Operation", the spelling of IAM actions ("ecs:ListServices").
func (c Call) Name() string { return c.Service + ":" + c.Op }

// Refusal answers the calls it matches with a service error instead of
// forwarding them.
type Refusal struct {
	// Op is a call name ("sagemaker:ListModels"), or "service:*" for every
	// operation of a service.
	Op string
	// When selects the calls further; nil matches every call of Op.
	When func(Call) bool
	// Status and Code are the HTTP status and error code answered, such as
	// 400 and AccessDeniedException (the awsJson services) or 403 (the
	// restJson ones).
	Status int
	Code   string
}

// Proxy forwards AWS SDK requests to moto_server, recording and naming
// each call and injecting the faults its rules decide. It is safe for
// concurrent use.
type Proxy struct {
	upstream *httputil.ReverseProxy
	faults   *fault.Injector
	log      fault.Log

	mu       sync.Mutex
	refusals []Refusal
}

// New returns a proxy in front of the moto_server at motoURL.
func New(motoURL string) (*Proxy, error) {
	u, err := url.Parse(motoURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("motoproxy: bad upstream URL %q", motoURL)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() != nil {
			return // the client gave up (a cancelled listing): nothing to answer
		}
		http.Error(w, "motoproxy: moto_server unreachable: "+err.Error(), http.StatusBadGateway)
	}
	return &Proxy{upstream: rp, faults: fault.New(1)}, nil
}

// Faults is the injector of throttling, 5xx and dropped connections, with
// rules per call name ("lambda:GetFunction") or fault.AnyOp.
func (p *Proxy) Faults() *fault.Injector { return p.faults }

// Log is the call log, by call name; faulted and refused calls included.
func (p *Proxy) Log() *fault.Log { return &p.log }

// Refuse adds a refusal rule; the first matching rule answers a call.
func (p *Proxy) Refuse(r Refusal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusals = append(p.refusals, r)
}

// Clear removes every fault rule and refusal and empties the call log.
func (p *Proxy) Clear() {
	p.faults.Clear()
	p.log.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusals = nil
}

// AccessDenied is a refusal of op the way IAM refuses an ungranted call:
// AccessDeniedException, HTTP 400 for the awsJson services and 403 for the
// restJson ones (Lambda, Batch).
func AccessDenied(op string) Refusal {
	status := http.StatusBadRequest
	if svc, _, _ := strings.Cut(op, ":"); restJSON[svc] {
		status = http.StatusForbidden
	}
	return Refusal{Op: op, Status: status, Code: "AccessDeniedException"}
}

// NextPage reports whether a call asks for a page after the first: its body
// or query carries a pagination token. With it a refusal or fault hits a
// listing in its middle.
func NextPage(c Call) bool {
	for _, k := range []string{"Marker", "marker", "NextToken", "nextToken"} {
		if c.Query.Get(k) != "" {
			return true
		}
	}
	var body map[string]any
	if json.Unmarshal(c.Body, &body) != nil {
		return false
	}
	for _, k := range []string{"NextToken", "nextToken", "Marker"} {
		if s, _ := body[k].(string); s != "" {
			return true
		}
	}
	return false
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "motoproxy: request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := Identify(r, body)
	proto := protocolOf(c.Service, r)
	if ref, ok := p.refusal(c); ok {
		p.log.Record(c.Name(), body)
		proto.writeError(w, ref.Status, ref.Code, "refused by the test proxy: "+c.Name())
		return
	}
	gate := fault.Gate{Injector: p.faults, Log: &p.log, Write: func(w http.ResponseWriter, k fault.Kind, status int) {
		if k == fault.Throttle {
			proto.writeThrottle(w)
			return
		}
		proto.writeError(w, status, proto.serverCode, "internal error injected by the test proxy")
	}}
	if !gate.Admit(w, r, c.Name(), body) {
		return
	}
	p.upstream.ServeHTTP(w, r)
}

func (p *Proxy) refusal(c Call) (Refusal, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.refusals {
		svc, op, _ := strings.Cut(r.Op, ":")
		if svc != c.Service || (op != "*" && op != c.Op) {
			continue
		}
		if r.When == nil || r.When(c) {
			return r, true
		}
	}
	return Refusal{}, false
}

var (
	// credentialScope finds the service in a SigV4 Authorization header:
	// Credential=AKID/20261129/ap-southeast-1/ecs/aws4_request.
	credentialScope = regexp.MustCompile(`Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request`)
	// lambdaPath splits a Lambda REST path: /2015-03-31/functions/NAME/REST.
	lambdaPath = regexp.MustCompile(`^/20\d\d-\d\d-\d\d/functions/?([^/]*)/?(.*)$`)
	// batchOps spells the Batch operations whose REST paths are lower case.
	batchOps = map[string]string{
		"describejobdefinitions": "DescribeJobDefinitions", "registerjobdefinition": "RegisterJobDefinition",
		"deregisterjobdefinition": "DeregisterJobDefinition", "describejobs": "DescribeJobs", "listjobs": "ListJobs",
		"submitjob": "SubmitJob", "describejobqueues": "DescribeJobQueues", "describecomputeenvironments": "DescribeComputeEnvironments",
	}
)

// Identify names the service and operation of a request from its wire
// protocol: X-Amz-Target (awsJson), the Action parameter (awsQuery), or
// the method and path (restJson: Lambda and Batch).
func Identify(r *http.Request, body []byte) Call {
	c := Call{Body: body, Query: r.URL.Query()}
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.Service = m[1]
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		_, c.Op, _ = strings.Cut(t, ".")
		return c
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			c.Op = form.Get("Action")
			return c
		}
	}
	if a := c.Query.Get("Action"); a != "" {
		c.Op = a
		return c
	}
	switch c.Service {
	case "lambda":
		c.Op = lambdaOp(r.Method, r.URL.Path)
	case "batch":
		name := strings.TrimPrefix(r.URL.Path, "/v1/")
		if op, ok := batchOps[name]; ok {
			c.Op = op
		} else {
			c.Op = name
		}
	}
	if c.Op == "" {
		c.Op = r.Method + " " + r.URL.Path
	}
	return c
}

// lambdaOp names the Lambda operations of the function paths.
func lambdaOp(method, path string) string {
	m := lambdaPath.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	name, rest := m[1], m[2]
	switch {
	case name == "" && method == http.MethodGet:
		return "ListFunctions"
	case name == "" && method == http.MethodPost:
		return "CreateFunction"
	case rest == "" && method == http.MethodGet:
		return "GetFunction"
	case rest == "" && method == http.MethodDelete:
		return "DeleteFunction"
	case rest == "configuration" && method == http.MethodGet:
		return "GetFunctionConfiguration"
	case rest == "versions" && method == http.MethodGet:
		return "ListVersionsByFunction"
	case rest == "versions" && method == http.MethodPost:
		return "PublishVersion"
	case rest == "code" && method == http.MethodPut:
		return "UpdateFunctionCode"
	}
	return ""
}

// restJSON names the services that speak restJson1 among those the proxy
// fronts; their errors carry X-Amzn-Errortype and their throttling is HTTP
// 429 TooManyRequestsException.
var restJSON = map[string]bool{"lambda": true, "batch": true}

// protocol writes errors in one service's shape.
type protocol struct {
	kind       string // "json", "rest" or "query"
	serverCode string
}

func protocolOf(service string, r *http.Request) protocol {
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		return protocol{kind: "json", serverCode: "InternalFailure"}
	case restJSON[service]:
		code := "ServiceException"
		if service == "batch" {
			code = "ServerException"
		}
		return protocol{kind: "rest", serverCode: code}
	default:
		return protocol{kind: "query", serverCode: "InternalFailure"}
	}
}

func (p protocol) writeThrottle(w http.ResponseWriter) {
	if p.kind == "rest" {
		p.writeError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate exceeded")
		return
	}
	p.writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
}

func (p protocol) writeError(w http.ResponseWriter, status int, code, msg string) {
	if p.kind == "query" {
		type errorXML struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		body, _ := xml.Marshal(struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Error     errorXML `xml:"Error"`
			RequestID string   `xml:"RequestId"`
		}{Error: errorXML{Type: "Sender", Code: code, Message: msg}, RequestID: emulator.RequestID()})
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("X-Amzn-Errortype", code)
	content := emulator.AWSJSON11
	if p.kind == "rest" {
		content = "application/json"
	}
	content.Error(w, status, code, msg)
}
