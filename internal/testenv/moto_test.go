package testenv

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMoto starts moto_server, creates a queue through its query protocol,
// resets it and stops it. moto is installed on every machine of this kind
// (and by .ci/run elsewhere): its absence fails the test outside -short.
func TestMoto(t *testing.T) {
	if testing.Short() {
		t.Skip("moto_server: skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := StartMoto(ctx, MotoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if !strings.HasPrefix(m.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want loopback", m.URL)
	}
	form := "Action=CreateQueue&QueueName=probe&Version=2012-11-05"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261129/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CreateQueue: HTTP %d", resp.StatusCode)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(m.URL + "/moto-api/"); err == nil {
		t.Error("moto still answers after Stop")
	}
}

func TestMotoMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := StartMoto(context.Background(), MotoOptions{}); !errors.Is(err, ErrNoMoto) {
		t.Fatalf("err = %v, want ErrNoMoto", err)
	}
}
