package sandbox

// TakeEvents removes the events queued for delivery and returns them, in the
// order they were put on the bus, so a test can deliver them as it chooses:
// reordered, duplicated, or one at a time (Requeue, then Deliver).
func (sb *Sandbox) TakeEvents() [][]byte {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	q := sb.queue
	sb.queue = nil
	return q
}

// Requeue puts events back in the delivery queue, after what is queued: an
// EventBridge retry, a duplicate delivery, or an operator's redrive of a
// dead letter.
func (sb *Sandbox) Requeue(events ...[]byte) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, ev := range events {
		sb.queue = append(sb.queue, append([]byte(nil), ev...))
	}
}

// Route names the functions the template's rules on the default bus deliver
// ev to, in rule order.
func (sb *Sandbox) Route(ev []byte) []string {
	var out []string
	for _, r := range sb.routes {
		if ok, err := r.pattern.Match(ev); err == nil && ok {
			out = append(out, r.function)
		}
	}
	return out
}
