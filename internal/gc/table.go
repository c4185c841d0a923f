package gc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/registry"
	"github.com/ecrwarden/ecrwarden/internal/retention"
)

// Both writers stream: each row is formatted into one reused buffer and
// written through a 64 KiB bufio.Writer, with no cell kept for later
// alignment (text/tabwriter keeps every cell of a 100,000-row table and
// wrote it in about a million small writes). The table aligns its columns
// from one cheap pass over the decisions before printing them.

const timeLayout = "2006-01-02 15:04"

// WriteTable prints the plan of each repository as a table (ACTION,
// DIGEST, TAGS, PUSHED, PULLED, CLASS, SIZE, NATIVE, REASON), its warnings,
// and the totals with the monthly storage cost the plans save at prices.
func WriteTable(w io.Writer, res *Result, prices Prices) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var keeps, deletes, archives int
	var bytes, archBytes int64
	var row []byte
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		bw.WriteString(o.Repository)
		bw.WriteByte('\n')
		if o.Err != nil || o.Plan == nil {
			fmt.Fprintf(bw, "  not planned: %v\n\n", o.Err)
			continue
		}
		native := o.Native != nil
		tagsW := len("TAGS")
		for j := range o.Plan.Decisions {
			tagsW = max(tagsW, tagsWidth(&o.Plan.Decisions[j]))
		}
		widths := []int{len("ARCHIVE"), len("sha256:") + 12, tagsW, len(timeLayout), len(timeLayout), len("restoring"), len("1023.9 MiB")}
		header := []string{"ACTION", "DIGEST", "TAGS", "PUSHED", "PULLED", "CLASS", "SIZE"}
		if native {
			nativeW := len("NATIVE")
			for digest := range o.Native.Verdicts {
				nativeW = max(nativeW, len(nativeCell(o.Native, digest)))
			}
			widths = append(widths, nativeW)
			header = append(header, "NATIVE")
		}
		row = appendRow(row[:0], widths, append(header, "REASON"))
		bw.Write(row)
		cells := make([]string, len(header)+1)
		for j := range o.Plan.Decisions {
			d := &o.Plan.Decisions[j]
			cells[0] = actionOf(d)
			cells[1] = registry.ShortDigest(d.Digest)
			cells[2] = tagsCell(d)
			cells[3] = d.PushedAt.UTC().Format(timeLayout)
			cells[4] = "never"
			if !d.LastPulled.IsZero() {
				cells[4] = d.LastPulled.UTC().Format(timeLayout)
			}
			cells[5] = classOf(d.Status)
			cells[6] = HumanBytes(d.Size)
			k := 7
			if native {
				cells[k] = nativeCell(o.Native, d.Digest)
				k++
			}
			cells[k] = d.Reason
			row = appendRow(row[:0], widths, cells)
			bw.Write(row)
		}
		for _, wn := range o.Warnings {
			fmt.Fprintf(bw, "  ! %s%s\n", describe(wn.Digest, wn.Tags), wn.Detail)
		}
		p := o.Plan
		fmt.Fprintf(bw, "  %d kept, %d to delete (%s reclaimed), %d to archive (%s)", p.Keeps, p.Deletes, HumanBytes(p.ReclaimBytes), p.Archives, HumanBytes(p.ArchiveBytes))
		if n := o.Native; n != nil && n.Err == nil {
			fmt.Fprintf(bw, "; native lifecycle policy: expires %d, archives %d", n.Expire, n.Transition)
		}
		fmt.Fprintf(bw, "; saves %s\n\n", o.Savings(prices))
		keeps, deletes, archives = keeps+p.Keeps, deletes+p.Deletes, archives+p.Archives
		bytes, archBytes = bytes+p.ReclaimBytes, archBytes+p.ArchiveBytes
	}
	fmt.Fprintf(bw, "TOTAL: %d repositories, %d images kept, %d to delete, %s reclaimed, %d to archive (%s)\n",
		len(res.Outcomes), keeps, deletes, HumanBytes(bytes), archives, HumanBytes(archBytes))
	fmt.Fprintf(bw, "COST: saves %s at %s\n", res.Savings(prices), prices.Source)
	if archives > 0 && prices.Archive >= prices.Standard {
		fmt.Fprintln(bw, "      archiving saves nothing on storage at these prices (the archive class costs what standard does below")
		fmt.Fprintln(bw, "      150 TB a month); it still keeps the images out of pulls, and restoring one is charged per GB")
	}
	return bw.Flush()
}

