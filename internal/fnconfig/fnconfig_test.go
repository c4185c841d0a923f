package fnconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/dedupe"
	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "complete",
			env: map[string]string{"ECRWARDEN_POLICY": "/var/task/ecrwarden.yaml", "ECRWARDEN_EVENT_BUS": "ecrwarden",
				"ECRWARDEN_DEDUPE_TABLE": "dedupe", "ECRWARDEN_DRY_RUN": "true", "ECRWARDEN_TOPIC_ARN": "arn:aws:sns:ap-southeast-1:123456789012:a"},
			check: func(t *testing.T, c Config) {
				if c.PolicyPath != "/var/task/ecrwarden.yaml" || !c.DryRun || c.EventBus != "ecrwarden" || c.DedupeTable != "dedupe" {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name:    "every missing or bad variable is named at once",
			env:     map[string]string{"ECRWARDEN_DRY_RUN": "maybe", "ECRWARDEN_VERIFY_INTERVAL": "20m"},
			wantErr: []string{"ECRWARDEN_EVENT_BUS", "ECRWARDEN_DEDUPE_TABLE", `ECRWARDEN_DRY_RUN="maybe"`, `ECRWARDEN_VERIFY_INTERVAL="20m"`},
		},
		{
			name: "verification queue and interval",
			env: map[string]string{"ECRWARDEN_EVENT_BUS": "b", "ECRWARDEN_DEDUPE_TABLE": "t",
				"ECRWARDEN_VERIFY_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/verify", "ECRWARDEN_VERIFY_INTERVAL": "2s"},
			check: func(t *testing.T, c Config) {
				if c.VerifyQueueURL != "https://sqs.ap-southeast-1.amazonaws.com/123456789012/verify" || c.VerifyInterval != 2*time.Second {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "default check interval",
			env:  map[string]string{"ECRWARDEN_EVENT_BUS": "b", "ECRWARDEN_DEDUPE_TABLE": "t"},
			check: func(t *testing.T, c Config) {
				if c.VerifyInterval != 30*time.Second || c.VerifyQueueURL != "" {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "policy next to the binary by default",
			env:  map[string]string{"ECRWARDEN_EVENT_BUS": "b", "ECRWARDEN_DEDUPE_TABLE": "t"},
			check: func(t *testing.T, c Config) {
				exe, _ := os.Executable()
				if c.PolicyPath != filepath.Join(filepath.Dir(exe), "ecrwarden.yaml") {
					t.Errorf("policy path = %q", c.PolicyPath)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"ECRWARDEN_POLICY", "ECRWARDEN_TOPIC_ARN", "ECRWARDEN_SLACK_SECRET", "ECRWARDEN_EVENT_BUS",
				"ECRWARDEN_DEDUPE_TABLE", "ECRWARDEN_DRY_RUN", "ECRWARDEN_GC_QUEUE_URL", "ECRWARDEN_VERIFY_QUEUE_URL", "ECRWARDEN_VERIFY_INTERVAL"} {
				t.Setenv(k, tt.env[k])
			}
			c, err := FromEnv()
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestLoadRefusesABrokenPolicy: a function with a broken bundled policy
// fails its init with the policy's own located errors, not at the first event.
func TestLoadRefusesABrokenPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ecrwarden.yaml")
	if err := os.WriteFile(path, []byte("repositories:\n  - name: App\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ECRWARDEN_POLICY", path)
	t.Setenv("ECRWARDEN_EVENT_BUS", "ecrwarden")
	t.Setenv("ECRWARDEN_DEDUPE_TABLE", "dedupe")
	_, err := Load(context.Background(), slog.New(slog.DiscardHandler), metrics.FunctionOnscan)
	if err == nil || !strings.Contains(err.Error(), path+":2:11") {
		t.Errorf("err = %v, want the policy error with its position", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		memory, gomemlimit string
		want               int64
		ok                 bool
	}{
		{"256", "", 112 << 20, true},
		{"1024", "", 496 << 20, true},
		{"64", "", 32 << 20, true},
		{"256", "200MiB", 0, false},
		{"", "", 0, false},
		{"lots", "", 0, false},
	}
	for _, tc := range tests {
		got, ok := MemoryLimit(tc.memory, tc.gomemlimit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("MemoryLimit(%q, %q) = %d, %v; want %d, %v", tc.memory, tc.gomemlimit, got, ok, tc.want, tc.ok)
		}
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want metrics.Dim
	}{
		{"malformed event", fmt.Errorf("onpush: %w", ecrevent.ErrMalformedEvent), metrics.KindEvent},
		{"lease held", fmt.Errorf("alert k: %w", dedupe.ErrInProgress), metrics.KindLease},
		{"no time for the lease", dedupe.ErrNoTime, metrics.KindLease},
		{"kubernetes", fmt.Errorf("patch: %w", &kube.StatusError{Code: 403}), metrics.KindKubernetes},
		{"timeout first", errors.Join(dedupe.ErrInProgress, context.DeadlineExceeded), metrics.KindTimeout},
		{"left to the generic rules", errors.New("boom"), metrics.KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := metrics.New(&out, metrics.FunctionOnpush, metrics.WithClassifier(ErrorKind))
			r.Error(tt.err)
			r.Flush(context.Background())
			if want := `"Kind":"` + tt.want.Value + `"`; !strings.Contains(out.String(), want) {
				t.Errorf("Errors of %v: %s, want %s", tt.err, out.String(), want)
			}
		})
	}
}
