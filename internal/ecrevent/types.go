package ecrevent

import (
	"encoding/json"
	"time"
)

// ScanEvent is an "ECR Image Scan" event (basic scanning) or an "Inspector2 Scan"
// event (enhanced scanning); both carry the same detail keys.
//
// It is ours rather than aws-lambda-go's events.ECRScanEvent because that type
// cannot reproduce what AWS sends: its severity counts are a struct of int64 fields
// without omitempty, so a decoded event marshals back with zero counts AWS never sent
// (AWS lists only the severities that have findings) and it has no room for
// Inspector's TOTAL; and its Time is a string while ECRImageActionEvent.Time is a
// time.Time. Decoding into events.ECRScanEvent works; re-emitting does not.
type ScanEvent struct {
	Version    string     `json:"version"`
	ID         string     `json:"id"`
	DetailType string     `json:"detail-type"`
	Source     string     `json:"source"`
	Account    string     `json:"account"`
	Time       time.Time  `json:"time"`
	Region     string     `json:"region"`
	Resources  []string   `json:"resources"`
	Detail     ScanDetail `json:"detail"`
}

// ScanDetail is the detail of a ScanEvent. For "Inspector2 Scan" RepositoryName is
// the full repository ARN, not the name; EC2 scans carry InstanceID and no image.
type ScanDetail struct {
	ScanStatus     string `json:"scan-status"`
	RepositoryName string `json:"repository-name,omitempty"`
	// FindingSeverityCounts holds the counts as sent: an absent severity means zero;
	// Inspector adds TOTAL, which also counts severities it does not list.
	FindingSeverityCounts map[string]int64 `json:"finding-severity-counts"`
	ImageDigest           string           `json:"image-digest,omitempty"`
	ImageTags             []string         `json:"image-tags,omitzero"`
	InstanceID            string           `json:"instance-id,omitempty"`
	// Version is the detail schema version ("1.0") of newer Inspector2 Scan events.
	Version string `json:"version,omitempty"`
}

// FindingEvent is an "Inspector2 Finding" event. aws-lambda-go has no type for
// Inspector2 events, so this one is ours; its JSON keys are the documented ones and
// it marshals back to the shape it was decoded from. Detail timestamps are kept as
// the strings Inspector sends: their format differs between documentation vintages
// ("Dec 3, 2021, 6:02:30 PM", "Wed Sep 04 16:55:38.411 UTC 2024").
type FindingEvent struct {
	Version    string        `json:"version"`
	ID         string        `json:"id"`
	DetailType string        `json:"detail-type"`
	Source     string        `json:"source"`
	Account    string        `json:"account"`
	Time       time.Time     `json:"time"`
	Region     string        `json:"region"`
	Resources  []string      `json:"resources"`
	Detail     FindingDetail `json:"detail"`
}

// FindingDetail is one Inspector finding. Details of resources and finding types
// ecrwarden does not act on (EC2, Lambda, network reachability, code) are kept raw.
type FindingDetail struct {
	AWSAccountID                string                       `json:"awsAccountId"`
	CodeVulnerabilityDetails    json.RawMessage              `json:"codeVulnerabilityDetails,omitempty"`
	Description                 string                       `json:"description"`
	EPSS                        *EPSS                        `json:"epss,omitempty"`
	ExploitAvailable            string                       `json:"exploitAvailable,omitempty"`
	ExploitabilityDetails       *ExploitabilityDetails       `json:"exploitabilityDetails,omitempty"`
	FindingARN                  string                       `json:"findingArn"`
	FirstObservedAt             string                       `json:"firstObservedAt"`
	FixAvailable                string                       `json:"fixAvailable,omitempty"`
	InspectorScore              *float64                     `json:"inspectorScore,omitempty"`
	InspectorScoreDetails       *InspectorScoreDetails       `json:"inspectorScoreDetails,omitempty"`
	LastObservedAt              string                       `json:"lastObservedAt"`
	NetworkReachabilityDetails  json.RawMessage              `json:"networkReachabilityDetails,omitempty"`
	PackageVulnerabilityDetails *PackageVulnerabilityDetails `json:"packageVulnerabilityDetails,omitempty"`
	Remediation                 *Remediation                 `json:"remediation,omitempty"`
	Resources                   []FindingResource            `json:"resources"`
	Severity                    string                       `json:"severity"`
	Status                      string                       `json:"status"`
	Title                       string                       `json:"title"`
	Type                        string                       `json:"type"`
	UpdatedAt                   string                       `json:"updatedAt"`
}

// EPSS is the Exploit Prediction Scoring System score of a finding.
type EPSS struct {
	Score float64 `json:"score"`
}

// ExploitabilityDetails says when an exploit was last seen.
type ExploitabilityDetails struct {
	LastKnownExploitAt string `json:"lastKnownExploitAt"`
}

// InspectorScoreDetails explains the Inspector score.
type InspectorScoreDetails struct {
	AdjustedCVSS *AdjustedCVSS `json:"adjustedCvss,omitempty"`
}

