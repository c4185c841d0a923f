package ecr

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
)

// Image statuses (ImageDetail.imageStatus) and storage classes
// (UpdateImageStorageClass.targetStorageClass).
const (
	StatusActive     = "ACTIVE"
	StatusArchived   = "ARCHIVED"
	StatusActivating = "ACTIVATING"

	StorageStandard = "STANDARD"
	StorageArchive  = "ARCHIVE"
)

// DefaultActivationDelay is how long a restore takes: "You can expect ECR to
// restore the image within 20 minutes" (ECR user guide, "Archiving an image
// in Amazon ECR").
const DefaultActivationDelay = 20 * time.Minute

// status returns the image's status. The caller holds s.mu and has called
// s.settle.
func (im *image) statusName() string {
	if im.status == "" {
		return StatusActive
	}
	return im.status
}

// pullable reports whether the image can be pulled: archived images "cannot
// be pulled. Requests to pull the archived image will fail with a 404 error",
// and a restore makes it pullable only once it completes.
func (im *image) pullable() bool { return im.statusName() == StatusActive }

// settle completes the restores whose time has come, emitting the restore
// event for each, as ECR does when an image becomes ACTIVE again. Every
// request settles first, so a test advances the emulator's clock and the next
// call sees the result. The caller holds s.mu.
func (s *Server) settle(c *call) {
	if s.activating == 0 {
		return
	}
	now := s.now()
	for _, r := range s.repos {
		for _, im := range r.images {
			if im.status != StatusActivating || now.Before(im.activateAt) {
				continue
			}
			im.status, im.activatedAt = StatusActive, im.activateAt
			s.activating--
			c.events = append(c.events, s.storageClassEvent(r, im, StorageStandard))
		}
	}
}

// Settle completes every restore that is due at the emulator's current time
// and emits its event, as the next API call would.
func (s *Server) Settle() {
	c := &call{}
	s.mu.Lock()
	s.settle(c)
	s.mu.Unlock()
	s.emit(context.Background(), c.events)
}

// storageClassEvent builds the "ECR Image Action" UPDATE_STORAGE_CLASS event.
// The caller holds s.mu.
func (s *Server) storageClassEvent(r *repository, im *image, target string) []byte {
	in := ecrevent.StorageClassInput{EnvelopeInput: s.envelope(), Repository: r.name, Digest: im.digest,
		TargetStorageClass: target, ManifestMediaType: im.mediaType, ArtifactMediaType: im.artifactMediaType}
	if target == StorageStandard {
		in.LastActivatedAt = im.activatedAt
	}
	ev, err := ecrevent.NewStorageClassEvent(in)
	return s.built("storage class", ev, err)
}

type updateStorageClassInput struct {
	RegistryID         *string  `json:"registryId"`
	RepositoryName     *string  `json:"repositoryName"`
	ImageID            *imageID `json:"imageId"`
	TargetStorageClass *string  `json:"targetStorageClass"`
}

