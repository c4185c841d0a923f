package gc

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ecrwarden/ecrwarden/internal/registry"
)

// WriteTable prints the plan of each repository as a table (ACTION,
// DIGEST, TAGS, PUSHED, SIZE, REASON) and the totals.
func WriteTable(w io.Writer, res *Result) error {
	var keeps, deletes int
	var bytes int64
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range res.Outcomes {
		fmt.Fprintf(tw, "%s\n", o.Repository)
		if o.Err != nil {
			fmt.Fprintf(tw, "  not planned: %v\n\n", o.Err)
			continue
		}
		fmt.Fprintln(tw, "ACTION\tDIGEST\tTAGS\tPUSHED\tSIZE\tREASON")
		for _, d := range o.Plan.Decisions {
			action := "keep"
			if d.Delete {
				action = "DELETE"
			}
			tags := strings.Join(d.Tags, ",")
			if tags == "" {
				tags = "-"
			}
			if d.Unit != d.Digest {
				tags += " (in " + registry.ShortDigest(d.Unit) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", action, registry.ShortDigest(d.Digest), tags,
				d.PushedAt.UTC().Format("2006-01-02 15:04"), HumanBytes(d.Size), d.Reason)
		}
		fmt.Fprintf(tw, "  %d kept, %d to delete, %s reclaimed\n\n", o.Plan.Keeps, o.Plan.Deletes, HumanBytes(o.Plan.ReclaimBytes))
		keeps, deletes, bytes = keeps+o.Plan.Keeps, deletes+o.Plan.Deletes, bytes+o.Plan.ReclaimBytes
	}
	fmt.Fprintf(tw, "TOTAL: %d repositories, %d images kept, %d to delete, %s reclaimed\n", len(res.Outcomes), keeps, deletes, HumanBytes(bytes))
	return tw.Flush()
}

// HumanBytes formats a size in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
