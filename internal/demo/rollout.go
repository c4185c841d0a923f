package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
	"github.com/ecrwarden/ecrwarden/internal/status"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// Steps of the rollout story, played after gc on a control plane with
// controllers and kwok nodes, so that rollouts really happen.
const (
	StepCrash    = "v1.2.0 pushed: its Pods crash at start"
	StepRollback = "v1.2.0 rolled back"
	StepHeld     = "ecrwarden status shows the hold"
	StepRelease  = "released; v1.2.1 pushed"
)

// The story's versions: v1.2.0 passes its scan but crashes at start;
// v1.2.1 fixes it.
const (
	CrashTag = "v1.2.0"
	FixedTag = "v1.2.1"
)

// storyTimeout bounds each wait of the rollout story for the cluster.
const storyTimeout = 90 * time.Second

// Env is what the demo's functions run with besides the stack's settings:
// verification checks every 2 seconds instead of every 30, so that the
// story takes seconds.
var Env = map[string]string{"ECRWARDEN_VERIFY_INTERVAL": "2s"}

// rolloutStory plays a clean image that crashes at start, its automatic
// rollback, the hold in `ecrwarden status`, the release and the next good
// version, verified.
func (d *director) rolloutStory(ctx context.Context) error {
	k := d.sb.Cluster.Kube
	if len(k.Nodes) == 0 {
		d.say("\n-- (the rollout story needs the control plane with controllers and kwok nodes: skipped)")
		return nil
	}
	d.say("\n-- CI pushes %s: its scan is clean, but its Pods crash at start (a kwok fault on the image's digest)", CrashTag)
	manifest, digest := d.sb.NewManifest()
	if err := k.SetImageFaults(ctx, map[string]testenv.ImageFault{digest: testenv.ImageCrashLoop}); err != nil {
		return err
	}
	if err := d.sb.PutImage(ctx, apiRepo, CrashTag, manifest); err != nil {
		return err
	}
	st, err := d.deliver(ctx, StepCrash, CrashTag, digest)
	if err != nil {
		return err
	}
	d.say("   api container now runs %s (%s); ecrwarden follows the rollout", d.tagOf(st.Image, st), short(st.Image))
	reasons, err := d.waitPods(ctx, digest, func(p podState) bool { return p.waiting == string(testenv.ImageCrashLoop) })
	if err != nil {
		return err
	}
	d.say("   the new Pods: %s", strings.Join(reasons, ", "))
	st.PodReasons = reasons
	d.report.Steps = append(d.report.Steps, st)

	d.say("\n-- The verification's next check sees the crash and rolls back by itself")
	rb, err := d.untilVerify(ctx, StepRollback, rollout.VerifyRolledBack)
	if err != nil {
		return err
	}
	dep, err := d.deployment(ctx)
	if err != nil {
		return err
	}
	rb.Hold = dep.Metadata.Annotations[rollout.AnnotationHold]
	bs, err := rollout.Blocks(kube.NewWorkload(dep))
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Container == "api" {
			rb.Blocked = b.Digest
		}
	}
	d.say("   api container now runs %s; the Deployment is held and %s is blocked for container api", d.tagOf(rb.Image), d.tagOf(apiRepo+"@"+rb.Blocked, st))
	if err := d.waitAvailable(ctx, rb.Image); err != nil {
		return err
	}
	d.say("   the Deployment is available again on the previous image")
	d.report.Steps = append(d.report.Steps, rb)

	d.say("\n-- `ecrwarden status`:\n")
	rep, err := d.status(ctx)
	if err != nil {
		return err
	}
	d.report.Steps = append(d.report.Steps, Step{Title: StepHeld, Status: rep.Rows, Image: rb.Image})

	d.say("\n-- `ecrwarden release %s`, then CI pushes %s with the fix", deployment, FixedTag)
	client, err := d.operatorClient(ctx)
	if err != nil {
		return err
	}
	rel, err := rollout.Release(ctx, client, namespace, deployment, false)
	if err != nil {
		return err
	}
	if rel.Changed {
		d.say("   released: the hold is gone; %s stays blocked", CrashTag)
	}
	fixed, err := d.sb.Push(ctx, apiRepo, FixedTag)
	if err != nil {
		return err
	}
	st, err = d.deliver(ctx, StepRelease, FixedTag, fixed)
	if err != nil {
		return err
	}
	verified, err := d.untilVerify(ctx, StepRelease, rollout.VerifyVerified)
	if err != nil {
		return err
	}
	st.Slack, st.SNS, st.Image = append(st.Slack, verified.Slack...), append(st.SNS, verified.SNS...), verified.Image
	if err := d.waitAvailable(ctx, st.Image); err != nil {
		return err
	}
	d.say("   api container now runs %s (%s): verified, the rollout is available", d.tagOf(st.Image, st), short(st.Image))
	d.say("\n-- `ecrwarden status`:\n")
	if rep, err = d.status(ctx); err != nil {
		return err
	}
	st.Status = rep.Rows
	d.report.Steps = append(d.report.Steps, st)
	return nil
}

