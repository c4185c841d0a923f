package ecrevent

import (
	"errors"
	"testing"
)

// FuzzClassify feeds arbitrary bytes to Classify and the decoders. They must never
// panic, must fail only with ErrMalformedEvent or ErrWrongKind, and must never
// return an invalid repository name or digest without an error.
func FuzzClassify(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(readFixture(f, fx.file))
	}
	f.Add([]byte(`{"source":"aws.ecr","detail-type":"ECR Image Action","detail":null}`))
	f.Add([]byte(`{"source":"aws.inspector2","detail-type":"Inspector2 Finding","detail":{"resources":[{"type":"AWS_ECR_CONTAINER_IMAGE","id":"x/sha256:"}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		k, err := Classify(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("Classify error %q is not ErrMalformedEvent", err)
			}
			return
		}
		check := func(repository, digest string, err error) {
			if err != nil {
				if !errors.Is(err, ErrMalformedEvent) && !errors.Is(err, ErrWrongKind) {
					t.Fatalf("%v decode error %q is neither ErrMalformedEvent nor ErrWrongKind", k, err)
				}
				return
			}
			if CheckRepositoryName(repository) != nil {
				t.Fatalf("%v decoded invalid repository %q", k, repository)
			}
			if digest != "" && CheckDigest(digest) != nil {
				t.Fatalf("%v decoded invalid digest %q", k, digest)
			}
		}
		switch k {
		case KindPush, KindPushFailure, KindDelete, KindStorageClass:
			a, err := DecodeImageAction(raw)
			check(a.Repository, a.Digest, err)
		case KindBasicScan, KindInspectorScan:
			s, err := DecodeScan(raw)
			check(s.Repository, s.Digest, err)
			if err == nil && s.Digest == "" {
				t.Fatalf("%v decoded without digest", k)
			}
		case KindInspectorFinding:
			fd, err := DecodeFinding(raw)
			check(fd.Repository, fd.Digest, err)
			if err == nil && fd.Digest == "" {
				t.Fatalf("%v decoded without digest", k)
			}
		}
	})
}
