package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

// AnnotationHold, when set to a non-empty value on a workload, stops
// ecrwarden from rolling it: push, scan and reconcile all leave it alone
// until `ecrwarden release` clears it. Its value says who set it and why,
// such as "rollback by alice at 2026-11-25T10:00:00Z: p99 latency doubled".
const AnnotationHold = "ecrwarden.io/hold"

// Errors of Rollback, for errors.Is.
var (
	// ErrNoPreviousImage means the workload carries no
	// ecrwarden.io/previous-image: ecrwarden never patched it.
	ErrNoPreviousImage = errors.New("no previous image recorded")
	// ErrChangedByOther means the container no longer runs the image
	// ecrwarden last set: someone else changed it since.
	ErrChangedByOther = errors.New("the container's image was changed by someone other than ecrwarden")
)

// held returns the hold of a workload, if any.
func held(w *kube.Workload) (string, bool) {
	h := w.Annotations()[AnnotationHold]
	return h, h != ""
}

// RollbackRequest names the container to put back and who asks why.
type RollbackRequest struct {
	// Kind is the workload's kind; empty means a Deployment.
	Kind      kube.Kind
	Namespace string
	// Deployment is the workload's name, of any Kind.
	Deployment string
	// Container may be empty when the Pod template has exactly one container.
	Container string
	// By, At and Reason make up the hold's value.
	By     string
	At     time.Time
	Reason string
	// DryRun decides and reports without patching.
	DryRun bool
	// Guard, when set, checks the Deployment as read before anything is
	// decided; its error stops the rollback (the verifier checks that its
	// verification still owns the workload and that the image is the one
	// it set).
	Guard func(cur *kube.Workload) error
	// Annotations are written in the same patch (the verifier's state).
	Annotations map[string]string
}

// HoldResult says what Rollback or Release did (or, with DryRun, would do).
type HoldResult struct {
	Kind       kube.Kind
	Namespace  string
	Deployment string
	Container  string
	// From and To are the container's image before and after a rollback.
	From string
	To   string
	// Hold is the hold set by a rollback, or the hold a release removed.
	Hold string
	// Blocked is the digest a rollback blocked for the container (see
	// AnnotationBlocked); empty when the running image's digest is unknown.
	Blocked string
	// Changed is false when a dry run or a release found nothing to do.
	Changed bool
}

// Rollback sets the container back to the image recorded in
// ecrwarden.io/previous-image, holds the Deployment so that no later push,
// scan or reconcile moves it forward again, and blocks the digest it rolls
// away from for that container (AnnotationBlocked): after `ecrwarden
// release` the rollouts move forward again, but never to that digest until
// `ecrwarden release --digest` unblocks it. It refuses when nothing is
// recorded, or when the container no longer runs the image ecrwarden last
// set (ecrwarden.io/digest, or ecrwarden.io/tag for a tag pin). The patch
// records the replaced image as the new previous image, so a second
// rollback undoes the first. It needs get and patch on the workload's kind.
func Rollback(ctx context.Context, client *kube.Client, req RollbackRequest) (HoldResult, error) {
	ref := Target{Kind: req.Kind, Namespace: req.Namespace, Deployment: req.Deployment}.Ref()
	cur, err := client.GetWorkload(ctx, ref)
	if err != nil {
		return HoldResult{}, fmt.Errorf("rollback: %w", err)
	}
	res := HoldResult{Kind: ref.Kind, Namespace: req.Namespace, Deployment: req.Deployment, Container: req.Container}
	if req.Guard != nil {
		if err := req.Guard(cur); err != nil {
			return HoldResult{}, fmt.Errorf("rollback %s/%s: %w", req.Namespace, req.Deployment, err)
		}
	}
	if res.Container == "" {
		if res.Container, err = onlyContainer(cur.PodSpec()); err != nil {
			return HoldResult{}, fmt.Errorf("rollback %s/%s: %w", req.Namespace, req.Deployment, err)
		}
	}
	where := fmt.Sprintf("rollback %s/%s container %s", req.Namespace, req.Deployment, res.Container)
	image, _, ok := cur.ContainerImage(res.Container)
	if !ok {
		return HoldResult{}, fmt.Errorf("%s: %w", where, kube.ErrContainerNotFound)
	}
	ann := cur.Annotations()
	prev := ann[kube.AnnotationPreviousImage]
	if prev == "" {
		return HoldResult{}, fmt.Errorf("%s: %w (%s is not set)", where, ErrNoPreviousImage, kube.AnnotationPreviousImage)
	}
	if err := setByEcrwarden(image, ann); err != nil {
		return HoldResult{}, fmt.Errorf("%s: %w", where, err)
	}
	if prev == image {
		return HoldResult{}, fmt.Errorf("%s: the previous image %s is the one it runs", where, prev)
	}
	blocks, err := Blocks(cur)
	if err != nil {
		return HoldResult{}, fmt.Errorf("%s: %w", where, err)
	}
	// The digest rolled away from: the running reference's, or for a tag
	// pin the one ecrwarden recorded when it set the tag.
	blocked := ann[kube.AnnotationDigest]
	if ref, err := kube.ParseImageRef(image); err == nil && ref.Digest != "" {
		blocked = ref.Digest
	}
	prevRef, err := kube.ParseImageRef(prev)
	if err != nil {
		return HoldResult{}, fmt.Errorf("%s: %s %q: %w", where, kube.AnnotationPreviousImage, prev, err)
	}
	by := req.By
	if by == "" {
		by = "unknown"
	}
	hold := fmt.Sprintf("rollback by %s at %s", by, req.At.UTC().Format(time.RFC3339))
	if req.Reason != "" {
		hold += ": " + req.Reason
	}
	if blocked == prevRef.Digest {
		blocked = "" // never block the image put back
	}
	res.From, res.To, res.Hold, res.Blocked = image, prev, hold, blocked
	if req.DryRun {
		return res, nil
	}
	annotations := map[string]string{
		kube.AnnotationPreviousImage: image,
		kube.AnnotationChangeCause:   fmt.Sprintf("ecrwarden rollback: %s → %s (%s)", image, prev, hold),
		// The image set now is the one ecrwarden last set.
		kube.AnnotationDigest: prevRef.Digest,
		kube.AnnotationTag:    prevRef.Tag,
		AnnotationHold:        hold,
	}
	for k, v := range req.Annotations {
		annotations[k] = v
	}
	// Putting an image back is an explicit decision: a block of that digest
	// for this container (from an earlier rollback) goes.
	kept := slices.DeleteFunc(slices.Clone(blocks), func(b Block) bool {
		return b.Container == res.Container && b.Digest == prevRef.Digest && b.Digest != ""
	})
	if blocked != "" {
		kept = append(kept, Block{Container: res.Container, Digest: blocked, Reason: hold})
	}
	if blocked != "" || len(kept) != len(blocks) {
		v, err := encodeBlocks(kept)
		if err != nil {
			return HoldResult{}, fmt.Errorf("%s: %w", where, err)
		}
		annotations[AnnotationBlocked] = v
	}
	if _, err := client.SetWorkloadImage(ctx, ref, res.Container, prev, annotations, cur.Meta().ResourceVersion); err != nil {
		return HoldResult{}, fmt.Errorf("%s: %w", where, err)
	}
	res.Changed = true
	return res, nil
}

