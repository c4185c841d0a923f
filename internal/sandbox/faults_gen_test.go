package sandbox_test

// The generator of the fault-schedule test: a seed becomes a scenario — what
// CI pushes, how the scanner answers, how EventBridge and Lambda deliver, and
// which faults every service injects meanwhile. It decides everything up
// front from the seed alone, so a scenario is a value that prints and replays.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
	slackemu "github.com/ecrwarden/ecrwarden/internal/emulator/slack"
)

// Repositories and workloads of testdata/faults.yaml.
const (
	faultsRepo       = "mlops/retail-api" // alerts on tags, scan-gated rollout of faultsDeploy
	faultsScratch    = "mlops/scratch"    // deletes rejected tags
	faultsDeploy     = "faults-api"       // the deploy rule's target
	faultsSidecar    = "faults-sidecar"   // no rule: runs an old release by digest (in use)
	faultsNamespace  = "default"
	faultsProtected  = "latest"
	faultsGrace      = time.Hour
	faultsKeepNewest = 2
)

// push is one image CI pushes in a scenario.
type push struct {
	Repo, Tag string
	// Findings are the severities its scan reports (empty: clean).
	Findings []string
	// Incomplete is the scan status the scanner answers with while the scan
	// events are delivered (IN_PROGRESS, PENDING, FINDINGS_UNAVAILABLE); the
	// scan completes before the redrive. Empty: complete.
	Incomplete string
	// Rescan, when set, are the severities a later rescan reports (new CVE data).
	Rescan []string
	// Rejected: the tag breaks the repository's tag rules.
	Rejected bool
}

// injection is one fault armed for the delivery phase.
type injection struct {
	// Target is the service: ecr, sns, eventbridge, secretsmanager, dynamodb,
	// eks, moto, slack, kube, lambda.
	Target string
	// Op is the operation (fault.AnyOp for all); for lambda, the function.
	Op   string
	Rule fault.Rule
	// Hang: the next Slack post hangs until the invocation's deadline
	// (a timeout mid-send); Kill: Lambda kills the invocation mid-send,
	// holding its lease.
	Hang, Kill bool
}

func (i injection) String() string {
	switch {
	case i.Kill:
		return "slack:kill-mid-send"
	case i.Hang:
		return "slack:hang-mid-send"
	case i.Target == "lambda":
		return "lambda:" + i.Op + ":timeout"
	}
	var parts []string
	if i.Rule.Throttle > 0 {
		parts = append(parts, fmt.Sprintf("throttle×%d", i.Rule.Throttle))
	}
	if i.Rule.ServerError > 0 {
		parts = append(parts, fmt.Sprintf("%d×%d", i.Rule.Status, i.Rule.ServerError))
	}
	if i.Rule.Drop > 0 {
		parts = append(parts, fmt.Sprintf("drop×%d", i.Rule.Drop))
	}
	if i.Rule.ItemFailure > 0 {
		parts = append(parts, fmt.Sprintf("item-failure %.0f%%", 100*i.Rule.ItemFailure))
	}
	return i.Target + ":" + i.Op + ":" + strings.Join(parts, ",")
}

// Kind is the injection's kind, for the counts of the report.
func (i injection) Kind() string {
	switch {
	case i.Kill:
		return "lambda kill mid-send"
	case i.Hang:
		return "slack hang mid-send"
	case i.Target == "lambda":
		return "lambda timeout"
	case i.Target == "slack" && i.Rule.Throttle > 0:
		return "slack 429"
	case i.Target == "slack":
		return "slack 5xx"
	case i.Target == "kube" && i.Rule.Status == 409:
		return "kube conflict"
	case i.Target == "kube" && strings.HasPrefix(i.Op, "list"):
		return "kube list failure"
	case i.Target == "kube":
		return "kube error"
	case i.Rule.ItemFailure > 0:
		return i.Target + " item failure"
	case i.Rule.Throttle > 0:
		return i.Target + " throttle"
	case i.Rule.Drop > 0:
		return i.Target + " drop"
	default:
		return i.Target + " 5xx"
	}
}

// faultScenario is one generated story.
type faultScenario struct {
	Seed     uint64
	Enhanced bool
	Pushes   []push
	// Shuffle delivers the events in a random order; Duplicate delivers each
	// event again with this chance.
	Shuffle   bool
	Duplicate float64
	// GC: "" none, "after" the deliveries, "concurrent" with pushes (and a
	// retag of an old release) racing its plan and deletes; GCRuns is how
	// many runs start at once.
	GC     string
	GCRuns int
	// Old are old releases (days old) seeded before the scenario, for gc.
	Old []int
	// Crafted are forged copies of the scenario's events delivered as well:
	// "account", "region" (another account's or region's bus, a direct
	// invoke) or "digest" (an image our registry does not have).
	Crafted []string
	// Reconcile invokes onpush's reconcile after the deliveries.
	Reconcile bool
	Faults    []injection
}

func (s faultScenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: enhanced=%v shuffle=%v duplicate=%.2f gc=%q×%d old=%v reconcile=%v crafted=%v\n", s.Seed, s.Enhanced, s.Shuffle, s.Duplicate, s.GC, s.GCRuns, s.Old, s.Reconcile, s.Crafted)
	for _, p := range s.Pushes {
		fmt.Fprintf(&b, "  push %s:%s findings=%v incomplete=%q rescan=%v rejected=%v\n", p.Repo, p.Tag, p.Findings, p.Incomplete, p.Rescan, p.Rejected)
	}
	for _, f := range s.Faults {
		fmt.Fprintf(&b, "  fault %s\n", f)
	}
	return b.String()
}

