package dynamodb

import (
	"encoding/json"
	"net/http"

	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// SetAuthorizer turns IAM enforcement on (nil turns it off): every operation needs
// dynamodb:<Operation> on the table's ARN.
func (s *Server) SetAuthorizer(a *authz.Authorizer) { s.guard.SetAuthorizer(a) }

// TableARN is the ARN of the table name.
func (s *Server) TableARN(name string) string {
	return authz.ARN("dynamodb", s.region, s.account, "table/"+name)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, op string, body []byte) bool {
	if !s.guard.Enabled() {
		return true
	}
	var in struct {
		TableName string `json:"TableName"`
	}
	_ = json.Unmarshal(body, &in) // a malformed body is the operation's to refuse
	table := in.TableName
	if table == "" {
		table = "*"
	}
	if d := s.guard.Check(r, op, iam.Request{Action: "dynamodb:" + op, Resource: s.TableARN(table)}); d != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: d.Code(), msg: d.Message()})
		return false
	}
	return true
}
