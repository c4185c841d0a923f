package kube

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseImageRef(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		name    string
		in      string
		want    Ref
		wantErr bool
	}{
		{name: "official image", in: "nginx", want: Ref{Registry: "docker.io", Repository: "library/nginx"}},
		{name: "official image with tag", in: "nginx:1.25", want: Ref{Registry: "docker.io", Repository: "library/nginx", Tag: "1.25"}},
		{name: "docker hub user", in: "bitnami/redis:7.2", want: Ref{Registry: "docker.io", Repository: "bitnami/redis", Tag: "7.2"}},
		{name: "legacy index host", in: "index.docker.io/nginx", want: Ref{Registry: "docker.io", Repository: "library/nginx"}},
		{name: "explicit docker.io", in: "docker.io/library/busybox:1.36", want: Ref{Registry: "docker.io", Repository: "library/busybox", Tag: "1.36"}},
		{name: "ecr tag", in: ecr + "/mlops/retail-api:v1.2.0", want: Ref{Registry: ecr, Repository: "mlops/retail-api", Tag: "v1.2.0"}},
		{name: "ecr digest", in: ecr + "/mlops/retail-api@" + digestA, want: Ref{Registry: ecr, Repository: "mlops/retail-api", Digest: digestA}},
		{name: "tag and digest", in: ecr + "/mlops/retail-api:v1.2.0@" + digestB, want: Ref{Registry: ecr, Repository: "mlops/retail-api", Tag: "v1.2.0", Digest: digestB}},
		{name: "ecr dual-stack", in: "123456789012.dkr-ecr.us-east-1.on.aws/mlops/retail-api:v1", want: Ref{Registry: "123456789012.dkr-ecr.us-east-1.on.aws", Repository: "mlops/retail-api", Tag: "v1"}},
		{name: "ecr fips", in: "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/mlops/retail-api@" + digestA, want: Ref{Registry: "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", Repository: "mlops/retail-api", Digest: digestA}},
		{name: "ecr explicit 443", in: ecr + ":443/mlops/retail-api:v1", want: Ref{Registry: ecr + ":443", Repository: "mlops/retail-api", Tag: "v1"}},
		{name: "ecr china", in: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/mlops/retail-api:v1", want: Ref{Registry: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", Repository: "mlops/retail-api", Tag: "v1"}},
		{name: "ecr pull-through cache", in: ecr + "/docker-hub/library/nginx:1.27", want: Ref{Registry: ecr, Repository: "docker-hub/library/nginx", Tag: "1.27"}},
		{name: "registry with port", in: "registry.local:5000/team/app:dev-1", want: Ref{Registry: "registry.local:5000", Repository: "team/app", Tag: "dev-1"}},
		{name: "localhost", in: "localhost/app", want: Ref{Registry: "localhost", Repository: "app"}},
		{name: "localhost with port", in: "localhost:5000/app:1", want: Ref{Registry: "localhost:5000", Repository: "app", Tag: "1"}},
		{name: "ipv6 registry", in: "[::1]:5000/app@" + digestC, want: Ref{Registry: "[::1]:5000", Repository: "app", Digest: digestC}},
		{name: "uppercase registry", in: "Registry.Example.com/app", want: Ref{Registry: "Registry.Example.com", Repository: "app"}},
		{name: "separators", in: "gcr.io/a-b__c.d/e---f_g:T_a.g-1", want: Ref{Registry: "gcr.io", Repository: "a-b__c.d/e---f_g", Tag: "T_a.g-1"}},
		{name: "sha512 digest", in: "app@sha512:" + strings.Repeat("0", 128), want: Ref{Registry: "docker.io", Repository: "library/app", Digest: "sha512:" + strings.Repeat("0", 128)}},
		{name: "tag of 128", in: "nginx:" + strings.Repeat("t", 128), want: Ref{Registry: "docker.io", Repository: "library/nginx", Tag: strings.Repeat("t", 128)}},
		{name: "empty", in: "", wantErr: true},
		{name: "uppercase repository", in: "Nginx", wantErr: true},
		{name: "uppercase repository path", in: ecr + "/MLops/api:v1", wantErr: true},
		{name: "64-hex identifier", in: strings.Repeat("a", 64), wantErr: true},
		{name: "empty tag", in: "nginx:", wantErr: true},
		{name: "tag too long", in: "nginx:" + strings.Repeat("t", 129), wantErr: true},
		{name: "tag starting with dot", in: "nginx:.x", wantErr: true},
		{name: "short digest", in: "nginx@sha256:abc", wantErr: true},
		{name: "uppercase sha256 hex", in: "nginx@sha256:" + strings.Repeat("A", 64), wantErr: true},
		{name: "unknown digest algorithm", in: "nginx@md5:" + strings.Repeat("a", 32), wantErr: true},
		{name: "double separator", in: "a..b/c", wantErr: true},
		{name: "trailing slash", in: "gcr.io/app/", wantErr: true},
		{name: "leading separator", in: "gcr.io/-app", wantErr: true},
		{name: "name too long", in: "gcr.io/" + long, wantErr: true},
		{name: "space", in: "nginx :1", wantErr: true},
		{name: "runtime prefix", in: "docker-pullable://nginx@" + digestA, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImageRef(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseImageRef(%q) = %+v, want an error", tt.in, got)
				}
				if !errors.Is(err, ErrInvalidImageRef) {
					t.Errorf("error %v does not wrap ErrInvalidImageRef", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseImageRef(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseImageRef(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// FuzzParseImageRef checks that parsing never panics, and that a parsed reference prints to a normalized form
// that parses back to itself.
func FuzzParseImageRef(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.25", "localhost:5000/a/b:c", ecr + "/mlops/retail-api:v1@" + digestA,
		"[::1]:80/x", "a..b", "UPPER/x", "docker.io/x", "index.docker.io/library/x@" + digestB, ":", "@", "/",
		"123456789012.dkr-ecr.us-east-1.on.aws:443/a/b:c", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/a@" + digestA,
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/a", ecr + "/docker-hub/library/nginx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseImageRef(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidImageRef) {
				t.Fatalf("ParseImageRef(%q) error %v does not wrap ErrInvalidImageRef", s, err)
			}
			return
		}
		if ref.Registry == "" || ref.Repository == "" {
			t.Fatalf("ParseImageRef(%q) = %+v: empty registry or repository", s, ref)
		}
		again, err := ParseImageRef(ref.String())
		if err != nil {
			t.Fatalf("ParseImageRef(%q) = %q, which does not parse: %v", s, ref.String(), err)
		}
		if again != ref {
			t.Fatalf("round trip of %q: %+v, then %+v", s, ref, again)
		}
		if r, ok := ParseECRHost(ref.Registry); ok && !ref.InRegistry(r.Host()) {
			t.Fatalf("ParseImageRef(%q): registry %q is %+v but the reference is not in %q", s, ref.Registry, r, r.Host())
		}
	})
}
