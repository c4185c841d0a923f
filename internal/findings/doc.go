// Package findings turns ECR scan findings into the set of vulnerabilities
// that alert for one image, and fingerprints that set so an alert is sent once.
//
// Conversion: [FromBasic] reads basic-scanning findings (ECR's own scanner:
// package name and version in the attributes key/value list, CVSS scores as
// strings), [FromEnhanced] reads enhanced-scanning findings (Amazon Inspector:
// packageVulnerabilityDetails, status, score). Suppressed and closed
// Inspector findings are dropped; they never alert.
//
// One finding per vulnerability id: scanners report the same CVE once per
// affected package (basic scanning) or with several vulnerable packages
// (Inspector). Both converters, and [Evaluate], merge findings that share an
// id into one [Finding] carrying every affected package, the highest severity
// and the highest score. The ignore list, the alert counts and the
// fingerprint are all keyed by vulnerability id, so one id is one line in
// an alert and one count, whatever the number of packages it touches.
//
// Evaluation: [Evaluate] applies a repository's [policy.ScanPolicy]: findings
// below the threshold (default HIGH) are counted, not alerted; findings on
// the ignore list are set aside while the entry is active, and alert again,
// flagged as expired, once its day has passed.
//
// Fingerprint: [Fingerprint] hashes the repository, the image digest and the
// sorted, de-duplicated alerting ids, so redelivered events, rescans with the
// same results and Inspector's repeated finding events map to the same key,
// while one new alerting CVE on the same image changes it.
package findings
