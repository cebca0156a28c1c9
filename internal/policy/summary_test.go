package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// TestSummaryCountsWhatDecided: the verdict line of a pass never says "no finding of
// severity HIGH or higher" when HIGH findings are listed (excepted): it counts what
// decided, by disposition and severity (issue 15, item 4).
func TestSummaryCountsWhatDecided(t *testing.T) {
	fs := []report.Finding{
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-1", PkgName: "openssl", Severity: report.SeverityHigh, FixedVersion: "1.2"},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2", PkgName: "musl", Severity: report.SeverityHigh, FixedVersion: "1.3"},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-3", PkgName: "zlib", Severity: report.SeverityLow},
		{Kind: report.KindBestPractice, VulnerabilityID: "CIS-DI-0001", Aliases: []string{"DS-0002"}, Severity: report.SeverityHigh},
	}
	p := Defaults()
	p.Exceptions = []Exception{
		{ID: "CVE-1", Reason: "r", Source: "p:1", Expires: now.Add(30 * 24 * time.Hour)},
		{ID: "CVE-2", Reason: "r", Source: "p:2", Expires: now.Add(30 * 24 * time.Hour)},
	}
	v := p.Evaluate(scanOf(fs), now)
	want := "passed: no blocking finding (2 HIGH excepted, 1 best-practice warning, 1 below the threshold; threshold: HIGH)"
	if !v.Pass || v.Summary != want {
		t.Fatalf("summary %q, want %q", v.Summary, want)
	}
	if strings.Contains(v.Summary, "no finding of severity") {
		t.Fatalf("summary %q", v.Summary)
	}

	// Nothing at all.
	if v := p.Evaluate(scanOf(nil), now); v.Summary != "passed: no finding (threshold: HIGH)" {
		t.Fatalf("empty: %q", v.Summary)
	}
	// Best-practice checks that block are counted as such.
	p.Exceptions = nil
	p.BestPractices = ActionBlock
	v = p.Evaluate(scanOf(fs), now)
	want = "blocked: 3 blocking findings (2 HIGH, 1 best-practice; threshold: HIGH, best-practice checks block); also 1 below the threshold"
	if v.Pass || v.Summary != want {
		t.Fatalf("summary %q, want %q", v.Summary, want)
	}
}

// TestEndOfLifeNote: an OS release past its end of life is said in our own words (Trivy
// only logs it), so the table, the Markdown summary and the event carry it.
func TestEndOfLifeNote(t *testing.T) {
	s := scanOf(nil)
	s.Image.OS, s.Image.EOSL = "alpine 3.11.5", true
	v := Defaults().Evaluate(s, now)
	notes := strings.Join(v.Notes, "\n")
	if !strings.Contains(notes, "alpine 3.11.5 is past its end of life: its distribution no longer publishes security fixes for it") {
		t.Fatalf("notes %q", v.Notes)
	}
	s.Image.EOSL = false
	if v := Defaults().Evaluate(s, now); strings.Contains(strings.Join(v.Notes, "\n"), "end of life") {
		t.Fatalf("notes %q", v.Notes)
	}
}
