package eks

import (
	"net/http"

	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// SetAuthorizer turns IAM enforcement on (nil turns it off): DescribeCluster needs
// eks:DescribeCluster on the cluster's ARN; a denial is the restJson
// AccessDeniedException (HTTP 403) the SDK resolves to types.AccessDeniedException.
func (s *Server) SetAuthorizer(a *authz.Authorizer) { s.guard.SetAuthorizer(a) }

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, op, cluster string) bool {
	if d := s.guard.Check(r, op, iam.Request{Action: "eks:" + op, Resource: s.arn(cluster)}); d != nil {
		writeError(w, http.StatusForbidden, d.Code(), d.Message(), nil)
		return false
	}
	return true
}
