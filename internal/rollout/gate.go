package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecrwarden/ecrwarden/internal/findings"
	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// ErrScanIncomplete reports a findings read whose status is not final
// (registry.ScanComplete): IN_PROGRESS, PENDING, FINDINGS_UNAVAILABLE and
// the like. Its findings are not the image's vulnerabilities; an empty list
// read with it is not clean. onscan fails the event so that Lambda retries
// it; the reconcile skips the candidate.
var ErrScanIncomplete = errors.New("scan not complete")

// Scan is an image's scan as the gate sees it: every page read, complete,
// evaluated against the repository's scan policy.
type Scan struct {
	findings.Result
	// Reported counts the findings the scanner returned on all pages,
	// before merging by id, dropping closed or suppressed ones and
	// applying the policy.
	Reported int
}

// ReadScan reads every page of an image's findings
// (registry.DescribeScanFindings) and evaluates them against repo's scan
// policy at now. It is the one gate rule of onscan and the reconcile: a
// failed page fails the read, a read that is not complete is
// ErrScanIncomplete, and only a complete read whose result is
// findings.Result.Clean opens a gate. A ScanNotFoundException comes back
// wrapped, for callers to tell apart with errors.As.
func ReadScan(ctx context.Context, client ecr.DescribeImageScanFindingsAPIClient, registryID string, repo *policy.Repository, digest string, now time.Time) (Scan, error) {
	sf, err := registry.DescribeScanFindings(ctx, client, registryID, repo.Name, digest)
	if err != nil {
		return Scan{}, err
	}
	if !sf.Complete {
		status := string(sf.Status)
		if status == "" {
			status = "no status"
		}
		if sf.Description != "" {
			status += ": " + sf.Description
		}
		return Scan{}, fmt.Errorf("findings of %s in %s: %w (%s)", digest, repo.Name, ErrScanIncomplete, status)
	}
	fs := append(findings.FromBasic(sf.Basic), findings.FromEnhanced(sf.Enhanced)...)
	return Scan{
		Result:   findings.Evaluate(repo.Name, repo.Scan, fs, now),
		Reported: len(sf.Basic) + len(sf.Enhanced),
	}, nil
}
