package sandbox_test

// The driver of the fault-schedule test: it plays a generated scenario on the
// sandbox — resets the registry and the workloads to the baseline, pushes,
// arms the faults, delivers the events as the scenario says (reordered,
// duplicated, killed mid-send), runs gc, clears the faults, completes the
// scans and redrives what Lambda dead-lettered, as an operator would — and
// records what it did in the model the oracle checks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	ecremu "github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	slackemu "github.com/ecrwarden/ecrwarden/internal/emulator/slack"
	"github.com/ecrwarden/ecrwarden/internal/sandbox"
	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// offsets are where the scenario's records start in the sandbox's logs.
type offsets struct{ slack, sns, audit, dlq, logs int }

// driver plays scenarios on one sandbox.
type driver struct {
	sb      *sandbox.Sandbox
	logs    *sandbox.LogBuffer
	timeout time.Duration // the functions' timeout
	// injected counts the faults the emulators and the driver injected, by kind.
	injected map[string]int
	// armed counts the faults armed, by kind.
	armed map[string]int
}

// injectors returns every fault injector of the sandbox by target name.
func (d *driver) injectors() map[string]*fault.Injector {
	s := d.sb.Suite
	return map[string]*fault.Injector{
		"ecr": s.ECR.Faults(), "sns": s.SNS.Faults(), "eventbridge": s.EventBridge.Faults(), "secretsmanager": s.SecretsManager.Faults(),
		"dynamodb": s.DynamoDB.Faults(), "eks": s.EKS.Faults(), "slack": s.Slack.Faults(), "moto": d.sb.InUse.Faults(), "kube": d.sb.KubeFaults.Faults(),
	}
}

// logsOf returns every call log by target name.
func (d *driver) logsOf() map[string]*fault.Log {
	s := d.sb.Suite
	return map[string]*fault.Log{
		"ecr": s.ECR.Log(), "sns": s.SNS.Calls(), "eventbridge": s.EventBridge.Calls(), "secretsmanager": s.SecretsManager.Calls(),
		"dynamodb": s.DynamoDB.Calls(), "eks": s.EKS.Calls(), "slack": s.Slack.Calls(), "moto": d.sb.InUse.Log(), "kube": d.sb.KubeFaults.Calls(),
	}
}

func (d *driver) clearFaults() {
	for _, in := range d.injectors() {
		in.Clear()
	}
}

// countInjected adds the faults the call logs recorded since the last reset
// to d.injected and resets the logs.
func (d *driver) countInjected() {
	for target, l := range d.logsOf() {
		for _, c := range l.Calls(fault.AnyOp) {
			if c.Fault != fault.None {
				d.injected[target+" "+c.Fault.String()]++
			}
		}
		l.Reset()
	}
}

