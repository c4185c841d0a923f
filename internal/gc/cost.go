package gc

import (
	"fmt"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/policy"
	"github.com/ecrwarden/ecrwarden/internal/retention"
)

// Prices are ECR storage prices in US dollars per GB-month, a GB being
// 2^30 bytes as AWS bills storage.
type Prices struct {
	Standard, Archive float64
	// Source says where the figures come from.
	Source string
}

// DefaultPrices are Amazon ECR's published private-repository storage
// prices, the same in us-east-1 and ap-northeast-1 when checked: standard
// $0.10 per GB-month; archive $0.10 per GB-month for the first 150 TB a
// month and $0.07 beyond, plus $0.03 per GB restored and a 90-day minimum
// (https://aws.amazon.com/ecr/pricing/, as reported on 2026-03-22 by
// third-party checks of the page and the Price List API; re-check before
// relying on them). At the first tier archiving saves nothing on storage:
// gc's plan says so instead of claiming a saving.
var DefaultPrices = Prices{Standard: 0.10, Archive: 0.10,
	Source: "ECR pricing 2026-03 (standard $0.10, archive $0.10 first 150 TB/month)"}

// PricesFor applies a policy's gc.prices overrides to DefaultPrices.
func PricesFor(f *policy.File) Prices {
	p := DefaultPrices
	var over []string
	if v := f.GC.Prices.StandardPerGBMonth; v != nil {
		p.Standard = *v
		over = append(over, fmt.Sprintf("standard $%.4g", *v))
	}
	if v := f.GC.Prices.ArchivePerGBMonth; v != nil {
		p.Archive = *v
		over = append(over, fmt.Sprintf("archive $%.4g", *v))
	}
	if len(over) > 0 {
		p.Source = "gc.prices in the policy (" + strings.Join(over, ", ") + ")"
	}
	return p
}

const gib = float64(1 << 30)

// Savings is what a plan (or what was done) changes in the storage bill.
type Savings struct {
	// Monthly is the storage cost removed per month: deleted active images
	// at the standard price, deleted archived ones at the archive price,
	// archived ones at the difference.
	Monthly float64
	// MinimumCharge is what ECR still bills, once, for archived images
	// deleted before their 90-day minimum storage duration.
	MinimumCharge float64
}

// Add sums two savings.
func (s Savings) Add(o Savings) Savings {
	return Savings{Monthly: s.Monthly + o.Monthly, MinimumCharge: s.MinimumCharge + o.MinimumCharge}
}

// String says it in one line: "$12.34/month" and, when there is one, the
// one-time minimum charge.
func (s Savings) String() string {
	out := fmt.Sprintf("$%.2f/month", s.Monthly)
	if s.MinimumCharge > 0 {
		out += fmt.Sprintf(" (less $%.2f once: archived images deleted before 90 days)", s.MinimumCharge)
	}
	return out
}

// Savings prices what the outcome planned, or, once it acted, what it did.
// Sizes are ECR's per-image sizes, so layers shared with kept images make
// this an upper bound, like the reclaimed bytes.
func (o *Outcome) Savings(p Prices) Savings {
	if o.Plan == nil {
		return Savings{}
	}
	done := func(string) bool { return true }
	if o.Acted() {
		set := map[string]bool{}
		for _, d := range o.Deleted.Deleted {
			set[d] = true
		}
		for _, d := range o.archivedMembers() {
			set[d] = true
		}
		done = func(d string) bool { return set[d] }
	}
	var s Savings
	for i := range o.Plan.Decisions {
		d := &o.Plan.Decisions[i]
		if (!d.Delete && !d.Archive) || d.Lists || !done(d.Digest) {
			continue
		}
		gb := float64(d.Size) / gib
		switch {
		case d.Archive:
			s.Monthly += gb * (p.Standard - p.Archive)
		case d.Status == retention.StatusArchived:
			s.Monthly += gb * p.Archive
			s.MinimumCharge += gb * p.Archive * float64(d.EarlyDays) / 30
		default:
			s.Monthly += gb * p.Standard
		}
	}
	return s
}

// Savings sums the savings of every repository of the run.
func (r *Result) Savings(p Prices) Savings {
	var s Savings
	for i := range r.Outcomes {
		s = s.Add(r.Outcomes[i].Savings(p))
	}
	return s
}