// untilVerify delivers events and the verification's delayed checks until
// the Deployment's verification reaches state, and narrates the messages
// they sent.
func (d *director) untilVerify(ctx context.Context, title, state string) (Step, error) {
	seen, err := d.sb.DeliverUntil(ctx, storyTimeout, func(ctx context.Context) (bool, string, error) {
		dep, err := d.deployment(ctx)
		if err != nil {
			return false, "", err
		}
		s, err := rollout.ReadState(dep.Metadata.Annotations)
		if err != nil || s.Verify == nil {
			return false, "no verification", err
		}
		img, _, _ := dep.ContainerImage("api")
		return s.Verify.State == state, fmt.Sprintf("verification %s, image %s", s.Verify.State, short(img)), nil
	})
	if err != nil {
		return Step{}, fmt.Errorf("wait for the verification to be %s (%s): %w", state, seen, err)
	}
	st := Step{Title: title}
	if err := d.observe(ctx, &st); err != nil {
		return Step{}, err
	}
	return st, nil
}

// deployment reads the story's Deployment as the operator.
func (d *director) deployment(ctx context.Context) (*kube.Deployment, error) {
	client, err := d.operatorClient(ctx)
	if err != nil {
		return nil, err
	}
	return client.GetDeployment(ctx, namespace, deployment)
}

// deliver routes the queued events and narrates what the functions did.
func (d *director) deliver(ctx context.Context, title, tag, digest string) (Step, error) {
	deliveries, err := d.sb.Deliver(ctx)
	if err != nil {
		return Step{}, err
	}
	st := Step{Title: title, Tag: tag, Digest: digest, Deliveries: deliveries}
	d.narrateDeliveries(deliveries)
	if err := d.observe(ctx, &st); err != nil {
		return Step{}, err
	}
	return st, nil
}

// observe records and narrates the messages the step sent, and the api
// container's image after it.
func (d *director) observe(ctx context.Context, st *Step) error {
	st.Slack, st.SNS = d.newMessages()
	for _, m := range st.Slack {
		d.say("   Slack:\n%s", indent(m, "     │ "))
	}
	var err error
	st.Image, err = d.apiImage(ctx)
	return err
}

// status prints and returns what `ecrwarden status` shows, computed as the
// command computes it (the registry and the clusters through the AWS APIs).
func (d *director) status(ctx context.Context) (*status.Report, error) {
	cfg := d.sb.AWS.Copy()
	images := awsecr.NewFromConfig(cfg, func(o *awsecr.Options) { o.BaseEndpoint = aws.String(d.sb.Endpoint("ECR")) })
	r := &status.Reader{
		Policy:  d.sb.Policy,
		Clients: kube.NewEKSResolver(cfg, func(o *eks.Options) { o.BaseEndpoint = aws.String(d.sb.Endpoint("EKS")) }),
		Images:  images, Scans: images,
		Origin: ecrevent.Origin{Partition: "aws", Account: d.sb.Account, Region: d.sb.Region},
	}
	rep, err := r.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if err := status.WriteTable(d.w, rep, time.Now()); err != nil {
		return nil, err
	}
	return rep, nil
}

// operatorClient is the Kubernetes client of a person at the console
// (cluster admin), for the commands the story runs by hand.
func (d *director) operatorClient(context.Context) (*kube.Client, error) {
	k := d.sb.Cluster.Kube
	return kube.New(kube.Config{Host: k.Admin.Host, CAData: k.Admin.CAData, Token: kube.StaticToken(k.Admin.Token)})
}

