package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Finding is one vulnerability a test seeds for an image. The emulator
// renders it as a basic finding (name, severity, uri, attributes) in a BASIC
// repository and as an Amazon Inspector finding (packageVulnerabilityDetails,
// fixAvailable, findingArn…) in an ENHANCED one.
type Finding struct {
	// Name is the vulnerability id, for example "CVE-2024-6119".
	Name string
	// Severity is CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL or UNDEFINED.
	Severity string
	// Description is the vulnerability description.
	Description string
	// URI is the advisory link (basic findings' uri, enhanced sourceUrl).
	URI string
	// PackageName and PackageVersion identify the vulnerable package.
	PackageName, PackageVersion string
	// FixedInVersion is the first fixed version; empty means no fix, so
	// enhanced findings say fixAvailable "NO".
	FixedInVersion string
	// CVSS2Score is the basic finding's CVSS2_SCORE attribute, a decimal
	// string such as "7.5".
	CVSS2Score string
	// Score is the enhanced finding's score (CVSS v3 base score).
	Score float64
	// Title is the enhanced finding's title; empty means "<Name> - <PackageName>".
	Title string
	// Remediation is the enhanced finding's recommendation text.
	Remediation string
}

// severities in the order ECR reports them.
var severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}

// seededScan is the result a scan of one digest will produce.
type seededScan struct {
	findings []Finding
	failed   bool
	reason   string
}

// scan is a completed scan of one image.
type scan struct {
	status      string
	description string
	completedAt time.Time
	findings    []Finding
	enhanced    bool
	// firstObserved holds when each finding (by name) was first seen.
	firstObserved map[string]time.Time
}

func severityCounts(fs []Finding) map[string]int32 {
	out := make(map[string]int32)
	for _, f := range fs {
		out[f.Severity]++
	}
	return out
}

// runScan scans im with its seeded result and emits the events AWS would:
// "ECR Image Scan" for basic scanning; "Inspector2 Scan" and one "Inspector2
// Finding" per finding for enhanced scanning. The caller holds s.mu.
func (s *Server) runScan(c *call, r *repository, im *image) {
	seed := r.findings[im.digest]
	if seed == nil {
		seed = &seededScan{}
	}
	now := s.now()
	sc := &scan{completedAt: now, findings: slices.Clone(seed.findings), enhanced: r.scanType == ScanEnhanced,
		firstObserved: make(map[string]time.Time)}
	for _, f := range sc.findings {
		sc.firstObserved[f.Name] = now
	}
	switch {
	case seed.failed:
		sc.status, sc.description, sc.findings = "FAILED", seed.reason, nil
	case sc.enhanced:
		sc.status, sc.description = "ACTIVE", "Continuous scan is selected for image."
	default:
		sc.status, sc.description = "COMPLETE", "The scan was completed successfully."
	}
	r.scans[im.digest] = sc
	if !sc.enhanced {
		c.events = append(c.events, s.basicScanEvent(r.name, im, sc))
		return
	}
	if sc.status == "FAILED" {
		// Inspector reports failed enhanced scans through the scan status
		// only; no event is modelled.
		return
	}
	c.events = append(c.events, s.inspectorScanEvent(r.name, im, sc))
	for _, f := range sc.findings {
		c.events = append(c.events, s.inspectorFindingEvent(r.name, im, f, sc.firstObserved[f.Name]))
	}
}

// SetFindings seeds the findings the next scan of digest in repo reports.
// The image need not exist yet: a test computes the digest of a manifest with
// [Digest] and seeds it before pushing. It replaces any seeded failure.
func (s *Server) SetFindings(repo, digest string, findings []Finding) error {
	for _, f := range findings {
		if !slices.Contains(severities, f.Severity) {
			return fmt.Errorf("finding %s: unknown severity %q", f.Name, f.Severity)
		}
		if f.Name == "" {
			return fmt.Errorf("finding without a name")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return fmt.Errorf("set findings in %s: repository not found", repo)
	}
	r.findings[digest] = &seededScan{findings: slices.Clone(findings)}
	return nil
}

// SetScanFailure makes the next scan of digest in repo fail with reason.
func (s *Server) SetScanFailure(repo, digest, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return fmt.Errorf("set scan failure in %s: repository not found", repo)
	}
	r.findings[digest] = &seededScan{failed: true, reason: reason}
	return nil
}

// scanStatuses are the statuses of DescribeImageScanFindings' imageScanStatus
// (the API reference's ScanStatus).
var scanStatuses = []string{"IN_PROGRESS", "COMPLETE", "FAILED", "UNSUPPORTED_IMAGE", "ACTIVE", "PENDING",
	"SCAN_ELIGIBILITY_EXPIRED", "FINDINGS_UNAVAILABLE", "LIMIT_EXCEEDED", "IMAGE_ARCHIVED"}

