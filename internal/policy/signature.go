package policy

import "strings"

// Signature tag suffixes cosign (sigstore) gives the artifacts it attaches
// to an image when the registry has no referrers API: sha256-<hex>.sig for
// signatures, .att for attestations and .sbom for SBOMs.
var signatureSuffixes = []string{".sig", ".att", ".sbom"}

// SignatureSubject reports whether tag is a cosign tag-scheme artifact tag,
// sha256-<64 hex>.sig|.att|.sbom, and returns the digest of the image it is
// attached to (sha256:<hex>). Such tags are not release tags: gc keeps the
// artifact with its subject, and tag rules should not judge them.
func SignatureSubject(tag string) (digest string, ok bool) {
	rest, found := strings.CutPrefix(tag, "sha256-")
	if !found {
		return "", false
	}
	hex := ""
	for _, suffix := range signatureSuffixes {
		if h, cut := strings.CutSuffix(rest, suffix); cut {
			hex = h
			break
		}
	}
	if len(hex) != 64 {
		return "", false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return "sha256:" + hex, true
}
