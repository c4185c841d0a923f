package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tag statuses, count types, storage classes and actions, spelled as the
// policy text spells them.
const (
	TagTagged   = "tagged"
	TagUntagged = "untagged"
	TagAny      = "any"

	CountMoreThan          = "imageCountMoreThan"
	CountSincePushed       = "sinceImagePushed"
	CountSincePulled       = "sinceImagePulled"
	CountSinceTransitioned = "sinceImageTransitioned"

	StorageStandard = "standard"
	StorageArchive  = "archive"

	ActionExpire     = "expire"
	ActionTransition = "transition"
)

// MinArchiveDays is the minimum storage duration of the archive storage
// class; lifecycle rules may not delete images archived for less.
const MinArchiveDays = 90

// maxWildcards is the most * one tagPatternList entry may hold.
const maxWildcards = 4

// Policy is a parsed, valid lifecycle policy.
type Policy struct {
	// Rules are in priority order, lowest rulePriority first.
	Rules []Rule
}

// Rule is one lifecycle policy rule.
type Rule struct {
	Priority    int
	Description string
	TagStatus   string
	TagPatterns []string
	TagPrefixes []string
	// StorageClass is the class the rule selects from: standard or archive.
	StorageClass string
	CountType    string
	CountNumber  int
	// Action is expire or transition (to archive).
	Action string
}

// document is the JSON shape of a policy.
type document struct {
	Rules []struct {
		RulePriority *int   `json:"rulePriority"`
		Description  string `json:"description"`
		Selection    *struct {
			TagStatus      string   `json:"tagStatus"`
			TagPatternList []string `json:"tagPatternList"`
			TagPrefixList  []string `json:"tagPrefixList"`
			StorageClass   string   `json:"storageClass"`
			CountType      string   `json:"countType"`
			CountUnit      string   `json:"countUnit"`
			CountNumber    *int     `json:"countNumber"`
		} `json:"selection"`
		Action *struct {
			Type               string `json:"type"`
			TargetStorageClass string `json:"targetStorageClass"`
		} `json:"action"`
	} `json:"rules"`
}