// appendRow appends cells padded to widths (the last cell unpadded) and a
// newline.
func appendRow(b []byte, widths []int, cells []string) []byte {
	for i, c := range cells {
		b = append(b, c...)
		if i == len(cells)-1 {
			break
		}
		for n := len(c); n < widths[i]+2; n++ {
			b = append(b, ' ')
		}
	}
	return append(b, '\n')
}

func actionOf(d *retention.Decision) string {
	switch {
	case d.Delete:
		return "DELETE"
	case d.Archive:
		return "ARCHIVE"
	}
	return "keep"
}

func classOf(status string) string {
	switch status {
	case retention.StatusArchived:
		return "archived"
	case retention.StatusActivating:
		return "restoring"
	}
	return "standard"
}

func tagsCell(d *retention.Decision) string {
	tags := strings.Join(d.Tags, ",")
	if tags == "" {
		tags = "-"
	}
	if d.Unit != d.Digest {
		tags += " (in " + registry.ShortDigest(d.Unit) + ")"
	}
	return tags
}

// tagsWidth is len(tagsCell(d)) without building the string.
func tagsWidth(d *retention.Decision) int {
	n := 0
	for i, t := range d.Tags {
		if i > 0 {
			n++
		}
		n += len(t)
	}
	if n == 0 {
		n = 1
	}
	if d.Unit != d.Digest {
		n += len(" (in )") + len(registry.ShortDigest(d.Unit))
	}
	return n
}

