package ecr

// Wire shapes of the ECR JSON 1.1 protocol. Member names are those of the
// service model the pinned SDK (service/ecr v1.67.6, schemas/schemas.go)
// serializes; timestamps are epoch seconds (the awsJson1_1 default).

type imageID struct {
	ImageDigest *string `json:"imageDigest,omitempty"`
	ImageTag    *string `json:"imageTag,omitempty"`
}

type tagStatusFilter struct {
	TagStatus   *string `json:"tagStatus,omitempty"`
	ImageStatus *string `json:"imageStatus,omitempty"`
}

type scanningConfiguration struct {
	ScanOnPush bool `json:"scanOnPush"`
}

type encryptionConfiguration struct {
	EncryptionType string  `json:"encryptionType"`
	KmsKey         *string `json:"kmsKey,omitempty"`
}

type mutabilityExclusionFilter struct {
	FilterType string `json:"filterType"`
	Filter     string `json:"filter"`
}

type resourceTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type createRepositoryInput struct {
	RegistryID                         *string                     `json:"registryId"`
	RepositoryName                     *string                     `json:"repositoryName"`
	Tags                               []resourceTag               `json:"tags"`
	ImageTagMutability                 *string                     `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []mutabilityExclusionFilter `json:"imageTagMutabilityExclusionFilters"`
	ImageScanningConfiguration         *scanningConfiguration      `json:"imageScanningConfiguration"`
	EncryptionConfiguration            *encryptionConfiguration    `json:"encryptionConfiguration"`
}

type repositoryOut struct {
	RepositoryArn                      string                      `json:"repositoryArn"`
	RegistryID                         string                      `json:"registryId"`
	RepositoryName                     string                      `json:"repositoryName"`
	RepositoryURI                      string                      `json:"repositoryUri"`
	CreatedAt                          float64                     `json:"createdAt"`
	ImageTagMutability                 string                      `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []mutabilityExclusionFilter `json:"imageTagMutabilityExclusionFilters,omitempty"`
	ImageScanningConfiguration         scanningConfiguration       `json:"imageScanningConfiguration"`
	EncryptionConfiguration            encryptionConfiguration     `json:"encryptionConfiguration"`
}

type describeRepositoriesInput struct {
	RegistryID      *string  `json:"registryId"`
	RepositoryNames []string `json:"repositoryNames"`
	NextToken       *string  `json:"nextToken"`
	MaxResults      *int32   `json:"maxResults"`
}

type putImageInput struct {
	RegistryID             *string `json:"registryId"`
	RepositoryName         *string `json:"repositoryName"`
	ImageManifest          *string `json:"imageManifest"`
	ImageManifestMediaType *string `json:"imageManifestMediaType"`
	ImageTag               *string `json:"imageTag"`
	ImageDigest            *string `json:"imageDigest"`
}

type imageOut struct {
	RegistryID             string  `json:"registryId"`
	RepositoryName         string  `json:"repositoryName"`
	ImageID                imageID `json:"imageId"`
	ImageManifest          string  `json:"imageManifest"`
	ImageManifestMediaType string  `json:"imageManifestMediaType,omitempty"`
}

type imageIDsInput struct {
	RegistryID         *string   `json:"registryId"`
	RepositoryName     *string   `json:"repositoryName"`
	ImageIDs           []imageID `json:"imageIds"`
	AcceptedMediaTypes []string  `json:"acceptedMediaTypes"`
}

type imageFailure struct {
	ImageID       imageID `json:"imageId"`
	FailureCode   string  `json:"failureCode"`
	FailureReason string  `json:"failureReason"`
}

type listInput struct {
	RegistryID     *string          `json:"registryId"`
	RepositoryName *string          `json:"repositoryName"`
	ImageIDs       []imageID        `json:"imageIds"`
	NextToken      *string          `json:"nextToken"`
	MaxResults     *int32           `json:"maxResults"`
	Filter         *tagStatusFilter `json:"filter"`
}

type scanStatusOut struct {
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
}

type findingsSummaryOut struct {
	ImageScanCompletedAt         float64          `json:"imageScanCompletedAt"`
	VulnerabilitySourceUpdatedAt float64          `json:"vulnerabilitySourceUpdatedAt"`
	FindingSeverityCounts        map[string]int32 `json:"findingSeverityCounts"`
}

