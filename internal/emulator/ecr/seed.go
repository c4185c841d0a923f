package ecr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The Go-side API below sets up state for tests and the demo. It is not an
// AWS operation: it records no calls, injects no faults and emits no events.

// RepositoryOptions configures a repository created with
// [Server.CreateRepository].
type RepositoryOptions struct {
	// Mutability is MUTABLE (default), IMMUTABLE, IMMUTABLE_WITH_EXCLUSION
	// or MUTABLE_WITH_EXCLUSION.
	Mutability string
	// MutabilityExclusions are wildcard tag filters for the *_WITH_EXCLUSION
	// mutabilities.
	MutabilityExclusions []string
	// ScanOnPush starts a basic scan after each push.
	ScanOnPush bool
	// ScanType is ScanBasic (default) or ScanEnhanced. Enhanced repositories
	// are scanned after every push, whatever ScanOnPush says.
	ScanType ScanType
}

// CreateRepository creates a repository without going through the API.
func (s *Server) CreateRepository(name string, opt RepositoryOptions) error {
	if err := checkRepositoryName(&name); err != nil {
		return fmt.Errorf("create repository %s: %w", name, err)
	}
	if opt.Mutability == "" {
		opt.Mutability = "MUTABLE"
	}
	if !slices.Contains(mutabilities, opt.Mutability) {
		return fmt.Errorf("create repository %s: unknown mutability %q", name, opt.Mutability)
	}
	if opt.ScanType == "" {
		opt.ScanType = ScanBasic
	}
	if opt.ScanType != ScanBasic && opt.ScanType != ScanEnhanced {
		return fmt.Errorf("create repository %s: unknown scan type %q", name, opt.ScanType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.repos[name]; ok {
		return fmt.Errorf("create repository %s: already exists", name)
	}
	r := newRepository(name, s.now())
	r.mutability = opt.Mutability
	for _, f := range opt.MutabilityExclusions {
		r.exclusions = append(r.exclusions, mutabilityExclusionFilter{FilterType: "WILDCARD", Filter: f})
	}
	r.scanOnPush = opt.ScanOnPush
	r.scanType = opt.ScanType
	s.repos[name] = r
	return nil
}

// SetScanType switches a repository between basic and enhanced scanning
// (AWS sets this per registry; the emulator per repository).
func (s *Server) SetScanType(repo string, t ScanType) error {
	if t != ScanBasic && t != ScanEnhanced {
		return fmt.Errorf("set scan type of %s: unknown scan type %q", repo, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return fmt.Errorf("set scan type of %s: repository not found", repo)
	}
	r.scanType = t
	return nil
}

// Image describes an image to seed with [Server.SeedImage].
type Image struct {
	// Tags are the image's tags; none seeds an untagged image.
	Tags []string
	// PushedAt is the push time; the emulator clock's now when zero.
	PushedAt time.Time
	// Size is the image size in bytes reported by DescribeImages.
	Size int64
	// Platform is "os/arch" of a child of an index; "linux/amd64" when empty.
	Platform string
	// Manifest is the exact manifest to store; synthesized when empty. Its
	// digest is the image digest.
	Manifest string
	// Children make the image a multi-arch OCI image index; each child is
	// stored first as its own (normally untagged) image.
	Children []Image
	// Findings are seeded for the image's scans (see SetFindings).
	Findings []Finding
	// LastPulled is the image's lastRecordedPullTime; zero: never pulled.
	LastPulled time.Time
	// ArchivedAt, when set, stores the image (and the children it lists)
	// ARCHIVED since then.
	ArchivedAt time.Time
}

// SeedImage stores img (and its children) in repo and returns its digest.
// A tag already on another image moves to the new one. If the repository
// scans on push (basic with ScanOnPush, or enhanced), the seeded image is
// scanned too, with its Findings, but no event is emitted.
func (s *Server) SeedImage(repo string, img Image) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return "", fmt.Errorf("seed image in %s: repository not found", repo)
	}
	return s.seed(r, img)
}

// seed stores one image. The caller holds s.mu.
func (s *Server) seed(r *repository, img Image) (string, error) {
	for _, t := range img.Tags {
		if err := checkTag(t, "tag"); err != nil {
			return "", fmt.Errorf("seed image in %s: %w", r.name, err)
		}
	}
	var children []string
	for _, ch := range img.Children {
		if ch.PushedAt.IsZero() {
			ch.PushedAt = img.PushedAt
		}
		d, err := s.seed(r, ch)
		if err != nil {
			return "", err
		}
		children = append(children, d)
	}
	manifest, mediaType, size := img.Manifest, "", (*int64)(nil)
	if manifest == "" {
		manifest, mediaType = s.synthesize(r.name, img, children)
	} else {
		var doc manifestDoc
		if err := json.Unmarshal([]byte(manifest), &doc); err != nil || doc.MediaType == "" {
			return "", fmt.Errorf("seed image in %s: manifest is not JSON with a mediaType", r.name)
		}
		mediaType = doc.MediaType
		if len(children) > 0 && !isIndex(mediaType) {
			return "", fmt.Errorf("seed image in %s: an image with children needs an index manifest, got media type %s", r.name, mediaType)
		}
	}
	if !isIndex(mediaType) {
		size = ptr(img.Size)
	}
	im := &image{digest: Digest([]byte(manifest)), manifest: manifest, mediaType: mediaType, size: size, children: children}
	if !isIndex(mediaType) {
		im.artifactMediaType = "application/vnd.oci.image.config.v1+json"
	}
	if len(img.Findings) > 0 {
		r.findings[im.digest] = &seededScan{findings: slices.Clone(img.Findings)}
	}
	tags := img.Tags
	if len(tags) == 0 {
		tags = []string{""}
	}
	for _, t := range tags {
		err := s.store(&call{}, r, im, t)
		var ae *apiError
		if errors.As(err, &ae) && ae.typ == "ImageAlreadyExistsException" {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("seed image in %s: %w", r.name, err)
		}
	}
	stored := r.images[im.digest]
	if !img.PushedAt.IsZero() {
		stored.pushedAt = img.PushedAt
	}
	stored.lastPulled = img.LastPulled
	if !img.ArchivedAt.IsZero() {
		for _, m := range s.members(r, stored) {
			m.status, m.archivedAt = StatusArchived, img.ArchivedAt
		}
	}
	return im.digest, nil
}

// synthesize builds a unique OCI manifest (or index over children) for a
// seeded image.
func (s *Server) synthesize(repo string, img Image, children []string) (string, string) {
	s.seq++
	salt := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s", repo, s.seq, strings.Join(img.Tags, ","))))
	if len(children) > 0 {
		type platform struct {
			Architecture string `json:"architecture"`
			OS           string `json:"os"`
		}
		type desc struct {
			MediaType string   `json:"mediaType"`
			Digest    string   `json:"digest"`
			Size      int      `json:"size"`
			Platform  platform `json:"platform"`
		}
		idx := struct {
			SchemaVersion int    `json:"schemaVersion"`
			MediaType     string `json:"mediaType"`
			Manifests     []desc `json:"manifests"`
		}{SchemaVersion: 2, MediaType: MediaTypeOCIIndex}
		for i, d := range children {
			os, arch := "linux", "amd64"
			if p := img.Children[i].Platform; p != "" {
				os, arch, _ = strings.Cut(p, "/")
			}
			m := s.repos[repo].images[d].manifest
			idx.Manifests = append(idx.Manifests, desc{MediaType: MediaTypeOCIManifest, Digest: d, Size: len(m),
				Platform: platform{Architecture: arch, OS: os}})
		}
		b, _ := json.Marshal(idx)
		return string(b), MediaTypeOCIIndex
	}
	config := min(img.Size, 1024)
	type blob struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        blob   `json:"config"`
		Layers        []blob `json:"layers"`
	}{
		SchemaVersion: 2,
		MediaType:     MediaTypeOCIManifest,
		Config:        blob{MediaType: "application/vnd.oci.image.config.v1+json", Digest: "sha256:" + hex.EncodeToString(salt[:]), Size: config},
		Layers: []blob{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
			Digest: Digest(salt[:]), Size: img.Size - config}},
	}
	b, _ := json.Marshal(m)
	return string(b), MediaTypeOCIManifest
}

// Images returns the images in repo as digest → sorted tags, for
// assertions; nil if the repository does not exist.
func (s *Server) Images(repo string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return nil
	}
	out := make(map[string][]string, len(r.images))
	for d, im := range r.images {
		out[d] = slices.Clone(im.tags)
	}
	return out
}
