package sns

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// FuzzServeHTTP feeds arbitrary form bodies to the awsQuery decoder: the
// emulator must never panic and must always answer with a known status and
// a well-formed XML document.
func FuzzServeHTTP(f *testing.F) {
	s := New(Options{})
	arn := s.CreateTopic("t")
	f.Add("Action=Publish&Version=2010-03-31&TopicArn=" + arn + "&Message=hi&Subject=s&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Number&MessageAttributes.entry.1.Value.StringValue=1")
	f.Add("Action=PublishBatch&TopicArn=" + arn + "&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=m&PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.MessageAttributes.entry.1.Value.BinaryValue=AQI%3D")
	f.Add("Action=CreateTopic&Name=x.fifo")
	f.Add("Action=Publish&MessageAttributes.entry.-1.Name=%00")
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var v struct{}
		if err := xml.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("response is not XML (%v): %s", err, rec.Body.String())
		}
	})
}

// BenchmarkPublish measures Publish throughput over loopback with the real
// SDK client (signing, serialization and XML decoding included).
func BenchmarkPublish(b *testing.B) {
	s := start(b)
	arn := s.CreateTopic("bench")
	c := client(s, 1)
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(`{"repository":"mlops/retail-api","severity":"HIGH"}`), Subject: aws.String("findings")}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Publish(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
