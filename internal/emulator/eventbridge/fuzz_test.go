package eventbridge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// FuzzServeHTTP feeds arbitrary JSON bodies to the PutEvents decoder: the
// emulator must never panic and must always answer 200 or 400 with a JSON
// document.
func FuzzServeHTTP(f *testing.F) {
	s := New(Options{})
	s.CreateBus("ecrwarden")
	f.Add(`{"Entries":[{"Source":"s","DetailType":"d","Detail":"{\"a\":1}","Time":1.5e9,"Resources":["r"],"EventBusName":"arn:aws:events:x:1:event-bus/ecrwarden"}]}`)
	f.Add(`{"Entries":[{"Detail":"null"},{"Time":1e300}]}`)
	f.Add(`{"Entries":[]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body.String())
		}
		s.Reset()
	})
}

// BenchmarkPutEvents measures PutEvents throughput (one entry per call)
// over loopback with the real SDK client.
func BenchmarkPutEvents(b *testing.B) {
	s := start(b)
	c := client(s, 1)
	in := &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		Source: aws.String("ecrwarden"), DetailType: aws.String("FindingsAlerted"),
		Detail: aws.String(`{"repository":"mlops/retail-api","digest":"sha256:0123456789abcdef","high":3}`),
	}}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.PutEvents(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
