package fault

import (
	"net/http"
	"time"
)

// ErrorWriter writes the service's own error response for an injected
// Throttle or ServerError fault; status is the HTTP status to use. Each
// emulator supplies one because the error format differs per protocol.
type ErrorWriter func(w http.ResponseWriter, k Kind, status int)

// Gate is the fault-injection step each emulator runs at the start of every
// request: it records the call, waits the injected latency and injects the
// decided fault.
type Gate struct {
	// Injector decides the faults; nil injects none.
	Injector *Injector
	// Log records every call, faulted ones included; nil records none.
	Log *Log
	// Write writes the service's error shape for Throttle and ServerError.
	Write ErrorWriter
}

// Admit runs the fault step for one call of op with request body body. It
// returns true when the emulator should serve the call; false means the gate
// already answered it (error written, connection dropped, or the client went
// away during the injected latency).
func (g *Gate) Admit(w http.ResponseWriter, r *http.Request, op string, body []byte) bool {
	var out Outcome
	if g.Injector != nil {
		out = g.Injector.Check(op)
	}
	if g.Log != nil {
		g.Log.RecordFault(op, body, out.Kind)
	}
	if out.Latency > 0 {
		t := time.NewTimer(out.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	switch out.Kind {
	case Throttle, ServerError:
		g.Write(w, out.Kind, statusOf(out))
		return false
	case Drop:
		DropConnection(w)
		return false
	}
	return true
}

func statusOf(out Outcome) int {
	if out.Kind == Throttle {
		return http.StatusBadRequest
	}
	return out.Status
}

// DropConnection closes the client's TCP connection without writing a
// response. If w cannot be hijacked (HTTP/2), it aborts the handler with
// [http.ErrAbortHandler], which the server turns into a reset stream.
func DropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
