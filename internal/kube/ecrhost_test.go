package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseECRHost covers every host form that reaches one ECR registry, from the ECR user guide ("Making requests
// to Amazon ECR registries"), the service endpoint list, and the SDK's partitions, and hosts that must not match.
func TestParseECRHost(t *testing.T) {
	reg := func(account, region string, fips, dual bool) ECRRegistry {
		return ECRRegistry{Account: account, Region: region, FIPS: fips, DualStack: dual}
	}
	tests := []struct {
		host string
		want ECRRegistry
		ok   bool
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", reg("123456789012", "us-east-1", false, false), true},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com:443", reg("123456789012", "us-east-1", false, false), true},
		{"123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM", reg("123456789012", "us-east-1", false, false), true},
		{"123456789012.dkr-ecr.us-east-1.on.aws", reg("123456789012", "us-east-1", false, true), true},
		{"123456789012.dkr-ecr.us-east-1.on.aws:443", reg("123456789012", "us-east-1", false, true), true},
		{"123456789012.dkr.ecr-fips.us-east-2.amazonaws.com", reg("123456789012", "us-east-2", true, false), true},
		{"123456789012.dkr-ecr-fips.us-west-2.on.aws", reg("123456789012", "us-west-2", true, true), true},
		{"123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", reg("123456789012", "us-gov-west-1", false, false), true},
		{"123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com", reg("123456789012", "us-gov-east-1", true, false), true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", reg("123456789012", "cn-north-1", false, false), true},
		{"123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn:443", reg("123456789012", "cn-northwest-1", false, false), true},
		{"123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", reg("123456789012", "cn-north-1", false, true), true},
		{"123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", reg("123456789012", "us-iso-east-1", false, false), true},
		{"123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", reg("123456789012", "us-isob-east-1", false, false), true},
		{"123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", reg("123456789012", "eu-isoe-west-1", false, false), true},
		{"123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", reg("123456789012", "us-isof-south-1", false, false), true},
		{"123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", reg("123456789012", "eusc-de-east-1", false, false), true},
		{"123456789012.dkr.ecr.ap-southeast-7.amazonaws.com", reg("123456789012", "ap-southeast-7", false, false), true},
		// Not an ECR private registry host.
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com:5000", ECRRegistry{}, false},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com", ECRRegistry{}, false}, // China Region, global domain
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.cn", ECRRegistry{}, false},
		{"123456789012.dkr-ecr.us-east-1.amazonaws.com", ECRRegistry{}, false},
		{"123456789012.dkr.ecr.us-east-1.on.aws", ECRRegistry{}, false},
		{"12345678901.dkr.ecr.us-east-1.amazonaws.com", ECRRegistry{}, false},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", ECRRegistry{}, false},
		{"evil-123456789012.dkr.ecr.us-east-1.amazonaws.com", ECRRegistry{}, false},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.", ECRRegistry{}, false},
		{"api.ecr.us-east-1.amazonaws.com", ECRRegistry{}, false},
		{"public.ecr.aws", ECRRegistry{}, false},
		{"docker.io", ECRRegistry{}, false},
		{"", ECRRegistry{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := ParseECRHost(tt.host)
			if ok != tt.ok {
				t.Fatalf("ParseECRHost(%q) ok = %v, want %v (%+v)", tt.host, ok, tt.ok, got)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseECRHost(%q) (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

// TestInUseMatchesEveryHostForm: references through every host form of the registry count for it, including
// pull-through cache repositories (named <prefix>/<upstream path>); references to other registries do not.
func TestInUseMatchesEveryHostForm(t *testing.T) {
	const (
		acct = "123456789012"
		host = acct + ".dkr.ecr.us-east-1.amazonaws.com"
	)
	var u InUse
	for _, s := range []string{
		host + "/mlops/retail-api:v1",
		host + ":443/mlops/retail-api:v2",
		acct + ".dkr-ecr.us-east-1.on.aws/mlops/retail-api:v3",
		acct + ".dkr.ecr-fips.us-east-1.amazonaws.com/mlops/retail-api:v4",
		acct + ".dkr-ecr-fips.us-east-1.on.aws:443/mlops/retail-api@" + digestA,
		strings.ToUpper(acct+".DKR.ECR.US-EAST-1.AMAZONAWS.COM") + "/mlops/retail-api:v5",
		// Pull-through cache: the cache repository, not the upstream image.
		host + "/docker-hub/library/nginx:1.27",
		host + "/ecr-public/nginx/nginx@" + digestB,
		"nginx:1.26", // Docker Hub itself: not the cache repository
		// Other registries and accounts.
		"210987654321.dkr.ecr.us-east-1.amazonaws.com/mlops/retail-api:v9",
		acct + ".dkr.ecr.eu-west-1.amazonaws.com/mlops/retail-api:v9",
		host + ":5000/mlops/retail-api:v9",
		"public.ecr.aws/mlops/retail-api:v9",
	} {
		u.add(ImageUse{Image: s})
	}
	if len(u.Invalid) != 0 {
		t.Fatalf("invalid references: %+v", u.Invalid)
	}
	tests := []struct {
		registry, repository string
		wantDigests, wantTag map[string]struct{}
	}{
		{host, "mlops/retail-api", set(digestA), set("v1", "v2", "v3", "v4", "v5")},
		{acct + ".dkr-ecr.us-east-1.on.aws", "mlops/retail-api", set(digestA), set("v1", "v2", "v3", "v4", "v5")},
		{host, "docker-hub/library/nginx", set(), set("1.27")},
		{host, "ecr-public/nginx/nginx", set(digestB), set()},
		{"docker.io", "library/nginx", set(), set("1.26")},
	}
	for _, tt := range tests {
		t.Run(tt.registry+"/"+tt.repository, func(t *testing.T) {
			digests, tags := u.ForRepository(tt.registry, tt.repository)
			if diff := cmp.Diff(tt.wantDigests, digests); diff != "" {
				t.Errorf("digests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantTag, tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseECRHost checks that a host that parses names the same registry as its canonical host, with or without
// ":443" and in any case, and that SameRegistry is symmetric.
func FuzzParseECRHost(f *testing.F) {
	for _, s := range []string{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr-ecr.us-east-1.on.aws:443",
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
		"123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "docker.io", "localhost:5000", "a:443",
	} {
		f.Add(s, "123456789012.dkr.ecr.us-east-1.amazonaws.com")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if SameRegistry(a, b) != SameRegistry(b, a) {
			t.Fatalf("SameRegistry(%q, %q) is not symmetric", a, b)
		}
		r, ok := ParseECRHost(a)
		if !ok {
			return
		}
		if len(r.Account) != 12 || r.Region == "" {
			t.Fatalf("ParseECRHost(%q) = %+v", a, r)
		}
		canonical := r.Host()
		back, ok := ParseECRHost(canonical)
		if !ok || back.Account != r.Account || back.Region != r.Region || back.FIPS || back.DualStack {
			t.Fatalf("canonical host %q of %q parses to %+v, %v", canonical, a, back, ok)
		}
		for _, variant := range []string{canonical + ":443", strings.ToUpper(a), strings.TrimSuffix(a, ":443") + ":443"} {
			if !SameRegistry(a, variant) {
				t.Fatalf("SameRegistry(%q, %q) = false", a, variant)
			}
		}
		if ref, err := ParseImageRef(a + "/repo/app:v1"); err == nil && !ref.InRegistry(canonical) {
			t.Fatalf("reference through %q is not in registry %q", a, canonical)
		}
	})
}
