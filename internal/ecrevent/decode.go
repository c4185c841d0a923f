package ecrevent

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// ImageAction is the normalized content of an "ECR Image Action" event.
type ImageAction struct {
	EventID    string
	Account    string
	Region     string
	Time       time.Time
	ActionType string // PUSH, DELETE or UPDATE_STORAGE_CLASS
	Result     string // SUCCESS for a completed action
	Repository string
	Digest     string
	// Tag is the single tag of the event; empty for a push by digest and for
	// UPDATE_STORAGE_CLASS, which carries no image-tag.
	Tag string
}

// Scan is the normalized content of a basic ("ECR Image Scan") or enhanced
// ("Inspector2 Scan") scan result.
type Scan struct {
	EventID    string
	Account    string
	Region     string
	Time       time.Time
	Repository string // the name, also for Inspector2 Scan whose event carries the ARN
	Digest     string
	Tags       []string
	Status     string // COMPLETE or FAILED (basic); INITIAL_SCAN_COMPLETE (enhanced)
	// SeverityCounts holds the counts as sent; an absent severity means zero.
	// Enhanced scans add TOTAL, which also counts severities they do not list.
	SeverityCounts map[string]int64
	Enhanced       bool
	// RepositoryARN is the repository ARN an "Inspector2 Scan" names in
	// detail.repository-name; zero for a basic scan, which names only the
	// repository. Its account and Region are checked like the envelope's.
	RepositoryARN RepositoryARN
}

// Finding is the normalized content of an "Inspector2 Finding" event about an ECR image.
type Finding struct {
	EventID    string
	Account    string
	Region     string
	Time       time.Time
	Repository string
	Digest     string
	Tags       []string
	// RepositoryARN is the repository part of the ECR image resource id;
	// its account and Region are checked like the envelope's.
	RepositoryARN   RepositoryARN
	FindingARN      string
	VulnerabilityID string // CVE or vendor id; empty for findings that are not package vulnerabilities
	Severity        string // INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL or UNTRIAGED
	Status          string // ACTIVE, SUPPRESSED or CLOSED
	Type            string // PACKAGE_VULNERABILITY for ECR images
	Title           string
	FixAvailable    string // YES, NO or PARTIAL; empty in older events
	InspectorScore  float64
	Packages        []Package
	// UpdatedAt is detail.updatedAt parsed in any documented format; zero when it
	// cannot be parsed, so decoding never depends on it.
	UpdatedAt time.Time
}

// Package is a vulnerable package of a finding.
type Package struct {
	Name           string
	Version        string
	FixedInVersion string
}

func requireKind(raw []byte, want ...Kind) (Kind, error) {
	k, reason, err := ClassifyWithReason(raw)
	if err != nil {
		return k, err
	}
	if !slices.Contains(want, k) {
		return k, fmt.Errorf("%w: want %v, got %v (%s)", ErrWrongKind, want, k, reason)
	}
	return k, nil
}

// DecodeImageAction decodes an "ECR Image Action" event of kind KindPush,
// KindPushFailure, KindDelete or KindStorageClass with aws-lambda-go's
// events.ECRImageActionEvent, and validates repository, digest and tag.
func DecodeImageAction(raw []byte) (ImageAction, error) {
	k, err := requireKind(raw, KindPush, KindPushFailure, KindDelete, KindStorageClass)
	if err != nil {
		return ImageAction{}, err
	}
	return decodeImageAction(raw, k)
}

// decodeImageAction decodes an "ECR Image Action" event already classified as k.
func decodeImageAction(raw []byte, k Kind) (ImageAction, error) {
	var ev events.ECRImageActionEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ImageAction{}, fmt.Errorf("%w: decode %s: %w", ErrMalformedEvent, DetailTypeImageAction, err)
	}
	d := ev.Detail
	if err := CheckRepositoryName(d.RepositoryName); err != nil {
		return ImageAction{}, fmt.Errorf("%s: %w", DetailTypeImageAction, err)
	}
	// A failed push may not have produced a digest; every other action names one.
	if k != KindPushFailure || d.ImageDigest != "" {
		if err := CheckDigest(d.ImageDigest); err != nil {
			return ImageAction{}, fmt.Errorf("%s in %s: %w", DetailTypeImageAction, d.RepositoryName, err)
		}
	}
	if d.ImageTag != "" {
		if err := CheckTag(d.ImageTag); err != nil {
			return ImageAction{}, fmt.Errorf("%s in %s: %w", DetailTypeImageAction, d.RepositoryName, err)
		}
	}
	return ImageAction{
		EventID:    ev.ID,
		Account:    ev.Account,
		Region:     ev.Region,
		Time:       ev.Time,
		ActionType: d.ActionType,
		Result:     d.Result,
		Repository: d.RepositoryName,
		Digest:     d.ImageDigest,
		Tag:        d.ImageTag,
	}, nil
}

// DecodePush decodes an event of kind KindPush (a successful push).
func DecodePush(raw []byte) (ImageAction, error) {
	if _, err := requireKind(raw, KindPush); err != nil {
		return ImageAction{}, err
	}
	return decodeImageAction(raw, KindPush)
}

