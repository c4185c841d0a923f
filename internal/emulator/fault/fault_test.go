package fault

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func kinds(inj *Injector, op string, n int) []Kind {
	var out []Kind
	for range n {
		out = append(out, inj.Check(op).Kind)
	}
	return out
}

func TestInjectorCounts(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]Rule
		op   string
		want []Kind
	}{
		{
			name: "no rule",
			op:   "DescribeImages",
			want: []Kind{None, None},
		},
		{
			name: "counts consumed in field order",
			set:  map[string]Rule{"PutImage": {Throttle: 2, ServerError: 1, Drop: 1}},
			op:   "PutImage",
			want: []Kind{Throttle, Throttle, ServerError, Drop, None, None},
		},
		{
			name: "star applies to every op",
			set:  map[string]Rule{AnyOp: {ServerError: 1}},
			op:   "ListImages",
			want: []Kind{ServerError, None},
		},
		{
			name: "own rule wins over star",
			set:  map[string]Rule{AnyOp: {ServerError: 3}, "ListImages": {Throttle: 1}},
			op:   "ListImages",
			want: []Kind{Throttle, None},
		},
		{
			name: "other op unaffected",
			set:  map[string]Rule{"PutImage": {Throttle: 5}},
			op:   "ListImages",
			want: []Kind{None},
		},
		{
			name: "rate 1 always faults",
			set:  map[string]Rule{"X": {Rate: 1, Kind: Drop}},
			op:   "X",
			want: []Kind{Drop, Drop, Drop},
		},
		{
			name: "rate without kind never faults",
			set:  map[string]Rule{"X": {Rate: 1}},
			op:   "X",
			want: []Kind{None, None},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj := New(1)
			for op, r := range tc.set {
				inj.Set(op, r)
			}
			got := kinds(inj, tc.op, len(tc.want))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInjectorOutcomeFields(t *testing.T) {
	inj := New(1)
	inj.Set("X", Rule{ServerError: 1, Status: 503, Latency: time.Millisecond})
	got := inj.Check("X")
	want := Outcome{Kind: ServerError, Latency: time.Millisecond, Status: 503}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	inj.Set("Y", Rule{ServerError: 1})
	if got := inj.Check("Y").Status; got != 500 {
		t.Errorf("default status = %d, want 500", got)
	}
	inj.Clear()
	if got := inj.Check("X"); got != (Outcome{}) {
		t.Errorf("after Clear outcome = %+v, want zero", got)
	}
}

func TestInjectorRateDeterministic(t *testing.T) {
	run := func(seed uint64) []Kind {
		inj := New(seed)
		inj.Set(AnyOp, Rule{Rate: 0.3, Kind: Throttle})
		return kinds(inj, "DescribeImages", 200)
	}
	a, b := run(42), run(42)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed gave different faults (-first +second):\n%s", diff)
	}
	n := 0
	for _, k := range a {
		if k == Throttle {
			n++
		}
	}
	// 200 draws at p=0.3: mean 60, sd ~6.5; 30..90 is over 4 sd either side.
	if n < 30 || n > 90 {
		t.Errorf("throttled %d of 200 calls at rate 0.3", n)
	}
	if diff := cmp.Diff(a, run(43)); diff == "" {
		t.Errorf("different seeds gave identical fault sequences")
	}
}

func TestInjectorFailItem(t *testing.T) {
	inj := New(7)
	if inj.FailItem("BatchDeleteImage") {
		t.Errorf("FailItem without rule = true")
	}
	inj.Set("BatchDeleteImage", Rule{ItemFailure: 1})
	if !inj.FailItem("BatchDeleteImage") {
		t.Errorf("FailItem at chance 1 = false")
	}
	if got := inj.Check("BatchDeleteImage").Kind; got != None {
		t.Errorf("ItemFailure rule faulted the whole call: %v", got)
	}
}

func TestLog(t *testing.T) {
	var l Log
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := "A"
			if i%5 == 0 {
				op = "B"
			}
			l.Record(op, []byte(op))
		}()
	}
	wg.Wait()
	if got := l.Count("A"); got != 40 {
		t.Errorf("Count(A) = %d, want 40", got)
	}
	if got := l.Count(AnyOp); got != 50 {
		t.Errorf("Count(*) = %d, want 50", got)
	}
	b := l.Calls("B")
	if len(b) != 10 || string(b[0].Body) != "B" {
		t.Errorf("Calls(B) = %+v, want 10 calls with body B", b)
	}
	body := []byte("x")
	l.Record("C", body)
	body[0] = 'y'
	if got := string(l.Calls("C")[0].Body); got != "x" {
		t.Errorf("logged body = %q, want a copy %q", got, "x")
	}
	if got := l.Calls("C")[0].Seq; got != 51 {
		t.Errorf("Seq = %d, want 51", got)
	}
	l.Reset()
	if got := l.Count(AnyOp); got != 0 {
		t.Errorf("Count after Reset = %d, want 0", got)
	}
}

func gateServer(t *testing.T, g *Gate) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !g.Admit(w, r, r.URL.Path[1:], body) {
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGate(t *testing.T) {
	inj := New(1)
	var log Log
	g := &Gate{Injector: inj, Log: &log, Write: func(w http.ResponseWriter, k Kind, status int) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, k.String())
	}}
	srv := gateServer(t, g)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	inj.Set("op", Rule{Throttle: 1, ServerError: 1, Status: 503, Drop: 1})

	type result struct {
		Status int
		Body   string
		Err    bool
	}
	var got []result
	for range 4 {
		resp, err := client.Post(srv.URL+"/op", "text/plain", strings.NewReader("req"))
		if err != nil {
			got = append(got, result{Err: true})
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got = append(got, result{Status: resp.StatusCode, Body: string(b)})
	}
	want := []result{
		{Status: 400, Body: "throttle"},
		{Status: 503, Body: "server-error"},
		{Err: true},
		{Status: 200, Body: "ok"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
	var faults []Kind
	for _, c := range log.Calls("op") {
		faults = append(faults, c.Fault)
	}
	if diff := cmp.Diff([]Kind{Throttle, ServerError, Drop, None}, faults); diff != "" {
		t.Errorf("logged faults (-want +got):\n%s", diff)
	}
}

func TestGateLatencyHonoursCancel(t *testing.T) {
	inj := New(1)
	inj.Set(AnyOp, Rule{Latency: time.Hour})
	srv := gateServer(t, &Gate{Injector: inj})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err = http.DefaultClient.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}
