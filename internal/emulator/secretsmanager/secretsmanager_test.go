package secretsmanager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/go-cmp/cmp"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func start(t testing.TB) *Server {
	t.Helper()
	s := New(Options{Seed: 3})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func client(s *Server, maxAttempts int) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(emuhttp.ClientConfig(s.URL(), maxAttempts))
}

func TestGetSecretValue(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	const hook1 = "https://hooks.slack.com/services/T000/B000/old"
	const hook2 = "https://hooks.slack.com/services/T000/B000/new"
	s.PutSecret("ecrwarden/slack-webhook", hook1)
	arn := s.PutSecret("ecrwarden/slack-webhook", hook2)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:ecrwarden/slack-webhook-") || len(arn) != len("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:ecrwarden/slack-webhook-")+6 {
		t.Fatalf("ARN = %q, want the name plus a 6-character suffix", arn)
	}
	type result struct {
		Value  string
		Stages []string
	}
	tests := []struct {
		name string
		in   secretsmanager.GetSecretValueInput
		want result
		code string
	}{
		{name: "by name", in: secretsmanager.GetSecretValueInput{SecretId: aws.String("ecrwarden/slack-webhook")}, want: result{hook2, []string{"AWSCURRENT"}}},
		{name: "by ARN", in: secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}, want: result{hook2, []string{"AWSCURRENT"}}},
		{name: "by partial ARN", in: secretsmanager.GetSecretValueInput{SecretId: aws.String(arn[:len(arn)-7])}, want: result{hook2, []string{"AWSCURRENT"}}},
		{name: "previous", in: secretsmanager.GetSecretValueInput{SecretId: aws.String("ecrwarden/slack-webhook"), VersionStage: aws.String("AWSPREVIOUS")}, want: result{hook1, []string{"AWSPREVIOUS"}}},
		{name: "unknown secret", in: secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}, code: "ResourceNotFoundException"},
		{name: "unknown stage", in: secretsmanager.GetSecretValueInput{SecretId: aws.String("ecrwarden/slack-webhook"), VersionStage: aws.String("AWSPENDING")}, code: "ResourceNotFoundException"},
		{name: "unknown version", in: secretsmanager.GetSecretValueInput{SecretId: aws.String("ecrwarden/slack-webhook"), VersionId: aws.String("00000000-0000-4000-8000-000000000000")}, code: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.GetSecretValue(context.Background(), &tt.in)
			if tt.code != "" {
				var rnf *types.ResourceNotFoundException
				if !errors.As(err, &rnf) {
					t.Fatalf("GetSecretValue error = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetSecretValue: %v", err)
			}
			got := result{aws.ToString(out.SecretString), out.VersionStages}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("secret (-want +got):\n%s", diff)
			}
			if aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "ecrwarden/slack-webhook" || out.CreatedDate == nil {
				t.Errorf("ARN, Name, CreatedDate = %v, %v, %v", aws.ToString(out.ARN), aws.ToString(out.Name), out.CreatedDate)
			}
			// The version id selects the same version.
			again, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: out.VersionId})
			if err != nil || aws.ToString(again.SecretString) != tt.want.Value {
				t.Errorf("GetSecretValue by VersionId = %v, %v; want %q", again, err, tt.want.Value)
			}
		})
	}
}

func TestFaultsAndRetryer(t *testing.T) {
	s := start(t)
	s.PutSecret("hook", "https://example.invalid/")
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("hook")}
	s.Faults().Set("GetSecretValue", fault.Rule{Throttle: 1, Drop: 1})
	if _, err := client(s, 3).GetSecretValue(context.Background(), in); err != nil {
		t.Fatalf("GetSecretValue after a throttle and a drop: %v", err)
	}
	if got := s.Calls().Count("GetSecretValue"); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	s.Calls().Reset()
	s.Faults().Set("GetSecretValue", fault.Rule{ServerError: 10, Status: 503})
	_, err := client(s, 2).GetSecretValue(context.Background(), in)
	var ise *types.InternalServiceError
	if !errors.As(err, &ise) {
		t.Fatalf("error = %v, want InternalServiceError", err)
	}
	if got := s.Calls().Count("GetSecretValue"); got != 2 {
		t.Errorf("attempts = %d, want 2", got)
	}
}

func TestMalformedRequests(t *testing.T) {
	s := start(t)
	tests := []struct{ name, target, body, code, mention string }{
		{name: "missing id", target: "secretsmanager.GetSecretValue", body: `{}`, code: "ValidationException", mention: "secretId"},
		{name: "id not a string", target: "secretsmanager.GetSecretValue", body: `{"SecretId":[1]}`, code: "SerializationException", mention: "SecretId"},
		{name: "not JSON", target: "secretsmanager.GetSecretValue", body: `{`, code: "SerializationException", mention: "malformed"},
		{name: "unknown op", target: "secretsmanager.CreateSecret", body: `{}`, code: "UnknownOperationException", mention: "CreateSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Target", tt.target)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 400 || e.Type != tt.code || !strings.Contains(e.Message, tt.mention) {
				t.Errorf("got %d %s, want 400 %s mentioning %q", resp.StatusCode, b, tt.code, tt.mention)
			}
		})
	}
}

// FuzzServeHTTP feeds arbitrary bodies to the GetSecretValue decoder.
func FuzzServeHTTP(f *testing.F) {
	s := New(Options{})
	arn := s.PutSecret("hook", "v")
	f.Add(`{"SecretId":"hook","VersionStage":"AWSCURRENT"}`)
	f.Add(`{"SecretId":"` + arn + `","VersionId":"x"}`)
	f.Add(`{"SecretId":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body.String())
		}
	})
}
