package kube

import (
	"context"
	"fmt"
)

// ListDeployments returns every Deployment in namespaces with list calls
// only (no get), so that a reader such as `ecrwarden status` needs nothing
// beyond the ecrwarden-reader group's rights. Every namespace must exist (a
// missing one is an error wrapping ErrNamespaceNotFound, not an empty
// list); an empty namespaces lists all namespaces. Any failed page fails
// the listing.
func (c *Client) ListDeployments(ctx context.Context, namespaces []string) ([]Deployment, error) {
	scopes := namespaceScopes(namespaces)
	if scopes[0] != "" {
		if err := c.RequireNamespaces(ctx, scopes); err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
	}
	var out []Deployment
	for _, ns := range scopes {
		if err := listAll(ctx, c, "deployments", ns, func(d *Deployment) error {
			out = append(out, *d)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
