package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// reportSpec is one --report FORMAT=PATH.
type reportSpec struct{ format, path string }

// allReportFormats are what --report accepts.
var allReportFormats = append(append([]string{}, reportFormats...), "markdown", "container-scan")

func parseReportSpecs(specs []string) ([]reportSpec, error) {
	var out []reportSpec
	for _, s := range specs {
		f, p, ok := strings.Cut(s, "=")
		f = strings.ToLower(strings.TrimSpace(f))
		if !ok || strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("--report %q: use FORMAT=PATH, e.g. sarif=results.sarif", s)
		}
		known := false
		for _, k := range allReportFormats {
			known = known || k == f
		}
		if !known {
			return nil, fmt.Errorf("--report %q: unknown format %q, use one of %s", s, f, strings.Join(allReportFormats, ", "))
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return nil, fmt.Errorf("--report %q: %s is a folder, give a file path", s, p)
		}
		if p == "-" {
			return nil, fmt.Errorf("--report %q: reports go to files; for stdout use -f %s (with -o - or no -o)", s, f)
		}
		if strings.ContainsAny(p, "\n\r") {
			return nil, fmt.Errorf("--report %q: the path holds a line break", s)
		}
		for _, o := range out {
			if o.path == p {
				return nil, fmt.Errorf("--report %q: %s is already the path of the %s report", s, p, o.format)
			}
		}
		out = append(out, reportSpec{f, p})
	}
	return out, nil
}

// renderReport renders the outcome in one format into a buffer (nothing is written
// until the whole report exists).
func renderReport(ctx context.Context, out *scanOutcome, format string, cictx *ci.Context, color bool) ([]byte, error) {
	buf := new(bytes.Buffer)
	var err error
	switch format {
	case "table":
		err = writeGateTable(buf, out, color)
	case "secscan-json":
		err = writeSecscanJSON(buf, out)
	case "markdown":
		err = writeMarkdown(buf, out, cictx)
	case "container-scan":
		err = writeContainerScan(buf, out)
	default:
		err = out.result.Write(ctx, buf, format, suppressions(out.verdict))
		if err == nil && format == "sarif" {
			// One ID and one level per finding, as the table gives them (sarif.go).
			b, serr := sarifDispositions(buf.Bytes(), out.verdict)
			if serr != nil {
				return nil, serr
			}
			// With a baseline: each result's baselineState, and the fixed ones as absent.
			return sarifBaseline(b, out.verdict, out.result.Image.Reference)
		}
	}
	return buf.Bytes(), err
}

// writeMarkdown writes a summary for humans in CI (GitHub's job summary, PR comments):
// verdict, counts, the findings that block or warn, and where the scan ran.
func writeMarkdown(w io.Writer, out *scanOutcome, c *ci.Context) error {
	v := out.verdict
	icon := "✅"
	if !v.Pass {
		icon = "❌"
	}
	img := out.result.Image
	fmt.Fprintf(w, "### %s docker secscan: `%s`\n\n", icon, img.Reference)
	if b := v.Baseline; b != nil {
		// A comparison leads (a pull-request comment: what this change did).
		fmt.Fprintf(w, "**%s** against the baseline `%s`\n\n", b.Counts(), mdEscape(b.Source))
	}
	fmt.Fprintf(w, "**%s**\n\n", mdEscape(v.Summary))
	if ps := out.push; ps != nil {
		switch {
		case ps.pushed:
			fmt.Fprintf(w, "Pushed `%s@%s` (image `%s`).\n\n", img.Reference, ps.digest, img.ID)
		case !v.Pass:
			fmt.Fprintf(w, "Not pushed: `%s` was blocked by policy.\n\n", img.Reference)
		default:
			fmt.Fprintf(w, "Not pushed: `%s` passed the gate, but the push failed (see the log).\n\n", img.Reference)
		}
	}
	// Each severity's total says how many of them were excepted.
	counts := report.CountBySeverity(out.result.Findings)
	excepted := exceptedBySeverity(v)
	cell := func(s report.Severity) string {
		if excepted[s] > 0 {
			return fmt.Sprintf("%d (%d excepted)", counts[s], excepted[s])
		}
		return fmt.Sprint(counts[s])
	}
	fmt.Fprintln(w, "| CRITICAL | HIGH | MEDIUM | LOW | UNKNOWN | excepted |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d |\n\n", cell(report.SeverityCritical), cell(report.SeverityHigh),
		cell(report.SeverityMedium), cell(report.SeverityLow), cell(report.SeverityUnknown), v.Excepted)
	// The findings that decide (blocking, warning, excepted); with a baseline also every
	// new one (whatever it decided) and those it fixed, new first.
	var rows []policy.Decision
	for _, d := range v.Decisions {
		if d.Disposition == policy.Blocking || d.Disposition == policy.Warning || d.Disposition == policy.Excepted || d.Change == baseline.New {
			rows = append(rows, d)
		}
	}
	compared := v.Baseline != nil
	if compared {
		sort.SliceStable(rows, func(i, j int) bool { return changeOrder[rows[i].Change] < changeOrder[rows[j].Change] })
		rows = append(rows, v.Fixed...)
	}
	if len(rows) > 0 {
		change, sep := "", ""
		if compared {
			change, sep = "| change ", "|---"
		}
		fmt.Fprintln(w, change+"| disposition | severity | ID | package | installed | fixed | note |")
		fmt.Fprintln(w, sep+"|---|---|---|---|---|---|---|")
		for i, d := range rows {
			if compared && i < 200 {
				fmt.Fprintf(w, "| %s ", d.Change)
			}
			if i == 200 {
				fmt.Fprintf(w, "\n… and %d more; see the full report.\n", len(rows)-200)
				break
			}
			f := d.Finding
			note := f.Title
			if d.Note != "" {
				note = d.Note
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", d.Disposition, f.Severity, mdLink(f.VulnerabilityID, f.PrimaryURL),
				mdEscape(f.Location()), mdEscape(f.InstalledVersion), mdEscape(f.FixedVersion), mdEscape(truncate(note, 120)))
		}
		fmt.Fprintln(w)
	}
	for _, n := range v.Notes {
		fmt.Fprintf(w, "> %s\n", mdEscape(n))
	}
	fmt.Fprintf(w, "\nImage `%s`, OS %s, %s, DB updated %s, policy %s.", img.ID, dashIfEmpty(img.OS), out.result.Scanner,
		out.result.DB.UpdatedAt.UTC().Format(time.RFC3339), mdEscape(out.source))
	if c != nil && c.Provider != "" {
		fmt.Fprintf(w, " %s", c.Provider)
		if c.RunURL != "" {
			fmt.Fprintf(w, " [run](%s)", c.RunURL)
		}
		if c.CommitSHA != "" {
			fmt.Fprintf(w, ", commit `%s`", c.CommitSHA)
		}
		if c.Branch != "" {
			fmt.Fprintf(w, " on `%s`", c.Branch)
		}
		fmt.Fprint(w, ".")
	}
	// A blank line ends the section: GITHUB_STEP_SUMMARY collects several runs' sections.
	_, err := fmt.Fprint(w, "\n\n")
	return err
}