// reset brings the registry and the workloads back to the baseline: the
// repositories emptied, then old releases seeded (a protected one, the one
// the gated Deployment runs by tag, the one another Deployment runs by
// digest, and the scenario's old ones), no faults armed.
func (d *driver) reset(ctx context.Context, sc faultScenario, m *model) error {
	d.clearFaults()
	sb := d.sb
	for _, repo := range []string{faultsRepo, faultsScratch} {
		var ids []ecrtypes.ImageIdentifier
		for digest := range sb.Suite.ECR.Images(repo) {
			ids = append(ids, ecrtypes.ImageIdentifier{ImageDigest: aws.String(digest)})
		}
		for len(ids) > 0 {
			n := min(len(ids), 100)
			if _, err := sb.ECR.BatchDeleteImage(ctx, &awsecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: ids[:n]}); err != nil {
				return fmt.Errorf("reset %s: %w", repo, err)
			}
			ids = ids[n:]
		}
		if left := len(sb.Suite.ECR.Images(repo)); left > 0 {
			return fmt.Errorf("reset %s: %d images left", repo, left)
		}
	}
	scanType := ecremu.ScanBasic
	if sc.Enhanced {
		scanType = ecremu.ScanEnhanced
	}
	if err := sb.Suite.ECR.SetScanType(faultsRepo, scanType); err != nil {
		return err
	}
	now := time.Now().UTC()
	day := 24 * time.Hour
	seed := func(repo string, tags []string, age time.Duration) (string, error) {
		manifest, _ := sb.NewManifest()
		img := ecremu.Image{Tags: tags, PushedAt: now.Add(-age), Size: 50 << 20, Manifest: manifest}
		digest, err := sb.Suite.ECR.SeedImage(repo, img)
		if err != nil {
			return "", err
		}
		// Both repositories scan on push: a seeded image is scanned (clean).
		m.images[digest] = &imageModel{Repo: repo, Tags: tags, PushedAt: img.PushedAt, Scanned: true, Complete: true, Size: img.Size}
		return digest, nil
	}
	if _, err := seed(faultsRepo, []string{faultsProtected}, 90*day); err != nil {
		return err
	}
	if _, err := seed(faultsRepo, []string{"v0.1.0"}, 50*day); err != nil {
		return err
	}
	sidecar, err := seed(faultsRepo, []string{"v0.2.0"}, 45*day)
	if err != nil {
		return err
	}
	for i, age := range sc.Old {
		tags := []string{fmt.Sprintf("v0.0.%d", i)}
		repo := faultsRepo
		if i%2 == 1 {
			tags, repo = nil, faultsScratch
		}
		if _, err := seed(repo, tags, time.Duration(age)*day); err != nil {
			return err
		}
	}
	// Seeding emits nothing; the deletions above emitted DELETE events.
	sb.TakeEvents()
	for name, image := range map[string]string{
		faultsDeploy:  m.registry + "/" + faultsRepo + ":v0.1.0",
		faultsSidecar: m.registry + "/" + faultsRepo + "@" + sidecar,
	} {
		if err := sb.ApplyDeployment(ctx, faultsNamespace, name, image); err != nil {
			return err
		}
		m.deployed[name+"/api"] = image
	}
	return nil
}

// findingsFor names the findings of push i of a scenario: a CVE id no other
// scenario of the run uses.
func findingsFor(seed uint64, i, round int, severities []string) []ecremu.Finding {
	var out []ecremu.Finding
	for j, s := range severities {
		id := fmt.Sprintf("CVE-2026-%d", 1_000_000+seed*1000+uint64(i*100+round*10+j))
		out = append(out, ecremu.Finding{Name: id, Severity: s, Description: id + " in openssl", URI: "https://www.cve.org/CVERecord?id=" + id,
			PackageName: "openssl", PackageVersion: "3.0.13", FixedInVersion: "3.0.14", CVSS2Score: "7.5", Score: 7.5})
	}
	return out
}

// alertable returns the ids of the findings an alert at HIGH must name.
func alertable(fs []ecremu.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == "CRITICAL" || f.Severity == "HIGH" {
			out = append(out, f.Name)
		}
	}
	return out
}

func severitiesOf(fs []ecremu.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Severity)
	}
	return out
}

// pushImage pushes as CI does, retrying what an injected fault refused.
func (d *driver) pushImage(ctx context.Context, repo, tag, manifest string) error {
	var err error
	for range 8 {
		if err = d.sb.PutImage(ctx, repo, tag, manifest); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// killer arms the Slack faults that act on the next post: a hang until the
// invocation's deadline (the function must bound its send), or a kill of the
// invocation mid-send (Lambda killing it, holding its lease).
type killer struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	killed bool
}

func (k *killer) arm(sb *sandbox.Sandbox, kill bool) {
	slack := sb.Suite.Slack
	posts := slack.Calls().Count(slackemu.Op)
	slack.Faults().Set(slackemu.Op, fault.Rule{Latency: time.Hour})
	go func() {
		for slack.Calls().Count(slackemu.Op) == posts {
			time.Sleep(5 * time.Millisecond)
		}
		slack.Faults().Set(slackemu.Op, fault.Rule{})
		if kill {
			k.mu.Lock()
			k.killed = true
			if k.cancel != nil {
				k.cancel()
			}
			k.mu.Unlock()
		}
	}()
}

// context returns the context of the next invocation: the killer cancels it.
func (k *killer) context(ctx context.Context) context.Context {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, cancel := context.WithCancel(ctx)
	k.cancel = cancel
	return c
}

// deliverOne invokes every function the event routes to; a killed
// invocation is recorded for the redrive.
func (d *driver) deliverOne(ctx context.Context, m *model, k *killer, ev []byte, killed *[][2][]byte) {
	fns := d.sb.Route(ev)
	if len(fns) == 0 {
		// No rule matches (a forged account or region): invoked directly,
		// as a redrive or a hand-made invoke would.
		fns = directTarget(ev)
	}
	for _, fn := range fns {
		ictx := k.context(ctx)
		_, err := d.sb.Invoke(ictx, fn, ev)
		switch {
		case err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled):
			*killed = append(*killed, [2][]byte{[]byte(fn), ev})
		case err != nil:
			m.fail("invoke %s: %v", fn, err)
		}
		m.checkWorkloads(ctx, d.sb, fn+" on "+describe(ev))
	}
}

