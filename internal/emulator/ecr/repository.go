package ecr

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/lifecycle"
)

type repository struct {
	name       string
	createdAt  time.Time
	mutability string
	exclusions []mutabilityExclusionFilter
	scanOnPush bool
	scanType   ScanType
	encryption encryptionConfiguration
	lifecycle  string

	images map[string]*image // by digest
	tags   map[string]string // tag → digest
	// ordered caches the images sorted by seq; unordered marks it stale
	// after a deletion.
	ordered   []*image
	unordered bool

	// findings are the seeded scan results per digest, applied when the
	// image is scanned.
	findings map[string]*seededScan
	// scans are the completed scans per digest.
	scans map[string]*scan
}

func newRepository(name string, createdAt time.Time) *repository {
	return &repository{
		name:       name,
		createdAt:  createdAt,
		mutability: "MUTABLE",
		scanType:   ScanBasic,
		encryption: encryptionConfiguration{EncryptionType: "AES256"},
		images:     make(map[string]*image),
		tags:       make(map[string]string),
		findings:   make(map[string]*seededScan),
		scans:      make(map[string]*scan),
	}
}

type image struct {
	digest    string
	manifest  string
	mediaType string
	// artifactMediaType is the config media type of an image manifest.
	artifactMediaType string
	tags              []string // sorted
	size              *int64
	pushedAt          time.Time
	// children are the digests an image index references.
	children []string
	// status is "" (ACTIVE), ARCHIVED or ACTIVATING; archivedAt and
	// activatedAt are the last transitions, activateAt when a restore in
	// progress completes. lastPulled is lastRecordedPullTime.
	status                  string
	archivedAt, activatedAt time.Time
	activateAt, lastPulled  time.Time
	// seq orders images by arrival; paging cursors are built on it.
	seq uint64
}

func (s *Server) arn(repo string) string {
	return "arn:aws:ecr:" + s.region + ":" + s.account + ":repository/" + repo
}

func (s *Server) uri(repo string) string {
	return s.account + ".dkr.ecr." + s.region + ".amazonaws.com/" + repo
}

func (s *Server) repositoryOut(r *repository) repositoryOut {
	return repositoryOut{
		RepositoryArn:                      s.arn(r.name),
		RegistryID:                         s.account,
		RepositoryName:                     r.name,
		RepositoryURI:                      s.uri(r.name),
		CreatedAt:                          epoch(r.createdAt),
		ImageTagMutability:                 r.mutability,
		ImageTagMutabilityExclusionFilters: r.exclusions,
		ImageScanningConfiguration:         scanningConfiguration{ScanOnPush: r.scanOnPush},
		EncryptionConfiguration:            r.encryption,
	}
}

// immutableTag reports whether tag may not be moved to another image.
func (r *repository) immutableTag(tag string) bool {
	excluded := false
	for _, f := range r.exclusions {
		if ok, _ := path.Match(f.Filter, tag); ok {
			excluded = true
			break
		}
	}
	switch r.mutability {
	case "IMMUTABLE":
		return true
	case "IMMUTABLE_WITH_EXCLUSION":
		return !excluded
	case "MUTABLE_WITH_EXCLUSION":
		return excluded
	default:
		return false
	}
}

var mutabilities = []string{"MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"}

