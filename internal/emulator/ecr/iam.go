package ecr

import (
	"encoding/json"
	"net/http"

	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// SetAuthorizer turns IAM enforcement on (nil turns it off): every operation is then
// authorized as ecr:<Operation> on the repository's ARN (the Service Authorization
// Reference names every ECR action after its operation), and DescribeImageScanFindings
// on a repository with enhanced scanning also needs inspector2:ListFindings, as AWS
// requires of the caller.
func (s *Server) SetAuthorizer(a *authz.Authorizer) { s.guard.SetAuthorizer(a) }

// authorize answers a denied request with AccessDeniedException and returns false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, op string, body []byte) bool {
	if !s.guard.Enabled() {
		return true
	}
	var in struct {
		RegistryID      *string  `json:"registryId"`
		RepositoryName  *string  `json:"repositoryName"`
		RepositoryNames []string `json:"repositoryNames"`
	}
	_ = json.Unmarshal(body, &in) // a malformed body is the operation's to refuse
	account := s.account
	if in.RegistryID != nil && *in.RegistryID != "" {
		account = *in.RegistryID
	}
	var names []string
	switch {
	case in.RepositoryName != nil:
		names = []string{*in.RepositoryName}
	case len(in.RepositoryNames) > 0:
		names = in.RepositoryNames
	}
	var reqs []iam.Request
	for _, n := range names {
		reqs = append(reqs, iam.Request{Action: "ecr:" + op, Resource: s.RepositoryARN(account, n)})
	}
	if len(names) == 0 {
		// DescribeRepositories without names, and the registry-wide operations.
		reqs = append(reqs, iam.Request{Action: "ecr:" + op, Resource: s.RepositoryARN(account, "*")})
	}
	if op == "DescribeImageScanFindings" && len(names) == 1 && s.enhanced(names[0]) {
		// The resource AWS names in this denial (public reports of the AccessDenied).
		reqs = append(reqs, iam.Request{Action: "inspector2:ListFindings", Resource: authz.ARN("inspector2", s.region, account, "/findings/list")})
	}
	if d := s.guard.Check(r, op, reqs...); d != nil {
		writeError(w, newError(http.StatusBadRequest, d.Code(), "%s", d.Message()))
		return false
	}
	return true
}

// RepositoryARN is the ARN of repository name in the registry account.
func (s *Server) RepositoryARN(account, name string) string {
	return authz.ARN("ecr", s.region, account, "repository/"+name)
}

func (s *Server) enhanced(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[name]
	return ok && r.scanType == ScanEnhanced
}
