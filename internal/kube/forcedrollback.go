package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// DeleteStuckPods deletes the Pods of a StatefulSet whose container runs image (the template just rolled back
// from) and that are not Ready, each guarded by its UID, and returns their names. After its template is reverted,
// a StatefulSet's controller (podManagementPolicy OrderedReady, the default) waits for such a Pod to become Ready
// before it replaces it, which it never does: the Kubernetes documentation's "Forced rollback" says to delete it,
// and kubernetes/kubernetes#67250 tracks the controller's side. The controller recreates each deleted Pod from the
// reverted template. A Pod already gone or recreated under the same name (another UID) is left alone. Deployments
// and DaemonSets replace such Pods themselves; for them, and for a CronJob, it deletes nothing. It needs list and
// delete on pods in the workload's namespace.
func (c *Client) DeleteStuckPods(ctx context.Context, w *Workload, container, image string) ([]string, error) {
	s, ok := w.Object().(*StatefulSet)
	if !ok {
		return nil, nil
	}
	ref := w.Ref()
	sel := matchLabels(s.Spec.Selector)
	if len(sel) == 0 {
		return nil, fmt.Errorf("replace stuck pods of %s: no selector", lower(ref))
	}
	pods, err := c.listPods(ctx, ref.Namespace, sel)
	if err != nil {
		return nil, fmt.Errorf("replace stuck pods of %s: %w", lower(ref), err)
	}
	var deleted []string
	for _, p := range pods {
		img, _, ok := podSpecImage(p.Spec, container)
		if !ok || img != image || podReady(p) || !ownedBy(p.Metadata, s.Metadata.UID) {
			continue
		}
		if err := c.deletePod(ctx, ref.Namespace, p.Metadata.Name, p.Metadata.UID); err != nil {
			return deleted, fmt.Errorf("replace stuck pods of %s: %w", lower(ref), err)
		}
		deleted = append(deleted, p.Metadata.Name)
	}
	return deleted, nil
}

// deletePod deletes the Pod namespace/name if its UID is uid; gone or replaced is not an error.
func (c *Client) deletePod(ctx context.Context, namespace, name, uid string) error {
	body, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": map[string]string{"uid": uid}})
	if err != nil {
		return err
	}
	err = c.do(ctx, http.MethodDelete, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name), nil, "application/json", body, nil)
	if IsNotFound(err) || IsConflict(err) { // gone, or the UID precondition failed: recreated already
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	return nil
}
