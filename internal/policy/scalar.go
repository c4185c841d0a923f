package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Severity is a vulnerability severity as ECR and Inspector report it.
type Severity string

// Severities, lowest first.
const (
	SeverityInformational Severity = "INFORMATIONAL"
	SeverityLow           Severity = "LOW"
	SeverityMedium        Severity = "MEDIUM"
	SeverityHigh          Severity = "HIGH"
	SeverityCritical      Severity = "CRITICAL"
)

var severityRank = map[Severity]int{
	SeverityInformational: 1,
	SeverityLow:           2,
	SeverityMedium:        3,
	SeverityHigh:          4,
	SeverityCritical:      5,
}

// Rank orders severities: 0 for unknown or UNDEFINED, 1 for INFORMATIONAL
// up to 5 for CRITICAL. Case is ignored.
func (s Severity) Rank() int { return severityRank[Severity(strings.ToUpper(string(s)))] }

// AtLeast reports whether s is at or above threshold. Unknown severities
// (ECR's UNDEFINED) are below every threshold.
func (s Severity) AtLeast(threshold Severity) bool {
	r := s.Rank()
	return r > 0 && r >= threshold.Rank()
}

// Action is what happens to a pushed tag that no pattern accepts.
type Action string

// Violation actions.
const (
	ActionAlert  Action = "alert"
	ActionDelete Action = "delete"
)

// Order is how images are ranked: by push time, semver or date.
type Order string

// Orders.
const (
	OrderPushed Order = "pushed"
	OrderSemver Order = "semver"
	OrderDate   Order = "date"
)

// Disposal is what a retention rule does to the images it expires.
type Disposal string

// Disposals.
const (
	// DisposalDelete deletes the image (BatchDeleteImage).
	DisposalDelete Disposal = "delete"
	// DisposalArchive moves the image to the ECR archive storage class
	// (UpdateImageStorageClass); it cannot be pulled until restored.
	DisposalArchive Disposal = "archive"
)

// Pin is how a rollout names the image: by digest or by tag.
type Pin string

// Pin modes.
const (
	PinDigest Pin = "digest"
	PinTag    Pin = "tag"
)

// WorkloadKind is the kind of workload a deploy rule rolls.
type WorkloadKind string

// Workload kinds, spelt as Kubernetes spells them.
const (
	KindDeployment  WorkloadKind = "Deployment"
	KindStatefulSet WorkloadKind = "StatefulSet"
	KindDaemonSet   WorkloadKind = "DaemonSet"
	// KindCronJob rolls the CronJob's job template: the next Job runs the new image.
	KindCronJob WorkloadKind = "CronJob"
)

// Encryption is a repository encryption type.
type Encryption string

// Encryption types.
const (
	EncryptionAES256 Encryption = "AES256"
	EncryptionKMS    Encryption = "KMS"
)

// ScanType is the registry scanning type.
type ScanType string

// Scan types.
const (
	ScanBasic    ScanType = "BASIC"
	ScanEnhanced ScanType = "ENHANCED"
)

// ScanFrequency is a registry scanning frequency.
type ScanFrequency string

// Scan frequencies.
const (
	ScanOnPush     ScanFrequency = "SCAN_ON_PUSH"
	ScanContinuous ScanFrequency = "CONTINUOUS_SCAN"
	ScanManual     ScanFrequency = "MANUAL"
)

// enumValues lists the accepted spellings of each enumerated type; the
// decoder and the JSON Schema both read it.
var enumValues = map[string][]string{
	"Severity":      {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"},
	"Action":        {"alert", "delete"},
	"Order":         {"pushed", "semver", "date"},
	"Pin":           {"digest", "tag"},
	"Disposal":      {"delete", "archive"},
	"OnFailure":     {"rollback", "alert"},
	"WorkloadKind":  {"Deployment", "StatefulSet", "DaemonSet", "CronJob"},
	"Encryption":    {"AES256", "KMS"},
	"ScanType":      {"BASIC", "ENHANCED"},
	"ScanFrequency": {"SCAN_ON_PUSH", "CONTINUOUS_SCAN", "MANUAL"},
}

// OnFailure is what a rollout that fails verification does.
type OnFailure string

// What a failed rollout does.
const (
	// OnFailureRollback restores the previous image, holds the target,
	// blocks the failed digest and alerts (the default).
	OnFailureRollback OnFailure = "rollback"
	// OnFailureAlert only alerts and records the failure.
	OnFailureAlert OnFailure = "alert"
)

// Duration is a length of time written in days and hours: "24h", "30d",
// "1d12h", "90m". Days are 24 hours.
type Duration time.Duration

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats the duration the way the policy file writes it.
func (d Duration) String() string {
	t := time.Duration(d)
	if t == 0 {
		return "0"
	}
	days := t / (24 * time.Hour)
	rest := t % (24 * time.Hour)
	var b strings.Builder
	if days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
	}
	if rest > 0 {
		// time.Duration.String writes 1h30m0s: drop the zero seconds, then
		// the zero minutes of a whole hour (1h0m), never the 0 of 30m.
		s := rest.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

// ParseDuration parses "30d", "24h", "1d12h", "90m". Days must come first;
// the rest follows time.ParseDuration. Negative durations are refused.
func ParseDuration(s string) (Duration, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number before 'd'", orig)
		}
		total = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
	}
	if s != "" {
		if s[0] == '-' || s[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q: must not be signed", orig)
		}
		rest, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want a number of days (30d) or hours (24h), such as 30d, 24h or 1d12h", orig)
		}
		total += rest
	}
	if total > 100*365*24*time.Hour {
		return 0, fmt.Errorf("invalid duration %q: longer than 100 years", orig)
	}
	return Duration(total), nil
}

// Date is a calendar day in UTC, written YYYY-MM-DD.
type Date struct{ time.Time }

// ParseDate parses YYYY-MM-DD as a UTC day.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	return Date{t}, nil
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Format(time.DateOnly) }
