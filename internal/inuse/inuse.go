package inuse

import (
	"context"
	"fmt"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/retention"
)

// Source is one place images run: an EKS cluster, or ECS, Lambda, SageMaker
// or Batch in the account and region. gc lists every source of the policy
// and never asks which kind it is.
type Source interface {
	// Name names the source in errors and logs: "EKS cluster retail-forecast", "ECS".
	Name() string
	// List returns every image reference the source holds. It returns an
	// error, never a partial listing, when anything could not be read.
	List(ctx context.Context) (Listing, error)
}

// Use is one image reference and what holds it.
type Use struct {
	// Image is the reference as the holder writes it, with the digest the
	// service resolved it to appended when it reports one.
	Image string
	// Ref is Image parsed and normalized; zero for an Invalid use.
	Ref kube.Ref
	// Source is the kind of place: "EKS", "ECS", "Lambda", "SageMaker" or "Batch".
	Source string
	// Holder names what holds the reference within the source:
	// "service retail/api task definition retail-api:42".
	Holder string
}

// String names the use as plan reasons quote it:
// "ECS service retail/api task definition retail-api:42".
func (u Use) String() string { return u.Source + " " + u.Holder }

// Listing is what one or more sources reference.
type Listing struct {
	// Uses holds every parsed reference, in listing order.
	Uses []Use
	// Invalid holds references that do not parse: they cannot name an
	// image of any registry, and are kept for reports.
	Invalid []Use
}

// Add parses image and records it as held by holder in source.
func (l *Listing) Add(source, holder, image string) {
	u := Use{Image: image, Source: source, Holder: holder}
	ref, err := kube.ParseImageRef(image)
	if err != nil {
		l.Invalid = append(l.Invalid, u)
		return
	}
	u.Ref = ref
	l.Uses = append(l.Uses, u)
}

// AddResolved records image and, when digest is set, the image pinned to
// the digest the service resolved it to (an ECS task's imageDigest, a
// Lambda function's ResolvedImageUri, a SageMaker endpoint's ResolvedImage):
// the tag protects what it names now, the digest what actually runs.
func (l *Listing) AddResolved(source, holder, image, digest string) {
	l.Add(source, holder, image)
	if digest == "" {
		return
	}
	ref, err := kube.ParseImageRef(image)
	if err != nil || ref.Digest == digest {
		return
	}
	ref.Tag, ref.Digest = "", digest
	l.Add(source, holder, ref.String())
}

// Append adds every use of o.
func (l *Listing) Append(o Listing) {
	l.Uses = append(l.Uses, o.Uses...)
	l.Invalid = append(l.Invalid, o.Invalid...)
}

// ForRepository returns what references the repository registryHost/repository,
// by digest and by tag, each named by the first use found ("and 2 more" when
// several hold it). A reference with neither tag nor digest counts as tag
// "latest", which is what a runtime pulls.
func (l Listing) ForRepository(registryHost, repository string) retention.InUse {
	in := retention.InUse{Digests: map[string]struct{}{}, Tags: map[string]struct{}{},
		DigestUses: map[string]string{}, TagUses: map[string]string{}}
	digestUses, tagUses := map[string][]Use{}, map[string][]Use{}
	for _, u := range l.Uses {
		if u.Ref.Repository != repository || !u.Ref.InRegistry(registryHost) {
			continue
		}
		if u.Ref.Digest != "" {
			digestUses[u.Ref.Digest] = append(digestUses[u.Ref.Digest], u)
		}
		tag := u.Ref.Tag
		if tag == "" && u.Ref.Digest == "" {
			tag = "latest"
		}
		if tag != "" {
			tagUses[tag] = append(tagUses[tag], u)
		}
	}
	for d, uses := range digestUses {
		in.Digests[d] = struct{}{}
		in.DigestUses[d] = describe(uses)
	}
	for t, uses := range tagUses {
		in.Tags[t] = struct{}{}
		in.TagUses[t] = describe(uses)
	}
	return in
}

// describe names the first of uses and counts the other holders.
func describe(uses []Use) string {
	first := uses[0].String()
	seen := map[string]bool{first: true}
	for _, u := range uses[1:] {
		seen[u.String()] = true
	}
	if n := len(seen) - 1; n > 0 {
		return first + " and " + strconv.Itoa(n) + " more"
	}
	return first
}

// sourceConcurrency is how many sources List reads at once: each is a
// separate service with its own rate limits.
const sourceConcurrency = 4

// List reads every source, a few at a time, and returns everything they
// reference. The first failure cancels the others and is returned naming
// its source: the caller must then treat nothing as unused.
func List(ctx context.Context, sources []Source) (Listing, error) {
	results := make([]Listing, len(sources))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(sourceConcurrency)
	for i, s := range sources {
		g.Go(func() error {
			l, err := s.List(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name(), err)
			}
			results[i] = l
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Listing{}, err
	}
	var all Listing
	for _, l := range results {
		all.Append(l)
	}
	return all, nil
}
