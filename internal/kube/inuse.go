package kube

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// ImageUse is one image reference found in a cluster object.
type ImageUse struct {
	// Image is the reference as written in the object (or the node-reported imageID without its runtime prefix).
	Image string
	// Ref is Image parsed and normalized.
	Ref Ref
	// Kind, Namespace and Name name the object; Container names the container, init or ephemeral container.
	Kind      string
	Namespace string
	Name      string
	Container string
	// FromStatus is true when the reference came from a Pod's container status (what the node runs) rather than
	// its spec.
	FromStatus bool
}

// InUse is the set of image references found by ListImagesInUse.
type InUse struct {
	// Images holds every parsed reference, in listing order.
	Images []ImageUse
	// Invalid holds references that do not parse; they cannot name an image in any registry, and are kept so a
	// report can show them.
	Invalid []ImageUse
}

// ForRepository returns the digests and tags by which the repository registryHost/repository is referenced,
// through any host that reaches the same registry (for ECR: the dual-stack and FIPS endpoints, an explicit :443;
// see SameRegistry). A reference with neither tag nor digest counts as tag "latest", as the container runtime
// pulls it. Digests include those nodes resolved tags to (Pod status imageID). Pull-through cache repositories
// need nothing special: their references name the cache repository itself (<prefix>/<upstream path>, e.g.
// docker-hub/library/nginx), never the upstream registry.
func (u InUse) ForRepository(registryHost, repository string) (digests, tags map[string]struct{}) {
	digests, tags = map[string]struct{}{}, map[string]struct{}{}
	for _, img := range u.Images {
		if img.Ref.Repository != repository || !img.Ref.InRegistry(registryHost) {
			continue
		}
		if img.Ref.Digest != "" {
			digests[img.Ref.Digest] = struct{}{}
		}
		if img.Ref.Tag != "" {
			tags[img.Ref.Tag] = struct{}{}
		}
		if img.Ref.Tag == "" && img.Ref.Digest == "" {
			tags["latest"] = struct{}{}
		}
	}
	return digests, tags
}

// inUseKinds lists what ListImagesInUse reads, in order.
var inUseKinds = []string{"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs"}

// listConcurrency bounds the list requests ListImagesInUse has in flight.
const listConcurrency = 4

// ListImagesInUse returns every image referenced in every namespace of the cluster by Pods (containers, init and
// ephemeral containers, and the image and imageID of their statuses), Deployments, ReplicaSets still holding
// replicas, StatefulSets, DaemonSets, Jobs and CronJobs. It lists each kind cluster-wide, whatever namespaces a
// policy names: an image a workload runs is in use wherever the workload is, and a misspelt namespace cannot hide
// it. If any listing fails, ListImagesInUse returns an error naming the kind and status and no result: gc must
// then delete nothing.
func (c *Client) ListImagesInUse(ctx context.Context) (InUse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	results := make([]InUse, len(inUseKinds))
	var (
		mu       sync.Mutex
		firstErr error // the first failure in time; the cancellations it causes come later
	)
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i, kind := range inUseKinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := ctx.Err()
			if err == nil {
				err = c.listImages(ctx, kind, "", &results[i])
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return InUse{}, firstErr
	}
	var all InUse
	for _, r := range results {
		all.Images = append(all.Images, r.Images...)
		all.Invalid = append(all.Invalid, r.Invalid...)
	}
	return all, nil
}

func (c *Client) listImages(ctx context.Context, resource, namespace string, into *InUse) error {
	switch resource {
	case "pods":
		return listAll(ctx, c, resource, namespace, func(p *Pod) error {
			into.addSpec("Pod", p.Metadata, p.Spec)
			for _, statuses := range [][]ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
				for _, st := range statuses {
					into.addStatus(p.Metadata, st)
				}
			}
			return nil
		})
	case "deployments":
		return listAll(ctx, c, resource, namespace, func(d *Deployment) error {
			into.addSpec("Deployment", d.Metadata, d.Spec.Template.Spec)
			return nil
		})
	case "replicasets":
		return listAll(ctx, c, resource, namespace, func(rs *ReplicaSet) error {
			if rs.HoldsReplicas() {
				into.addSpec("ReplicaSet", rs.Metadata, rs.Spec.Template.Spec)
			}
			return nil
		})
	case "statefulsets":
		return listAll(ctx, c, resource, namespace, func(s *StatefulSet) error {
			into.addSpec("StatefulSet", s.Metadata, s.Spec.Template.Spec)
			return nil
		})
	case "daemonsets":
		return listAll(ctx, c, resource, namespace, func(d *DaemonSet) error {
			into.addSpec("DaemonSet", d.Metadata, d.Spec.Template.Spec)
			return nil
		})
	case "jobs":
		return listAll(ctx, c, resource, namespace, func(j *Job) error {
			into.addSpec("Job", j.Metadata, j.Spec.Template.Spec)
			return nil
		})
	case "cronjobs":
		return listAll(ctx, c, resource, namespace, func(cj *CronJob) error {
			into.addSpec("CronJob", cj.Metadata, cj.Spec.JobTemplate.Spec.Template.Spec)
			return nil
		})
	}
	return errors.New("list images: unknown resource " + resource)
}

func (u *InUse) addSpec(kind string, meta ObjectMeta, spec PodSpec) {
	for _, containers := range [][]Container{spec.Containers, spec.InitContainers, spec.EphemeralContainers} {
		for _, ct := range containers {
			if ct.Image != "" {
				u.add(ImageUse{Image: ct.Image, Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Container: ct.Name})
			}
		}
	}
}

// addStatus records what a node runs: the image it reports and the imageID, which names the digest it resolved
// the image to. Runtimes write imageID as "registry/repo@sha256:…", older dockershim as
// "docker-pullable://registry/repo@sha256:…"; a bare "sha256:…" is an image config id, not a manifest digest, and
// is skipped.
func (u *InUse) addStatus(meta ObjectMeta, st ContainerStatus) {
	base := ImageUse{Kind: "Pod", Namespace: meta.Namespace, Name: meta.Name, Container: st.Name, FromStatus: true}
	if st.Image != "" && !strings.HasPrefix(st.Image, "sha256:") {
		img := base
		img.Image = st.Image
		u.add(img)
	}
	id := st.ImageID
	for _, prefix := range []string{"docker-pullable://", "docker://"} {
		id = strings.TrimPrefix(id, prefix)
	}
	if id != "" && !strings.HasPrefix(id, "sha256:") {
		img := base
		img.Image = id
		u.add(img)
	}
}

func (u *InUse) add(img ImageUse) {
	ref, err := ParseImageRef(img.Image)
	if err != nil {
		u.Invalid = append(u.Invalid, img)
		return
	}
	img.Ref = ref
	u.Images = append(u.Images, img)
}