// Parse decodes and validates a lifecycle policy text. The error names every
// problem, each with the rule it is in.
func Parse(text string) (*Policy, error) {
	var doc document
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("lifecycle policy: %w", err)
	}
	if dec.More() {
		return nil, errors.New("lifecycle policy: trailing data after the JSON object")
	}
	if len(doc.Rules) == 0 {
		return nil, errors.New("lifecycle policy: no rules")
	}
	var errs []error
	bad := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("rules[%d]: %s", i, fmt.Sprintf(format, args...)))
	}
	p := &Policy{}
	priorities := map[int]int{}
	untagged := -1
	for i, r := range doc.Rules {
		var rule Rule
		if r.RulePriority == nil || *r.RulePriority < 1 {
			bad(i, "rulePriority must be an integer of at least 1")
		} else {
			rule.Priority = *r.RulePriority
			if j, dup := priorities[rule.Priority]; dup {
				bad(i, "rulePriority %d is also rules[%d]'s: priorities must be unique", rule.Priority, j)
			}
			priorities[rule.Priority] = i
		}
		rule.Description = r.Description
		if r.Selection == nil {
			bad(i, "selection is required")
			continue
		}
		s := r.Selection
		rule.TagStatus, rule.TagPatterns, rule.TagPrefixes = s.TagStatus, s.TagPatternList, s.TagPrefixList
		switch s.TagStatus {
		case TagTagged:
			switch {
			case len(s.TagPatternList) > 0 && len(s.TagPrefixList) > 0:
				bad(i, "tagPatternList and tagPrefixList cannot be used together")
			case len(s.TagPatternList) == 0 && len(s.TagPrefixList) == 0:
				bad(i, "tagStatus tagged needs tagPatternList or tagPrefixList")
			}
			for _, pat := range s.TagPatternList {
				if pat == "" || strings.Count(pat, "*") > maxWildcards {
					bad(i, "tag pattern %q: want a non-empty pattern with at most %d wildcards", pat, maxWildcards)
				}
			}
			for _, pre := range s.TagPrefixList {
				if pre == "" {
					bad(i, "empty tag prefix")
				}
			}
		case TagUntagged, TagAny:
			if len(s.TagPatternList) > 0 || len(s.TagPrefixList) > 0 {
				bad(i, "tagStatus %s must not have tagPatternList or tagPrefixList", s.TagStatus)
			}
			if s.TagStatus == TagUntagged {
				if untagged >= 0 {
					bad(i, "only one rule may select untagged images (also rules[%d])", untagged)
				}
				untagged = i
			}
		default:
			bad(i, "tagStatus %q: want tagged, untagged or any", s.TagStatus)
		}
		rule.StorageClass = strings.ToLower(s.StorageClass)
		if rule.StorageClass == "" {
			rule.StorageClass = StorageStandard
		}
		if rule.StorageClass != StorageStandard && rule.StorageClass != StorageArchive {
			bad(i, "storageClass %q: want standard or archive", s.StorageClass)
		}
		rule.CountType = s.CountType
		switch s.CountType {
		case CountMoreThan:
			if s.CountUnit != "" {
				bad(i, "countUnit only applies to the since* count types")
			}
		case CountSincePushed, CountSincePulled, CountSinceTransitioned:
			if s.CountUnit != "days" {
				bad(i, "countType %s needs countUnit days", s.CountType)
			}
		default:
			bad(i, "countType %q: want imageCountMoreThan, sinceImagePushed, sinceImagePulled or sinceImageTransitioned", s.CountType)
		}
		if (s.CountType == CountSinceTransitioned) != (rule.StorageClass == StorageArchive) {
			bad(i, "countType sinceImageTransitioned and storageClass archive go together")
		}
		if s.CountNumber == nil || *s.CountNumber < 1 {
			bad(i, "countNumber must be an integer of at least 1")
		} else {
			rule.CountNumber = *s.CountNumber
			if s.CountType == CountSinceTransitioned && rule.CountNumber < MinArchiveDays {
				bad(i, "archived images may not be expired before the %d-day minimum storage duration (countNumber %d)", MinArchiveDays, rule.CountNumber)
			}
		}
		if r.Action == nil {
			bad(i, "action is required")
		} else {
			rule.Action = r.Action.Type
			switch r.Action.Type {
			case ActionExpire:
				if r.Action.TargetStorageClass != "" {
					bad(i, "targetStorageClass only applies to transition")
				}
			case ActionTransition:
				if strings.ToLower(r.Action.TargetStorageClass) != StorageArchive {
					bad(i, "transition needs targetStorageClass archive")
				}
				if rule.StorageClass == StorageArchive {
					bad(i, "archived images can only be expired")
				}
			default:
				bad(i, "action type %q: want expire or transition", r.Action.Type)
			}
		}
		p.Rules = append(p.Rules, rule)
	}
	slices.SortStableFunc(p.Rules, func(a, b Rule) int { return a.Priority - b.Priority })
	// Standard and archive rules select disjoint images, so "any must be
	// evaluated last" is checked within each storage class.
	for i, r := range p.Rules {
		if r.TagStatus != TagAny {
			continue
		}
		for _, later := range p.Rules[i+1:] {
			if later.StorageClass == r.StorageClass {
				errs = append(errs, fmt.Errorf("rule with rulePriority %d: a rule with tagStatus any must have the highest rulePriority", r.Priority))
				break
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lifecycle policy: %w", err)
	}
	return p, nil
}

// Compact returns the policy text without insignificant whitespace, for
// logs; invalid JSON is returned as is.
func Compact(text string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(text)) != nil {
		return text
	}
	return b.String()
}

// Status is an image's storage status, as DescribeImages reports it.
type Status string

// Statuses.
const (
	Active     Status = "ACTIVE"
	Archived   Status = "ARCHIVED"
	Activating Status = "ACTIVATING"
)

