package policy

import (
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

func TestGateBaselineKeys(t *testing.T) {
	d := Defaults()
	if d.NewOnly || d.BaselineMissing != ActionError {
		t.Fatalf("defaults: new-only %v, baseline-missing %q; want false, error", d.NewOnly, d.BaselineMissing)
	}
	p, err := Parse("p.yaml", []byte("version: 1\ngate:\n  new-only: true\n  baseline-missing: ignore\n"), now)
	if err != nil || !p.NewOnly || p.BaselineMissing != ActionIgnore {
		t.Fatalf("parse: %v, %+v", err, p)
	}
	for in, want := range map[string]string{
		"gate:\n  baseline-missing: warn\n": `p.yaml:2: gate.baseline-missing: "warn" is not one of error, ignore`,
		"gate:\n  new-only: sometimes\n":    "want true or false",
	} {
		_, err := Parse("p.yaml", []byte(in), now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func vuln(id, pkg string, sev report.Severity) report.Finding {
	return report.Finding{Kind: report.KindVulnerability, VulnerabilityID: id, PkgName: pkg, InstalledVersion: "1", FixedVersion: "2",
		Severity: sev, Class: "os-pkgs", Type: "alpine", Target: "app:1 (alpine 3.10.4)"}
}

func TestEvaluateAgainstBaseline(t *testing.T) {
	img := []report.Finding{
		vuln("CVE-NEW", "musl", report.SeverityCritical),           // new, blocks
		vuln("CVE-OLD", "libssl1.1", report.SeverityHigh),          // unchanged
		vuln("CVE-OLD-MEDIUM", "libssl1.1", report.SeverityMedium), // unchanged, below the threshold
		vuln("CVE-EXCEPTED", "zlib", report.SeverityCritical),      // unchanged, excepted
		{Kind: report.KindSecret, VulnerabilityID: "github-pat", PkgPath: "app/.env", Severity: report.SeverityCritical, Class: "secret"},
	}
	base := baseline.Baseline{Source: "base.json (secscan-json)", Findings: []report.Finding{
		vuln("CVE-OLD", "libssl1.1", report.SeverityHigh), vuln("CVE-OLD-MEDIUM", "libssl1.1", report.SeverityMedium),
		vuln("CVE-EXCEPTED", "zlib", report.SeverityCritical), vuln("CVE-GONE", "busybox", report.SeverityHigh),
		{Kind: report.KindSecret, VulnerabilityID: "github-pat", PkgPath: "/app/.env", Severity: report.SeverityCritical, Class: "secret"},
	}}
	cmp := baseline.Compare(img, base)
	p := Defaults()
	p.Secrets = ActionBlock
	p.Exceptions = []Exception{{ID: "CVE-EXCEPTED", Reason: "not reachable", Source: "p.yaml:9", Expires: now.AddDate(0, 1, 0)}}

	// Without new-only the comparison labels and counts, and decides nothing.
	v := p.EvaluateAgainst(scanOf(img), now, &cmp)
	if v.Pass || v.Blocking != 3 {
		t.Fatalf("without new-only: pass %v, %d blocking; want blocked by 3 (the new and the unchanged CRITICAL and HIGH, the secret)", v.Pass, v.Blocking)
	}
	wantChanges := []baseline.Change{baseline.New, baseline.Unchanged, baseline.Unchanged, baseline.Unchanged, baseline.Unchanged}
	for i, d := range v.Decisions {
		if d.Change != wantChanges[i] {
			t.Fatalf("decision %d (%s): change %q, want %q", i, d.Finding.VulnerabilityID, d.Change, wantChanges[i])
		}
	}
	if b := v.Baseline; b == nil || b.Counts() != "1 new, 4 unchanged, 1 fixed" || b.NewOnly {
		t.Fatalf("baseline result %+v", v.Baseline)
	}
	if len(v.Fixed) != 1 || v.Fixed[0].Finding.VulnerabilityID != "CVE-GONE" || v.Fixed[0].Disposition != NotInImage || v.Fixed[0].Change != baseline.Fixed {
		t.Fatalf("fixed: %+v", v.Fixed)
	}
	if !strings.HasSuffix(v.Summary, "; against the baseline base.json (secscan-json): 1 new, 4 unchanged, 1 fixed") {
		t.Fatalf("summary %q", v.Summary)
	}

	// new-only: the unchanged HIGH no longer counts; the secret still blocks
	// (gate.secrets applies as without a baseline), the excepted one stays excepted.
	p.NewOnly = true
	v = p.EvaluateAgainst(scanOf(img), now, &cmp)
	want := []Disposition{Blocking, InBaseline, BelowThreshold, Excepted, Blocking}
	for i, d := range v.Decisions {
		if d.Disposition != want[i] {
			t.Fatalf("new-only: decision %d (%s) is %s, want %s", i, d.Finding.VulnerabilityID, d.Disposition, want[i])
		}
	}
	if v.Pass || v.Blocking != 2 || len(v.Decisions) != len(img) {
		t.Fatalf("new-only: pass %v, %d blocking, %d decisions", v.Pass, v.Blocking, len(v.Decisions))
	}
	wantSummary := "blocked: 2 blocking findings (1 CRITICAL, 1 secret; threshold: HIGH, secrets block, new findings only); also 1 CRITICAL excepted, 1 HIGH in the baseline (not counted: gate.new-only), 1 below the threshold; against the baseline base.json (secscan-json): 1 new, 4 unchanged, 1 fixed"
	if v.Summary != wantSummary {
		t.Fatalf("summary\n%q\nwant\n%q", v.Summary, wantSummary)
	}

	// The image without its new finding and its secret passes under new-only.
	img2 := img[1:4]
	cmp2 := baseline.Compare(img2, base)
	v = p.EvaluateAgainst(scanOf(img2), now, &cmp2)
	if !v.Pass || v.Blocking != 0 || v.Baseline.Fixed != 2 {
		t.Fatalf("only unchanged findings: pass %v, %d blocking, %+v: %s", v.Pass, v.Blocking, v.Baseline, v.Summary)
	}

	// In mode warn, a new finding is a would-block warning; an unchanged one is in the baseline.
	p.Mode = ModeWarn
	v = p.EvaluateAgainst(scanOf(img), now, &cmp)
	if !v.Pass || v.Decisions[0].Disposition != Warning || v.Decisions[1].Disposition != InBaseline {
		t.Fatalf("mode warn: %v %+v", v.Pass, v.Decisions[:2])
	}

	// A comparison of other findings is not used (fail closed): as without a baseline.
	p.Mode = ModeBlock
	bad := baseline.Compare(img[:1], base)
	v = p.EvaluateAgainst(scanOf(img), now, &bad)
	if v.Baseline != nil || v.Blocking != 3 || v.Decisions[1].Change != "" {
		t.Fatalf("mismatched comparison: %+v", v)
	}

	// new-only without a baseline changes nothing.
	v = p.EvaluateAgainst(scanOf(img), now, nil)
	if v.Blocking != 3 || v.Baseline != nil || strings.Contains(v.Summary, "new findings only") {
		t.Fatalf("new-only without a baseline: %d blocking, %q", v.Blocking, v.Summary)
	}
}