// directTarget names the function that handles an event's detail-type.
func directTarget(ev []byte) []string {
	var head struct {
		DetailType string `json:"detail-type"`
	}
	_ = json.Unmarshal(ev, &head)
	switch {
	case head.DetailType == "ECR Image Action":
		return []string{"onpush"}
	case head.DetailType == "ECR Image Scan", strings.HasPrefix(head.DetailType, "Inspector2 "):
		return []string{"onscan"}
	}
	return nil
}

// describe names an event in violations.
func describe(ev []byte) string {
	var head struct {
		DetailType string `json:"detail-type"`
		Detail     struct {
			Repo   string `json:"repository-name"`
			Tag    string `json:"image-tag"`
			Digest string `json:"image-digest"`
		} `json:"detail"`
	}
	_ = json.Unmarshal(ev, &head)
	return fmt.Sprintf("%q %s:%s", head.DetailType, head.Detail.Repo, head.Detail.Tag)
}

// drain delivers what the deliveries put on the bus, then the SQS sources.
func (d *driver) drain(ctx context.Context, m *model, k *killer, killed *[][2][]byte) {
	for {
		evs := d.sb.TakeEvents()
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			d.deliverOne(ctx, m, k, ev, killed)
		}
	}
	if _, err := d.sb.Deliver(ctx); err != nil {
		m.fail("deliver: %v", err)
	}
	m.checkWorkloads(ctx, d.sb, "the SQS sources")
}

