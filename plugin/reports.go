package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
	fmt.Fprintf(w, "### %s docker secscan: `%s`\n\n**%s**\n\n", icon, img.Reference, mdEscape(v.Summary))
	counts := report.CountBySeverity(out.result.Findings)
	fmt.Fprintln(w, "| CRITICAL | HIGH | MEDIUM | LOW | UNKNOWN | excepted |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(w, "| %d | %d | %d | %d | %d | %d |\n\n", counts[report.SeverityCritical], counts[report.SeverityHigh],
		counts[report.SeverityMedium], counts[report.SeverityLow], counts[report.SeverityUnknown], v.Excepted)
	var rows []policy.Decision
	for _, d := range v.Decisions {
		if d.Disposition == policy.Blocking || d.Disposition == policy.Warning || d.Disposition == policy.Excepted {
			rows = append(rows, d)
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "| disposition | severity | ID | package | installed | fixed | note |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		for i, d := range rows {
			if i == 200 {
				fmt.Fprintf(w, "\n… and %d more; see the full report.\n", len(rows)-200)
				break
			}
			f := d.Finding
			note := f.Title
			if d.Note != "" {
				note = d.Note
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", d.Disposition, f.Severity, mdEscape(f.VulnerabilityID),
				mdEscape(f.PkgName), mdEscape(f.InstalledVersion), mdEscape(f.FixedVersion), mdEscape(truncate(note, 120)))
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
	_, err := fmt.Fprintln(w)
	return err
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
		rep.Vulnerabilities = append(rep.Vulnerabilities, vuln{VulnerabilityID: f.VulnerabilityID, PackageName: f.PkgName,
			Severity: f.Severity.String(), Description: f.Title, Target: f.Target})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