// SetScanStatus changes the status (and its description) that
// DescribeImageScanFindings and DescribeImages report for the scanned image
// digest, without an event: the scanner re-evaluating it (IN_PROGRESS),
// Inspector no longer having its findings (PENDING, FINDINGS_UNAVAILABLE)
// and the like, after the scan event went out. The findings are kept and
// still returned with every status but FAILED.
func (s *Server) SetScanStatus(repo, digest, status, description string) error {
	if !slices.Contains(scanStatuses, status) {
		return fmt.Errorf("set scan status: unknown status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return fmt.Errorf("set scan status in %s: repository not found", repo)
	}
	sc, ok := r.scans[digest]
	if !ok {
		return fmt.Errorf("set scan status of %s@%s: not scanned", repo, digest)
	}
	sc.status, sc.description = status, description
	return nil
}

// Rescan simulates the scanner re-evaluating an already scanned image
// against findings (new CVE data). In an ENHANCED repository it emits one
// "Inspector2 Finding" event per finding whose name the previous scan did not
// report, as Amazon Inspector does; findings no longer present are dropped
// silently. In a BASIC repository it replaces the findings and emits an
// "ECR Image Scan" event, bypassing the once-per-24-hours limit.
func (s *Server) Rescan(ctx context.Context, repo, digest string, findings []Finding) error {
	if err := s.SetFindings(repo, digest, findings); err != nil {
		return err
	}
	c := &call{}
	if err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		r := s.repos[repo]
		im, ok := r.images[digest]
		if !ok {
			return fmt.Errorf("rescan %s@%s: image not found", repo, digest)
		}
		prev, ok := r.scans[digest]
		if !ok || r.scanType != ScanEnhanced || prev.status == "FAILED" {
			s.runScan(c, r, im)
			return nil
		}
		now := s.now()
		seen := make(map[string]time.Time)
		for _, f := range findings {
			if t, ok := prev.firstObserved[f.Name]; ok {
				seen[f.Name] = t
				continue
			}
			seen[f.Name] = now
			c.events = append(c.events, s.inspectorFindingEvent(r.name, im, f, now))
		}
		prev.findings = slices.Clone(findings)
		prev.firstObserved = seen
		prev.completedAt = now
		return nil
	}(); err != nil {
		return err
	}
	s.emit(ctx, c.events)
	return nil
}

func (s *Server) describeImageScanFindings(_ *call, body []byte) (any, error) {
	var in scanInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ImageID == nil {
		return nil, requiredMember("imageId")
	}
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	im, err := s.lookup(r, *in.ImageID)
	if err != nil {
		return nil, err
	}
	if !im.pullable() {
		return nil, newError(http.StatusBadRequest, "ImageArchivedException",
			"The image %s is %s and cannot be scanned", im.digest, im.statusName())
	}
	sc, ok := r.scans[im.digest]
	if !ok {
		return nil, newError(http.StatusBadRequest, "ScanNotFoundException",
			"Image scan does not exist for the image with '%s' in the repository with name '%s' in the registry with id '%s'",
			formatID(*in.ImageID), r.name, s.account)
	}
	offset := 0
	if in.NextToken != nil {
		if err := decodeToken(*in.NextToken, "DescribeImageScanFindings", r.name+"@"+im.digest, &offset); err != nil {
			return nil, err
		}
		if offset < 0 || offset > len(sc.findings) {
			return nil, badToken()
		}
	}
	type result struct {
		RegistryID        string           `json:"registryId"`
		RepositoryName    string           `json:"repositoryName"`
		ImageID           imageID          `json:"imageId"`
		ImageScanStatus   scanStatusOut    `json:"imageScanStatus"`
		ImageScanFindings *scanFindingsOut `json:"imageScanFindings,omitempty"`
		NextToken         *string          `json:"nextToken,omitempty"`
	}
	out := result{
		RegistryID:      s.account,
		RepositoryName:  r.name,
		ImageID:         imageID{ImageDigest: ptr(im.digest), ImageTag: in.ImageID.ImageTag},
		ImageScanStatus: scanStatusOut{Status: sc.status, Description: sc.description},
	}
	if sc.status == "FAILED" {
		return out, nil
	}
	end := min(offset+limit, len(sc.findings))
	f := &scanFindingsOut{
		ImageScanCompletedAt:         epoch(sc.completedAt),
		VulnerabilitySourceUpdatedAt: epoch(sc.completedAt),
		FindingSeverityCounts:        severityCounts(sc.findings),
	}
	for _, fd := range sc.findings[offset:end] {
		if sc.enhanced {
			f.EnhancedFindings = append(f.EnhancedFindings, s.enhancedFinding(r.name, im, fd, sc))
		} else {
			f.Findings = append(f.Findings, basicFinding(fd))
		}
	}
	out.ImageScanFindings = f
	if end < len(sc.findings) {
		out.NextToken = ptr(encodeToken("DescribeImageScanFindings", r.name+"@"+im.digest, end))
	}
	return out, nil
}

// lookup resolves an image id or answers with ImageNotFoundException or
// InvalidParameterException. The caller holds s.mu.
func (s *Server) lookup(r *repository, id imageID) (*image, error) {
	res := r.resolve(id)
	if res.image != nil {
		return res.image, nil
	}
	if res.code == "ImageNotFound" {
		return nil, s.imageNotFound(r.name, id)
	}
	return nil, newError(http.StatusBadRequest, "InvalidParameterException", "%s", res.reason)
}

