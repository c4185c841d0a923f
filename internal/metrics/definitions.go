package metrics

import "slices"

// DefaultNamespace is the CloudWatch namespace when none is configured. The
// stack sets ECRWARDEN_METRICS_NAMESPACE to "ecrwarden/<stack name>", so two
// stacks in one account and Region keep their metrics apart.
const DefaultNamespace = "ecrwarden"

// NamespaceEnv is the environment variable holding the namespace.
const NamespaceEnv = "ECRWARDEN_METRICS_NAMESPACE"

// Unit is a CloudWatch metric unit.
type Unit string

// The units the definitions use (CloudWatch MetricDatum units).
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Bytes        Unit = "Bytes"
	None         Unit = "None"
)

// Name is a metric name.
type Name string

// Metric names. The dashboard in infra/ plots these constants.
const (
	// Pushes counts push events by Verdict.
	Pushes Name = "Pushes"
	// Rollouts counts rollout targets by Outcome (onpush, onscan's gate
	// releases and the scheduled reconcile).
	Rollouts Name = "Rollouts"
	// PushToPatch is the time from an image's push to the patch of a
	// workload that now runs it, one observation per patched target.
	PushToPatch Name = "PushToPatchLatency"
	// Alerts counts alert deliveries by Channel and Result.
	Alerts Name = "Alerts"
	// ScanGates counts scan-gated rollouts by Decision.
	ScanGates Name = "ScanGates"
	// GCImages counts images gc deleted or archived, by Action.
	GCImages Name = "GCImages"
	// GCBytes is the storage gc reclaimed, by Action.
	GCBytes Name = "GCBytes"
	// GCMonthlyCostSaved is the monthly storage cost gc's deletions and
	// archivals save, in US dollars at the policy's prices.
	GCMonthlyCostSaved Name = "GCMonthlyCostSaved"
	// Errors counts failed invocations (and failed gc fan-out messages) by
	// Function and Kind.
	Errors Name = "Errors"
)

// Dimension keys.
const (
	KeyFunction = "Function"
	KeyVerdict  = "Verdict"
	KeyOutcome  = "Outcome"
	KeyChannel  = "Channel"
	KeyResult   = "Result"
	KeyDecision = "Decision"
	KeyAction   = "Action"
	KeyKind     = "Kind"
)

// Dim is one dimension: a key and one of the values Definitions allow it.
type Dim struct {
	Key, Value string
}

// String returns key=value.
func (d Dim) String() string { return d.Key + "=" + d.Value }

// Dimension values. Call sites use these, never a string of their own.
var (
	// FunctionOnpush, FunctionOnscan and FunctionGC name the functions.
	FunctionOnpush = Dim{KeyFunction, "onpush"}
	FunctionOnscan = Dim{KeyFunction, "onscan"}
	FunctionGC     = Dim{KeyFunction, "gc"}

	// VerdictAccepted: the pushed tag is allowed (whether or not anything
	// rolls out).
	VerdictAccepted = Dim{KeyVerdict, "accepted"}
	// VerdictRejected: no tag rule allows the pushed tag.
	VerdictRejected = Dim{KeyVerdict, "rejected"}
	// VerdictIgnored: a push ecrwarden does not act on (a repository the
	// policy does not name, a push by digest, another kind of event).
	VerdictIgnored = Dim{KeyVerdict, "ignored"}
	// VerdictRefused: an event that does not name our account, Region and
	// an image in our registry.
	VerdictRefused = Dim{KeyVerdict, "refused"}

	// OutcomePatched: the workload was patched to the image.
	OutcomePatched = Dim{KeyOutcome, "patched"}
	// OutcomeUnchanged: nothing to do (already there, not newer, tag not selected).
	OutcomeUnchanged = Dim{KeyOutcome, "unchanged"}
	// OutcomeHeld: the target is on hold (ecrwarden rollback) or blocked.
	OutcomeHeld = Dim{KeyOutcome, "held"}
	// OutcomeFailed: the rollout of the target failed.
	OutcomeFailed = Dim{KeyOutcome, "failed"}

	// ChannelSNS and ChannelSlack are the alert channels.
	ChannelSNS   = Dim{KeyChannel, "sns"}
	ChannelSlack = Dim{KeyChannel, "slack"}

	// ResultSent: the channel got the alert now.
	ResultSent = Dim{KeyResult, "sent"}
	// ResultDeduplicated: the channel had it already (a redelivered event).
	ResultDeduplicated = Dim{KeyResult, "deduplicated"}
	// ResultFailed: the send failed; the invocation fails and is retried.
	ResultFailed = Dim{KeyResult, "failed"}

	// DecisionHeld: a gated rollout held by a dirty or failed scan.
	DecisionHeld = Dim{KeyDecision, "held"}
	// DecisionReleased: a gated rollout released by a clean scan.
	DecisionReleased = Dim{KeyDecision, "released"}

	// ActionDeleted and ActionArchived are what gc did to an image.
	ActionDeleted  = Dim{KeyAction, "deleted"}
	ActionArchived = Dim{KeyAction, "archived"}

	// KindEvent: a malformed event (or one of the wrong kind).
	KindEvent = Dim{KeyKind, "event"}
	// KindThrottled: an AWS API throttled past the SDK's retries.
	KindThrottled = Dim{KeyKind, "throttled"}
	// KindAWS: any other AWS API error.
	KindAWS = Dim{KeyKind, "aws"}
	// KindKubernetes: the Kubernetes API server refused or failed a request.
	KindKubernetes = Dim{KeyKind, "kubernetes"}
	// KindLease: another invocation holds the work's dedupe lease, or too
	// little time was left to take it.
	KindLease = Dim{KeyKind, "lease"}
	// KindTimeout: the invocation's deadline passed or it was canceled.
	KindTimeout = Dim{KeyKind, "timeout"}
	// KindOther: anything else.
	KindOther = Dim{KeyKind, "other"}
)

