package inuse

import (
	"context"
	"errors"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// ClusterLister lists the images a cluster's workloads reference, in every
// namespace of the cluster (not only the policy's: a workload anywhere runs
// its image). It must fail rather than return a partial listing.
type ClusterLister func(ctx context.Context, cluster string) (kube.InUse, error)

// ClusterClients returns the Kubernetes client of an EKS cluster
// (kube.ClusterResolver).
type ClusterClients interface {
	Client(ctx context.Context, cluster string) (*kube.Client, error)
}

// ResolverLister lists in-use images through the clients of r.
func ResolverLister(r ClusterClients) ClusterLister {
	return func(ctx context.Context, cluster string) (kube.InUse, error) {
		c, err := r.Client(ctx, cluster)
		if err != nil {
			return kube.InUse{}, err
		}
		return c.ListImagesInUse(ctx)
	}
}

// ErrNoClusterAccess is returned by the source of a policy cluster when no
// ClusterLister was configured.
var ErrNoClusterAccess = errors.New("no cluster access configured")

// Cluster is the source of one EKS cluster of the policy: every Pod,
// Deployment, ReplicaSet with replicas, StatefulSet, DaemonSet, Job and
// CronJob in every namespace (kube.Client.ListImagesInUse).
type Cluster struct {
	// Cluster is the policy's cluster entry.
	Cluster policy.Cluster
	// Lister reads the cluster; nil fails with ErrNoClusterAccess.
	Lister ClusterLister
}

// Name implements Source.
func (c *Cluster) Name() string { return "EKS cluster " + c.Cluster.Name }

// List implements Source: the holder of each image is named
// "<cluster> <Kind> <namespace>/<name>".
func (c *Cluster) List(ctx context.Context) (Listing, error) {
	if c.Lister == nil {
		return Listing{}, ErrNoClusterAccess
	}
	u, err := c.Lister(ctx, c.Cluster.Name)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Uses: make([]Use, 0, len(u.Images))}
	holder := func(img kube.ImageUse) string {
		return c.Cluster.Name + " " + img.Kind + " " + img.Namespace + "/" + img.Name
	}
	for _, img := range u.Images {
		l.Uses = append(l.Uses, Use{Image: img.Image, Ref: img.Ref, Source: "EKS", Holder: holder(img)})
	}
	for _, img := range u.Invalid {
		l.Invalid = append(l.Invalid, Use{Image: img.Image, Source: "EKS", Holder: holder(img)})
	}
	return l, nil
}

// Clusters returns one source per cluster of f, each read through list.
func Clusters(f *policy.File, list ClusterLister) []Source {
	out := make([]Source, len(f.Clusters))
	for i, c := range f.Clusters {
		out[i] = &Cluster{Cluster: c, Lister: list}
	}
	return out
}
