package sns

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// SetAuthorizer turns IAM enforcement on (nil turns it off): Publish and PublishBatch
// need sns:Publish on the topic and, on a topic encrypted with a KMS key
// ([Server.SetTopicKey]), kms:GenerateDataKey and kms:Decrypt on that key (SNS
// server-side encryption: the publisher's permissions are used); CreateTopic needs
// sns:CreateTopic.
func (s *Server) SetAuthorizer(a *authz.Authorizer) { s.guard.SetAuthorizer(a) }

// SetTopicKey records the KMS key (its ARN) that encrypts a topic, as the topic's
// KmsMasterKeyId attribute does.
func (s *Server) SetTopicKey(topicArn, keyArn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]string{}
	}
	s.keys[topicArn] = keyArn
}

// authorize answers a denied request in SNS's shape and returns false: AuthorizationError
// (403) for the topic, KMSAccessDenied (400) for the key.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, op string, form url.Values) bool {
	if !s.guard.Enabled() {
		return true
	}
	var topic, action string
	switch op {
	case "Publish", "PublishBatch":
		topic, action = form.Get("TopicArn"), "sns:Publish"
	case "CreateTopic":
		topic, action = s.TopicARN(form.Get("Name")), "sns:CreateTopic"
	default:
		topic, action = "*", "sns:"+op
	}
	if d := s.guard.Check(r, op, iam.Request{Action: action, Resource: topic}); d != nil {
		if d.Unrecognized {
			writeError(w, &apiError{status: http.StatusForbidden, typ: "Sender", code: "InvalidClientTokenId", msg: d.Message()})
			return false
		}
		writeError(w, &apiError{status: http.StatusForbidden, typ: "Sender", code: "AuthorizationError",
			msg: d.MessageFor("SNS:" + strings.TrimPrefix(action, "sns:"))})
		return false
	}
	if action != "sns:Publish" {
		return true
	}
	s.mu.Lock()
	key := s.keys[topic]
	s.mu.Unlock()
	if key == "" {
		return true
	}
	if d := s.guard.Check(r, op, iam.Request{Action: "kms:GenerateDataKey", Resource: key}, iam.Request{Action: "kms:Decrypt", Resource: key}); d != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "KMSAccessDenied",
			msg: d.Message() + " (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: " + emulator.RequestID() + "; Proxy: null)"})
		return false
	}
	return true
}
