package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ErrNamespaceNotFound is wrapped by the error for a namespace that does not exist in the cluster: listing a
// missing namespace answers an empty list with 200, so a misspelt namespace would otherwise look empty.
var ErrNamespaceNotFound = errors.New("namespace not found")

// RequireNamespaces checks that every namespace exists (GET /api/v1/namespaces/NAME). A 404 is an error wrapping
// ErrNamespaceNotFound; any other failure (a 403 when RBAC does not grant get on the namespace) is an error too.
func (c *Client) RequireNamespaces(ctx context.Context, namespaces []string) error {
	var errs []error
	for _, ns := range namespaces {
		if ns == "" {
			errs = append(errs, errors.New("empty namespace name"))
			continue
		}
		err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(ns), nil, "", nil, nil)
		switch {
		case err == nil:
		case IsNotFound(err):
			errs = append(errs, fmt.Errorf("namespace %q: %w in the cluster", ns, ErrNamespaceNotFound))
		default:
			errs = append(errs, fmt.Errorf("check namespace %q: %w", ns, err))
		}
	}
	return errors.Join(errs...)
}
