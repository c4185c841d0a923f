package ecrevent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// EnvelopeInput holds the envelope fields of an event to emit.
type EnvelopeInput struct {
	// ID is the event id; a random UUID when empty.
	ID string
	// Account is the 12-digit AWS account id.
	Account string
	// Region is the AWS Region, such as ap-southeast-1.
	Region string
	// Time is the event time, sent in RFC 3339 at second precision; now when zero.
	Time time.Time
	// Partition is the ARN partition; "aws" when empty.
	Partition string
}

func (e EnvelopeInput) normalize() (EnvelopeInput, error) {
	if len(e.Account) != 12 || strings.Trim(e.Account, "0123456789") != "" {
		return e, fmt.Errorf("account %q is not a 12-digit AWS account id", e.Account)
	}
	if e.Region == "" {
		return e, fmt.Errorf("region is empty")
	}
	if e.ID == "" {
		e.ID = newEventID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Second)
	if e.Partition == "" {
		e.Partition = "aws"
	}
	return e, nil
}

func (e EnvelopeInput) repositoryARN(name string) RepositoryARN {
	return RepositoryARN{Partition: e.Partition, Region: e.Region, Account: e.Account, Name: name}
}

// newEventID returns a random UUID-shaped event id.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ImageActionInput describes an "ECR Image Action" event to emit.
type ImageActionInput struct {
	EnvelopeInput
	Repository string
	Digest     string
	// Tag is the pushed or deleted tag; empty for a push or delete by digest.
	Tag string
}

// checkImageAction validates the envelope, repository and digest of an
// "ECR Image Action" event of action, and returns the normalized envelope.
func checkImageAction(e EnvelopeInput, repository, digest, action string) (EnvelopeInput, error) {
	env, err := e.normalize()
	if err == nil {
		err = CheckRepositoryName(repository)
	}
	if err == nil {
		err = CheckDigest(digest)
	}
	if err != nil {
		return env, fmt.Errorf("emit %s %s: %w", DetailTypeImageAction, action, err)
	}
	return env, nil
}

func newImageActionEvent(in ImageActionInput, action, result string) ([]byte, error) {
	env, err := checkImageAction(in.EnvelopeInput, in.Repository, in.Digest, action)
	if err != nil {
		return nil, err
	}
	if in.Tag != "" {
		if err := CheckTag(in.Tag); err != nil {
			return nil, fmt.Errorf("emit %s %s: %w", DetailTypeImageAction, action, err)
		}
	}
	ev := events.ECRImageActionEvent{
		Version:    "0",
		ID:         env.ID,
		DetailType: DetailTypeImageAction,
		Source:     SourceECR,
		Account:    env.Account,
		Time:       env.Time,
		Region:     env.Region,
		Resources:  []string{},
		Detail: events.ECRImageActionEventDetailType{
			Result:         result,
			RepositoryName: in.Repository,
			ImageDigest:    in.Digest,
			ActionType:     action,
			ImageTag:       in.Tag,
		},
	}
	return json.Marshal(ev)
}

// NewPushEvent returns the "ECR Image Action" event ECR sends after a successful push.
func NewPushEvent(in ImageActionInput) ([]byte, error) {
	return newImageActionEvent(in, "PUSH", "SUCCESS")
}

// NewPushFailureEvent returns an "ECR Image Action" PUSH event with result FAILURE.
// This shape is not documented by AWS; it is the push shape with another result.
func NewPushFailureEvent(in ImageActionInput) ([]byte, error) {
	return newImageActionEvent(in, "PUSH", "FAILURE")
}

// NewDeleteEvent returns the "ECR Image Action" event ECR sends after an image is deleted.
func NewDeleteEvent(in ImageActionInput) ([]byte, error) {
	return newImageActionEvent(in, "DELETE", "SUCCESS")
}

// StorageClassInput describes an "ECR Image Action" UPDATE_STORAGE_CLASS
// event: an image archived (TargetStorageClass ARCHIVE) or restored
// (STANDARD).
type StorageClassInput struct {
	EnvelopeInput
	Repository string
	Digest     string
	// TargetStorageClass is ARCHIVE or STANDARD.
	TargetStorageClass string
	// ManifestMediaType and ArtifactMediaType describe the image.
	ManifestMediaType, ArtifactMediaType string
	// LastActivatedAt is when a restore completed; zero for an archival.
	LastActivatedAt time.Time
}