type imageDetailOut struct {
	RegistryID               string              `json:"registryId"`
	RepositoryName           string              `json:"repositoryName"`
	ImageDigest              string              `json:"imageDigest"`
	ImageTags                []string            `json:"imageTags,omitempty"`
	ImageSizeInBytes         *int64              `json:"imageSizeInBytes,omitempty"`
	ImagePushedAt            float64             `json:"imagePushedAt"`
	ImageScanStatus          *scanStatusOut      `json:"imageScanStatus,omitempty"`
	ImageScanFindingsSummary *findingsSummaryOut `json:"imageScanFindingsSummary,omitempty"`
	ImageManifestMediaType   string              `json:"imageManifestMediaType"`
	ArtifactMediaType        string              `json:"artifactMediaType,omitempty"`
	ImageStatus              string              `json:"imageStatus"`
	LastRecordedPullTime     *float64            `json:"lastRecordedPullTime,omitempty"`
	LastArchivedAt           *float64            `json:"lastArchivedAt,omitempty"`
	LastActivatedAt          *float64            `json:"lastActivatedAt,omitempty"`
}

type scanInput struct {
	RegistryID     *string  `json:"registryId"`
	RepositoryName *string  `json:"repositoryName"`
	ImageID        *imageID `json:"imageId"`
	NextToken      *string  `json:"nextToken"`
	MaxResults     *int32   `json:"maxResults"`
}

type attributeOut struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type basicFindingOut struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	URI         string         `json:"uri,omitempty"`
	Severity    string         `json:"severity"`
	Attributes  []attributeOut `json:"attributes"`
}

type vulnerablePackageOut struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	FixedInVersion string `json:"fixedInVersion,omitempty"`
	PackageManager string `json:"packageManager,omitempty"`
}

type packageVulnerabilityOut struct {
	VulnerabilityID    string                 `json:"vulnerabilityId"`
	Source             string                 `json:"source"`
	SourceURL          string                 `json:"sourceUrl,omitempty"`
	VendorSeverity     string                 `json:"vendorSeverity,omitempty"`
	VulnerablePackages []vulnerablePackageOut `json:"vulnerablePackages"`
	ReferenceUrls      []string               `json:"referenceUrls,omitempty"`
}

type recommendationOut struct {
	Text string `json:"text,omitempty"`
	URL  string `json:"url,omitempty"`
}

type remediationOut struct {
	Recommendation recommendationOut `json:"recommendation"`
}

type ecrImageDetailsOut struct {
	ImageHash      string   `json:"imageHash"`
	ImageTags      []string `json:"imageTags,omitempty"`
	PushedAt       float64  `json:"pushedAt"`
	Registry       string   `json:"registry"`
	RepositoryName string   `json:"repositoryName"`
}

type resourceOut struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Details struct {
		AwsEcrContainerImage ecrImageDetailsOut `json:"awsEcrContainerImage"`
	} `json:"details"`
}

type enhancedFindingOut struct {
	AwsAccountID                string                  `json:"awsAccountId"`
	Description                 string                  `json:"description,omitempty"`
	FindingArn                  string                  `json:"findingArn"`
	FirstObservedAt             float64                 `json:"firstObservedAt"`
	LastObservedAt              float64                 `json:"lastObservedAt"`
	UpdatedAt                   float64                 `json:"updatedAt"`
	PackageVulnerabilityDetails packageVulnerabilityOut `json:"packageVulnerabilityDetails"`
	Remediation                 remediationOut          `json:"remediation"`
	Resources                   []resourceOut           `json:"resources"`
	Score                       float64                 `json:"score,omitempty"`
	Severity                    string                  `json:"severity"`
	Status                      string                  `json:"status"`
	Title                       string                  `json:"title"`
	Type                        string                  `json:"type"`
	FixAvailable                string                  `json:"fixAvailable"`
	ExploitAvailable            string                  `json:"exploitAvailable"`
}

type scanFindingsOut struct {
	ImageScanCompletedAt         float64              `json:"imageScanCompletedAt"`
	VulnerabilitySourceUpdatedAt float64              `json:"vulnerabilitySourceUpdatedAt"`
	FindingSeverityCounts        map[string]int32     `json:"findingSeverityCounts"`
	Findings                     []basicFindingOut    `json:"findings,omitempty"`
	EnhancedFindings             []enhancedFindingOut `json:"enhancedFindings,omitempty"`
}

type lifecyclePolicyInput struct {
	RegistryID          *string `json:"registryId"`
	RepositoryName      *string `json:"repositoryName"`
	LifecyclePolicyText *string `json:"lifecyclePolicyText"`
}