func (s *Server) createRepository(_ *call, body []byte) (any, error) {
	var in createRepositoryInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.checkRegistry(in.RegistryID); err != nil {
		return nil, err
	}
	if err := checkRepositoryName(in.RepositoryName); err != nil {
		return nil, err
	}
	mut := "MUTABLE"
	if in.ImageTagMutability != nil {
		mut = *in.ImageTagMutability
		if !slices.Contains(mutabilities, mut) {
			return nil, invalidParameter("imageTagMutability", "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]")
		}
	}
	withExclusion := strings.HasSuffix(mut, "_WITH_EXCLUSION")
	if withExclusion != (len(in.ImageTagMutabilityExclusionFilters) > 0) {
		return nil, invalidParameter("imageTagMutabilityExclusionFilters", "Member must be set exactly when imageTagMutability is IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION")
	}
	for _, f := range in.ImageTagMutabilityExclusionFilters {
		if f.FilterType != "WILDCARD" {
			return nil, invalidParameter("imageTagMutabilityExclusionFilters.member.filterType", "Member must satisfy enum value set: [WILDCARD]")
		}
		if _, err := path.Match(f.Filter, ""); err != nil || f.Filter == "" {
			return nil, invalidParameter("imageTagMutabilityExclusionFilters.member.filter", "Member must be a valid wildcard filter")
		}
	}
	if in.EncryptionConfiguration != nil {
		switch in.EncryptionConfiguration.EncryptionType {
		case "AES256", "KMS", "KMS_DSSE":
		default:
			return nil, invalidParameter("encryptionConfiguration.encryptionType", "Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	name := *in.RepositoryName
	if _, ok := s.repos[name]; ok {
		return nil, newError(http.StatusBadRequest, "RepositoryAlreadyExistsException",
			"The repository with name '%s' already exists in the registry with id '%s'", name, s.account)
	}
	r := newRepository(name, s.now())
	r.mutability = mut
	r.exclusions = in.ImageTagMutabilityExclusionFilters
	if in.ImageScanningConfiguration != nil {
		r.scanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	if in.EncryptionConfiguration != nil {
		r.encryption = *in.EncryptionConfiguration
	}
	s.repos[name] = r
	return struct {
		Repository repositoryOut `json:"repository"`
	}{s.repositoryOut(r)}, nil
}

func (s *Server) describeRepositories(_ *call, body []byte) (any, error) {
	var in describeRepositoriesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.checkRegistry(in.RegistryID); err != nil {
		return nil, err
	}
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type page struct {
		Repositories []repositoryOut `json:"repositories"`
		NextToken    *string         `json:"nextToken,omitempty"`
	}
	out := page{Repositories: []repositoryOut{}}
	if len(in.RepositoryNames) > 0 {
		// The API reference: maxResults and nextToken cannot be used with
		// repositoryNames; repositoryNames holds 1..100 names.
		if in.MaxResults != nil || in.NextToken != nil {
			return nil, newError(http.StatusBadRequest, "InvalidParameterException",
				"Invalid parameter: maxResults and nextToken cannot be used when repositoryNames is specified")
		}
		if len(in.RepositoryNames) > 100 {
			return nil, invalidParameter("repositoryNames", "Member must have length less than or equal to 100")
		}
		for _, n := range in.RepositoryNames {
			if err := checkRepositoryName(&n); err != nil {
				return nil, err
			}
			r, ok := s.repos[n]
			if !ok {
				return nil, s.repositoryNotFound(n)
			}
			out.Repositories = append(out.Repositories, s.repositoryOut(r))
		}
		return out, nil
	}
	names := make([]string, 0, len(s.repos))
	for n := range s.repos {
		names = append(names, n)
	}
	sort.Strings(names)
	start := 0
	if in.NextToken != nil {
		var after string
		if err := decodeToken(*in.NextToken, "DescribeRepositories", "", &after); err != nil {
			return nil, err
		}
		start = sort.SearchStrings(names, after)
		if start < len(names) && names[start] == after {
			start++
		}
	}
	end := min(start+limit, len(names))
	for _, n := range names[start:end] {
		out.Repositories = append(out.Repositories, s.repositoryOut(s.repos[n]))
	}
	if end < len(names) {
		out.NextToken = ptr(encodeToken("DescribeRepositories", "", names[end-1]))
	}
	return out, nil
}

func (s *Server) putLifecyclePolicy(_ *call, body []byte) (any, error) {
	var in lifecyclePolicyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.LifecyclePolicyText == nil {
		return nil, requiredMember("lifecyclePolicyText")
	}
	// The API reference: lifecyclePolicyText has length 100..30720
	// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutLifecyclePolicy.html).
	if n := len(*in.LifecyclePolicyText); n < 100 || n > 30720 {
		return nil, invalidParameter("lifecyclePolicyText", "Member must have length between 100 and 30720")
	}
	if _, err := lifecycle.Parse(*in.LifecyclePolicyText); err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidParameterException",
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: %v'", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	r.lifecycle = *in.LifecyclePolicyText
	return struct {
		RegistryID          string `json:"registryId"`
		RepositoryName      string `json:"repositoryName"`
		LifecyclePolicyText string `json:"lifecyclePolicyText"`
	}{s.account, r.name, r.lifecycle}, nil
}

type lifecyclePolicyOut struct {
	RegistryID          string   `json:"registryId"`
	RepositoryName      string   `json:"repositoryName"`
	LifecyclePolicyText string   `json:"lifecyclePolicyText"`
	LastEvaluatedAt     *float64 `json:"lastEvaluatedAt,omitempty"`
}

// lifecycleOf finds a repository's lifecycle policy or answers
// LifecyclePolicyNotFoundException. The caller holds s.mu.
func (s *Server) lifecycleOf(body []byte) (*repository, error) {
	var in lifecyclePolicyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if r.lifecycle == "" {
		return nil, newError(http.StatusBadRequest, "LifecyclePolicyNotFoundException",
			"Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", r.name, s.account)
	}
	return r, nil
}

// getLifecyclePolicy answers the stored policy text. The emulator never
// evaluates it, so lastEvaluatedAt is omitted.
func (s *Server) getLifecyclePolicy(_ *call, body []byte) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lifecycleOf(body)
	if err != nil {
		return nil, err
	}
	return lifecyclePolicyOut{RegistryID: s.account, RepositoryName: r.name, LifecyclePolicyText: r.lifecycle}, nil
}

func (s *Server) deleteLifecyclePolicy(_ *call, body []byte) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lifecycleOf(body)
	if err != nil {
		return nil, err
	}
	out := lifecyclePolicyOut{RegistryID: s.account, RepositoryName: r.name, LifecyclePolicyText: r.lifecycle}
	r.lifecycle = ""
	return out, nil
}

// SetLifecyclePolicy stores a lifecycle policy without going through the
// API; it must be valid (lifecycle.Parse).
func (s *Server) SetLifecyclePolicy(repo, text string) error {
	if _, err := lifecycle.Parse(text); err != nil {
		return fmt.Errorf("set lifecycle policy of %s: %w", repo, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return fmt.Errorf("set lifecycle policy of %s: repository not found", repo)
	}
	r.lifecycle = text
	return nil
}

// LifecyclePolicy returns the lifecycle policy text stored by
// PutLifecyclePolicy, and whether the repository exists.
func (s *Server) LifecyclePolicy(repo string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return "", false
	}
	return r.lifecycle, true
}

// Paging tokens are opaque to clients: base64 of a small JSON document naming
// the operation, the repository (or image) it pages, and a cursor key. A
// cursor names the last item returned, so deleting items between pages
// neither skips nor repeats the others.
type token struct {
	Op     string          `json:"o"`
	Scope  string          `json:"s"`
	Cursor json.RawMessage `json:"c"`
}

func encodeToken(op, scope string, cursor any) string {
	c, _ := json.Marshal(cursor)
	b, _ := json.Marshal(token{Op: op, Scope: scope, Cursor: c})
	return base64.RawURLEncoding.EncodeToString(b)
}

func badToken() error {
	return newError(http.StatusBadRequest, "InvalidParameterException",
		"Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
}

func decodeToken(s, op, scope string, cursor any) error {
	bad := badToken()
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad
	}
	var t token
	if err := json.Unmarshal(raw, &t); err != nil || t.Op != op || t.Scope != scope {
		return bad
	}
	if err := json.Unmarshal(t.Cursor, cursor); err != nil {
		return bad
	}
	return nil
}