// storageClassDetail is the detail of an UPDATE_STORAGE_CLASS event, in the
// shape of the ECR user guide's samples ("Event for an image archival
// action", "Event for an image restore action"). events.ECRImageActionEvent
// has no field for target-storage-class or last-activated-at, so it cannot
// write this event.
type storageClassDetail struct {
	ActionType         string `json:"action-type"`
	TargetStorageClass string `json:"target-storage-class"`
	ImageDigest        string `json:"image-digest"`
	RepositoryName     string `json:"repository-name"`
	Result             string `json:"result"`
	ManifestMediaType  string `json:"manifest-media-type,omitempty"`
	ArtifactMediaType  string `json:"artifact-media-type,omitempty"`
	LastActivatedAt    string `json:"last-activated-at,omitempty"`
}

// NewStorageClassEvent returns the "ECR Image Action" event ECR sends after
// an image is archived or restored. It carries no image-tag.
func NewStorageClassEvent(in StorageClassInput) ([]byte, error) {
	const action = "UPDATE_STORAGE_CLASS"
	env, err := checkImageAction(in.EnvelopeInput, in.Repository, in.Digest, action)
	if err != nil {
		return nil, err
	}
	if in.TargetStorageClass != "ARCHIVE" && in.TargetStorageClass != "STANDARD" {
		return nil, fmt.Errorf("emit %s %s: target storage class %q: want ARCHIVE or STANDARD", DetailTypeImageAction, action, in.TargetStorageClass)
	}
	d := storageClassDetail{
		ActionType: action, TargetStorageClass: in.TargetStorageClass, ImageDigest: in.Digest,
		RepositoryName: in.Repository, Result: "SUCCESS",
		ManifestMediaType: in.ManifestMediaType, ArtifactMediaType: in.ArtifactMediaType,
	}
	if !in.LastActivatedAt.IsZero() {
		d.LastActivatedAt = in.LastActivatedAt.UTC().Format(time.RFC3339Nano)
	}
	detail, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("emit %s %s: %w", DetailTypeImageAction, action, err)
	}
	return json.Marshal(events.CloudWatchEvent{
		Version: "0", ID: env.ID, DetailType: DetailTypeImageAction, Source: SourceECR,
		AccountID: env.Account, Time: env.Time, Region: env.Region, Resources: []string{}, Detail: detail,
	})
}

// ScanInput describes a scan result event to emit.
type ScanInput struct {
	EnvelopeInput
	Repository string
	Digest     string
	Tags       []string
	// Status is the scan-status; COMPLETE (basic) or INITIAL_SCAN_COMPLETE
	// (enhanced) when empty.
	Status string
	// SeverityCounts maps severities (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL,
	// UNDEFINED, UNTRIAGED) to finding counts.
	SeverityCounts map[string]int64
}

func (in ScanInput) check(detailType string) (EnvelopeInput, error) {
	env, err := in.normalize()
	if err != nil {
		return env, fmt.Errorf("emit %s: %w", detailType, err)
	}
	if err := CheckRepositoryName(in.Repository); err != nil {
		return env, fmt.Errorf("emit %s: %w", detailType, err)
	}
	if err := CheckDigest(in.Digest); err != nil {
		return env, fmt.Errorf("emit %s: %w", detailType, err)
	}
	for severity, n := range in.SeverityCounts {
		if n < 0 {
			return env, fmt.Errorf("emit %s: negative %s count %d", detailType, severity, n)
		}
	}
	return env, nil
}

func tagsOrEmpty(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return slices.Clone(tags)
}