// Image is what evaluation reads of one image.
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
	// LastPulled is ECR's lastRecordedPullTime; zero when never recorded.
	LastPulled time.Time
	// Status is the storage status; Active when empty.
	Status Status
	// ArchivedAt is when the image was last archived (lastArchivedAt).
	ArchivedAt time.Time
	// ListedBy is true when an image index in the repository lists the image.
	ListedBy bool
}

// Verdict is what the policy does to one image.
type Verdict struct {
	// Action is expire, transition, or empty when no rule acts.
	Action string
	// Priority is the acting rule's rulePriority; 0 when none.
	Priority int
	// Reason says why, in the policy's words.
	Reason string
}

// Evaluate returns one verdict per image, in the order given.
func (p *Policy) Evaluate(images []Image, now time.Time) []Verdict {
	out := make([]Verdict, len(images))
	identified := make([]bool, len(images))
	// byPush orders image indices newest first; ties by digest.
	byPush := make([]int, len(images))
	for i := range byPush {
		byPush[i] = i
	}
	slices.SortFunc(byPush, func(a, b int) int {
		if c := images[b].PushedAt.Compare(images[a].PushedAt); c != 0 {
			return c
		}
		return strings.Compare(images[a].Digest, images[b].Digest)
	})
	var sel []int
	for _, r := range p.Rules {
		sel = sel[:0]
		for _, i := range byPush {
			if r.selects(&images[i]) {
				sel = append(sel, i)
			}
		}
		for rank, i := range sel {
			why, marked := r.marks(&images[i], rank, now)
			if marked && !identified[i] && out[i].Action == "" && !images[i].ListedBy {
				out[i] = Verdict{Action: r.Action, Priority: r.Priority, Reason: fmt.Sprintf("rule %d: %s", r.Priority, why)}
			}
		}
		for _, i := range sel {
			identified[i] = true
		}
	}
	return out
}

// selects reports whether the rule's tag status, tags and storage class
// match the image.
func (r *Rule) selects(im *Image) bool {
	status := im.Status
	if status == "" {
		status = Active
	}
	switch {
	case r.StorageClass == StorageArchive && status != Archived:
		return false
	case r.StorageClass == StorageStandard && status != Active:
		return false
	}
	switch r.TagStatus {
	case TagUntagged:
		return len(im.Tags) == 0
	case TagAny:
		return true
	}
	if len(im.Tags) == 0 {
		return false
	}
	for _, pat := range r.TagPatterns {
		if !slices.ContainsFunc(im.Tags, func(t string) bool { return wildcard(pat, t) }) {
			return false
		}
	}
	for _, pre := range r.TagPrefixes {
		if !slices.ContainsFunc(im.Tags, func(t string) bool { return strings.HasPrefix(t, pre) }) {
			return false
		}
	}
	return true
}

// marks applies the rule's count criterion to a selected image of the given
// rank (0 = newest by push time).
func (r *Rule) marks(im *Image, rank int, now time.Time) (string, bool) {
	days := time.Duration(r.CountNumber) * 24 * time.Hour
	since := func(what string, t time.Time) (string, bool) {
		age := now.Sub(t)
		return fmt.Sprintf("%s %dd ago, more than %d days", what, int(age/(24*time.Hour)), r.CountNumber), age > days
	}
	switch r.CountType {
	case CountMoreThan:
		return fmt.Sprintf("image %d by push time, more than %d", rank+1, r.CountNumber), rank >= r.CountNumber
	case CountSincePushed:
		return since("pushed", im.PushedAt)
	case CountSincePulled:
		if im.LastPulled.IsZero() {
			return since("never pulled, pushed", im.PushedAt)
		}
		return since("last pulled", im.LastPulled)
	case CountSinceTransitioned:
		return since("archived", im.ArchivedAt)
	}
	return "", false
}

// wildcard matches s against a pattern in which * matches any run of
// characters, including none.
func wildcard(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}