// run plays sc and returns the model with its violations.
func (d *driver) run(ctx context.Context, sc faultScenario) *model {
	sb := d.sb
	m := newModel(sb.Registry)
	if err := d.reset(ctx, sc, m); err != nil {
		m.fail("reset: %v", err)
		return m
	}
	off := offsets{slack: len(sb.Suite.Slack.Payloads()), sns: len(sb.Suite.SNS.Messages(sb.TopicARN)),
		audit: len(sb.Suite.EventBridge.Events(sb.EventBus)), dlq: len(sb.DLQ()), logs: len(d.logs.String())}
	r := rand.New(rand.NewPCG(sc.Seed, 0xd1ce))
	digests := make([]string, len(sc.Pushes))

	// CI pushes.
	for i, p := range sc.Pushes {
		fs := findingsFor(sc.Seed, i, 0, p.Findings)
		manifest, digest := sb.NewManifest()
		if err := sb.Suite.ECR.SetFindings(p.Repo, digest, fs); err != nil {
			m.fail("seed findings: %v", err)
			return m
		}
		if err := d.pushImage(ctx, p.Repo, p.Tag, manifest); err != nil {
			m.fail("%v", err)
			return m
		}
		digests[i] = digest
		m.pushed = append(m.pushed, digest)
		m.images[digest] = &imageModel{Repo: p.Repo, Tags: []string{p.Tag}, PushedAt: time.Now(), Findings: p.Findings, Scanned: true, Complete: true}
		if p.Rejected {
			m.alerts = append(m.alerts, alertWant{Text: p.Tag, Why: "rejected tag " + p.Repo + ":" + p.Tag})
			if p.Repo == faultsScratch {
				m.rejected[digest] = true
				continue // deleted by onpush: its findings may never be read
			}
		}
		for _, id := range alertable(fs) {
			m.alerts = append(m.alerts, alertWant{Text: id, Why: fmt.Sprintf("finding %s of %s:%s", id, p.Repo, p.Tag)})
		}
		if p.Incomplete != "" {
			if err := sb.Suite.ECR.SetScanStatus(p.Repo, digest, p.Incomplete, "injected: the scanner is not done"); err != nil {
				m.fail("%v", err)
				return m
			}
			m.images[digest].Complete = false
		}
	}
	events := sb.TakeEvents()
	if sc.Shuffle {
		r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	}
	// Forged copies: another account, another region, a digest we do not
	// have. Each must be refused, never rolled out.
	for _, what := range sc.Crafted {
		if len(events) == 0 {
			break
		}
		ev := events[r.IntN(len(events))]
		var err error
		switch what {
		case "account":
			ev, err = sandbox.WithField(ev, "account", "999999999999")
		case "region":
			ev, err = sandbox.WithField(ev, "region", "us-east-1")
		default:
			ev, err = sandbox.WithField(ev, "detail.image-digest", fmt.Sprintf("sha256:%064x", sc.Seed))
		}
		if err != nil {
			m.fail("craft: %v", err)
			continue
		}
		events = append(events, ev)
	}
	var schedule [][]byte
	for _, ev := range events {
		schedule = append(schedule, ev)
		if r.Float64() < sc.Duplicate {
			schedule = append(schedule, ev)
		}
	}

	// The faults.
	k := &killer{}
	interrupted := false
	for _, f := range sc.Faults {
		d.armed[f.Kind()]++
		switch {
		case f.Kill || f.Hang:
			k.arm(sb, f.Kill)
			interrupted = true
		case f.Target == "lambda":
			sb.Functions[f.Op].InjectFault(testenv.FaultTimeout)
			d.injected["lambda timeout"]++
			interrupted = true
		default:
			d.injectors()[f.Target].Set(f.Op, f.Rule)
		}
	}

	// gc, racing the deliveries and a retag, or after them.
	var watch *gcWatch
	startGC := func() (wait func()) {
		watch = &gcWatch{before: map[string]map[string][]string{}, startAt: time.Now()}
		for _, repo := range []string{faultsRepo, faultsScratch} {
			watch.before[repo] = sb.Suite.ECR.Images(repo)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range sc.GCRuns {
				payload := fmt.Sprintf(`{"trigger":"faults","runId":"faults-%d-%d"}`, sc.Seed, i)
				if _, err := sb.Invoke(ctx, "gc", []byte(payload)); err != nil {
					m.fail("invoke gc: %v", err)
				}
			}
			if _, err := sb.Deliver(ctx); err != nil {
				m.fail("deliver gc's fan-out: %v", err)
			}
		}()
		return wg.Wait
	}
	var killed [][2][]byte
	var wait func()
	if sc.GC == "concurrent" {
		wait = startGC()
		// CI tags an old release anew while gc plans and deletes.
		for d0, im := range m.images {
			if im.Repo == faultsRepo && len(im.Tags) == 1 && strings.HasPrefix(im.Tags[0], "v0.0.") {
				// A retag the injected faults refuse is CI's problem, not ours.
				if manifest, err := batchGetManifest(ctx, sb, faultsRepo, d0); err == nil {
					tag := fmt.Sprintf("v2.0.%d", sc.Seed)
					if err := d.pushImage(ctx, faultsRepo, tag, manifest); err == nil {
						m.retagged[d0] = tag
						im.Tags = append(im.Tags, tag)
					}
				}
				break
			}
		}
	}
	for _, ev := range schedule {
		d.deliverOne(ctx, m, k, ev, &killed)
	}
	d.drain(ctx, m, k, &killed)
	if wait != nil {
		wait()
		d.drain(ctx, m, k, &killed)
	}

	// New CVE data for some images, delivered under the same faults.
	for i, p := range sc.Pushes {
		if len(p.Rescan) == 0 || p.Rejected && p.Repo == faultsScratch {
			continue
		}
		// New CVE data adds findings; those of the first scan stay.
		fs := findingsFor(sc.Seed, i, 1, p.Rescan)
		all := append(findingsFor(sc.Seed, i, 0, p.Findings), fs...)
		if err := sb.Suite.ECR.Rescan(ctx, p.Repo, digests[i], all); err != nil {
			m.fail("rescan: %v", err)
			continue
		}
		m.images[digests[i]].Findings = severitiesOf(all)
		for _, id := range alertable(fs) {
			m.alerts = append(m.alerts, alertWant{Text: id, Why: fmt.Sprintf("rescan finding %s of %s:%s", id, p.Repo, p.Tag)})
		}
	}
	d.drain(ctx, m, k, &killed)
	if sc.Reconcile {
		ictx := k.context(ctx)
		if _, err := sb.Invoke(ictx, "onpush", []byte(fmt.Sprintf(`{"action":"reconcile","runId":"faults-%d"}`, sc.Seed))); err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
			killed = append(killed, [2][]byte{[]byte("onpush"), []byte(fmt.Sprintf(`{"action":"reconcile","runId":"faults-%d"}`, sc.Seed))})
		}
		m.checkWorkloads(ctx, sb, "the reconcile")
		d.drain(ctx, m, k, &killed)
	}
	if sc.GC == "after" {
		startGC()()
		d.drain(ctx, m, k, &killed)
	}

	// The faults end; the scanner finishes; an operator redrives the dead
	// letters once every lease a killed invocation held has expired.
	d.clearFaults()
	for d0, im := range m.images {
		if !im.Complete && im.Scanned {
			status := "COMPLETE"
			if sc.Enhanced && im.Repo == faultsRepo {
				status = "ACTIVE"
			}
			if _, ok := sb.Suite.ECR.Images(im.Repo)[d0]; ok {
				if err := sb.Suite.ECR.SetScanStatus(im.Repo, d0, status, "The scan was completed successfully."); err != nil {
					m.fail("complete the scan: %v", err)
				}
			}
			im.Complete = true
		}
	}
	if len(killed) > 0 || interrupted && len(sb.DLQ()) > off.dlq {
		time.Sleep(d.timeout + 3*time.Second)
	}
	for _, dl := range sb.DLQ()[off.dlq:] {
		killed = append(killed, [2][]byte{[]byte(dl.Function), dl.Event})
	}
	for _, kv := range killed {
		fn, ev := string(kv[0]), kv[1]
		dl, err := sb.Invoke(ctx, fn, ev)
		switch {
		case err != nil:
			m.fail("redrive %s: %v", fn, err)
		case dl.Err != nil:
			m.fail("redriven without faults, %s still fails on %s: %v", fn, describe(ev), dl.Err)
		}
		m.checkWorkloads(ctx, sb, "the redrive of "+fn+" on "+describe(ev))
	}
	d.drain(ctx, m, k, &killed)
	// And the SQS sources' dead letters (gc's messages, its deferred reports).
	if n, err := sb.RedriveSources(ctx); err != nil {
		m.fail("redrive the SQS sources: %v", err)
	} else if n > 0 {
		d.drain(ctx, m, k, &killed)
	}
	d.countInjected()

	// The invariants.
	final, err := workloads(ctx, sb)
	if err != nil {
		m.fail("%v", err)
	}
	m.checkWorkloads(ctx, sb, "the scenario")
	logs := d.logs.String()[off.logs:]
	m.checkAlerts(sb, off, logs)
	if watch != nil {
		m.checkGC(sb, watch, off, final, logs)
	}
	return m
}

// batchGetManifest reads an image's manifest as CI's retag (crane tag) does.
func batchGetManifest(ctx context.Context, sb *sandbox.Sandbox, repo, digest string) (string, error) {
	out, err := sb.ECR.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String(repo),
		ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest)}}})
	if err != nil {
		return "", fmt.Errorf("batch get %s@%s: %w", repo, digest, err)
	}
	if len(out.Images) != 1 {
		return "", fmt.Errorf("batch get %s@%s: %d images", repo, digest, len(out.Images))
	}
	return aws.ToString(out.Images[0].ImageManifest), nil
}
