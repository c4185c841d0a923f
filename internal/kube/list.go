package kube

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

const (
	// listPageSize is the limit asked per list page.
	listPageSize = 500
	// maxListPages bounds one listing (5 million objects), so a server that keeps inventing continue tokens
	// cannot keep a function running until its timeout.
	maxListPages = 10000
)

// resourceGroups maps each resource ecrwarden lists to its API group path.
var resourceGroups = map[string]string{
	"pods":         "/api/v1",
	"events":       "/api/v1",
	"deployments":  "/apis/apps/v1",
	"replicasets":  "/apis/apps/v1",
	"statefulsets": "/apis/apps/v1",
	"daemonsets":   "/apis/apps/v1",
	"jobs":         "/apis/batch/v1",
	"cronjobs":     "/apis/batch/v1",
}

// namespaceScopes returns the namespaces to list, deduplicated; "" stands for all namespaces.
func namespaceScopes(namespaces []string) []string {
	if len(namespaces) == 0 {
		return []string{""}
	}
	out := make([]string, 0, len(namespaces))
	for _, ns := range namespaces {
		if ns == "" {
			return []string{""}
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

func scopeName(namespace string) string {
	if namespace == "" {
		return "all namespaces"
	}
	return "namespace " + namespace
}

// listAll lists every object of resource in namespace ("" for all namespaces), page by page with limit=500 and
// the continue token, calling fn for each object. Any failure, including an expired or repeated continue token,
// fails the whole listing: a caller never sees a partial list without an error.
func listAll[T any](ctx context.Context, c *Client, resource, namespace string, fn func(*T) error) error {
	return listSelected(ctx, c, resource, namespace, nil, fn)
}

// listSelected is listAll with extra query parameters, such as labelSelector or fieldSelector.
func listSelected[T any](ctx context.Context, c *Client, resource, namespace string, selectors url.Values, fn func(*T) error) error {
	group, ok := resourceGroups[resource]
	if !ok {
		return fmt.Errorf("list %s: unknown resource", resource)
	}
	path := group + "/" + resource
	if namespace != "" {
		path = group + "/namespaces/" + url.PathEscape(namespace) + "/" + resource
	}
	seen := map[string]bool{}
	token := ""
	for page := 0; page < maxListPages; page++ {
		q := url.Values{"limit": {strconv.Itoa(listPageSize)}}
		for k, v := range selectors {
			q[k] = v
		}
		if token != "" {
			q.Set("continue", token)
		}
		var l list[T]
		if err := c.do(ctx, http.MethodGet, path, q, "", nil, &l); err != nil {
			return fmt.Errorf("list %s in %s (page %d): %w", resource, scopeName(namespace), page+1, err)
		}
		for i := range l.Items {
			if err := fn(&l.Items[i]); err != nil {
				return err
			}
		}
		token = l.Metadata.Continue
		if token == "" {
			return nil
		}
		if seen[token] {
			return fmt.Errorf("list %s in %s: the API server repeated continue token %q", resource, scopeName(namespace), token)
		}
		seen[token] = true
	}
	return fmt.Errorf("list %s in %s: more than %d pages", resource, scopeName(namespace), maxListPages)
}
