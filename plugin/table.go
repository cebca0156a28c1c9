package plugin

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fatih/color"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

var dispositionOrder = map[policy.Disposition]int{
	policy.Blocking: 0, policy.Warning: 1, policy.Excepted: 2, policy.Unfixed: 3, policy.InBaseline: 4, policy.BelowThreshold: 5, policy.Off: 6,
	policy.NotInImage: 7,
}

// changeOrder lists new findings first, then unchanged, then fixed (no baseline: all
// alike).
var changeOrder = map[baseline.Change]int{baseline.New: 0, baseline.Unchanged: 1, baseline.Fixed: 2}

// severityColors follow Trivy's table (pkg/report/table): cyan, blue, yellow, bright
// red, red.
var severityColors = map[report.Severity]*color.Color{
	report.SeverityUnknown:  color.New(color.FgCyan),
	report.SeverityLow:      color.New(color.FgBlue),
	report.SeverityMedium:   color.New(color.FgYellow),
	report.SeverityHigh:     color.New(color.FgHiRed),
	report.SeverityCritical: color.New(color.FgRed),
}

// writeGateTable writes the human report: the image, then every finding with its
// disposition (blocking first, then by severity), then per-severity totals.
func writeGateTable(w io.Writer, out *scanOutcome, useColor bool) error {
	img := out.result.Image
	osName := img.OS
	if osName == "" {
		osName = "no OS detected"
	}
	if img.EOSL {
		osName += ", end of life"
	}
	if b := out.verdict.Baseline; b != nil {
		// A comparison leads: what the change under test did (new ones are listed first).
		fmt.Fprintf(w, "%s against the baseline %s\n", b.Counts(), b.Source)
	}
	fmt.Fprintf(w, "%s (%s)\nimage %s, DB updated %s\n", img.Reference, osName, img.ID, out.result.DB.UpdatedAt.UTC().Format("2006-01-02 15:04 MST"))
	for _, p := range img.Platforms {
		fmt.Fprintf(w, "scanned %s\n", p.Describe())
	}
	for _, a := range img.Absent {
		fmt.Fprintf(w, "not in the local store, not scanned (a push does not send it): %s\n", a)
	}
	if a := report.DescribeAttestations(img.Attestations); a != "" {
		fmt.Fprintf(w, "%s\n", a)
	}
	fmt.Fprintln(w)
	multi := len(img.Platforms) > 1
	compared := out.verdict.Baseline != nil
	ds := append([]policy.Decision(nil), out.verdict.Decisions...)
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if changeOrder[a.Change] != changeOrder[b.Change] {
			return changeOrder[a.Change] < changeOrder[b.Change]
		}
		if dispositionOrder[a.Disposition] != dispositionOrder[b.Disposition] {
			return dispositionOrder[a.Disposition] < dispositionOrder[b.Disposition]
		}
		return a.Finding.Severity > b.Finding.Severity
	})
	// The baseline's findings the image no longer has come last, as fixed.
	ds = append(ds, out.verdict.Fixed...)
	if len(ds) == 0 {
		fmt.Fprintln(w, "No findings.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	change := ""
	if compared {
		change = "CHANGE\t"
	}
	if multi {
		fmt.Fprintln(tw, change+"DISPOSITION\tSEVERITY\tID\tPLATFORM\tPACKAGE\tINSTALLED\tFIXED\tTITLE / NOTE")
	} else {
		fmt.Fprintln(tw, change+"DISPOSITION\tSEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED\tTITLE / NOTE")
	}
	for _, d := range ds {
		if compared {
			fmt.Fprintf(tw, "%s\t", d.Change)
		}
		f := d.Finding
		sev := f.Severity.String()
		if useColor {
			sev = severityColors[f.Severity].Sprint(sev)
		}
		pkg := f.PkgName
		if f.Kind == report.KindBestPractice {
			pkg = "(image config)"
		}
		if f.Kind == report.KindSecret {
			pkg = f.Location() // the file and line; the secret itself is never shown
		}
		note := f.Title
		if d.Note != "" {
			note = d.Note
		}
		if multi {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Disposition, sev, f.VulnerabilityID, dash(f.Platform), pkg, dash(f.InstalledVersion), dash(f.FixedVersion), truncate(note, 110))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Disposition, sev, f.VulnerabilityID, pkg, dash(f.InstalledVersion), dash(f.FixedVersion), truncate(note, 110))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := report.CountBySeverity(out.result.Findings)
	excepted := exceptedBySeverity(out.verdict)
	var parts []string
	for _, s := range report.Severities() {
		part := fmt.Sprintf("%s: %d", s, counts[s])
		if excepted[s] > 0 {
			part += fmt.Sprintf(" (%d excepted)", excepted[s])
		}
		parts = append(parts, part)
	}
	total := fmt.Sprint(len(out.result.Findings))
	if n := out.verdict.Excepted; n > 0 {
		total += fmt.Sprintf(", %d excepted", n)
	}
	_, err := fmt.Fprintf(w, "\nTotal: %s (%s)\n", total, strings.Join(parts, ", "))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