// updateImageStorageClass archives an ACTIVE image or restores an ARCHIVED
// one (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_UpdateImageStorageClass.html).
//
// What the API reference does not say, and the emulator chooses: archiving
// an image index archives the children it lists with it (unless another
// index that stays ACTIVE lists them too), restoring it restores them; a
// child an index lists cannot be moved on its own, and moving an image to
// the class it is already in (or while it is being restored) is refused.
// These answer ImageStorageClassUpdateNotSupportedException.
func (s *Server) updateImageStorageClass(c *call, body []byte) (any, error) {
	var in updateStorageClassInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ImageID == nil {
		return nil, requiredMember("imageId")
	}
	if in.TargetStorageClass == nil {
		return nil, requiredMember("targetStorageClass")
	}
	target := *in.TargetStorageClass
	if target != StorageStandard && target != StorageArchive {
		return nil, invalidParameter("targetStorageClass", "Member must satisfy enum value set: [STANDARD, ARCHIVE]")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(c)
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	im, err := s.lookup(r, *in.ImageID)
	if err != nil {
		return nil, err
	}
	notSupported := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, "ImageStorageClassUpdateNotSupportedException", format, args...)
	}
	for _, p := range r.parents(im.digest) {
		if parent := r.images[p]; parent.statusName() == im.statusName() {
			return nil, notSupported("The image %s is referenced by the image index %s; update the storage class of the index instead", im.digest, p)
		}
	}
	status := im.statusName()
	switch {
	case target == StorageArchive && status != StatusActive:
		return nil, notSupported("The image %s is %s; only an ACTIVE image can be archived", im.digest, status)
	case target == StorageStandard && status != StatusArchived:
		return nil, notSupported("The image %s is %s; only an ARCHIVED image can be restored", im.digest, status)
	}
	now := s.now()
	for _, m := range s.members(r, im) {
		if target == StorageArchive {
			m.status, m.archivedAt = StatusArchived, now
		} else {
			m.status, m.activateAt = StatusActivating, now.Add(s.activationDelay)
			s.activating++
		}
	}
	if target == StorageArchive {
		c.events = append(c.events, s.storageClassEvent(r, im, StorageArchive))
	}
	s.settle(c) // a zero activation delay restores at once
	return struct {
		RegistryID     string  `json:"registryId"`
		RepositoryName string  `json:"repositoryName"`
		ImageID        imageID `json:"imageId"`
		ImageStatus    string  `json:"imageStatus"`
	}{s.account, r.name, imageID{ImageDigest: ptr(im.digest), ImageTag: in.ImageID.ImageTag}, im.statusName()}, nil
}

// members returns im and the children it lists that move with it: those no
// other index in another status still lists. The caller holds s.mu.
func (s *Server) members(r *repository, im *image) []*image {
	out := []*image{im}
	for _, d := range im.children {
		child, ok := r.images[d]
		if !ok || child.statusName() != im.statusName() {
			continue
		}
		shared := false
		for _, p := range r.parents(d) {
			if p != im.digest && r.images[p].statusName() == child.statusName() {
				shared = true
				break
			}
		}
		if !shared {
			out = append(out, child)
		}
	}
	return out
}

// restoreOnPush restores an archived image that is pushed again: "When you
// push an image that is currently archived, that image will be immediately
// restored and removed from the archive" (ECR user guide, "Restoring an
// image"). The caller holds s.mu.
func (s *Server) restoreOnPush(c *call, r *repository, im *image) {
	if im.statusName() == StatusActive {
		return
	}
	if im.status == StatusActivating {
		s.activating--
	}
	im.status, im.activatedAt = StatusActive, s.now()
	c.events = append(c.events, s.storageClassEvent(r, im, StorageStandard))
}

// recordPull records a pull of im at the emulator's time. With
// Config.PullTimeRefresh set, a pull within that long of the recorded one
// leaves it unchanged, as ECR, which "refreshes the last image pull
// timestamp at least once every 24 hours", may. The caller holds s.mu.
func (s *Server) recordPull(im *image) {
	now := s.now()
	if s.pullRefresh > 0 && !im.lastPulled.IsZero() && now.Sub(im.lastPulled) < s.pullRefresh {
		return
	}
	im.lastPulled = now
}

// ImageState is the storage state of one image, for assertions.
type ImageState struct {
	Status     string
	LastPulled time.Time
	ArchivedAt time.Time
}

// State returns the storage state of an image; ok is false when the
// repository or image does not exist.
func (s *Server) State(repo, digest string) (ImageState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return ImageState{}, false
	}
	im, ok := r.images[digest]
	if !ok {
		return ImageState{}, false
	}
	return ImageState{Status: im.statusName(), LastPulled: im.lastPulled, ArchivedAt: im.archivedAt}, true
}

// RecordPull records a pull of an image by digest at the emulator's time,
// as a docker pull would (BatchGetImage of the manifest).
func (s *Server) RecordPull(repo, digest string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return fmt.Errorf("record pull in %s: repository not found", repo)
	}
	im, ok := r.images[digest]
	if !ok {
		return fmt.Errorf("record pull of %s@%s: image not found", repo, digest)
	}
	if !im.pullable() {
		return fmt.Errorf("record pull of %s@%s: image is %s and cannot be pulled", repo, digest, im.statusName())
	}
	s.recordPull(im)
	return nil
}
