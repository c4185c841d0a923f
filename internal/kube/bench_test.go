package kube

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkUpdateImage measures one UpdateImage round trip (GET, decide, PATCH) against the fake API server over
// TLS on 127.0.0.1, alternating two images so every iteration patches.
func BenchmarkUpdateImage(b *testing.B) {
	f := newFakeAPI(b)
	f.addDeployment("shop", "web", []Container{{Name: "api", Image: "reg/api:v0"}, {Name: "sidecar", Image: "reg/envoy:1"}}, nil)
	c, _ := f.start(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		image := "reg/api:v" + strconv.Itoa(i%2+1)
		res, err := c.UpdateImage(ctx, "shop", "web", "api", func(*Deployment) (string, map[string]string, bool, error) {
			return image, map[string]string{AnnotationEventID: strconv.Itoa(i)}, false, nil
		})
		if err != nil || !res.Patched {
			b.Fatalf("UpdateImage: %+v, %v", res, err)
		}
	}
}
