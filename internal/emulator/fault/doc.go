// Package fault is the fault-injection and call-log plumbing shared by the
// emulators under internal/emulator.
//
// An [Injector] holds one [Rule] per operation name (or "*" for all): a
// number of next calls to throttle, fail with a 5xx or drop, a per-call
// chance of one of those faults, added latency, and a per-item failure chance
// for batch operations. Its random choices come from a seeded math/rand/v2
// PCG generator, so a test that sets the same rules and makes the same calls
// sees the same faults. A [Log] records every call (operation, body, injected
// fault) so tests can count attempts exactly, including the SDK retryer's.
//
// Emulators call [Gate.Admit] first thing for every request, passing an
// [ErrorWriter] that writes the service's own throttling and server-error
// shape.
package fault
