package suite

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
)

// otherServicesName is how the endpoint that refuses every service the
// suite does not emulate is listed.
const otherServicesName = "other services"

// otherServices answers every request for an AWS service the suite does
// not emulate with a client error naming the service, in the error shape
// of its protocol so that the CLI and the SDKs print it, and refuses every
// proxy tunnel: a shell pointed at the suite with AWS_ENDPOINT_URL and
// HTTPS_PROXY never sends a request to AWS (with the emulator's keys, or
// with anything else).
type otherServices struct{ emulator.Listener }

// Start serves on addr and returns the base URL.
func (o *otherServices) Start(addr string) (string, error) { return o.Listener.Serve(addr, o) }

// credentialScopeRE finds the signing service in a SigV4 Authorization
// header: Credential=AKID/20260101/ap-southeast-1/s3/aws4_request.
var credentialScopeRE = regexp.MustCompile(`Credential=[^/,]+/[0-9]{8}/[^/,]+/([^/,]+)/aws4_request`)

// ServeHTTP refuses the request.
func (o *otherServices) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		// A tunnel to a real endpoint, asked of the suite as HTTPS_PROXY:
		// an endpoint a client hard-wires (the AWS CLI v1 does for SQS,
		// RDS, EMR, DocumentDB, Neptune and Health) or anything else.
		http.Error(w, "ecrwarden emulate: no request leaves this machine; "+r.Host+" is not emulated", http.StatusForbidden)
		return
	}
	service := "this service"
	if m := credentialScopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		service = m[1]
	}
	msg := fmt.Sprintf("ecrwarden emulate does not emulate %s (it serves ECR, SNS, EventBridge, Secrets Manager, DynamoDB and EKS); the request was answered locally and sent nowhere", service)
	const code = "NotEmulated"
	id := emulator.RequestID()
	w.Header().Set("X-Amzn-Requestid", id)
	ct := r.Header.Get("Content-Type")
	switch {
	case r.Header.Get("X-Amz-Target") != "" || strings.Contains(ct, "json"):
		// awsJson and restJson: the type in a header and in the body.
		w.Header().Set("X-Amzn-Errortype", code)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		_, _ = w.Write(b)
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		// awsQuery and ec2Query.
		type body struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Type      string   `xml:"Error>Type"`
			Code      string   `xml:"Error>Code"`
			Message   string   `xml:"Error>Message"`
			RequestID string   `xml:"RequestId"`
		}
		writeXML(w, body{Type: "Sender", Code: code, Message: msg, RequestID: id})
	default:
		// restXml (S3 and others).
		type body struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string   `xml:"Code"`
			Message   string   `xml:"Message"`
			RequestID string   `xml:"RequestId"`
		}
		writeXML(w, body{Code: code, Message: msg, RequestID: id})
	}
}

func writeXML(w http.ResponseWriter, v any) {
	b, _ := xml.Marshal(v)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}
