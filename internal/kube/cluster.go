package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DescribeClusterAPI is the subset of *eks.Client that ClusterResolver uses.
type DescribeClusterAPI interface {
	DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// ClusterResolver turns EKS cluster names into Clients: one DescribeCluster per cluster per process (a Lambda cold
// start), each Client authenticating with its own EKSTokenSource. It is safe for concurrent use.
type ClusterResolver struct {
	eks       DescribeClusterAPI
	presigner STSPresigner

	mu       sync.Mutex
	clusters map[string]*clusterEntry
}

type clusterEntry struct {
	mu     sync.Mutex
	client *Client
}

// NewClusterResolver returns a resolver that describes clusters with api and signs tokens with presigner.
func NewClusterResolver(api DescribeClusterAPI, presigner STSPresigner) *ClusterResolver {
	return &ClusterResolver{eks: api, presigner: presigner, clusters: map[string]*clusterEntry{}}
}

// NewEKSResolver is NewClusterResolver with the EKS and STS clients of cfg,
// the way the functions and the CLI reach their clusters; eksOpts adjust the
// EKS client (the demo points it at the EKS emulator).
func NewEKSResolver(cfg aws.Config, eksOpts ...func(*eks.Options)) *ClusterResolver {
	return NewClusterResolver(eks.NewFromConfig(cfg, eksOpts...), sts.NewPresignClient(sts.NewFromConfig(cfg)))
}

// Client returns the Client for the named cluster, describing the cluster on first use. A failed describe is not
// cached: the next call tries again.
func (r *ClusterResolver) Client(ctx context.Context, cluster string) (*Client, error) {
	r.mu.Lock()
	e, ok := r.clusters[cluster]
	if !ok {
		e = &clusterEntry{}
		r.clusters[cluster] = e
	}
	r.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client != nil {
		return e.client, nil
	}
	c, err := r.describe(ctx, cluster)
	if err != nil {
		return nil, err
	}
	e.client = c
	return c, nil
}

func (r *ClusterResolver) describe(ctx context.Context, cluster string) (*Client, error) {
	out, err := r.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: &cluster})
	if err != nil {
		return nil, fmt.Errorf("describe eks cluster %s: %w", cluster, err)
	}
	if out == nil || out.Cluster == nil {
		return nil, fmt.Errorf("describe eks cluster %s: empty answer", cluster)
	}
	c := out.Cluster
	if c.Status != "" && c.Status != ekstypes.ClusterStatusActive && c.Status != ekstypes.ClusterStatusUpdating {
		return nil, fmt.Errorf("eks cluster %s is %s, not ACTIVE", cluster, c.Status)
	}
	if c.Endpoint == nil || *c.Endpoint == "" {
		return nil, fmt.Errorf("eks cluster %s has no endpoint", cluster)
	}
	if c.CertificateAuthority == nil || c.CertificateAuthority.Data == nil {
		return nil, fmt.Errorf("eks cluster %s has no certificate authority data", cluster)
	}
	ca, err := base64.StdEncoding.DecodeString(*c.CertificateAuthority.Data)
	if err != nil {
		return nil, fmt.Errorf("decode certificate authority of eks cluster %s: %w", cluster, err)
	}
	client, err := New(Config{Host: *c.Endpoint, CAData: ca, Token: NewEKSTokenSource(r.presigner, cluster)})
	if err != nil {
		return nil, fmt.Errorf("eks cluster %s: %w", cluster, err)
	}
	return client, nil
}
