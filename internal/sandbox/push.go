package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
)

// NewManifest returns a valid OCI image manifest no other call returns, and
// the digest ECR gives it.
func (sb *Sandbox) NewManifest() (manifest, digest string) {
	sb.mu.Lock()
	sb.seq++
	n := sb.seq
	sb.mu.Unlock()
	manifest = fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":1469},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":31357624}]}`,
		n, 1_000_000+n)
	return manifest, ecr.Digest([]byte(manifest))
}

// PutImage stores manifest as repo:tag through the real ECR PutImage, as a
// CI job's push would; the ECR emulator then emits the push event (and, for
// a repository that scans on push, the scan events).
func (sb *Sandbox) PutImage(ctx context.Context, repo, tag, manifest string) error {
	_, err := sb.ECR.PutImage(ctx, &awsecr.PutImageInput{
		RepositoryName: aws.String(repo), ImageTag: aws.String(tag), ImageManifest: aws.String(manifest),
		ImageManifestMediaType: aws.String("application/vnd.oci.image.manifest.v1+json"),
	})
	if err != nil {
		return fmt.Errorf("push %s:%s: %w", repo, tag, err)
	}
	return nil
}

// Push stores a new image as repo:tag whose scan reports findings, and
// returns its digest.
func (sb *Sandbox) Push(ctx context.Context, repo, tag string, findings ...ecr.Finding) (string, error) {
	manifest, digest := sb.NewManifest()
	if err := sb.Suite.ECR.SetFindings(repo, digest, findings); err != nil {
		return "", err
	}
	return digest, sb.PutImage(ctx, repo, tag, manifest)
}

// WithField returns a copy of the EventBridge event raw with one field set
// to v: an envelope key ("account", "region"), or a detail key written
// "detail.<key>". Tests craft the events a direct invoke, another account's
// bus or a stale redrive would deliver with it.
func WithField(raw []byte, key string, v any) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("craft event: %w", err)
	}
	if k, ok := strings.CutPrefix(key, "detail."); ok {
		detail, ok := ev["detail"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("craft event: no detail object")
		}
		detail[k] = v
	} else {
		ev[key] = v
	}
	return json.Marshal(ev)
}

// LogBuffer collects the functions' logs; safe for their concurrent writes.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
