package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

// AnnotationBlocked lists the digests no rollout may set on a container of
// the workload, as a JSON array of Block sorted by container and digest:
//
//	ecrwarden.io/blocked-digests: '[{"container":"api","digest":"sha256:…","reason":"rollback by alice at 2026-11-25T10:00:00Z: p99 doubled"}]'
//
// `ecrwarden rollback` adds the digest it rolls away from; push, scan and
// reconcile never choose a blocked digest for that container (release of
// the hold does not change that); `ecrwarden release --digest DIGEST`
// removes one entry. It is plain JSON so that `ecrwarden status` and kubectl
// users can read it.
const AnnotationBlocked = "ecrwarden.io/blocked-digests"

// ErrNotBlocked means Unblock found no entry for the digest.
var ErrNotBlocked = errors.New("digest is not blocked")

// Block is one digest blocked for one container.
type Block struct {
	Container string `json:"container"`
	Digest    string `json:"digest"`
	// Reason says who blocked it, when and why.
	Reason string `json:"reason"`
}

// Blocks reads AnnotationBlocked. A value that does not parse is an error:
// the rollouts then refuse to move the workload rather than guess which
// digests it meant (fail closed).
func Blocks(w *kube.Workload) ([]Block, error) {
	v, ok := w.Annotations()[AnnotationBlocked]
	if !ok || v == "" {
		return nil, nil
	}
	var bs []Block
	if err := json.Unmarshal([]byte(v), &bs); err != nil {
		return nil, fmt.Errorf("%s annotation %s does not parse (fix or remove it): %w", workloadName(w.Ref()), AnnotationBlocked, err)
	}
	return bs, nil
}

// blockFor returns the block of digest for container, if any.
func blockFor(bs []Block, container, digest string) (Block, bool) {
	i := slices.IndexFunc(bs, func(b Block) bool { return b.Container == container && b.Digest == digest })
	if i < 0 {
		return Block{}, false
	}
	return bs[i], true
}

// encodeBlocks is the annotation value of bs, sorted, one entry per
// container and digest.
func encodeBlocks(bs []Block) (string, error) {
	bs = append([]Block{}, bs...) // [] rather than null when empty
	slices.SortFunc(bs, func(a, b Block) int {
		return cmp.Or(cmp.Compare(a.Container, b.Container), cmp.Compare(a.Digest, b.Digest))
	})
	bs = slices.CompactFunc(bs, func(a, b Block) bool { return a.Container == b.Container && a.Digest == b.Digest })
	v, err := json.Marshal(bs)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", AnnotationBlocked, err)
	}
	return string(v), nil
}

// UnblockRequest names the blocked digest to release.
type UnblockRequest struct {
	// Kind is the workload's kind; empty means a Deployment.
	Kind      kube.Kind
	Namespace string
	// Deployment is the workload's name, of any Kind.
	Deployment string
	// Container may be empty when exactly one container has the digest blocked.
	Container string
	Digest    string
	// DryRun decides and reports without patching.
	DryRun bool
}

// Unblock removes the block of one digest for one container, so that
// rollouts may choose that digest again; the hold, if any, stays. The patch
// sets the container's current image (no rollout follows) and the new list,
// guarded by the resourceVersion read; it needs get and patch on the
// workload's kind. A digest that is not blocked is ErrNotBlocked.
func Unblock(ctx context.Context, client *kube.Client, req UnblockRequest) (Block, error) {
	ref := Target{Kind: req.Kind, Namespace: req.Namespace, Deployment: req.Deployment}.Ref()
	cur, err := client.GetWorkload(ctx, ref)
	if err != nil {
		return Block{}, fmt.Errorf("unblock: %w", err)
	}
	where := fmt.Sprintf("unblock %s in %s/%s", req.Digest, req.Namespace, req.Deployment)
	bs, err := Blocks(cur)
	if err != nil {
		return Block{}, fmt.Errorf("%s: %w", where, err)
	}
	var match []Block
	for _, b := range bs {
		if b.Digest == req.Digest && (req.Container == "" || b.Container == req.Container) {
			match = append(match, b)
		}
	}
	switch len(match) {
	case 0:
		return Block{}, fmt.Errorf("%s: %w", where, ErrNotBlocked)
	case 1:
	default:
		return Block{}, fmt.Errorf("%s: blocked for several containers: name one", where)
	}
	b := match[0]
	if req.DryRun {
		return b, nil
	}
	rest := slices.DeleteFunc(bs, func(x Block) bool { return x == b })
	if len(rest) == 0 {
		_, err = client.RemoveWorkloadAnnotations(ctx, ref, cur.Meta().ResourceVersion, AnnotationBlocked)
	} else {
		// The patch names a container with the image it has: only the
		// annotation changes. The blocked container may be gone from the
		// template; any container that exists carries the patch.
		via, image := b.Container, ""
		if img, _, ok := cur.ContainerImage(via); ok {
			image = img
		} else if cs := cur.PodSpec().Containers; len(cs) > 0 {
			via, image = cs[0].Name, cs[0].Image
		} else {
			return Block{}, fmt.Errorf("%s: the Pod template has no container", where)
		}
		var v string
		if v, err = encodeBlocks(rest); err == nil {
			_, err = client.SetWorkloadImage(ctx, ref, via, image, map[string]string{AnnotationBlocked: v}, cur.Meta().ResourceVersion)
		}
	}
	if err != nil {
		return Block{}, fmt.Errorf("%s: %w", where, err)
	}
	return match[0], nil
}
