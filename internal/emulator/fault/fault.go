package fault

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Kind is the kind of fault injected into one call.
type Kind int

// The kinds of fault an [Injector] can decide on.
const (
	// None lets the call through unharmed.
	None Kind = iota
	// Throttle answers with the service's throttling error (HTTP 400
	// ThrottlingException for the JSON protocols).
	Throttle
	// ServerError answers with the service's internal error and a 5xx status.
	ServerError
	// Drop closes the TCP connection without writing a response.
	Drop
)

// String returns the name of the kind, as used in call logs and test output.
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case Throttle:
		return "throttle"
	case ServerError:
		return "server-error"
	case Drop:
		return "drop"
	default:
		return "unknown"
	}
}

// AnyOp is the operation name whose rule applies to every operation that has
// no rule of its own.
const AnyOp = "*"

// Rule says which faults to inject into the calls of one operation.
//
// The counted faults are consumed in field order: the next Throttle calls are
// throttled, then the next ServerError calls fail with a 5xx, then the next
// Drop calls have their connection dropped. Once the counts are used up, each
// further call fails with Kind with probability Rate. Latency is added to
// every call, faulted or not. ItemFailure is the probability that one item of
// a batch operation (BatchDeleteImage) fails on its own; emulators ask for it
// with [Injector.FailItem].
type Rule struct {
	// Throttle is the number of next calls answered with a throttling error.
	Throttle int
	// ServerError is the number of next calls answered with a 5xx error.
	ServerError int
	// Latency is added before every call is answered.
	Latency time.Duration
	// Drop is the number of next calls whose connection is closed unanswered.
	Drop int
	// Rate is the chance (0..1) per call, after the counts are used up, of
	// the fault in Kind.
	Rate float64
	// Kind is the fault Rate injects.
	Kind Kind
	// Status is the HTTP status of ServerError faults; 0 means 500.
	Status int
	// ItemFailure is the chance (0..1) that one item of a batch call fails.
	ItemFailure float64
}

// Outcome is the fault decided for one call.
type Outcome struct {
	// Kind is the fault to inject, None for an unharmed call.
	Kind Kind
	// Latency is the delay to add before answering.
	Latency time.Duration
	// Status is the HTTP status to use for a ServerError.
	Status int
}

// Injector decides, per operation, which faults to inject. Its decisions are
// deterministic for a given seed and sequence of calls. It is safe for
// concurrent use; the zero value is not usable, call [New].
type Injector struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rules map[string]*Rule
}

// New returns an Injector without rules whose random choices come from a PCG
// generator seeded with seed.
func New(seed uint64) *Injector {
	return &Injector{
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		rules: make(map[string]*Rule),
	}
}

// Set replaces the rule of operation op; op [AnyOp] ("*") applies to every
// operation without a rule of its own. The counts of the previous rule are
// discarded.
func (i *Injector) Set(op string, r Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules[op] = &r
}

// Clear removes every rule.
func (i *Injector) Clear() {
	i.mu.Lock()
	defer i.mu.Unlock()
	clear(i.rules)
}

// rule returns the rule that applies to op, or nil. The caller holds i.mu.
func (i *Injector) rule(op string) *Rule {
	if r, ok := i.rules[op]; ok {
		return r
	}
	return i.rules[AnyOp]
}

// Check decides the fault of one call of op and consumes one unit of the
// matching count.
func (i *Injector) Check(op string) Outcome {
	i.mu.Lock()
	defer i.mu.Unlock()
	r := i.rule(op)
	if r == nil {
		return Outcome{}
	}
	out := Outcome{Latency: r.Latency, Status: r.Status}
	if out.Status == 0 {
		out.Status = 500
	}
	switch {
	case r.Throttle > 0:
		r.Throttle--
		out.Kind = Throttle
	case r.ServerError > 0:
		r.ServerError--
		out.Kind = ServerError
	case r.Drop > 0:
		r.Drop--
		out.Kind = Drop
	case r.Rate > 0 && r.Kind != None && i.rng.Float64() < r.Rate:
		out.Kind = r.Kind
	}
	return out
}

// FailItem reports whether one item of a batch call of op should fail on
// its own, by the rule's ItemFailure chance.
func (i *Injector) FailItem(op string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	r := i.rule(op)
	if r == nil || r.ItemFailure <= 0 {
		return false
	}
	return i.rng.Float64() < r.ItemFailure
}
