package ecrevent

import (
	"fmt"
	"regexp"
	"strings"
)

// repositoryNamePattern is the RepositoryName pattern of the ECR API reference.
var repositoryNamePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

// tagPattern is the OCI distribution-spec tag grammar.
// The length (at most 128) is checked apart: {0,127} would unroll the
// expression 127 times, compiled at every cold start.
var tagPattern = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]*$`)

// CheckDigest fails unless digest is "sha256:" followed by 64 lowercase hex digits.
func CheckDigest(digest string) error {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 {
		return fmt.Errorf("%w: image digest %q is not sha256: followed by 64 hex digits", ErrMalformedEvent, digest)
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: image digest %q is not sha256: followed by 64 lowercase hex digits", ErrMalformedEvent, digest)
		}
	}
	return nil
}

// CheckRepositoryName fails unless name is a valid ECR repository name (2 to 256
// characters of the ECR API pattern, slashes allowed).
func CheckRepositoryName(name string) error {
	if len(name) < 2 || len(name) > 256 || !repositoryNamePattern.MatchString(name) {
		return fmt.Errorf("%w: repository name %q is not a valid ECR repository name", ErrMalformedEvent, name)
	}
	return nil
}

// CheckTag fails unless tag is a valid image tag (OCI distribution grammar).
func CheckTag(tag string) error {
	if len(tag) > 128 || !tagPattern.MatchString(tag) {
		return fmt.Errorf("%w: image tag %q is not a valid tag", ErrMalformedEvent, tag)
	}
	return nil
}

// RepositoryARN is the parsed form of arn:<partition>:ecr:<region>:<account>:repository/<name>.
type RepositoryARN struct {
	Partition string
	Region    string
	Account   string
	Name      string
}

// String returns the ARN.
func (a RepositoryARN) String() string {
	return "arn:" + a.Partition + ":ecr:" + a.Region + ":" + a.Account + ":repository/" + a.Name
}

func isECRRepositoryARN(s string) bool {
	_, err := ParseRepositoryARN(s)
	return err == nil
}

// ParseRepositoryARN parses an ECR repository ARN, such as the repository-name of an
// "Inspector2 Scan" event. The name may contain slashes.
func ParseRepositoryARN(arn string) (RepositoryARN, error) {
	prefix, name, ok := strings.Cut(arn, ":repository/")
	if !ok {
		return RepositoryARN{}, fmt.Errorf("%w: %q is not an ECR repository ARN", ErrMalformedEvent, arn)
	}
	parts := strings.Split(prefix, ":")
	if len(parts) != 5 || parts[0] != "arn" || parts[1] == "" || parts[2] != "ecr" || parts[3] == "" || parts[4] == "" {
		return RepositoryARN{}, fmt.Errorf("%w: %q is not an ECR repository ARN", ErrMalformedEvent, arn)
	}
	if err := CheckRepositoryName(name); err != nil {
		return RepositoryARN{}, fmt.Errorf("repository ARN %q: %w", arn, err)
	}
	return RepositoryARN{Partition: parts[1], Region: parts[3], Account: parts[4], Name: name}, nil
}

// ParseImageResourceID parses the id of an Inspector2 ECR image resource,
// arn:aws:ecr:<region>:<account>:repository/<name/with/slashes>/sha256:<hex>,
// splitting on the last "/sha256:".
func ParseImageResourceID(id string) (RepositoryARN, string, error) {
	i := strings.LastIndex(id, "/sha256:")
	if i < 0 {
		return RepositoryARN{}, "", fmt.Errorf("%w: image resource id %q has no /sha256: digest", ErrMalformedEvent, id)
	}
	repo, err := ParseRepositoryARN(id[:i])
	if err != nil {
		return RepositoryARN{}, "", fmt.Errorf("image resource id: %w", err)
	}
	digest := id[i+1:]
	if err := CheckDigest(digest); err != nil {
		return RepositoryARN{}, "", fmt.Errorf("image resource id: %w", err)
	}
	return repo, digest, nil
}
