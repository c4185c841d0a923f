package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func start(t testing.TB) *Server {
	t.Helper()
	s := New(1)
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type answer struct {
	Status     int
	Body       string
	RetryAfter string
}

func post(t *testing.T, s *Server, url, body string) answer {
	t.Helper()
	resp, err := s.Client().Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Body: string(b), RetryAfter: resp.Header.Get("Retry-After")}
}

func section(text string) string {
	b, _ := json.Marshal(map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text}})
	return string(b)
}

func blocks(bs ...string) string {
	return `{"text":"fallback","blocks":[` + strings.Join(bs, ",") + `]}`
}

func repeat(b string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func fields(n, size int) string {
	var fs []map[string]string
	for range n {
		fs = append(fs, map[string]string{"type": "mrkdwn", "text": strings.Repeat("f", size)})
	}
	b, _ := json.Marshal(map[string]any{"type": "section", "fields": fs})
	return string(b)
}

func header(text string) string {
	b, _ := json.Marshal(map[string]any{"type": "header", "text": map[string]string{"type": "plain_text", "text": text}})
	return string(b)
}

func contextBlock(n int) string {
	return `{"type":"context","elements":[` + strings.Join(repeat(`{"type":"mrkdwn","text":"c"}`, n), ",") + `]}`
}

func TestBlockKitLimits(t *testing.T) {
	s := start(t)
	tests := []struct {
		name   string
		body   string
		code   string // "" = accepted
		reason string
	}{
		{name: "text only", body: `{"text":"hello"}`},
		{name: "50 blocks", body: blocks(repeat(section("x"), 50)...)},
		{name: "51 blocks", body: blocks(repeat(section("x"), 51)...), code: "invalid_blocks", reason: "blocks: 51 blocks"},
		{name: "section text 3000", body: blocks(section(strings.Repeat("é", 3000)))},
		{name: "section text 3001", body: blocks(section(strings.Repeat("a", 3001))), code: "invalid_blocks", reason: "blocks[0].text.text"},
		{name: "10 fields of 2000", body: blocks(fields(10, 2000))},
		{name: "11 fields", body: blocks(fields(11, 1)), code: "invalid_blocks", reason: "blocks[0].fields"},
		{name: "field 2001", body: blocks(fields(1, 2001)), code: "invalid_blocks", reason: "blocks[0].fields[0].text"},
		{name: "header 150", body: blocks(header(strings.Repeat("h", 150)))},
		{name: "header 151", body: blocks(header(strings.Repeat("h", 151))), code: "invalid_blocks", reason: "blocks[0].text.text"},
		{name: "header mrkdwn", body: blocks(`{"type":"header","text":{"type":"mrkdwn","text":"h"}}`), code: "invalid_blocks", reason: "plain_text"},
		{name: "context 10", body: blocks(contextBlock(10))},
		{name: "context 11", body: blocks(contextBlock(11)), code: "invalid_blocks", reason: "blocks[0].elements"},
		{name: "divider and section", body: blocks(`{"type":"divider"}`, section("x"))},
		{name: "unknown block", body: blocks(`{"type":"table"}`), code: "invalid_blocks", reason: "unknown block type"},
		{name: "empty section", body: blocks(`{"type":"section"}`), code: "invalid_blocks", reason: "text or fields"},
		{name: "duplicate block ids", body: blocks(`{"type":"divider","block_id":"a"}`, `{"type":"divider","block_id":"a"}`), code: "invalid_blocks", reason: "duplicate"},
		{name: "not JSON", body: `{"text":`, code: "invalid_payload"},
		{name: "nothing to say", body: `{"text":""}`, code: "no_text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Reset()
			got := post(t, s, s.WebhookURL(), tt.body)
			if tt.code == "" {
				if diff := cmp.Diff(answer{Status: 200, Body: "ok"}, got); diff != "" {
					t.Fatalf("answer (-want +got):\n%s", diff)
				}
				if ps := s.Payloads(); len(ps) != 1 || string(ps[0].Body) != tt.body {
					t.Errorf("recorded payloads = %d, want the posted one", len(ps))
				}
				return
			}
			if diff := cmp.Diff(answer{Status: 400, Body: tt.code}, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			rs := s.Rejections()
			if len(rs) != 1 || !strings.Contains(rs[0].Reason, tt.reason) {
				t.Errorf("rejections = %+v, want one whose reason mentions %q", rs, tt.reason)
			}
			if len(s.Payloads()) != 0 {
				t.Errorf("a refused payload was recorded as accepted")
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	s := start(t)
	if got := post(t, s, s.URL()+"/services/nope", `{"text":"x"}`); got.Status != 404 || got.Body != "no_service" {
		t.Errorf("answer = %+v, want 404 no_service", got)
	}
}

func TestKnobs(t *testing.T) {
	s := start(t)
	s.SetRetryAfter(7)
	s.Faults().Set(Op, fault.Rule{Throttle: 2, ServerError: 1, Status: 503})
	var got []answer
	for i := range 4 {
		got = append(got, post(t, s, s.WebhookURL(), fmt.Sprintf(`{"text":"%d"}`, i)))
	}
	want := []answer{
		{Status: 429, Body: "rate_limited", RetryAfter: "7"},
		{Status: 429, Body: "rate_limited", RetryAfter: "7"},
		{Status: 503, Body: "internal_error"},
		{Status: 200, Body: "ok"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := s.Calls().Count(Op); n != 4 {
		t.Errorf("calls = %d, want 4", n)
	}
	if ps := s.Payloads(); len(ps) != 1 || ps[0].Text != "3" {
		t.Errorf("payloads = %+v, want only the last", ps)
	}
}

// FuzzServeHTTP feeds arbitrary payloads to the Block Kit validator.
func FuzzServeHTTP(f *testing.F) {
	s := New(0)
	f.Add(blocks(section("x"), header("h"), contextBlock(2), fields(2, 3), `{"type":"image","image_url":"u","alt_text":"a"}`, `{"type":"actions","elements":[{}]}`))
	f.Add(`{"blocks":null,"text":"x"}`)
	f.Add(`{"blocks":[{"type":"context","elements":[{"type":"image"}]}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/services/T1/B1/x", strings.NewReader(body)))
		switch {
		case rec.Code == 200 && rec.Body.String() == "ok":
		case rec.Code == 400 && (rec.Body.String() == "invalid_blocks" || rec.Body.String() == "invalid_payload" || rec.Body.String() == "no_text"):
		default:
			t.Fatalf("answer %d %q for %q", rec.Code, rec.Body.String(), body)
		}
		s.Reset()
	})
}

// TestServesTLSOnly: the sink answers https with a certificate its CA signed
// for the loopback address, and a client that does not trust the CA (or
// speaks plain http) gets nothing.
func TestServesTLSOnly(t *testing.T) {
	s := start(t)
	if !strings.HasPrefix(s.WebhookURL(), "https://127.0.0.1:") {
		t.Fatalf("webhook URL %q, want https on loopback", s.WebhookURL())
	}
	if got := post(t, s, s.WebhookURL(), `{"text":"x"}`); got.Status != 200 {
		t.Errorf("trusted client: %+v", got)
	}
	if _, err := http.Post(s.WebhookURL(), "application/json", strings.NewReader(`{"text":"x"}`)); err == nil {
		t.Error("a client without the sink's CA was accepted")
	}
	plain := "http://" + strings.TrimPrefix(s.WebhookURL(), "https://")
	if resp, err := s.Client().Post(plain, "application/json", strings.NewReader(`{"text":"x"}`)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain http was accepted")
		}
	}
	if n := len(s.Payloads()); n != 1 {
		t.Errorf("accepted %d payloads, want 1", n)
	}
	if !strings.Contains(string(s.CAPEM()), "BEGIN CERTIFICATE") {
		t.Error("CAPEM holds no certificate")
	}
}