// faultOps are the operations the functions call, per service: a fault is
// armed on one of them (or on every one).
var faultOps = map[string][]string{
	"ecr":            {fault.AnyOp, "DescribeImages", "DescribeImageScanFindings", "BatchGetImage", "BatchDeleteImage", "ListImages", "DescribeRepositories"},
	"sns":            {"Publish"},
	"eventbridge":    {"PutEvents"},
	"secretsmanager": {"GetSecretValue"},
	"dynamodb":       {fault.AnyOp, "PutItem", "UpdateItem", "GetItem", "DeleteItem"},
	"eks":            {"DescribeCluster"},
	"moto":           {"ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices", "lambda:ListFunctions", "sagemaker:ListEndpoints", "batch:DescribeJobDefinitions", "sqs:SendMessageBatch"},
	"slack":          {slackemu.Op},
	"kube":           {fault.AnyOp, "patch deployments", "get deployments", "list deployments", "list pods", "list replicasets", "list statefulsets", "list daemonsets", "list jobs", "list cronjobs", "get namespaces"},
}

var faultTargets = []string{"ecr", "ecr", "sns", "eventbridge", "secretsmanager", "dynamodb", "dynamodb", "eks", "moto", "slack", "slack", "kube", "kube", "lambda"}

// severities are those the ECR emulator's scans report (Inspector's
// UNTRIAGED it refuses).
var severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}

// generate turns seed into a scenario.
func generate(seed uint64) faultScenario {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := faultScenario{Seed: seed, Enhanced: r.IntN(3) == 0, Shuffle: r.IntN(2) == 0}
	if r.IntN(2) == 0 {
		s.Duplicate = 0.5
	}
	findings := func() []string {
		if r.IntN(2) == 0 {
			return nil
		}
		var out []string
		for range 1 + r.IntN(3) {
			out = append(out, severities[r.IntN(len(severities))])
		}
		return out
	}
	minor := 0
	for range 1 + r.IntN(3) {
		minor += 1 + r.IntN(3)
		p := push{Repo: faultsRepo, Tag: fmt.Sprintf("v1.%d.%d", minor, r.IntN(10)), Findings: findings()}
		if r.IntN(5) == 0 {
			p.Incomplete = []string{"IN_PROGRESS", "PENDING", "FINDINGS_UNAVAILABLE"}[r.IntN(3)]
		}
		if r.IntN(5) == 0 {
			p.Rescan = append(findings(), "CRITICAL")
		}
		s.Pushes = append(s.Pushes, p)
	}
	if r.IntN(3) == 0 {
		s.Pushes = append(s.Pushes, push{Repo: faultsRepo, Tag: fmt.Sprintf("Bad_%d", seed), Rejected: true})
	}
	if r.IntN(3) == 0 {
		s.Pushes = append(s.Pushes, push{Repo: faultsScratch, Tag: fmt.Sprintf("bad-%d", seed), Rejected: true})
	}
	switch r.IntN(3) {
	case 1:
		s.GC = "after"
	case 2:
		s.GC = "concurrent"
	}
	if s.GC != "" {
		s.GCRuns = 1 + r.IntN(2)
		for range 1 + r.IntN(3) {
			s.Old = append(s.Old, 3+r.IntN(60))
		}
	}
	s.Reconcile = r.IntN(4) == 0
	for range r.IntN(3) {
		s.Crafted = append(s.Crafted, []string{"account", "region", "digest"}[r.IntN(3)])
	}
	for range r.IntN(4) {
		s.Faults = append(s.Faults, injectionFor(r))
	}
	return s
}

// injectionFor draws one fault.
func injectionFor(r *rand.Rand) injection {
	t := faultTargets[r.IntN(len(faultTargets))]
	if t == "lambda" {
		return injection{Target: t, Op: []string{"onpush", "onscan", "gc"}[r.IntN(3)]}
	}
	ops := faultOps[t]
	in := injection{Target: t, Op: ops[r.IntN(len(ops))]}
	n := 1 + r.IntN(4) // absorbed by the SDK's retries, or by Lambda's
	if r.IntN(4) == 0 {
		n = 10 + r.IntN(30) // an outage: past every retry, into the dead-letter queues
	}
	switch {
	case t == "slack" && r.IntN(8) == 0:
		in.Kill = true
	case t == "slack" && r.IntN(6) == 0:
		in.Hang = true
	case t == "kube" && in.Op == "patch deployments" && r.IntN(2) == 0:
		in.Rule = fault.Rule{ServerError: n, Status: 409}
	case t == "ecr" && in.Op == "BatchDeleteImage" && r.IntN(2) == 0:
		in.Rule = fault.Rule{ItemFailure: 0.3}
	default:
		switch r.IntN(3) {
		case 0:
			in.Rule = fault.Rule{Throttle: n}
		case 1:
			in.Rule = fault.Rule{ServerError: n, Status: []int{500, 503}[r.IntN(2)]}
		default:
			if t == "kube" || t == "slack" {
				in.Rule = fault.Rule{ServerError: n, Status: 500}
			} else {
				in.Rule = fault.Rule{Drop: 1 + r.IntN(2)}
			}
		}
	}
	return in
}
