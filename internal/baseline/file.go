package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// maxFileSize bounds a baseline report read into memory (a Trivy JSON report of a large
// image with every advisory's description is a few MB).
const maxFileSize = 256 << 20

// Report formats ReadFile reads.
const (
	FormatSecscanJSON = "secscan-json" // this tool's -f secscan-json
	FormatTrivyJSON   = "json"         // Trivy's JSON report (trivy image -f json, or our -f json)
)

// ReadFile reads a baseline report: a secscan-json report (docker secscan scan -f
// secscan-json) or a Trivy JSON report (trivy image -f json, docker secscan -f json),
// told apart by their top-level keys ("findings" and "verdict"; "ArtifactName" or
// "Results" with "SchemaVersion"). It returns the report's findings, whatever their
// disposition. Errors are one line naming the file and what to do.
func ReadFile(path string) (Baseline, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return Baseline{}, fmt.Errorf("baseline %s: no such file: give a report written with 'docker secscan scan -f secscan-json -o FILE IMAGE' (or Trivy's -f json), or an image", path)
		}
		return Baseline{}, fmt.Errorf("baseline %s: %v", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return Baseline{}, fmt.Errorf("baseline %s is a folder: give a report file (secscan-json or Trivy's JSON)", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return Baseline{}, fmt.Errorf("baseline %s: %v", path, err)
	}
	if len(data) > maxFileSize {
		return Baseline{}, fmt.Errorf("baseline %s is larger than %d MB: not a scan report", path, maxFileSize>>20)
	}
	findings, format, err := Parse(data)
	if err != nil {
		return Baseline{}, fmt.Errorf("baseline %s: %v", path, err)
	}
	return Baseline{Source: fmt.Sprintf("%s (%s)", path, format), Findings: findings}, nil
}

// Parse reads the findings of a secscan-json or Trivy JSON report and says which format
// it was (FormatSecscanJSON or FormatTrivyJSON).
func Parse(data []byte) ([]report.Finding, string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) || (json.Valid(data) && len(bytes.TrimSpace(data)) > 0) {
			// Valid JSON, but not an object (e.g. a list): say so, not Go's type names.
			return nil, "", fmt.Errorf("not a report: a JSON report is an object: write it with 'docker secscan scan -f secscan-json -o FILE IMAGE'")
		}
		return nil, "", fmt.Errorf("not a JSON report (%s): write it with 'docker secscan scan -f secscan-json -o FILE IMAGE'", oneLine(err))
	}
	// Key names are compared exactly: encoding/json matches them case-insensitively,
	// and secscan-json's schemaVersion is Trivy's SchemaVersion in another case.
	_, hasFindings := top["findings"]
	_, hasVerdict := top["verdict"]
	_, hasArtifact := top["ArtifactName"]
	_, hasResults := top["Results"]
	_, hasSchema := top["SchemaVersion"]
	switch {
	case hasFindings && hasVerdict:
		f, err := parseSecscan(data)
		return f, FormatSecscanJSON, err
	case hasSchema && (hasArtifact || hasResults):
		f, err := parseTrivy(data)
		return f, FormatTrivyJSON, err
	}
	return nil, "", fmt.Errorf("neither a secscan-json report nor Trivy's JSON report: write one with 'docker secscan scan -f secscan-json -o FILE IMAGE'")
}