func basicFinding(f Finding) basicFindingOut {
	attrs := []attributeOut{
		{Key: "package_version", Value: f.PackageVersion},
		{Key: "package_name", Value: f.PackageName},
	}
	if f.CVSS2Score != "" {
		attrs = append(attrs, attributeOut{Key: "CVSS2_SCORE", Value: f.CVSS2Score})
	}
	return basicFindingOut{Name: f.Name, Description: f.Description, URI: f.URI, Severity: f.Severity, Attributes: attrs}
}

// findingArn derives a stable Inspector finding ARN from the image and the
// vulnerability.
func (s *Server) findingArn(repo, digest, name string) string {
	sum := sha256.Sum256([]byte(repo + "\x00" + digest + "\x00" + name))
	return "arn:aws:inspector2:" + s.region + ":" + s.account + ":finding/" + hex.EncodeToString(sum[:16])
}

func title(f Finding) string {
	if f.Title != "" {
		return f.Title
	}
	return f.Name + " - " + f.PackageName
}

func fixAvailable(f Finding) string {
	if f.FixedInVersion != "" {
		return "YES"
	}
	return "NO"
}

func remediation(f Finding) string {
	if f.Remediation != "" {
		return f.Remediation
	}
	return "None Provided"
}

func (s *Server) enhancedFinding(repo string, im *image, f Finding, sc *scan) enhancedFindingOut {
	first := sc.firstObserved[f.Name]
	res := resourceOut{ID: s.arn(repo) + "/" + im.digest, Type: "AWS_ECR_CONTAINER_IMAGE"}
	res.Details.AwsEcrContainerImage = ecrImageDetailsOut{
		ImageHash: im.digest, ImageTags: slices.Clone(im.tags), PushedAt: epoch(im.pushedAt),
		Registry: s.account, RepositoryName: repo,
	}
	return enhancedFindingOut{
		AwsAccountID:    s.account,
		Description:     f.Description,
		FindingArn:      s.findingArn(repo, im.digest, f.Name),
		FirstObservedAt: epoch(first),
		LastObservedAt:  epoch(sc.completedAt),
		UpdatedAt:       epoch(sc.completedAt),
		PackageVulnerabilityDetails: packageVulnerabilityOut{
			VulnerabilityID: f.Name,
			Source:          "NVD",
			SourceURL:       f.URI,
			VendorSeverity:  f.Severity,
			VulnerablePackages: []vulnerablePackageOut{{
				Name: f.PackageName, Version: f.PackageVersion, FixedInVersion: f.FixedInVersion, PackageManager: "OS",
			}},
		},
		Remediation:      remediationOut{Recommendation: recommendationOut{Text: remediation(f)}},
		Resources:        []resourceOut{res},
		Score:            f.Score,
		Severity:         f.Severity,
		Status:           "ACTIVE",
		Title:            title(f),
		Type:             "PACKAGE_VULNERABILITY",
		FixAvailable:     fixAvailable(f),
		ExploitAvailable: "NO",
	}
}

func (s *Server) startImageScan(c *call, body []byte) (any, error) {
	var in scanInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ImageID == nil {
		return nil, requiredMember("imageId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repository(in.RegistryID, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	im, err := s.lookup(r, *in.ImageID)
	if err != nil {
		return nil, err
	}
	if !im.pullable() {
		return nil, newError(http.StatusBadRequest, "ImageArchivedException",
			"The image %s is %s and cannot be scanned", im.digest, im.statusName())
	}
	if r.scanType == ScanEnhanced {
		// StartImageScan starts basic scans only. Users report the message
		// "This feature is disabled" when the registry uses enhanced
		// scanning (github.com/alexjurkiewicz/ecr-scan-image issues 22 and
		// 44); the error type is not documented, ValidationException is
		// our assumption.
		return nil, newError(http.StatusBadRequest, "ValidationException", "This feature is disabled")
	}
	if isIndex(im.mediaType) {
		return nil, newError(http.StatusBadRequest, "UnsupportedImageTypeException",
			"The image is of a type that cannot be scanned: %s", im.mediaType)
	}
	// The API reference: "A basic image scan can only be started once per
	// 24 hours on an individual image. This limit includes if an image was
	// scanned on initial push." (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_StartImageScan.html)
	if prev, ok := r.scans[im.digest]; ok && s.now().Sub(prev.completedAt) < 24*time.Hour {
		return nil, newError(http.StatusBadRequest, "LimitExceededException",
			"The scan quota per image has been exceeded. Wait and try again.")
	}
	s.runScan(c, r, im)
	// AWS answers IN_PROGRESS; the emulated scan has already completed, so
	// the next DescribeImageScanFindings sees its result.
	return struct {
		RegistryID      string        `json:"registryId"`
		RepositoryName  string        `json:"repositoryName"`
		ImageID         imageID       `json:"imageId"`
		ImageScanStatus scanStatusOut `json:"imageScanStatus"`
	}{s.account, r.name, imageID{ImageDigest: ptr(im.digest), ImageTag: in.ImageID.ImageTag},
		scanStatusOut{Status: "IN_PROGRESS", Description: "The scan is in progress."}}, nil
}