// podState is what one container of a Pod says.
type podState struct {
	image    string
	ready    bool
	waiting  string
	restarts int
}

// pods lists the api containers of the Deployment's Pods.
func (d *director) pods(ctx context.Context) ([]podState, error) {
	k := d.sb.Cluster.Kube
	q := url.Values{"labelSelector": {"app=" + deployment}}
	code, out, err := k.Request(ctx, k.Admin, http.MethodGet, "/api/v1/namespaces/"+namespace+"/pods?"+q.Encode(), "", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("list pods: HTTP %d: %s", code, out)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				DeletionTimestamp *string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct{ Name, Image string } `json:"containers"`
			} `json:"spec"`
			Status struct {
				ContainerStatuses []struct {
					Name         string `json:"name"`
					Ready        bool   `json:"ready"`
					RestartCount int    `json:"restartCount"`
					State        struct {
						Waiting *struct {
							Reason string `json:"reason"`
						} `json:"waiting"`
					} `json:"state"`
				} `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var states []podState
	for _, p := range list.Items {
		if p.Metadata.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Spec.Containers {
			if c.Name != "api" {
				continue
			}
			s := podState{image: c.Image}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == c.Name {
					s.ready, s.restarts = cs.Ready, cs.RestartCount
					if cs.State.Waiting != nil {
						s.waiting = cs.State.Waiting.Reason
					}
				}
			}
			states = append(states, s)
		}
	}
	return states, nil
}

// waitPods waits until a Pod of the image with digest satisfies ok, and
// returns what those Pods say ("CrashLoopBackOff (1 restart)").
func (d *director) waitPods(ctx context.Context, digest string, ok func(podState) bool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, storyTimeout)
	defer cancel()
	for {
		states, err := d.pods(ctx)
		if err != nil {
			return nil, err
		}
		var reasons []string
		for _, s := range states {
			if strings.HasSuffix(s.image, "@"+digest) && ok(s) {
				r := fmt.Sprintf("%s, %d restarts", s.waiting, s.restarts)
				if s.restarts == 1 {
					r = strings.TrimSuffix(r, "s")
				}
				reasons = append(reasons, r)
			}
		}
		if len(reasons) > 0 {
			sort.Strings(reasons)
			return reasons, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the Pods of %s: %w (last seen: %+v)", short(digest), ctx.Err(), states)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitAvailable waits until every replica of the Deployment runs image and
// is ready (kubectl rollout status's condition, in short).
func (d *director) waitAvailable(ctx context.Context, image string) error {
	ctx, cancel := context.WithTimeout(ctx, storyTimeout)
	defer cancel()
	k := d.sb.Cluster.Kube
	for {
		code, out, err := k.Request(ctx, k.Admin, http.MethodGet, "/apis/apps/v1/namespaces/"+namespace+"/deployments/"+deployment, "", nil)
		if err != nil {
			return err
		}
		var dep kube.Deployment
		if code != http.StatusOK || json.Unmarshal(out, &dep) != nil {
			return fmt.Errorf("get deployment: HTTP %d: %s", code, out)
		}
		img, _, _ := dep.ContainerImage("api")
		want := int32(1)
		if dep.Spec.Replicas != nil {
			want = *dep.Spec.Replicas
		}
		s := dep.Status
		if img == image && s.ObservedGeneration >= dep.Metadata.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be available on %s: %w (status %+v)", deployment, short(image), ctx.Err(), s)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// tagOf names the story's tag of an image reference pinned by digest (in
// the steps so far and more), or abbreviates the reference.
func (d *director) tagOf(ref string, more ...Step) string {
	for _, st := range append(d.report.Steps, more...) {
		if st.Digest != "" && strings.HasSuffix(ref, "@"+st.Digest) {
			return st.Tag
		}
	}
	return short(ref)
}

// short abbreviates an image reference's digest for the narration.
func short(ref string) string {
	if i := strings.Index(ref, "@sha256:"); i >= 0 && len(ref) > i+20 {
		repo := ref[:i]
		if j := strings.Index(repo, "/"); j >= 0 {
			repo = "…" + repo[j:] // the registry host is the demo's own
		}
		return repo + ref[i:i+20] + "…"
	}
	return ref
}
