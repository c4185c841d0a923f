package fault

import (
	"slices"
	"sync"
)

// Call is one request an emulator received, in arrival order.
type Call struct {
	// Seq is the call's position in the log, starting at 1.
	Seq int
	// Op is the operation name (for example "DescribeImages").
	Op string
	// Body is a copy of the request body.
	Body []byte
	// Fault is the fault injected into the call, None if it was served.
	Fault Kind
}

// Log records the calls an emulator receives so tests can assert on them. It
// is safe for concurrent use; the zero value is an empty log.
type Log struct {
	mu    sync.Mutex
	calls []Call
}

// Record appends a served call of op with a copy of body.
func (l *Log) Record(op string, body []byte) {
	l.RecordFault(op, body, None)
}

// RecordFault appends a call of op with a copy of body and the fault that
// was injected into it.
func (l *Log) RecordFault(op string, body []byte, k Kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, Call{Seq: len(l.calls) + 1, Op: op, Body: slices.Clone(body), Fault: k})
}

// Calls returns the calls of op in arrival order; op [AnyOp] returns every call.
func (l *Log) Calls(op string) []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Call
	for _, c := range l.calls {
		if op == AnyOp || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// Count returns the number of calls of op, faulted ones included; op [AnyOp]
// counts every call.
func (l *Log) Count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if op == AnyOp || c.Op == op {
			n++
		}
	}
	return n
}

// Reset empties the log.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}
