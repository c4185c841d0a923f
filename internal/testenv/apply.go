package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Apply creates obj in the collection at path ("/apis/rbac.authorization.k8s.io/v1/
// clusterroles") as the admin user, or replaces the object named name there if it
// exists, as kubectl apply does for a whole object.
func (k *Kube) Apply(ctx context.Context, path, name string, obj any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("kube apply %s/%s: %w", path, name, err)
	}
	code, out, err := k.Request(ctx, k.Admin, http.MethodPost, path, "application/json", body)
	if err != nil {
		return err
	}
	if code == http.StatusConflict {
		code, out, err = k.Request(ctx, k.Admin, http.MethodPut, path+"/"+url.PathEscape(name), "application/json", body)
		if err != nil {
			return err
		}
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return fmt.Errorf("kube apply %s/%s: %d %s", path, name, code, out)
	}
	return nil
}

// Allowed asks the API server's authorizer (a SubjectAccessReview, as the admin user)
// whether user in groups may do verb on resource (group/resource, optionally a
// subresource "pods/exec" and a name) in namespace ("" for cluster scope).
func (k *Kube) Allowed(ctx context.Context, user string, groups []string, verb, apiGroup, resource, namespace, name string) (bool, error) {
	res, sub, _ := cutSlash(resource)
	review := map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
		"spec": map[string]any{"user": user, "groups": groups, "resourceAttributes": map[string]any{
			"verb": verb, "group": apiGroup, "resource": res, "subresource": sub, "namespace": namespace, "name": name,
		}},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return false, err
	}
	code, out, err := k.Request(ctx, k.Admin, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", "application/json", body)
	if err != nil {
		return false, err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return false, fmt.Errorf("subject access review: %d %s", code, out)
	}
	var status struct {
		Status struct {
			Allowed bool `json:"allowed"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &status); err != nil {
		return false, fmt.Errorf("subject access review: %w", err)
	}
	return status.Status.Allowed, nil
}

func cutSlash(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
