package findings

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Source says which scanner reported a finding.
type Source string

// Scanners.
const (
	// SourceBasic is ECR basic scanning.
	SourceBasic Source = "basic"
	// SourceEnhanced is ECR enhanced scanning (Amazon Inspector).
	SourceEnhanced Source = "enhanced"
)

// UnknownID is the id given to a finding the scanner reported without a
// vulnerability id; such findings still alert, merged under this id.
const UnknownID = "UNKNOWN"

// Package is one installed package affected by a vulnerability.
type Package struct {
	// Name is the package name, such as openssl.
	Name string `json:"name"`
	// InstalledVersion is the version found in the image.
	InstalledVersion string `json:"installedVersion,omitempty"`
	// FixedVersion is the first version with a fix; empty when none is
	// known (basic scanning never reports one).
	FixedVersion string `json:"fixedVersion,omitempty"`
}

// Finding is one vulnerability in one image, with every package it affects.
type Finding struct {
	// ID is the vulnerability id: CVE-…, GHSA-…, ALAS-….
	ID string `json:"id"`
	// Severity is the scanner's severity, upper case; the highest one when
	// several reports of the id were merged.
	Severity policy.Severity `json:"severity"`
	// Packages are the affected packages, sorted by name then version.
	Packages []Package `json:"packages,omitempty"`
	// Title is a one-line summary (Inspector's title, or the start of the
	// basic scanner's description).
	Title string `json:"title,omitempty"`
	// URI links to details about the vulnerability.
	URI string `json:"uri,omitempty"`
	// Score is the Inspector score or the CVSS base score; 0 when unknown.
	Score float64 `json:"score,omitempty"`
	// Source is the scanner that reported it.
	Source Source `json:"source"`
}

// Fixable reports whether a fixed version is known for any affected package.
func (f Finding) Fixable() bool {
	for _, p := range f.Packages {
		if p.FixedVersion != "" {
			return true
		}
	}
	return false
}

// maxTitle bounds Title; basic-scanning descriptions run to paragraphs.
const maxTitle = 200

// FromBasic converts basic-scanning findings (DescribeImageScanFindings
// imageScanFindings.findings). Package name and version come from the
// package_name and package_version attributes, the score from CVSS3_SCORE or
// else CVSS2_SCORE (strings such as "7.5"; an unparseable score is 0). ECR's
// UNDEFINED severity is kept; it ranks below every threshold. Findings that
// share an id are merged.
func FromBasic(in []ecrtypes.ImageScanFinding) []Finding {
	out := make([]Finding, 0, len(in))
	for _, sf := range in {
		f := Finding{
			ID:       idOrUnknown(deref(sf.Name)),
			Severity: normSeverity(string(sf.Severity)),
			Title:    firstLine(deref(sf.Description)),
			URI:      strings.TrimSpace(deref(sf.Uri)),
			Source:   SourceBasic,
		}
		var pkg Package
		var cvss2, cvss3 string
		for _, a := range sf.Attributes {
			v := strings.TrimSpace(deref(a.Value))
			switch deref(a.Key) {
			case "package_name":
				pkg.Name = v
			case "package_version":
				pkg.InstalledVersion = v
			case "CVSS3_SCORE":
				cvss3 = v
			case "CVSS2_SCORE":
				cvss2 = v
			}
		}
		if pkg != (Package{}) {
			f.Packages = []Package{pkg}
		}
		f.Score = parseScore(cvss3)
		if f.Score == 0 {
			f.Score = parseScore(cvss2)
		}
		out = append(out, f)
	}
	return Merge(out)
}