// setByEcrwarden checks that image is the one ecrwarden's annotations say
// it last set.
func setByEcrwarden(image string, ann map[string]string) error {
	ref, err := kube.ParseImageRef(image)
	if err != nil {
		return fmt.Errorf("running image %q: %w", image, err)
	}
	want, got, key := ann[kube.AnnotationDigest], ref.Digest, kube.AnnotationDigest
	if got == "" {
		want, got, key = ann[kube.AnnotationTag], ref.Tag, kube.AnnotationTag
	}
	if want == "" || want != got {
		return fmt.Errorf("%w: it runs %s but %s says %q; set the image by hand or with kubectl rollout undo", ErrChangedByOther, image, key, want)
	}
	return nil
}

// Release is ReleaseWorkload for the Deployment namespace/deployment.
func Release(ctx context.Context, client *kube.Client, namespace, deployment string, dryRun bool) (HoldResult, error) {
	return ReleaseWorkload(ctx, client, kube.WorkloadRef{Kind: kube.KindDeployment, Namespace: namespace, Name: deployment}, dryRun)
}

// ReleaseWorkload clears the hold of a workload so that ecrwarden rolls it
// forward again. A workload without a hold is left alone (Changed false).
// It needs get and patch on the workload's kind. The hold annotation is
// removed with a merge patch guarded by the resourceVersion just read; a
// rolling workload's status changes under that patch (the controller
// writes it), so a conflict reads again and retries.
func ReleaseWorkload(ctx context.Context, client *kube.Client, ref kube.WorkloadRef, dryRun bool) (HoldResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := releaseWorkload(ctx, client, ref, dryRun)
		if err == nil || !kube.IsConflict(err) || attempt == maxCheckAttempts {
			return res, err
		}
	}
}

func releaseWorkload(ctx context.Context, client *kube.Client, ref kube.WorkloadRef, dryRun bool) (HoldResult, error) {
	namespace, deployment := ref.Namespace, ref.Name
	cur, err := client.GetWorkload(ctx, ref)
	if err != nil {
		return HoldResult{}, fmt.Errorf("release: %w", err)
	}
	res := HoldResult{Kind: ref.Kind, Namespace: namespace, Deployment: deployment}
	hold, ok := held(cur)
	if !ok {
		return res, nil
	}
	res.Hold = hold
	if dryRun {
		return res, nil
	}
	if _, err := client.RemoveWorkloadAnnotations(ctx, ref, cur.Meta().ResourceVersion, AnnotationHold); err != nil {
		return HoldResult{}, fmt.Errorf("release %s/%s: %w", namespace, deployment, err)
	}
	res.Changed = true
	return res, nil
}

// onlyContainer names the one container of a Pod template.
func onlyContainer(spec kube.PodSpec) (string, error) {
	cs := spec.Containers
	if len(cs) != 1 {
		names := make([]string, len(cs))
		for i, c := range cs {
			names[i] = c.Name
		}
		return "", fmt.Errorf("the Pod template has containers %v: name one", names)
	}
	return cs[0].Name, nil
}