// parseSecscan reads the findings of a secscan-json report (plugin's secscanReport:
// findings[].finding, with the disposition and, after a comparison, the change).
// Findings a comparison reported as fixed are not in that image and are left out.
func parseSecscan(data []byte) ([]report.Finding, error) {
	var r struct {
		SchemaVersion int `json:"schemaVersion"`
		Findings      []struct {
			Finding report.Finding `json:"finding"`
			Change  Change         `json:"change"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("a secscan-json report that cannot be read (%s): write it again with 'docker secscan scan -f secscan-json'", oneLine(err))
	}
	if r.SchemaVersion != 1 {
		return nil, fmt.Errorf("secscan-json schemaVersion %d is not supported (1 is): write it again with this version", r.SchemaVersion)
	}
	out := make([]report.Finding, 0, len(r.Findings))
	for i, d := range r.Findings {
		if d.Change == Fixed {
			continue
		}
		if d.Finding.VulnerabilityID == "" {
			return nil, fmt.Errorf("finding %d has no vulnerabilityID: not a secscan-json report", i)
		}
		if d.Finding.Kind == "" {
			d.Finding.Kind = report.KindVulnerability
		}
		out = append(out, d.Finding)
	}
	return out, nil
}

// trivyReport is the part of Trivy's JSON report (pkg/types.Report, schema 2) a
// baseline needs.
type trivyReport struct {
	SchemaVersion int
	ArtifactName  string
	Results       []struct {
		Target          string
		Class           string
		Type            string
		Vulnerabilities []struct {
			VulnerabilityID  string
			VendorIDs        []string
			PkgName          string
			PkgID            string
			PkgPath          string
			InstalledVersion string
			FixedVersion     string
			Status           string
			Severity         string
			Title            string
			PrimaryURL       string
			PkgIdentifier    struct{ PURL string }
		}
		Misconfigurations []struct {
			ID       string
			AVDID    string
			Title    string
			Severity string
			Status   string
		}
		Secrets []struct {
			RuleID    string
			Category  string
			Severity  string
			Title     string
			StartLine int
		}
	}
}

// parseTrivy reads the findings of a Trivy JSON report: vulnerabilities (VendorIDs as
// aliases), failed misconfigurations (best-practice checks: ID, with the AVD ID as an
// alias) and secrets (in a file: class "secret"; in the image config: a best-practice
// finding, as the scanner makes them).
func parseTrivy(data []byte) ([]report.Finding, error) {
	var r trivyReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("a Trivy JSON report that cannot be read (%s)", oneLine(err))
	}
	if r.SchemaVersion != 2 {
		return nil, fmt.Errorf("Trivy JSON SchemaVersion %d is not supported (2 is, Trivy 0.20 and later)", r.SchemaVersion)
	}
	sev := func(s string) report.Severity {
		v, _ := report.ParseSeverity(s)
		return v
	}
	out := []report.Finding{}
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			if v.VulnerabilityID == "" {
				continue
			}
			out = append(out, report.Finding{
				Kind: report.KindVulnerability, VulnerabilityID: v.VulnerabilityID, Aliases: v.VendorIDs,
				PkgName: v.PkgName, PkgID: v.PkgID, PkgPath: v.PkgPath, PURL: v.PkgIdentifier.PURL,
				InstalledVersion: v.InstalledVersion, FixedVersion: v.FixedVersion, Status: v.Status,
				Severity: sev(v.Severity), Title: v.Title, PrimaryURL: v.PrimaryURL,
				Target: res.Target, Class: res.Class, Type: res.Type,
			})
		}
		for _, m := range res.Misconfigurations {
			if m.Status != "FAIL" || m.ID == "" {
				continue
			}
			var aliases []string
			if m.AVDID != "" {
				aliases = []string{m.AVDID}
			}
			out = append(out, report.Finding{Kind: report.KindBestPractice, VulnerabilityID: m.ID, Aliases: aliases,
				Severity: sev(m.Severity), Title: m.Title, Target: res.Target, Class: res.Class, Type: res.Type})
		}
		for _, s := range res.Secrets {
			if s.RuleID == "" {
				continue
			}
			f := report.Finding{Kind: report.KindSecret, VulnerabilityID: s.RuleID, Severity: sev(s.Severity), Title: s.Title,
				PkgPath: res.Target, StartLine: s.StartLine, Target: res.Target, Class: res.Class, Type: s.Category}
			if res.Class != "secret" {
				f.Kind, f.PkgPath, f.StartLine = report.KindBestPractice, "", 0
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