// FromEnhanced converts enhanced-scanning findings (DescribeImageScanFindings
// imageScanFindings.enhancedFindings). Only ACTIVE findings are kept (a
// finding without a status counts as active); SUPPRESSED and CLOSED ones
// never alert. The id is packageVulnerabilityDetails.vulnerabilityId; the
// packages are its vulnerablePackages (Inspector's "NotAvailable" fixed
// version becomes empty); the link is sourceUrl, else the remediation URL,
// else the first reference URL; the score is Inspector's score, else the
// CVSS score. Findings that share an id are merged.
func FromEnhanced(in []ecrtypes.EnhancedImageScanFinding) []Finding {
	out := make([]Finding, 0, len(in))
	for _, ef := range in {
		if s := strings.ToUpper(strings.TrimSpace(deref(ef.Status))); s != "" && s != "ACTIVE" {
			continue
		}
		f := Finding{
			Severity: normSeverity(deref(ef.Severity)),
			Title:    firstLine(deref(ef.Title)),
			Score:    ef.Score,
			Source:   SourceEnhanced,
		}
		if d := ef.PackageVulnerabilityDetails; d != nil {
			f.ID = deref(d.VulnerabilityId)
			f.URI = strings.TrimSpace(deref(d.SourceUrl))
			for _, vp := range d.VulnerablePackages {
				fixed := strings.TrimSpace(deref(vp.FixedInVersion))
				if strings.EqualFold(fixed, "NotAvailable") {
					fixed = ""
				}
				f.Packages = append(f.Packages, Package{
					Name:             strings.TrimSpace(deref(vp.Name)),
					InstalledVersion: strings.TrimSpace(deref(vp.Version)),
					FixedVersion:     fixed,
				})
			}
			if f.URI == "" && ef.Remediation != nil && ef.Remediation.Recommendation != nil {
				f.URI = strings.TrimSpace(deref(ef.Remediation.Recommendation.Url))
			}
			if f.URI == "" && len(d.ReferenceUrls) > 0 {
				f.URI = strings.TrimSpace(d.ReferenceUrls[0])
			}
			if f.Score == 0 {
				for _, c := range d.Cvss {
					if c.BaseScore > f.Score {
						f.Score = c.BaseScore
					}
				}
			}
		}
		if f.Score == 0 && ef.ScoreDetails != nil && ef.ScoreDetails.Cvss != nil {
			f.Score = ef.ScoreDetails.Cvss.Score
		}
		f.ID = idOrUnknown(f.ID)
		out = append(out, f)
	}
	return Merge(out)
}

// Merge combines findings that share an id (compared case-insensitively;
// the first spelling is kept) into one: the union of their packages (sorted, without
// duplicates), the highest severity and score, and the title, link and source
// of the most severe report (the first one on a tie). The result is sorted by
// id. Merge does not modify its input.
func Merge(fs []Finding) []Finding {
	byID := make(map[string]int, len(fs))
	out := make([]Finding, 0, len(fs))
	keys := make([]string, 0, len(fs))
	for _, f := range fs {
		f.ID = idOrUnknown(f.ID)
		key := idKey(f.ID)
		i, seen := byID[key]
		if !seen {
			byID[key] = len(out)
			f.Packages = slices.Clone(f.Packages)
			out = append(out, f)
			keys = append(keys, key)
			continue
		}
		m := &out[i]
		m.Packages = append(m.Packages, f.Packages...)
		if f.Severity.Rank() > m.Severity.Rank() || (f.Severity.Rank() == m.Severity.Rank() && f.Score > m.Score) {
			m.Severity, m.Title, m.URI, m.Source = f.Severity, f.Title, f.URI, f.Source
		}
		if m.Title == "" {
			m.Title = f.Title
		}
		if m.URI == "" {
			m.URI = f.URI
		}
		m.Score = max(m.Score, f.Score)
	}
	order := make([]int, len(out))
	for i := range out {
		out[i].Packages = sortPackages(out[i].Packages)
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	sorted := make([]Finding, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	return sorted
}

func sortPackages(ps []Package) []Package {
	if len(ps) < 2 {
		return ps
	}
	slices.SortFunc(ps, func(a, b Package) int {
		return cmp.Or(
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.InstalledVersion, b.InstalledVersion),
			strings.Compare(a.FixedVersion, b.FixedVersion),
		)
	})
	return slices.Compact(ps)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func idOrUnknown(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return UnknownID
	}
	return id
}

// idKey is the case-insensitive identity of a vulnerability id.
func idKey(id string) string {
	return strings.ToUpper(idOrUnknown(id))
}

func normSeverity(s string) policy.Severity {
	return policy.Severity(strings.ToUpper(strings.TrimSpace(s)))
}

func parseScore(s string) float64 {
	if s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 10) { // also refuses NaN
		return 0
	}
	return v
}

// firstLine returns the first non-empty line of s, at most maxTitle runes.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if n := 0; len(s) > maxTitle {
		for i := range s {
			if n == maxTitle-1 {
				return s[:i] + "…"
			}
			n++
		}
	}
	return s
}