// AdjustedCVSS is the CVSS score Inspector adjusted for the resource.
type AdjustedCVSS struct {
	Adjustments   []CVSSAdjustment `json:"adjustments,omitzero"`
	CVSSSource    string           `json:"cvssSource"`
	Score         float64          `json:"score"`
	ScoreSource   string           `json:"scoreSource"`
	ScoringVector string           `json:"scoringVector"`
	Version       string           `json:"version"`
}

// CVSSAdjustment is one adjustment Inspector made to a CVSS score.
type CVSSAdjustment struct {
	Metric string `json:"metric"`
	Reason string `json:"reason"`
}

// PackageVulnerabilityDetails describes a vulnerability in software packages.
type PackageVulnerabilityDetails struct {
	CVSS                   []CVSSScore         `json:"cvss,omitzero"`
	ReferenceURLs          []string            `json:"referenceUrls,omitzero"`
	RelatedVulnerabilities []string            `json:"relatedVulnerabilities,omitzero"`
	Source                 string              `json:"source"`
	SourceURL              string              `json:"sourceUrl,omitempty"`
	VendorCreatedAt        string              `json:"vendorCreatedAt,omitempty"`
	VendorSeverity         string              `json:"vendorSeverity,omitempty"`
	VendorUpdatedAt        string              `json:"vendorUpdatedAt,omitempty"`
	VulnerabilityID        string              `json:"vulnerabilityId"`
	VulnerablePackages     []VulnerablePackage `json:"vulnerablePackages,omitzero"`
}

// CVSSScore is one CVSS score of a vulnerability.
type CVSSScore struct {
	BaseScore     float64 `json:"baseScore"`
	ScoringVector string  `json:"scoringVector"`
	Source        string  `json:"source"`
	Version       string  `json:"version"`
}

// VulnerablePackage is a package affected by a vulnerability.
type VulnerablePackage struct {
	Arch            string `json:"arch,omitempty"`
	Epoch           int64  `json:"epoch"`
	FilePath        string `json:"filePath,omitempty"`
	FixedInVersion  string `json:"fixedInVersion,omitempty"`
	Name            string `json:"name"`
	PackageManager  string `json:"packageManager"`
	Release         string `json:"release,omitempty"`
	Remediation     string `json:"remediation,omitempty"`
	SourceLayerHash string `json:"sourceLayerHash,omitempty"`
	Version         string `json:"version"`
}

// Remediation is Inspector's advice for a finding.
type Remediation struct {
	Recommendation Recommendation `json:"recommendation"`
}

// Recommendation is the text of a Remediation.
type Recommendation struct {
	Text string `json:"text"`
}

// FindingResource is a resource a finding is about. For an ECR image, Type is
// AWS_ECR_CONTAINER_IMAGE and ID is the repository ARN followed by "/sha256:<hex>".
type FindingResource struct {
	Details           ResourceDetails   `json:"details"`
	ID                string            `json:"id"`
	Partition         string            `json:"partition,omitempty"`
	Provider          string            `json:"provider,omitempty"`
	ProviderAccountID string            `json:"providerAccountId,omitempty"`
	ProviderOrgID     string            `json:"providerOrgId,omitempty"`
	Region            string            `json:"region,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
	Type              string            `json:"type"`
}

// ResourceDetails holds the per-type details of a FindingResource. Newer events
// carry the provider-agnostic Image next to AWSECRContainerImage.
type ResourceDetails struct {
	AWSECRContainerImage *ECRContainerImage `json:"awsEcrContainerImage,omitempty"`
	Image                *ContainerImage    `json:"image,omitempty"`
	AWSEC2Instance       json.RawMessage    `json:"awsEc2Instance,omitempty"`
	VM                   json.RawMessage    `json:"vm,omitempty"`
	AWSLambdaFunction    json.RawMessage    `json:"awsLambdaFunction,omitempty"`
	ServerlessFunction   json.RawMessage    `json:"serverlessFunction,omitempty"`
}

// ECRContainerImage is the awsEcrContainerImage detail of a finding resource.
type ECRContainerImage struct {
	Architecture   string   `json:"architecture,omitempty"`
	Author         string   `json:"author,omitempty"`
	ImageHash      string   `json:"imageHash"`
	ImageTags      []string `json:"imageTags,omitzero"`
	Platform       string   `json:"platform,omitempty"`
	PushedAt       string   `json:"pushedAt,omitempty"`
	Registry       string   `json:"registry"`
	RepositoryName string   `json:"repositoryName"`
}

// ContainerImage is the provider-agnostic image detail of a finding resource.
type ContainerImage struct {
	RepositoryName string   `json:"repositoryName"`
	Registry       string   `json:"registry"`
	ImageTags      []string `json:"imageTags,omitzero"`
	ImageDigest    string   `json:"imageDigest"`
	PushedAt       string   `json:"pushedAt,omitempty"`
	Architecture   string   `json:"architecture,omitempty"`
	Author         string   `json:"author,omitempty"`
	Platform       string   `json:"platform,omitempty"`
}