// exceptedBySeverity counts the excepted findings at each severity.
func exceptedBySeverity(v policy.Verdict) map[report.Severity]int {
	m := map[report.Severity]int{}
	for _, d := range v.Decisions {
		if d.Disposition == policy.Excepted {
			m[d.Finding.Severity]++
		}
	}
	return m
}

// mdLink is the ID as a link to its advisory (Trivy's PrimaryURL) when that is an
// http(s) URL, else the ID as text.
func mdLink(id, url string) string {
	u, err := neturl.Parse(url)
	if url == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(url, " \n\t<>") {
		return mdEscape(id)
	}
	esc := strings.NewReplacer("[", "\\[", "]", "\\]").Replace(mdEscape(id))
	return "[" + esc + "](" + strings.NewReplacer("(", "%28", ")", "%29", "|", "%7C").Replace(url) + ")"
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "none detected"
	}
	return s
}

// writeContainerScan writes the scanreport.json of Azure's container-scan action:
// imageName, vulnerabilities[] (vulnerabilityId, packageName, severity, description,
// target), bestPracticeViolations[] (code, title, level, alerts) and
// vulnerabilityScanTimestamp. Excepted findings are left out, as container-scan left
// out allowlisted ones.
func writeContainerScan(w io.Writer, out *scanOutcome) error {
	type vuln struct {
		VulnerabilityID string `json:"vulnerabilityId"`
		PackageName     string `json:"packageName"`
		Severity        string `json:"severity"`
		Description     string `json:"description"`
		Target          string `json:"target"`
	}
	type bp struct {
		Code   string `json:"code"`
		Title  string `json:"title"`
		Level  string `json:"level"`
		Alerts string `json:"alerts"`
	}
	rep := struct {
		ImageName                  string `json:"imageName"`
		Vulnerabilities            []vuln `json:"vulnerabilities"`
		BestPracticeViolations     []bp   `json:"bestPracticeViolations"`
		VulnerabilityScanTimestamp string `json:"vulnerabilityScanTimestamp"`
	}{ImageName: out.result.Image.Reference, Vulnerabilities: []vuln{}, BestPracticeViolations: []bp{},
		VulnerabilityScanTimestamp: out.result.FinishedAt.UTC().Format(time.RFC3339)}
	for _, d := range out.verdict.Decisions {
		if d.Disposition == policy.Excepted || d.Disposition == policy.Off {
			continue
		}
		f := d.Finding
		if f.Kind == report.KindBestPractice {
			level := "WARN"
			if d.Disposition == policy.Blocking {
				level = "FATAL"
			}
			rep.BestPracticeViolations = append(rep.BestPracticeViolations, bp{Code: f.VulnerabilityID, Title: f.Title, Level: level, Alerts: strings.Join(f.Aliases, ", ")})
			continue
		}
		rep.Vulnerabilities = append(rep.Vulnerabilities, vuln{VulnerabilityID: f.VulnerabilityID, PackageName: f.Location(),
			Severity: f.Severity.String(), Description: f.Title, Target: f.Target})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
