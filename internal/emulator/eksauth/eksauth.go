package eksauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	tokenPrefix     = "k8s-aws-v1."
	clusterIDHeader = "x-k8s-aws-id"
	maxTokenAge     = 15 * time.Minute
	maxExpires      = 60
	// emptyPayloadHash is the SHA-256 of an empty body, which a presigned GET carries.
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

var stsHostRE = regexp.MustCompile(`^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$`)

// Identity is the Kubernetes user an AWS access key maps to.
type Identity struct {
	// SecretAccessKey verifies the token's signature.
	SecretAccessKey string
	// ARN is the IAM principal, reported as the user's extra "arn".
	ARN string
	// Username and Groups are what RBAC sees.
	Username string
	Groups   []string
}

// Server answers TokenReview webhooks for one cluster. It is safe for concurrent use.
type Server struct {
	cluster string
	now     func() time.Time

	mu         sync.Mutex
	identities map[string]Identity
}

// New returns a server for the named cluster, mapping access key ids to identities.
func New(cluster string, identities map[string]Identity) *Server {
	ids := make(map[string]Identity, len(identities))
	for k, v := range identities {
		ids[k] = v
	}
	return &Server{cluster: cluster, identities: ids, now: time.Now}
}

// SetIdentity maps an access key id to an identity (an EKS access entry of a role
// whose session signs with the key).
func (s *Server) SetIdentity(accessKeyID string, id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities[accessKeyID] = id
}

// RemoveIdentity forgets an access key id.
func (s *Server) RemoveIdentity(accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.identities, accessKeyID)
}

type tokenReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Token string `json:"token"`
	} `json:"spec"`
	Status struct {
		Authenticated bool `json:"authenticated"`
		User          *struct {
			Username string              `json:"username"`
			UID      string              `json:"uid"`
			Groups   []string            `json:"groups,omitempty"`
			Extra    map[string][]string `json:"extra,omitempty"`
		} `json:"user,omitempty"`
		Error string `json:"error,omitempty"`
	} `json:"status"`
}

// ServeHTTP answers a TokenReview.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var tr tokenReview
	if r.Method != http.MethodPost || json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&tr) != nil {
		http.Error(w, "want a TokenReview POST", http.StatusBadRequest)
		return
	}
	if tr.APIVersion == "" {
		tr.APIVersion = "authentication.k8s.io/v1"
	}
	tr.Kind = "TokenReview"
	id, err := s.Verify(r.Context(), tr.Spec.Token)
	if err != nil {
		tr.Status.Error = err.Error()
	} else {
		tr.Status.Authenticated = true
		tr.Status.User = &struct {
			Username string              `json:"username"`
			UID      string              `json:"uid"`
			Groups   []string            `json:"groups,omitempty"`
			Extra    map[string][]string `json:"extra,omitempty"`
		}{Username: id.Username, UID: "aws-iam-authenticator:" + id.ARN, Groups: id.Groups, Extra: map[string][]string{"arn": {id.ARN}}}
	}
	tr.Spec.Token = "" // never echo the credential
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(tr)
}

// Verify checks a token and returns the identity it proves.
func (s *Server) Verify(ctx context.Context, token string) (Identity, error) {
	raw, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return Identity{}, errors.New("token is not an EKS token (k8s-aws-v1. prefix)")
	}
	decoded, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
	if err != nil {
		return Identity{}, fmt.Errorf("token is not base64url: %w", err)
	}
	u, err := url.Parse(string(decoded))
	if err != nil {
		return Identity{}, fmt.Errorf("token is not a URL: %w", err)
	}
	if u.Scheme != "https" || !stsHostRE.MatchString(u.Host) || (u.Path != "/" && u.Path != "") {
		return Identity{}, fmt.Errorf("token URL %s://%s%s is not an STS endpoint", u.Scheme, u.Host, u.Path)
	}
	q := u.Query()
	for key, want := range map[string]string{"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256"} {
		if got := q.Get(key); got != want {
			return Identity{}, fmt.Errorf("token URL %s = %q, want %q", key, got, want)
		}
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires < 1 || expires > maxExpires {
		return Identity{}, fmt.Errorf("token URL X-Amz-Expires = %q: must be present and at most %d", q.Get("X-Amz-Expires"), maxExpires)
	}
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return Identity{}, fmt.Errorf("token URL X-Amz-Date %q: %w", q.Get("X-Amz-Date"), err)
	}
	now := s.now()
	if now.Sub(signedAt) > maxTokenAge {
		return Identity{}, fmt.Errorf("token expired: signed %s ago", now.Sub(signedAt).Round(time.Second))
	}
	if signedAt.Sub(now) > 5*time.Minute {
		return Identity{}, errors.New("token signed in the future")
	}
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	if !slices.Contains(signed, "host") || !slices.Contains(signed, clusterIDHeader) {
		return Identity{}, fmt.Errorf("token URL X-Amz-SignedHeaders %q must include host and %s", q.Get("X-Amz-SignedHeaders"), clusterIDHeader)
	}
	cred := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(cred) != 5 || cred[3] != "sts" || cred[4] != "aws4_request" {
		return Identity{}, fmt.Errorf("token URL X-Amz-Credential %q is malformed", q.Get("X-Amz-Credential"))
	}
	s.mu.Lock()
	id, ok := s.identities[cred[0]]
	s.mu.Unlock()
	if !ok {
		return Identity{}, fmt.Errorf("access key %s is not mapped to a Kubernetes user", cred[0])
	}
	want, err := s.sign(ctx, u, q, cred[0], id.SecretAccessKey, cred[2], signedAt)
	if err != nil {
		return Identity{}, err
	}
	if want != q.Get("X-Amz-Signature") {
		return Identity{}, fmt.Errorf("token signature does not match (signed for another cluster than %s, or with another key)", s.cluster)
	}
	return id, nil
}

// sign recomputes the presigned URL's signature for this cluster.
func (s *Server) sign(ctx context.Context, u *url.URL, q url.Values, akid, secret, region string, at time.Time) (string, error) {
	base := url.Values{}
	for k, vs := range q {
		switch k {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature":
			continue
		}
		base[k] = vs
	}
	clean := *u
	clean.RawQuery = base.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clean.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(clusterIDHeader, s.cluster)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: q.Get("X-Amz-Security-Token")}
	signedURL, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, emptyPayloadHash, "sts", region, at)
	if err != nil {
		return "", fmt.Errorf("recompute token signature: %w", err)
	}
	su, err := url.Parse(signedURL)
	if err != nil {
		return "", err
	}
	return su.Query().Get("X-Amz-Signature"), nil
}
