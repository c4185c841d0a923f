package inuse

import (
	"context"
	"strings"

	"golang.org/x/sync/errgroup"
)

// describeConcurrency bounds the Describe/Get calls one source has in
// flight: enough to hide latency, few enough to stay under the services'
// per-account rate limits (the SDK retryer absorbs the throttling left).
const describeConcurrency = 8

// each calls fn for 0..n-1, describeConcurrency at a time, and returns the
// first error; the others are cancelled through ctx.
func each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(describeConcurrency)
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// chunks splits s into slices of at most size elements.
func chunks[T any](s []T, size int) [][]T {
	var out [][]T
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// gather concatenates per-item listings in item order.
func gather(parts []Listing) Listing {
	var l Listing
	for _, p := range parts {
		l.Append(p)
	}
	return l
}

// afterLast returns what follows the last sep in s (all of s without one):
// the name in an ARN such as arn:aws:ecs:…:cluster/retail.
func afterLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}