// DecodeScan decodes a scan result of kind KindBasicScan or KindInspectorScan.
func DecodeScan(raw []byte) (Scan, error) {
	k, err := requireKind(raw, KindBasicScan, KindInspectorScan)
	if err != nil {
		return Scan{}, err
	}
	var ev ScanEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Scan{}, fmt.Errorf("%w: decode %v event: %w", ErrMalformedEvent, k, err)
	}
	d := ev.Detail
	repository := d.RepositoryName
	var arn RepositoryARN
	if k == KindInspectorScan {
		if arn, err = ParseRepositoryARN(d.RepositoryName); err != nil {
			return Scan{}, fmt.Errorf("%s: %w", DetailTypeInspectorScan, err)
		}
		repository = arn.Name
	}
	if err := CheckRepositoryName(repository); err != nil {
		return Scan{}, fmt.Errorf("%s: %w", ev.DetailType, err)
	}
	if err := CheckDigest(d.ImageDigest); err != nil {
		return Scan{}, fmt.Errorf("%s in %s: %w", ev.DetailType, repository, err)
	}
	if d.ScanStatus == "" {
		return Scan{}, fmt.Errorf("%w: %s in %s has no scan-status", ErrMalformedEvent, ev.DetailType, repository)
	}
	counts := make(map[string]int64, len(d.FindingSeverityCounts))
	for severity, n := range d.FindingSeverityCounts {
		if n < 0 {
			return Scan{}, fmt.Errorf("%w: %s in %s: negative %s count %d", ErrMalformedEvent, ev.DetailType, repository, severity, n)
		}
		counts[severity] = n
	}
	return Scan{
		EventID:        ev.ID,
		Account:        ev.Account,
		Region:         ev.Region,
		Time:           ev.Time,
		Repository:     repository,
		Digest:         d.ImageDigest,
		Tags:           slices.Clone(d.ImageTags),
		Status:         d.ScanStatus,
		SeverityCounts: counts,
		Enhanced:       k == KindInspectorScan,
		RepositoryARN:  arn,
	}, nil
}

// DecodeFinding decodes an event of kind KindInspectorFinding. Repository and digest
// come from the ECR image resource id (split on the last "/sha256:") and must agree
// with the resource's awsEcrContainerImage details when those are present.
func DecodeFinding(raw []byte) (Finding, error) {
	if _, err := requireKind(raw, KindInspectorFinding); err != nil {
		return Finding{}, err
	}
	var ev FindingEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Finding{}, fmt.Errorf("%w: decode %s: %w", ErrMalformedEvent, DetailTypeInspectorFinding, err)
	}
	d := ev.Detail
	i := slices.IndexFunc(d.Resources, func(r FindingResource) bool { return r.Type == ResourceTypeECRImage })
	if i < 0 { // Classify found one; only a contrived payload (duplicate keys) gets here
		return Finding{}, fmt.Errorf("%w: %s has no %s resource", ErrMalformedEvent, DetailTypeInspectorFinding, ResourceTypeECRImage)
	}
	res := d.Resources[i]
	arn, digest, err := ParseImageResourceID(res.ID)
	if err != nil {
		return Finding{}, fmt.Errorf("%s %s: %w", DetailTypeInspectorFinding, d.FindingARN, err)
	}
	var tags []string
	if img := res.Details.AWSECRContainerImage; img != nil {
		if img.RepositoryName != arn.Name || img.ImageHash != digest {
			return Finding{}, fmt.Errorf("%w: %s %s: resource id names %s@%s but details name %s@%s",
				ErrMalformedEvent, DetailTypeInspectorFinding, d.FindingARN, arn.Name, digest, img.RepositoryName, img.ImageHash)
		}
		tags = img.ImageTags
	} else if img := res.Details.Image; img != nil {
		tags = img.ImageTags
	}
	if d.FindingARN == "" || d.Severity == "" || d.Status == "" {
		return Finding{}, fmt.Errorf("%w: %s on %s@%s lacks findingArn, severity or status", ErrMalformedEvent, DetailTypeInspectorFinding, arn.Name, digest)
	}
	f := Finding{
		EventID:       ev.ID,
		Account:       ev.Account,
		Region:        ev.Region,
		Time:          ev.Time,
		Repository:    arn.Name,
		Digest:        digest,
		Tags:          slices.Clone(tags),
		RepositoryARN: arn,
		FindingARN:    d.FindingARN,
		Severity:      d.Severity,
		Status:        d.Status,
		Type:          d.Type,
		Title:         d.Title,
		FixAvailable:  d.FixAvailable,
		UpdatedAt:     ParseInspectorTime(d.UpdatedAt),
	}
	if d.InspectorScore != nil {
		f.InspectorScore = *d.InspectorScore
	}
	if p := d.PackageVulnerabilityDetails; p != nil {
		f.VulnerabilityID = p.VulnerabilityID
		for _, vp := range p.VulnerablePackages {
			f.Packages = append(f.Packages, Package{Name: vp.Name, Version: vp.Version, FixedInVersion: vp.FixedInVersion})
		}
	}
	return f, nil
}

// inspectorTimeLayouts are the timestamp formats seen in Inspector2 Finding details.
var inspectorTimeLayouts = []string{
	InspectorTimeLayout,       // "Wed Sep 04 16:55:38.411 UTC 2024"
	"Jan 2, 2006, 3:04:05 PM", // "Dec 3, 2021, 6:02:30 PM"
	time.RFC3339Nano,
}

// InspectorTimeLayout is the layout of the timestamps inside current Inspector2
// Finding details ("Wed Sep 04 16:55:38.411 UTC 2024").
const InspectorTimeLayout = "Mon Jan 02 15:04:05.000 MST 2006"

// ParseInspectorTime parses a timestamp from an Inspector2 Finding detail in any
// documented format, in UTC; it returns the zero time when none fits.
func ParseInspectorTime(s string) time.Time {
	for _, layout := range inspectorTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
