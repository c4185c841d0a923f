package ecr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	smithy "github.com/aws/smithy-go"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

const region = "ap-southeast-1"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 20, 8, 15, 42, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder is an Emitter that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events [][]byte
}

func (r *recorder) Emit(_ context.Context, ev []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// env is an emulator serving on loopback with an SDK client pointed at it.
type env struct {
	srv    *ecr.Server
	client *awsecr.Client
	clock  *clock
	events *recorder
	url    string
}

// newEnv starts an emulator and builds the real SDK client against it. The
// client keeps the SDK's standard retryer (3 attempts) with the backoff
// shortened to 1ms so retry tests stay fast.
func newEnv(t testing.TB, optFns ...func(*retry.StandardOptions)) *env {
	t.Helper()
	return newEnvWith(t, ecr.Config{}, optFns...)
}

// newEnvWith is newEnv with the emulator configured by cfg; its region,
// clock, seed and emitter are the test's.
func newEnvWith(t testing.TB, emu ecr.Config, optFns ...func(*retry.StandardOptions)) *env {
	t.Helper()
	e := &env{clock: newClock(), events: &recorder{}}
	emu.Region, emu.Now, emu.Seed, emu.Emitter = region, e.clock.Now, 1, e.events.Emit
	e.srv = ecr.New(emu)
	url, stop, err := e.srv.Start("")
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = stop() })
	e.url = url
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "SECRET", ""),
		BaseEndpoint: aws.String(url), HTTPClient: emuhttp.HTTPClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(append([]func(*retry.StandardOptions){func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			}}, optFns...)...)
		},
	}
	e.client = awsecr.NewFromConfig(cfg)
	return e
}

// createRepo creates a repository through the API.
func (e *env) createRepo(t testing.TB, name string, fns ...func(*awsecr.CreateRepositoryInput)) {
	t.Helper()
	in := &awsecr.CreateRepositoryInput{RepositoryName: aws.String(name)}
	for _, fn := range fns {
		fn(in)
	}
	if _, err := e.client.CreateRepository(context.Background(), in); err != nil {
		t.Fatalf("create repository %s: %v", name, err)
	}
}

// manifest returns a distinct OCI image manifest for n with the given total
// layer size.
func manifest(n int, size int64) string {
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":100},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":%d}]}`,
		n, n+1_000_000, size-100)
}

// index returns an OCI image index over the given child digests.
func index(children ...string) string {
	type desc struct {
		MediaType string            `json:"mediaType"`
		Digest    string            `json:"digest"`
		Size      int               `json:"size"`
		Platform  map[string]string `json:"platform"`
	}
	idx := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{SchemaVersion: 2, MediaType: ecr.MediaTypeOCIIndex}
	archs := []string{"amd64", "arm64", "s390x"}
	for i, c := range children {
		idx.Manifests = append(idx.Manifests, desc{MediaType: ecr.MediaTypeOCIManifest, Digest: c, Size: 500,
			Platform: map[string]string{"os": "linux", "architecture": archs[i%len(archs)]}})
	}
	b, _ := json.Marshal(idx)
	return string(b)
}

// push puts a manifest with an optional tag and returns its digest.
func (e *env) push(t testing.TB, repo, manifest, tag string) string {
	t.Helper()
	in := &awsecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest)}
	if tag != "" {
		in.ImageTag = aws.String(tag)
	}
	out, err := e.client.PutImage(context.Background(), in)
	if err != nil {
		t.Fatalf("put image %s:%s: %v", repo, tag, err)
	}
	return aws.ToString(out.Image.ImageId.ImageDigest)
}

// errorCode returns the API error code of err, or "" if it is not an API error.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
