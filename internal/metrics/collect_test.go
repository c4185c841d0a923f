package metrics

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCollectorReadsFunctionLogs(t *testing.T) {
	c := NewCollector()
	var onpush, gc bytes.Buffer
	rp := New(&onpush, FunctionOnpush)
	rp.Count(Pushes, VerdictAccepted)
	rp.Duration(PushToPatch, 40*time.Millisecond)
	rp.Flush(context.Background())
	rp.Count(Pushes, VerdictAccepted)
	rp.Count(Pushes, VerdictRejected)
	rp.Duration(PushToPatch, 60*time.Millisecond)
	rp.Flush(context.Background())
	rg := New(&gc, FunctionGC)
	rg.Add(GCBytes, 3<<20, ActionDeleted)
	rg.Flush(context.Background())

	// The streams interleave with other log lines and arrive in pieces.
	logs := `{"level":"INFO","msg":"tag accepted"}` + "\n" + onpush.String() +
		"REPORT RequestId: 1\tDuration: 2.00 ms\n"
	w := c.Writer()
	for i := 0; i < len(logs); i += 7 {
		fmt.Fprint(w, logs[i:min(i+7, len(logs))])
	}
	c.Writer().Write(gc.Bytes())

	var got []string
	for _, s := range c.Series() {
		got = append(got, fmt.Sprintf("%s %s %v", s.Name, s.DimString(), s.Values))
	}
	want := []string{
		"Pushes Verdict=accepted [1 1]",
		"Pushes Verdict=rejected [1]",
		"PushToPatchLatency  [40 60]",
		"GCBytes Action=deleted [3.145728e+06]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	if got := c.Sums()["Pushes Verdict=accepted"]; got != 2 {
		t.Errorf("Sums: %v accepted pushes, want 2", got)
	}
	s, ok := c.Find(Pushes, VerdictAccepted)
	if !ok || s.Sum() != 2 {
		t.Errorf("Find(Pushes accepted) = %v %v, want a sum of 2", s, ok)
	}
	if lat, _ := c.Find(PushToPatch); lat.Quantile(0.5) != 40 || lat.Quantile(1) != 60 {
		t.Errorf("latency p50 %v max %v, want 40 and 60", lat.Quantile(0.5), lat.Quantile(1))
	}
	if p := c.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
}

func TestCollectorKeepsInvalidDocumentsAsProblems(t *testing.T) {
	c := NewCollector()
	c.Writer().Write([]byte(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Verdict"]],"Metrics":[{"Name":"Pushes"}]}]},"Pushes":1}` + "\n"))
	p := c.Problems()
	if len(p) != 1 || !strings.Contains(p[0], `no string member "Verdict"`) {
		t.Errorf("problems %v, want the missing dimension target", p)
	}
	if s := c.Series(); len(s) != 0 {
		t.Errorf("series %v from an invalid document", s)
	}
}