func nativeCell(n *Native, digest string) string {
	if n.Err != nil {
		return "?"
	}
	v, ok := n.Verdicts[digest]
	if !ok {
		return "-"
	}
	what := v.Action
	if what == "transition" {
		what = "archive"
	}
	return what + " (rule " + strconv.Itoa(v.Priority) + ")"
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

// JSON shapes of WriteJSON.
type (
	repositoryJSON struct {
		Name          string        `json:"name"`
		Registry      string        `json:"registry,omitempty"`
		Error         string        `json:"error,omitempty"`
		Keep          int           `json:"keep"`
		Delete        int           `json:"delete"`
		Archive       int           `json:"archive"`
		ReclaimBytes  int64         `json:"reclaimBytes"`
		ArchiveBytes  int64         `json:"archiveBytes"`
		Native        *nativeJSON   `json:"nativeLifecycle,omitempty"`
		Warnings      []warningJSON `json:"warnings,omitempty"`
		SavingsUSD    float64       `json:"monthlySavingsUSD"`
		MinimumCharge float64       `json:"minimumChargeUSD,omitempty"`
	}
	nativeJSON struct {
		Error      string `json:"error,omitempty"`
		Expire     int    `json:"expire"`
		Transition int    `json:"transition"`
	}
	warningJSON struct {
		Kind   string   `json:"kind"`
		Digest string   `json:"digest,omitempty"`
		Tags   []string `json:"tags,omitempty"`
		Detail string   `json:"detail"`
	}
	decisionJSON struct {
		Action     string     `json:"action"`
		Digest     string     `json:"digest"`
		Tags       []string   `json:"tags"`
		PushedAt   time.Time  `json:"pushedAt"`
		LastPulled *time.Time `json:"lastPulled,omitempty"`
		Status     string     `json:"status"`
		Size       int64      `json:"size"`
		Reason     string     `json:"reason"`
		Unit       string     `json:"unit,omitempty"`
		Native     string     `json:"native,omitempty"`
	}
)

// WriteJSON prints the plans as one JSON document, decision by decision:
//
//	{"repositories":[{"name":…,"decisions":[{…},…],…},…],
//	 "keep":…,"delete":…,"archive":…,"reclaimBytes":…,"archiveBytes":…,
//	 "monthlySavingsUSD":…,"prices":…}
//
// A repository's figures follow its decisions, and the totals follow the
// repositories, so nothing is held back to be written first.
func WriteJSON(w io.Writer, res *Result, prices Prices) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	var keeps, deletes, archives int
	var bytes, archBytes int64
	bw.WriteString(`{"repositories":[`)
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n {\"decisions\":[")
		r := repositoryJSON{Name: o.Repository, Registry: o.Registry}
		if o.Err != nil {
			r.Error = o.Err.Error()
		}
		if o.Plan != nil {
			for j := range o.Plan.Decisions {
				d := &o.Plan.Decisions[j]
				if j > 0 {
					bw.WriteByte(',')
				}
				dj := decisionJSON{Action: strings.ToLower(actionOf(d)), Digest: d.Digest, Tags: d.Tags, PushedAt: d.PushedAt.UTC(),
					Status: d.Status, Size: d.Size, Reason: d.Reason}
				if dj.Status == "" {
					dj.Status = retention.StatusActive
				}
				if dj.Tags == nil {
					dj.Tags = []string{}
				}
				if !d.LastPulled.IsZero() {
					t := d.LastPulled.UTC()
					dj.LastPulled = &t
				}
				if d.Unit != d.Digest {
					dj.Unit = d.Unit
				}
				if o.Native != nil {
					if c := nativeCell(o.Native, d.Digest); c != "-" {
						dj.Native = c
					}
				}
				// Encode ends each decision with a newline: one per line.
				if err := enc.Encode(dj); err != nil {
					return fmt.Errorf("write plan: %w", err)
				}
			}
			p := o.Plan
			r.Keep, r.Delete, r.Archive, r.ReclaimBytes, r.ArchiveBytes = p.Keeps, p.Deletes, p.Archives, p.ReclaimBytes, p.ArchiveBytes
			s := o.Savings(prices)
			r.SavingsUSD, r.MinimumCharge = round2(s.Monthly), round2(s.MinimumCharge)
			keeps, deletes, archives = keeps+p.Keeps, deletes+p.Deletes, archives+p.Archives
			bytes, archBytes = bytes+p.ReclaimBytes, archBytes+p.ArchiveBytes
		}
		if n := o.Native; n != nil {
			r.Native = &nativeJSON{Expire: n.Expire, Transition: n.Transition}
			if n.Err != nil {
				r.Native.Error = n.Err.Error()
			}
		}
		for _, wn := range o.Warnings {
			r.Warnings = append(r.Warnings, warningJSON{Kind: wn.Kind, Digest: wn.Digest, Tags: wn.Tags, Detail: wn.Detail})
		}
		rest, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
		bw.WriteString("],")
		bw.Write(rest[1:]) // the repository's fields after its decisions
	}
	s := res.Savings(prices)
	tail, err := json.Marshal(struct {
		Keep          int     `json:"keep"`
		Delete        int     `json:"delete"`
		Archive       int     `json:"archive"`
		ReclaimBytes  int64   `json:"reclaimBytes"`
		ArchiveBytes  int64   `json:"archiveBytes"`
		SavingsUSD    float64 `json:"monthlySavingsUSD"`
		MinimumCharge float64 `json:"minimumChargeUSD"`
		Prices        string  `json:"prices"`
	}{keeps, deletes, archives, bytes, archBytes, round2(s.Monthly), round2(s.MinimumCharge), prices.Source})
	if err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	bw.WriteString("\n],")
	bw.Write(tail[1:])
	bw.WriteByte('\n')
	return bw.Flush()
}
