package kube

import (
	"regexp"
	"strings"
)

// ECRRegistry identifies a private Amazon ECR registry: one account's registry in one Region. The same registry
// answers on several hosts — IPv4 and dual-stack, standard and FIPS, in each partition's DNS domain — and an image
// reference may name any of them (with or without the default https port).
type ECRRegistry struct {
	// Account is the 12-digit registry id.
	Account string
	// Region is the Region code, e.g. "ap-southeast-1".
	Region string
	// FIPS and DualStack say which endpoint the host named; they do not change the registry.
	FIPS, DualStack bool
}

// ecrPartition is one AWS partition's registry domains: the IPv4 endpoint's (dkr.ecr.<region>.<dnsSuffix>) and the
// dual-stack endpoint's (dkr-ecr.<region>.<dualStackSuffix>). The suffixes and region expressions are those of the
// SDK's partitions.json (aws-sdk-go-v2 internal/endpoints/awsrulesfn), where the dual-stack API suffix "api.X"
// becomes the registry's "on.X" ("Making requests to Amazon ECR registries": <registry-id>.dkr-ecr.<region>.on.aws).
type ecrPartition struct {
	region     *regexp.Regexp
	dnsSuffix  string
	dualSuffix string
}

var ecrPartitions = []ecrPartition{
	{regexp.MustCompile(`^cn-\w+-\d+$`), "amazonaws.com.cn", "on.amazonwebservices.com.cn"},
	{regexp.MustCompile(`^eusc-(de)-\w+-\d+$`), "amazonaws.eu", "on.amazonwebservices.eu"},
	{regexp.MustCompile(`^us-iso-\w+-\d+$`), "c2s.ic.gov", "on.aws.ic.gov"},
	{regexp.MustCompile(`^us-isob-\w+-\d+$`), "sc2s.sgov.gov", "on.aws.scloud"},
	{regexp.MustCompile(`^eu-isoe-\w+-\d+$`), "cloud.adc-e.uk", "on.cloud-aws.adc-e.uk"},
	{regexp.MustCompile(`^us-isof-\w+-\d+$`), "csp.hci.ic.gov", "on.aws.hci.ic.gov"},
	{regexp.MustCompile(`^us-gov-\w+-\d+$`), "amazonaws.com", "on.aws"},
	// aws, and any other Region, as the SDK resolves an unknown Region in the aws partition.
	{regexp.MustCompile(`^[a-z]{2,4}-\w+-\d+$`), "amazonaws.com", "on.aws"},
}

// ecrHostRegexp splits <account>.dkr.ecr[-fips].<region>.<suffix> and <account>.dkr-ecr[-fips].<region>.<suffix>.
var ecrHostRegexp = regexp.MustCompile(`^([0-9]{12})\.(dkr\.ecr|dkr-ecr)(-fips)?\.([a-z0-9-]+)\.([a-z0-9.-]+)$`)

// partitionOf returns the partition of region.
func partitionOf(region string) (ecrPartition, bool) {
	for _, p := range ecrPartitions {
		if p.region.MatchString(region) {
			return p, true
		}
	}
	return ecrPartition{}, false
}

// ParseECRHost parses a registry host, case-insensitively, with an optional ":443": the IPv4 endpoint
// <account>.dkr.ecr.<region>.<domain>, the FIPS endpoint <account>.dkr.ecr-fips.<region>.<domain>, and their
// dual-stack forms <account>.dkr-ecr[-fips].<region>.<dual-stack domain>, where the domains are those of the
// Region's partition (amazonaws.com and on.aws; amazonaws.com.cn and on.amazonwebservices.com.cn in China; …).
// Any other port, a domain of another partition, or any other host is not an ECR registry.
func ParseECRHost(host string) (ECRRegistry, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, ":443"))
	m := ecrHostRegexp.FindStringSubmatch(h)
	if m == nil {
		return ECRRegistry{}, false
	}
	r := ECRRegistry{Account: m[1], Region: m[4], FIPS: m[3] != "", DualStack: m[2] == "dkr-ecr"}
	p, ok := partitionOf(r.Region)
	if !ok {
		return ECRRegistry{}, false
	}
	want := p.dnsSuffix
	if r.DualStack {
		want = p.dualSuffix
	}
	if m[5] != want {
		return ECRRegistry{}, false
	}
	return r, true
}

// Host returns the registry's IPv4, non-FIPS host, <account>.dkr.ecr.<region>.<domain>: the form ecrwarden writes.
func (r ECRRegistry) Host() string {
	p, _ := partitionOf(r.Region)
	if p.dnsSuffix == "" {
		p.dnsSuffix = "amazonaws.com"
	}
	return r.Account + ".dkr.ecr." + r.Region + "." + p.dnsSuffix
}

// SameRegistry reports whether the registry hosts a and b name the same registry: one ECR registry through any of
// its endpoints, or else the same host (case-insensitive, ":443" being the https default).
func SameRegistry(a, b string) bool {
	ra, okA := ParseECRHost(a)
	rb, okB := ParseECRHost(b)
	if okA || okB {
		return okA && okB && ra.Account == rb.Account && ra.Region == rb.Region
	}
	return strings.EqualFold(strings.TrimSuffix(a, ":443"), strings.TrimSuffix(b, ":443"))
}

// InRegistry reports whether r names an image in registryHost's registry (see SameRegistry).
func (r Ref) InRegistry(registryHost string) bool { return SameRegistry(r.Registry, registryHost) }
