package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"time"
)

// TriggerCronJob makes the CronJob controller start a Job of the CronJob now, instead of
// at its next scheduled time (a nightly job would not run during a test): it moves the
// CronJob's status.lastScheduleTime back by period plus a minute, where period is the
// schedule's interval (24h for "0 2 * * *", a minute for "* * * * *"). The controller then
// sees one missed run and starts it as it would after a restart, named
// <cronjob>-<scheduled minute>, with the CronJob's current job template. A schedule time
// runs once: a second trigger within the same period finds that Job and starts none (use
// CreateJobFromCronJob for that). A startingDeadlineSeconds shorter than the time since
// the last scheduled run makes the controller skip it, as it would in a cluster.
func (k *Kube) TriggerCronJob(ctx context.Context, namespace, name string, period time.Duration) error {
	if k.sim == nil {
		return errNoControllers
	}
	last := time.Now().Add(-period - time.Minute).UTC().Format(time.RFC3339)
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"lastScheduleTime": last}})
	path := "/apis/batch/v1/namespaces/" + namespace + "/cronjobs/" + name + "/status"
	if _, err := k.admin(ctx, http.MethodPatch, path, "application/merge-patch+json", patch, http.StatusOK); err != nil {
		return fmt.Errorf("trigger cronjob %s/%s: %w", namespace, name, err)
	}
	return nil
}

// CreateJobFromCronJob creates a Job from the CronJob's current job template, as
// `kubectl create job --from=cronjob/<name>` does (owned by the CronJob, annotated
// cronjob.kubernetes.io/instantiate=manual), and returns its name. Unlike TriggerCronJob
// it runs as often as called; the CronJob controller does not take part.
func (k *Kube) CreateJobFromCronJob(ctx context.Context, namespace, name string) (string, error) {
	base := "/apis/batch/v1/namespaces/" + namespace
	b, err := k.admin(ctx, http.MethodGet, base+"/cronjobs/"+name, "", nil, http.StatusOK)
	if err != nil {
		return "", fmt.Errorf("create job from cronjob %s/%s: %w", namespace, name, err)
	}
	var cj struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
		Spec struct {
			JobTemplate struct {
				Metadata struct {
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Spec json.RawMessage `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &cj); err != nil {
		return "", fmt.Errorf("create job from cronjob %s/%s: %w", namespace, name, err)
	}
	annotations := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	maps.Copy(annotations, cj.Spec.JobTemplate.Metadata.Annotations)
	job, _ := json.Marshal(map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{
			"generateName": name + "-manual-",
			"labels":       cj.Spec.JobTemplate.Metadata.Labels,
			"annotations":  annotations,
			"ownerReferences": []map[string]any{{
				"apiVersion": "batch/v1", "kind": "CronJob", "name": name, "uid": cj.Metadata.UID,
				"controller": true, "blockOwnerDeletion": true,
			}},
		},
		"spec": cj.Spec.JobTemplate.Spec,
	})
	b, err = k.admin(ctx, http.MethodPost, base+"/jobs", "application/json", job, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("create job from cronjob %s/%s: %w", namespace, name, err)
	}
	var created struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &created); err != nil {
		return "", fmt.Errorf("create job from cronjob %s/%s: %w", namespace, name, err)
	}
	return created.Metadata.Name, nil
}