// Definition describes one metric.
type Definition struct {
	Name Name
	Unit Unit
	// Dimensions are the keys of the metric's one dimension set, in order;
	// every record names a value for each.
	Dimensions []string
	// Values lists the values each key may take.
	Values map[string][]string
	// Distribution keeps every observation of an invocation (an EMF value
	// array, for percentiles); otherwise the observations are summed.
	Distribution bool
	// Description says what the metric counts (the dashboard shows it).
	Description string
}

func values(dims ...Dim) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		out[i] = d.Value
	}
	return out
}

var (
	functionValues = values(FunctionOnpush, FunctionOnscan, FunctionGC)
	actionValues   = values(ActionDeleted, ActionArchived)
)

var definitions = []Definition{
	{Name: Pushes, Unit: Count, Dimensions: []string{KeyVerdict},
		Values:      map[string][]string{KeyVerdict: values(VerdictAccepted, VerdictRejected, VerdictIgnored, VerdictRefused)},
		Description: "push events by verdict"},
	{Name: Rollouts, Unit: Count, Dimensions: []string{KeyOutcome},
		Values:      map[string][]string{KeyOutcome: values(OutcomePatched, OutcomeUnchanged, OutcomeHeld, OutcomeFailed)},
		Description: "rollout targets by outcome"},
	{Name: PushToPatch, Unit: Milliseconds, Distribution: true,
		Description: "image push to workload patch"},
	{Name: Alerts, Unit: Count, Dimensions: []string{KeyChannel, KeyResult},
		Values: map[string][]string{
			KeyChannel: values(ChannelSNS, ChannelSlack),
			KeyResult:  values(ResultSent, ResultDeduplicated, ResultFailed),
		},
		Description: "alert deliveries by channel and result"},
	{Name: ScanGates, Unit: Count, Dimensions: []string{KeyDecision},
		Values:      map[string][]string{KeyDecision: values(DecisionHeld, DecisionReleased)},
		Description: "scan-gated rollouts held or released"},
	{Name: GCImages, Unit: Count, Dimensions: []string{KeyAction},
		Values: map[string][]string{KeyAction: actionValues}, Description: "images gc deleted or archived"},
	{Name: GCBytes, Unit: Bytes, Dimensions: []string{KeyAction},
		Values: map[string][]string{KeyAction: actionValues}, Description: "storage gc reclaimed"},
	{Name: GCMonthlyCostSaved, Unit: None,
		Description: "monthly storage cost saved by gc (USD)"},
	{Name: Errors, Unit: Count, Dimensions: []string{KeyFunction, KeyKind},
		Values: map[string][]string{
			KeyFunction: functionValues,
			KeyKind:     values(KindEvent, KindThrottled, KindAWS, KindKubernetes, KindLease, KindTimeout, KindOther),
		},
		Description: "failed invocations by function and kind"},
}

// Definitions returns every metric the functions emit.
func Definitions() []Definition {
	out := make([]Definition, len(definitions))
	for i, d := range definitions {
		d.Dimensions = slices.Clone(d.Dimensions)
		vs := make(map[string][]string, len(d.Values))
		for k, v := range d.Values {
			vs[k] = slices.Clone(v)
		}
		d.Values = vs
		out[i] = d
	}
	return out
}

// lookup returns the definition of name (shared: not to be modified).
func lookup(name Name) (Definition, bool) {
	for _, d := range definitions {
		if d.Name == name {
			return d, true
		}
	}
	return Definition{}, false
}
