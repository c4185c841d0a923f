package secretsmanager

import (
	"encoding/json"
	"net/http"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// SetAuthorizer turns IAM enforcement on (nil turns it off): GetSecretValue needs
// secretsmanager:GetSecretValue on the secret's full ARN (name, dash, six random
// characters) and, for a secret encrypted with a customer managed key
// ([Server.SetSecretKey]), kms:Decrypt on that key; without it AWS answers
// AccessDeniedException "Access to KMS is not allowed". A secret under the AWS managed
// key aws/secretsmanager needs no KMS permission of the caller.
func (s *Server) SetAuthorizer(a *authz.Authorizer) { s.guard.SetAuthorizer(a) }

// SetSecretKey records the customer managed KMS key (its ARN) that encrypts the secret
// name, as CreateSecret's KmsKeyId does; "" means the AWS managed key.
func (s *Server) SetSecretKey(name, keyArn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return &notFound{name}
	}
	sec.kmsKey = keyArn
	return nil
}

type notFound struct{ name string }

func (e *notFound) Error() string { return "secret " + e.name + " does not exist" }

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, op string, body []byte) bool {
	if !s.guard.Enabled() {
		return true
	}
	var in struct {
		SecretID string `json:"SecretId"`
	}
	_ = json.Unmarshal(body, &in) // a malformed body is the operation's to refuse
	s.mu.Lock()
	arn, key := authz.ARN("secretsmanager", s.region, s.account, "secret:"+in.SecretID), ""
	if sec := s.lookup(in.SecretID); sec != nil {
		arn, key = sec.arn, sec.kmsKey
	}
	s.mu.Unlock()
	if d := s.guard.Check(r, op, iam.Request{Action: "secretsmanager:" + op, Resource: arn}); d != nil {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, d.Code(), d.Message())
		return false
	}
	if key == "" || op != "GetSecretValue" {
		return true
	}
	if d := s.guard.Check(r, op, iam.Request{Action: "kms:Decrypt", Resource: key}); d != nil {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "AccessDeniedException", "Access to KMS is not allowed")
		return false
	}
	return true
}