// NewBasicScanEvent returns the "ECR Image Scan" event of basic scanning. As ECR
// does, it lists only the severities that have findings.
func NewBasicScanEvent(in ScanInput) ([]byte, error) {
	env, err := in.check(DetailTypeImageScan)
	if err != nil {
		return nil, err
	}
	status := in.Status
	if status == "" {
		status = "COMPLETE"
	}
	counts := map[string]int64{}
	for severity, n := range in.SeverityCounts {
		if n > 0 {
			counts[severity] = n
		}
	}
	ev := ScanEvent{
		Version:    "0",
		ID:         env.ID,
		DetailType: DetailTypeImageScan,
		Source:     SourceECR,
		Account:    env.Account,
		Time:       env.Time,
		Region:     env.Region,
		Resources:  []string{env.repositoryARN(in.Repository).String()},
		Detail: ScanDetail{
			ScanStatus:            status,
			RepositoryName:        in.Repository,
			FindingSeverityCounts: counts,
			ImageDigest:           in.Digest,
			ImageTags:             tagsOrEmpty(in.Tags),
		},
	}
	return json.Marshal(ev)
}

// NewInspectorScanEvent returns the "Inspector2 Scan" event Amazon Inspector sends
// when the initial enhanced scan of an image completes, in the current documented
// shape: repository-name is the repository ARN, the counts always list CRITICAL,
// HIGH and MEDIUM, and TOTAL counts every severity (LOW, INFORMATIONAL and
// UNTRIAGED appear only in TOTAL) unless SeverityCounts sets TOTAL itself.
func NewInspectorScanEvent(in ScanInput) ([]byte, error) {
	env, err := in.check(DetailTypeInspectorScan)
	if err != nil {
		return nil, err
	}
	status := in.Status
	if status == "" {
		status = "INITIAL_SCAN_COMPLETE"
	}
	counts := map[string]int64{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0}
	var total int64
	for _, severity := range slices.Sorted(maps.Keys(in.SeverityCounts)) {
		n := in.SeverityCounts[severity]
		switch severity {
		case "TOTAL":
			continue
		case "CRITICAL", "HIGH", "MEDIUM":
			counts[severity] = n
		}
		total += n
	}
	if n, ok := in.SeverityCounts["TOTAL"]; ok {
		total = n
	}
	counts["TOTAL"] = total
	arn := env.repositoryARN(in.Repository).String()
	ev := ScanEvent{
		Version:    "0",
		ID:         env.ID,
		DetailType: DetailTypeInspectorScan,
		Source:     SourceInspector2,
		Account:    env.Account,
		Time:       env.Time,
		Region:     env.Region,
		Resources:  []string{arn},
		Detail: ScanDetail{
			ScanStatus:            status,
			RepositoryName:        arn,
			FindingSeverityCounts: counts,
			ImageDigest:           in.Digest,
			ImageTags:             tagsOrEmpty(in.Tags),
			Version:               "1.0",
		},
	}
	return json.Marshal(ev)
}

// FindingInput describes an "Inspector2 Finding" event about an ECR image to emit.
type FindingInput struct {
	EnvelopeInput
	Repository string
	Digest     string
	Tags       []string
	// PushedAt is when the image was pushed; the event time when zero.
	PushedAt time.Time
	// Architecture and Platform describe the image ("amd64", "UBUNTU_24_04").
	Architecture string
	Platform     string

	// FindingID is the last part of the finding ARN; random when empty.
	FindingID       string
	VulnerabilityID string
	// Severity is INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL or UNTRIAGED.
	Severity string
	// Status is ACTIVE, SUPPRESSED or CLOSED; ACTIVE when empty.
	Status      string
	Title       string // "<VulnerabilityID> - <package names>" when empty
	Description string
	// FirstObservedAt is when Inspector first saw the finding; the event time when zero.
	FirstObservedAt time.Time
	// Source, SourceURL, VendorSeverity, VendorCreatedAt, ReferenceURLs and
	// RelatedVulnerabilities describe the vulnerability as its vendor does.
	Source                 string
	SourceURL              string
	VendorSeverity         string
	VendorCreatedAt        time.Time
	ReferenceURLs          []string
	RelatedVulnerabilities []string
	CVSS                   []CVSSScore
	Packages               []VulnerablePackage
	FixAvailable           string // YES, NO or PARTIAL
	ExploitAvailable       string // YES or NO
	EPSSScore              float64
	Remediation            string // "None Provided" when empty
}

