package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Ref is a parsed, normalized image reference: registry host (with port), repository path, and an optional tag
// and digest. "nginx" normalizes to Registry "docker.io", Repository "library/nginx".
type Ref struct {
	Registry   string
	Repository string
	Tag        string
	Digest     string
}

// Name returns "registry/repository".
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// String returns the normalized reference: name, then ":tag" and "@digest" when set.
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// The grammar of github.com/distribution/reference (regexp.go), which the container runtimes use:
//
//	reference        := name [ ":" tag ] [ "@" digest ]
//	name             := [domain '/'] remote-name
//	domain           := host [':' port-number]
//	host             := domain-name | '[' IPv6address ']'
//	domain-name      := domain-component ['.' domain-component]*
//	domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//	remote-name      := path-component ['/' path-component]*
//	path-component   := /[a-z0-9]+/ [separator /[a-z0-9]+/]*
//	separator        := /[._]|__|[-]+/
//	tag              := /[\w][\w.-]{0,127}/
//	digest           := algorithm ":" hex
const (
	refAlphanumeric    = `[a-z0-9]+`
	refSeparator       = `(?:[._]|__|[-]+)`
	refPathComponent   = refAlphanumeric + `(?:` + refSeparator + refAlphanumeric + `)*`
	refRemoteName      = refPathComponent + `(?:/` + refPathComponent + `)*`
	refDomainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	refDomainName      = refDomainComponent + `(?:\.` + refDomainComponent + `)*`
	refIPv6            = `\[(?:[a-fA-F0-9:]+)\]`
	refDomainAndPort   = `(?:` + refDomainName + `|` + refIPv6 + `)(?::[0-9]+)?`
	refTag             = `[\w][\w.-]*` // at most maxTagLength: checked apart (a {0,127} unrolls 127 times at init)
	refDigest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
)

var (
	refRegexp = regexp.MustCompile(`^(` + refDomainAndPort + `)/(` + refRemoteName + `)(?::(` + refTag + `))?(?:@(` + refDigest + `))?$`)
	// digestHex holds the lengths of the lowercase hex encodings go-digest
	// accepts for the algorithms it registers (checked by lowerHex, not by
	// expressions whose counted repetitions cost milliseconds at init).
	digestHex = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}
)

// maxTagLength is the longest tag of the distribution reference grammar.
const maxTagLength = 128

// lowerHex reports whether s is n lowercase hex digits.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

const (
	defaultRegistry       = "docker.io"
	legacyDefaultRegistry = "index.docker.io"
	officialRepoPrefix    = "library/"
	maxNameLength         = 255
)

// ErrInvalidImageRef is wrapped by every ParseImageRef error.
var ErrInvalidImageRef = errors.New("invalid image reference")

// ParseImageRef parses and normalizes an image reference the way distribution/reference's ParseNormalizedNamed
// does: "nginx:1.25" is docker.io/library/nginx:1.25, "localhost:5000/app" keeps its registry, and a first path
// element counts as a registry only if it holds a "." or ":" or is "localhost" (and is not all lower case
// otherwise). References may carry a tag, a digest, or both.
func ParseImageRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty", ErrInvalidImageRef)
	}
	if lowerHex(s, 64) {
		return Ref{}, fmt.Errorf("%w %q: a 64-hex identifier is not a repository name", ErrInvalidImageRef, s)
	}
	registry, remainder := splitRegistry(s)
	remote := remainder
	if i := strings.IndexAny(remote, ":@"); i >= 0 {
		remote = remote[:i]
	}
	if strings.ToLower(remote) != remote {
		return Ref{}, fmt.Errorf("%w %q: repository name must be lowercase", ErrInvalidImageRef, s)
	}
	m := refRegexp.FindStringSubmatch(registry + "/" + remainder)
	if m == nil {
		return Ref{}, fmt.Errorf("%w %q", ErrInvalidImageRef, s)
	}
	ref := Ref{Registry: m[1], Repository: m[2], Tag: m[3], Digest: m[4]}
	if len(ref.Tag) > maxTagLength {
		return Ref{}, fmt.Errorf("%w %q", ErrInvalidImageRef, s)
	}
	if len(ref.Name()) > maxNameLength {
		return Ref{}, fmt.Errorf("%w %q: name longer than %d characters", ErrInvalidImageRef, s, maxNameLength)
	}
	if ref.Digest != "" {
		alg, hex, _ := strings.Cut(ref.Digest, ":")
		n, ok := digestHex[alg]
		if !ok {
			return Ref{}, fmt.Errorf("%w %q: unsupported digest algorithm %q", ErrInvalidImageRef, s, alg)
		}
		if !lowerHex(hex, n) {
			return Ref{}, fmt.Errorf("%w %q: malformed %s digest", ErrInvalidImageRef, s, alg)
		}
	}
	return ref, nil
}

// splitRegistry splits off the registry host, applying Docker's defaults (distribution/reference
// splitDockerDomain).
func splitRegistry(s string) (registry, remainder string) {
	i := strings.IndexByte(s, '/')
	if i == -1 || (!strings.ContainsAny(s[:i], ".:") && s[:i] != "localhost" && strings.ToLower(s[:i]) == s[:i]) {
		registry, remainder = defaultRegistry, s
	} else {
		registry, remainder = s[:i], s[i+1:]
	}
	if registry == legacyDefaultRegistry {
		registry = defaultRegistry
	}
	if registry == defaultRegistry && !strings.ContainsRune(remainder, '/') {
		remainder = officialRepoPrefix + remainder
	}
	return registry, remainder
}