// NewInspectorFindingEvent returns the "Inspector2 Finding" event Amazon Inspector
// sends when a finding on an ECR image is created, updated or closed, in the current
// documented shape (Inspector User Guide, "Amazon ECR package vulnerability finding").
func NewInspectorFindingEvent(in FindingInput) ([]byte, error) {
	env, err := in.normalize()
	if err != nil {
		return nil, fmt.Errorf("emit %s: %w", DetailTypeInspectorFinding, err)
	}
	if err := CheckRepositoryName(in.Repository); err != nil {
		return nil, fmt.Errorf("emit %s: %w", DetailTypeInspectorFinding, err)
	}
	if err := CheckDigest(in.Digest); err != nil {
		return nil, fmt.Errorf("emit %s: %w", DetailTypeInspectorFinding, err)
	}
	if in.VulnerabilityID == "" || in.Severity == "" {
		return nil, fmt.Errorf("emit %s: vulnerability id and severity are required", DetailTypeInspectorFinding)
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			t = env.Time
		}
		return t.UTC().Format(InspectorTimeLayout)
	}
	findingID := in.FindingID
	if findingID == "" {
		findingID = strings.ReplaceAll(newEventID(), "-", "")
	}
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	title := in.Title
	if title == "" {
		names := make([]string, 0, len(in.Packages))
		for _, p := range in.Packages {
			names = append(names, p.Name)
		}
		title = in.VulnerabilityID + " - " + strings.Join(names, ", ")
	}
	remediation := in.Remediation
	if remediation == "" {
		remediation = "None Provided"
	}
	arn := env.repositoryARN(in.Repository).String()
	resourceID := arn + "/" + in.Digest
	tags := tagsOrEmpty(in.Tags)
	pushedAt := at(in.PushedAt)
	cvss := in.CVSS
	if cvss == nil {
		cvss = []CVSSScore{}
	}
	ev := FindingEvent{
		Version:    "0",
		ID:         env.ID,
		DetailType: DetailTypeInspectorFinding,
		Source:     SourceInspector2,
		Account:    env.Account,
		Time:       env.Time,
		Region:     env.Region,
		Resources:  []string{resourceID},
		Detail: FindingDetail{
			AWSAccountID:     env.Account,
			Description:      in.Description,
			EPSS:             &EPSS{Score: in.EPSSScore},
			ExploitAvailable: in.ExploitAvailable,
			FindingARN:       "arn:" + env.Partition + ":inspector2:" + env.Region + ":" + env.Account + ":finding/" + findingID,
			FirstObservedAt:  at(in.FirstObservedAt),
			FixAvailable:     in.FixAvailable,
			LastObservedAt:   at(time.Time{}),
			PackageVulnerabilityDetails: &PackageVulnerabilityDetails{
				CVSS:                   cvss,
				ReferenceURLs:          tagsOrEmpty(in.ReferenceURLs),
				RelatedVulnerabilities: tagsOrEmpty(in.RelatedVulnerabilities),
				Source:                 in.Source,
				SourceURL:              in.SourceURL,
				VendorCreatedAt:        formatIfSet(in.VendorCreatedAt),
				VendorSeverity:         in.VendorSeverity,
				VulnerabilityID:        in.VulnerabilityID,
				VulnerablePackages:     slices.Clone(in.Packages),
			},
			Remediation: &Remediation{Recommendation: Recommendation{Text: remediation}},
			Resources: []FindingResource{{
				Details: ResourceDetails{
					AWSECRContainerImage: &ECRContainerImage{
						Architecture:   in.Architecture,
						ImageHash:      in.Digest,
						ImageTags:      tags,
						Platform:       in.Platform,
						PushedAt:       pushedAt,
						Registry:       env.Account,
						RepositoryName: in.Repository,
					},
					Image: &ContainerImage{
						RepositoryName: in.Repository,
						Registry:       env.Account,
						ImageTags:      slices.Clone(tags),
						ImageDigest:    in.Digest,
						PushedAt:       pushedAt,
						Architecture:   in.Architecture,
						Platform:       in.Platform,
					},
				},
				ID:                resourceID,
				Partition:         env.Partition,
				Provider:          "AWS",
				ProviderAccountID: env.Account,
				Region:            env.Region,
				Type:              ResourceTypeECRImage,
			}},
			Severity:  in.Severity,
			Status:    status,
			Title:     title,
			Type:      "PACKAGE_VULNERABILITY",
			UpdatedAt: at(time.Time{}),
		},
	}
	return json.Marshal(ev)
}

func formatIfSet(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(InspectorTimeLayout)
}
